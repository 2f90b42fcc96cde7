-- Runs per namespace and status, kept by the visibility writer in the same transaction as the
-- rows: counting a whole namespace (with or without GROUP BY ExecutionStatus) reads this
-- instead of an index of every run.
CREATE TABLE visibility_counts (
  namespace_id VARBINARY(64) NOT NULL,
  status INTEGER NOT NULL,
  runs BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, status)
);
INSERT INTO visibility_counts (namespace_id, status, runs)
  SELECT namespace_id, status, COUNT(*) FROM visibility GROUP BY namespace_id, status;
-- STARTS_WITH ignores case. The columns are binary, so a case-insensitive LIKE on them cannot
-- use an index; these lower-cased copies (generated, not stored) are indexed instead, as
-- PostgreSQL indexes lower(col) and SQLite `col COLLATE NOCASE`.
ALTER TABLE visibility
  ADD COLUMN workflow_id_lower VARBINARY(1000) AS (LOWER(CONVERT(workflow_id USING utf8mb4))) VIRTUAL,
  ADD COLUMN workflow_type_lower VARBINARY(1000) AS (LOWER(CONVERT(workflow_type USING utf8mb4))) VIRTUAL,
  ADD INDEX vis_workflow_id_prefix (namespace_id, workflow_id_lower),
  ADD INDEX vis_workflow_type_prefix (namespace_id, workflow_type_lower);
ALTER TABLE visibility_attrs
  ADD COLUMN str_value_lower VARBINARY(2048) AS (LOWER(CONVERT(str_value USING utf8mb4))) VIRTUAL,
  ADD INDEX vis_attr_prefix (namespace_id, name, ty, str_value_lower);
