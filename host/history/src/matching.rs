//! History's use of the matching service (`sundial-matching`): what its queues hold here.

use crate::state::Task;

pub(crate) use sundial_matching::{QueueKey, QueueKind};

/// This node's task queues, holding history's tasks.
pub(crate) type Matching = sundial_matching::Matching<Queued>;

/// The task id of work that has no row (a query task, a sticky schedule-to-start timeout):
/// acknowledging it deletes nothing.
pub(crate) const NOT_STORED: i64 = -1;

/// A task handed to matching: the durable task plus where its row lives.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    pub shard_id: i32,
    /// The shard ownership it was queued under (0 for a query task, which belongs to none).
    pub range_id: i64,
    /// The task's row, or [`NOT_STORED`].
    pub task_id: i64,
    pub task: Task,
}
