-- Visibility v2: every system search attribute as a column, custom ones in visibility_attrs.
-- The v1 table kept fewer columns; its rows are rebuilt as runs change.
DROP TABLE visibility;
CREATE TABLE visibility (
  namespace_id VARBINARY(64) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  workflow_id VARBINARY(1000) NOT NULL,
  workflow_type VARBINARY(1000) NOT NULL,
  task_queue VARBINARY(1000) NOT NULL,
  status INTEGER NOT NULL,
  start_time BIGINT NOT NULL,
  execution_time BIGINT NOT NULL,
  close_time BIGINT NULL,
  sort_time BIGINT NOT NULL,
  history_length BIGINT NULL,
  history_size_bytes BIGINT NULL,
  execution_duration BIGINT NULL,
  state_transition_count BIGINT NULL,
  parent_workflow_id VARBINARY(1000) NULL,
  parent_run_id VARBINARY(64) NULL,
  root_workflow_id VARBINARY(1000) NOT NULL,
  root_run_id VARBINARY(64) NOT NULL,
  version BIGINT NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);
-- Descending like the listing order (MariaDB 10.8+, MySQL 8), so a page reads the index in order.
CREATE INDEX vis_order ON visibility (namespace_id, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_workflow_id ON visibility (namespace_id, workflow_id, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_workflow_type ON visibility (namespace_id, workflow_type, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_status ON visibility (namespace_id, status, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_task_queue ON visibility (namespace_id, task_queue, sort_time DESC, start_time DESC, run_id);
CREATE INDEX vis_start_time ON visibility (namespace_id, start_time);
CREATE INDEX vis_execution_time ON visibility (namespace_id, execution_time);
CREATE TABLE visibility_attrs (
  namespace_id VARBINARY(64) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  name VARBINARY(255) NOT NULL,
  ty INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  str_value VARBINARY(2048) NULL,
  num_value BIGINT NULL,
  dbl_value DOUBLE NULL,
  PRIMARY KEY (namespace_id, run_id, name, seq)
);
CREATE INDEX vis_attr_str ON visibility_attrs (namespace_id, name, ty, str_value);
CREATE INDEX vis_attr_num ON visibility_attrs (namespace_id, name, ty, num_value);
CREATE INDEX vis_attr_dbl ON visibility_attrs (namespace_id, name, ty, dbl_value);
