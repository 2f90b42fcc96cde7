-- Runs per namespace and status, kept by the visibility writer in the same transaction as the
-- rows: counting a whole namespace (with or without GROUP BY ExecutionStatus) reads this
-- instead of an index of every run.
CREATE TABLE visibility_counts (
  namespace_id TEXT NOT NULL,
  status INTEGER NOT NULL,
  runs BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, status)
);
INSERT INTO visibility_counts (namespace_id, status, runs)
  SELECT namespace_id, status, COUNT(*) FROM visibility GROUP BY namespace_id, status;
