CREATE TABLE shards (
  shard_id INTEGER PRIMARY KEY,
  range_id BIGINT NOT NULL
);
CREATE TABLE namespaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  data BLOB NOT NULL,
  version BIGINT NOT NULL
);
CREATE TABLE executions (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  state BLOB NOT NULL,
  db_version BIGINT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id)
);
CREATE TABLE current_executions (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id)
);
CREATE TABLE history_batches (
  shard_id INTEGER NOT NULL,
  namespace_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  first_event_id BIGINT NOT NULL,
  last_event_id BIGINT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (shard_id, namespace_id, workflow_id, run_id, first_event_id)
);
CREATE TABLE tasks (
  shard_id INTEGER NOT NULL,
  task_id BIGINT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (shard_id, task_id)
);
CREATE TABLE visibility (
  namespace_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  status INTEGER NOT NULL,
  start_time BIGINT NOT NULL,
  close_time BIGINT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (namespace_id, run_id)
);
CREATE INDEX visibility_by_start ON visibility (namespace_id, start_time);
