-- The cluster this database belongs to, fixed when the first node starts on it: its id, its
-- number of history shards (a node configured otherwise refuses to start), and the secret
-- that nodes present to each other's internal listeners.
CREATE TABLE cluster_metadata (
  singleton INTEGER PRIMARY KEY,
  cluster_id VARBINARY(255) NOT NULL,
  num_history_shards INTEGER NOT NULL,
  internal_secret VARBINARY(255) NOT NULL,
  created_at BIGINT NOT NULL
);
-- Live nodes: each heartbeats its row with the database's clock (milliseconds since the
-- epoch); a row whose heartbeat is older than the expiry belongs to a dead node.
CREATE TABLE cluster_members (
  node_name VARBINARY(255) PRIMARY KEY,
  session_id VARBINARY(255) NOT NULL,
  services VARBINARY(255) NOT NULL,
  rpc_address VARBINARY(255) NOT NULL,
  internal_address VARBINARY(255) NOT NULL,
  session_start BIGINT NOT NULL,
  heartbeat_at BIGINT NOT NULL,
  state VARBINARY(255) NOT NULL
);
-- Which node took each shard last (its range id fences the writes).
ALTER TABLE shards ADD COLUMN owner_node VARBINARY(255);
