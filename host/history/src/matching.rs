//! History's use of the matching service (`sundial-matching`): what its queues hold here.

use crate::state::Task;

pub(crate) use sundial_matching::{QueueKey, QueueKind};

/// This node's task queues, holding history's tasks.
pub(crate) type Matching = sundial_matching::Matching<Queued>;

/// A task handed to matching: the durable task plus where its row lives.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub shard_id: i32,
    /// The shard ownership it was queued under (0 for work that is not durable).
    pub range_id: i64,
    pub task_id: i64,
    pub task: Task,
}
