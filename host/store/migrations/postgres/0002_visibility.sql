-- Visibility v2: every system search attribute as a column, custom ones in visibility_attrs.
-- The v1 table kept fewer columns; its rows are rebuilt as runs change.
DROP TABLE visibility;
CREATE TABLE visibility (
  namespace_id TEXT COLLATE "C" NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL,
  workflow_id TEXT COLLATE "C" NOT NULL,
  workflow_type TEXT COLLATE "C" NOT NULL,
  task_queue TEXT COLLATE "C" NOT NULL,
  status INTEGER NOT NULL,
  start_time BIGINT NOT NULL,
  execution_time BIGINT NOT NULL,
  close_time BIGINT NULL,
  sort_time BIGINT NOT NULL,
  history_length BIGINT NULL,
  history_size_bytes BIGINT NULL,
  execution_duration BIGINT NULL,
  state_transition_count BIGINT NULL,
  parent_workflow_id TEXT COLLATE "C" NULL,
  parent_run_id TEXT COLLATE "C" NULL,
  root_workflow_id TEXT COLLATE "C" NOT NULL,
  root_run_id TEXT COLLATE "C" NOT NULL,
  version BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX vis_order ON visibility (namespace_id, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_workflow_id ON visibility (namespace_id, workflow_id, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_workflow_type ON visibility (namespace_id, workflow_type, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_status ON visibility (namespace_id, status, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_task_queue ON visibility (namespace_id, task_queue, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_start_time ON visibility (namespace_id, start_time);
-- STARTS_WITH is case-insensitive (as on Temporal's SQLite store): `lower(col) LIKE 'p%'` on
-- these expression indexes is a range (the columns' "C" collation makes LIKE prefixes ranges).
CREATE INDEX vis_workflow_id_prefix ON visibility (namespace_id, lower(workflow_id));
CREATE INDEX vis_workflow_type_prefix ON visibility (namespace_id, lower(workflow_type));
CREATE INDEX vis_execution_time ON visibility (namespace_id, execution_time);
CREATE TABLE visibility_attrs (
  namespace_id TEXT COLLATE "C" NOT NULL,
  run_id TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  ty INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  str_value TEXT COLLATE "C" NULL,
  num_value BIGINT NULL,
  dbl_value DOUBLE PRECISION NULL,
  PRIMARY KEY (namespace_id, run_id, name, seq)
);
CREATE INDEX vis_attr_str ON visibility_attrs (namespace_id, name, ty, str_value);
CREATE INDEX vis_attr_num ON visibility_attrs (namespace_id, name, ty, num_value);
CREATE INDEX vis_attr_dbl ON visibility_attrs (namespace_id, name, ty, dbl_value);
CREATE INDEX vis_attr_prefix ON visibility_attrs (namespace_id, name, ty, lower(str_value));
