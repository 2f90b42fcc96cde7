CREATE TABLE shards (
  shard_id INTEGER PRIMARY KEY,
  range_id BIGINT NOT NULL
);
CREATE TABLE namespaces (
  id VARBINARY(64) PRIMARY KEY,
  name VARBINARY(255) NOT NULL UNIQUE,
  data LONGBLOB NOT NULL,
  version BIGINT NOT NULL
);
CREATE TABLE executions (
  shard_id INTEGER NOT NULL,
  namespace_id VARBINARY(64) NOT NULL,
  workflow_id VARBINARY(1000) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  state LONGBLOB NOT NULL,
  db_version BIGINT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);
CREATE TABLE current_executions (
  shard_id INTEGER NOT NULL,
  namespace_id VARBINARY(64) NOT NULL,
  workflow_id VARBINARY(1000) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id)
);
CREATE TABLE history_batches (
  shard_id INTEGER NOT NULL,
  namespace_id VARBINARY(64) NOT NULL,
  workflow_id VARBINARY(1000) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  first_event_id BIGINT NOT NULL,
  last_event_id BIGINT NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, first_event_id)
);
CREATE TABLE tasks (
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (shard_id, task_id)
);
CREATE TABLE visibility (
  namespace_id VARBINARY(64) NOT NULL,
  run_id VARBINARY(64) NOT NULL,
  workflow_id VARBINARY(1000) NOT NULL,
  workflow_type VARBINARY(1000) NOT NULL,
  task_queue VARBINARY(1000) NOT NULL,
  status INTEGER NOT NULL,
  start_time BIGINT NOT NULL,
  close_time BIGINT NOT NULL,
  data LONGBLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX visibility_by_start ON visibility (namespace_id, start_time);
