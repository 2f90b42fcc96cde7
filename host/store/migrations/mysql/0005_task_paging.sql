-- A shard's owner pages its tasks in rather than holding them all in memory: the tasks of
-- each task queue (queue_hash, a stable hash of namespace, kind and queue name) apart from
-- the rest (queue_hash 0: timers, transfers, visibility writes), each in the order they may
-- run (visible_at, unix nanos: the due time, or when the task was written). Rows written
-- before these columns existed read as 0 and 0: they come first, with the rest.
ALTER TABLE tasks ADD COLUMN queue_hash BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN visible_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX tasks_by_queue ON tasks (shard_id, queue_hash, visible_at, task_id);
