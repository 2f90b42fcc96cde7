//! Which durable tasks of this node's shards are held in memory, and paging in the rest.
//!
//! Every task is a row of its shard's `tasks` table from the commit that made it until it is
//! done. Memory holds only a window of them, per buffer: the tasks of one task queue of one
//! shard (rows with that queue's hash), or the shard's other tasks (timers, transfers,
//! visibility writes; hash 0). A buffer holds at most `budget` tasks, all due within the
//! lookahead. A committed task beyond either bound, or behind a task still in the database,
//! stays there only; the buffer notes the earliest such task, and a reader pages them in, in
//! (visible_at, task id) order, as room frees and as they come due. So a queue with a backlog
//! nobody polls holds `budget` tasks of it, and the other queues and timers of its shard go on.
//!
//! In a shard's own buffer (hash 0), tasks due within [`DUE_SOON`] have a second budget:
//! they run at once and leave, so a buffer full of later tasks (the timeouts of every
//! workflow and activity in flight) never keeps a due task waiting until half of those later
//! ones have fired. That buffer thus holds at most twice its budget. A task queue's tasks
//! wait for pollers however due they are, so their buffers keep the one budget.
//!
//! A task is held from when it is scheduled until its row is deleted. The reader skips held
//! ids, and ids deleted while it read (its page may still show their rows).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use sundial_store::TaskRow;

use crate::matching::{QueueKind, Queued};
use crate::state::{Task, TaskKind};

/// A stable 64-bit hash (FNV-1a) of `parts` joined by zero bytes: the same on every node
/// and in every version, unlike std's hasher.
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for (i, part) in parts.iter().enumerate() {
        let sep = (i > 0).then_some(0u8);
        for b in sep.into_iter().chain(part.bytes()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// The buffer a task belongs to: its task queue's hash for a task that feeds a queue, else 0.
pub(crate) fn queue_hash(task: &Task) -> i64 {
    let kind = match task.task_kind() {
        TaskKind::DispatchWorkflowTask if task.event_id > 0 => QueueKind::Workflow,
        TaskKind::DispatchActivity if task.event_id > 0 => QueueKind::Activity,
        _ => return 0,
    };
    hash_of_queue(&task.namespace_id, kind, &task.task_queue)
}

/// The hash of a task queue (never 0) under which its tasks are stored.
pub(crate) fn hash_of_queue(namespace_id: &str, kind: QueueKind, name: &str) -> i64 {
    let kind = match kind {
        QueueKind::Workflow => "workflow",
        QueueKind::Activity => "activity",
    };
    match stable_hash(&[namespace_id, kind, name]) as i64 {
        0 => 1,
        h => h,
    }
}

/// When a task written at `now` may run: its due time, or now.
pub(crate) fn visible_at(task: &Task, now: i64) -> i64 {
    task.fire_time.max(now)
}

/// How soon a task must be due to count against a buffer's second budget, the one for tasks
/// that run now (a little more than the tick that starts reads, so a timer due before the
/// next tick is held rather than read late).
pub(crate) const DUE_SOON: i64 = 1_000_000_000;

/// Buffers are keyed by (shard id, queue hash).
type BufferKey = (i32, i64);

#[derive(Default)]
struct Buffer {
    /// How many of its tasks are held in memory (their ids are in [`State::holder`]).
    held: usize,
    /// The earliest visible time among tasks left in the database only (`i64::MIN`: not
    /// known, read from the start); none when every task of the buffer is held.
    left: Option<i64>,
    /// Counts the tasks left in the database: a reader that saw no change while it read may
    /// conclude that it has read them all.
    left_count: u64,
    reading: bool,
    /// Ids deleted while a reader ran.
    deleted_while_reading: Vec<i64>,
}

#[derive(Default)]
struct State {
    /// The shards being paged, with the range id of this node's ownership.
    ranges: HashMap<i32, i64>,
    /// The shards whose ownership is in force ([`Paging::open`]): only their tasks are read.
    /// A task read before that would run, or be dropped as another owner's, too early.
    open: HashSet<i32>,
    buffers: HashMap<BufferKey, Buffer>,
    /// The held tasks (shard id, task id), each with the buffer it is in.
    holder: HashMap<(i32, i64), i64>,
}

pub(crate) struct Paging {
    state: Mutex<State>,
    budget: usize,
    lookahead: i64,
}

/// A page to read: the buffer, the ownership, how many rows and how many of them to take
/// (any, and those due soon).
pub(crate) struct Read {
    pub shard_id: i32,
    pub queue_hash: i64,
    pub range_id: i64,
    pub limit: usize,
    free: usize,
    free_due: usize,
    left_count: u64,
}

impl Paging {
    pub fn new(budget: usize, lookahead: std::time::Duration) -> Paging {
        Paging {
            state: Mutex::default(),
            budget: budget.max(1),
            lookahead: lookahead.as_nanos().min(i64::MAX as u128) as i64,
        }
    }

    /// Starts paging a shard being acquired: nothing of it is held, everything is to be read
    /// once the ownership is in force ([`Paging::open`]). The queues it has tasks for are
    /// named by [`Paging::add_queues`].
    pub fn start(&self, shard_id: i32, range_id: i64) {
        let mut st = self.state.lock().unwrap();
        Self::drop_shard(&mut st, shard_id);
        st.ranges.insert(shard_id, range_id);
        st.buffers.insert(
            (shard_id, 0),
            Buffer {
                left: Some(i64::MIN),
                ..Default::default()
            },
        );
    }

    /// The ownership `range_id` of a shard is in force: its tasks may be read and run.
    pub fn open(&self, shard_id: i32, range_id: i64) {
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&shard_id) == Some(&range_id) {
            st.open.insert(shard_id);
        }
    }

    /// Notes that the database holds tasks of these queues of a shard.
    pub fn add_queues(&self, shard_id: i32, range_id: i64, hashes: &[i64]) {
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&shard_id) != Some(&range_id) {
            return;
        }
        for h in hashes {
            let b = st.buffers.entry((shard_id, *h)).or_default();
            b.left = Some(i64::MIN);
            b.left_count += 1;
        }
    }

    /// Stops paging a shard given up (only its ownership `range_id`).
    pub fn stop(&self, shard_id: i32, range_id: i64) {
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&shard_id) == Some(&range_id) {
            Self::drop_shard(&mut st, shard_id);
        }
    }

    fn drop_shard(st: &mut State, shard_id: i32) {
        st.ranges.remove(&shard_id);
        st.open.remove(&shard_id);
        st.buffers.retain(|(s, _), _| *s != shard_id);
        st.holder.retain(|(s, _), _| *s != shard_id);
    }

    /// Room left in a buffer holding `held` tasks: for any task, and for a task due soon.
    fn room(&self, queue_hash: i64, held: usize) -> (usize, usize) {
        let free = self.budget.saturating_sub(held);
        match queue_hash {
            0 => (free, (2 * self.budget).saturating_sub(held)),
            _ => (free, 0),
        }
    }

    /// Whether a task just committed is to be held (then the caller schedules it); else it
    /// stays in the database until a reader pages it in.
    pub fn admit(&self, q: &Queued, queue_hash: i64, visible_at: i64, now: i64) -> bool {
        if q.task_id < 0 {
            return true;
        }
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&q.shard_id) != Some(&q.range_id) {
            return false; // the shard moved on: its owner reads the row
        }
        let b = st.buffers.entry((q.shard_id, queue_hash)).or_default();
        let (free, free_due) = self.room(queue_hash, b.held);
        let due = visible_at <= now.saturating_add(DUE_SOON);
        let fits = (free > 0 || (due && free_due > 0))
            && visible_at <= now.saturating_add(self.lookahead)
            && b.left.is_none_or(|l| visible_at < l);
        if fits {
            b.held += 1;
            st.holder.insert((q.shard_id, q.task_id), queue_hash);
        } else {
            b.left = Some(b.left.map_or(visible_at, |l| l.min(visible_at)));
            b.left_count += 1;
        }
        fits
    }

    /// Notes that these tasks' rows are deleted: they no longer count.
    pub fn deleted(&self, shard_id: i32, range_id: i64, task_ids: &[i64]) {
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&shard_id) != Some(&range_id) {
            return;
        }
        for id in task_ids {
            let Some(hash) = st.holder.remove(&(shard_id, *id)) else {
                continue;
            };
            if let Some(b) = st.buffers.get_mut(&(shard_id, hash)) {
                b.held -= 1;
                if b.reading {
                    b.deleted_while_reading.push(*id);
                }
            }
        }
        st.buffers
            .retain(|_, b| b.held > 0 || b.left.is_some() || b.reading);
    }

    /// The pages to read now: buffers with tasks left in the database that are due within the
    /// lookahead, and room for at least half a budget of them (or for anything, when nothing
    /// of the buffer is known yet, or when the first task left is due soon). Each returned
    /// read is marked as running.
    pub fn due_reads(&self, now: i64) -> Vec<Read> {
        let horizon = now.saturating_add(self.lookahead);
        let soon = now.saturating_add(DUE_SOON);
        let mut st = self.state.lock().unwrap();
        let State {
            ranges,
            open,
            buffers,
            ..
        } = &mut *st;
        let mut out = Vec::new();
        for ((shard_id, hash), b) in buffers.iter_mut() {
            let Some(left) = b.left else { continue };
            let (free, mut free_due) = self.room(*hash, b.held);
            if left > soon {
                free_due = 0;
            }
            let room =
                (free > 0 && (left == i64::MIN || free >= self.budget.div_ceil(2))) || free_due > 0;
            if b.reading || left > horizon || !room || !open.contains(shard_id) {
                continue;
            }
            let Some(range_id) = ranges.get(shard_id) else {
                continue;
            };
            b.reading = true;
            out.push(Read {
                shard_id: *shard_id,
                queue_hash: *hash,
                range_id: *range_id,
                limit: b.held + free.max(free_due) + 1,
                free,
                free_due,
                left_count: b.left_count,
            });
        }
        out
    }

    /// Takes what a read returned (`None` when the read failed): the rows to schedule now,
    /// marked held.
    pub fn finish(&self, read: &Read, rows: Option<Vec<TaskRow>>, now: i64) -> Vec<TaskRow> {
        let mut st = self.state.lock().unwrap();
        if st.ranges.get(&read.shard_id) != Some(&read.range_id) {
            return Vec::new();
        }
        let State {
            buffers, holder, ..
        } = &mut *st;
        let Some(b) = buffers.get_mut(&(read.shard_id, read.queue_hash)) else {
            return Vec::new();
        };
        b.reading = false;
        let deleted = std::mem::take(&mut b.deleted_while_reading);
        let Some(rows) = rows else {
            return Vec::new(); // tried again on a later tick
        };
        let horizon = now.saturating_add(self.lookahead);
        let soon = now.saturating_add(DUE_SOON);
        let complete = rows.len() < read.limit;
        let mut taken = Vec::new();
        let mut first_untaken = None;
        for row in rows {
            let id = (read.shard_id, row.task_id);
            if holder.contains_key(&id) || deleted.contains(&row.task_id) {
                continue;
            }
            let room =
                taken.len() < read.free || (row.visible_at <= soon && taken.len() < read.free_due);
            if room && row.visible_at <= horizon {
                holder.insert(id, read.queue_hash);
                taken.push(row);
            } else {
                first_untaken = Some(row.visible_at);
                break;
            }
        }
        b.held += taken.len();
        let unchanged = b.left_count == read.left_count;
        b.left = match (first_untaken, unchanged) {
            // Everything up to the first row not taken is held.
            (Some(v), true) => Some(v),
            (Some(v), false) => Some(b.left.map_or(v, |l| l.min(v))),
            (None, true) if complete => None,
            (None, _) => b.left,
        };
        taken
    }

    /// How many tasks are held.
    pub fn held(&self) -> usize {
        self.state.lock().unwrap().holder.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(queue: &str) -> Task {
        Task {
            kind: TaskKind::DispatchActivity as i32,
            namespace_id: "ns".into(),
            task_queue: queue.into(),
            event_id: 5,
            ..Default::default()
        }
    }

    /// A row as the database returns it (its data is not looked at here).
    fn row(task_id: i64, visible_at: i64) -> TaskRow {
        TaskRow {
            task_id,
            queue_hash: 0,
            visible_at,
            data: Vec::new(),
        }
    }

    fn queued(task_id: i64, t: Task) -> Queued {
        Queued {
            shard_id: 0,
            range_id: 7,
            task_id,
            task: t,
        }
    }

    #[test]
    fn queue_hashes_are_stable_and_apart() {
        let a = queue_hash(&task("a"));
        assert_eq!(a, queue_hash(&task("a")));
        assert_ne!(a, queue_hash(&task("b")));
        assert_ne!(a, 0);
        let timer = Task {
            kind: TaskKind::UserTimer as i32,
            ..task("a")
        };
        assert_eq!(queue_hash(&timer), 0);
    }

    /// Paging with shard 0 (range 7) started and its first read back empty: the database
    /// holds nothing more, so new tasks are held while there is room.
    fn read_shard(budget: usize, lookahead: std::time::Duration) -> Paging {
        let p = Paging::new(budget, lookahead);
        p.start(0, 7);
        p.open(0, 7);
        let r = p.due_reads(0);
        p.finish(&r[0], Some(Vec::new()), 0);
        p
    }

    /// A time well after `now` (not due soon), `n` apart.
    fn later(n: i64) -> i64 {
        10 * DUE_SOON + n
    }

    #[test]
    fn over_budget_tasks_wait_in_the_database_and_are_read_in_order() {
        let p = Paging::new(2, std::time::Duration::from_secs(60));
        p.start(0, 7);
        p.open(0, 7);
        // Nothing is known of the shard yet: new tasks wait behind what the database holds.
        let t = task("q");
        let h = queue_hash(&t);
        assert!(!p.admit(&queued(1, t.clone()), 0, later(10), 10));
        let reads = p.due_reads(10);
        assert_eq!(reads.len(), 1);
        let rows = vec![row(1, later(10))];
        assert_eq!(p.finish(&reads[0], Some(rows), 10).len(), 1);
        // The shard's buffer is read; a queue's buffer takes two, then leaves the rest.
        assert!(p.admit(&queued(2, t.clone()), h, later(11), 11));
        assert!(p.admit(&queued(3, t.clone()), h, later(12), 12));
        assert!(!p.admit(&queued(4, t.clone()), h, later(13), 13));
        // A later task waits behind the one left, even once there is room.
        p.deleted(0, 7, &[2]);
        assert!(!p.admit(&queued(5, t.clone()), h, later(14), 14));
        let reads = p.due_reads(15);
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].limit, 3);
        let ids = |got: Vec<TaskRow>| got.iter().map(|r| r.task_id).collect::<Vec<_>>();
        let rows = vec![row(3, later(12)), row(4, later(13)), row(5, later(14))];
        assert_eq!(ids(p.finish(&reads[0], Some(rows), 15)), vec![4]);
        assert!(p.due_reads(15).is_empty(), "no room");
        p.deleted(0, 7, &[3, 4]);
        let reads = p.due_reads(16);
        let rows = vec![row(5, later(14))];
        assert_eq!(ids(p.finish(&reads[0], Some(rows), 16)), vec![5]);
        assert_eq!(p.held(), 2, "task 1 of the shard and 5");
        // All read: new tasks are held again while there is room.
        assert!(p.admit(&queued(6, t), h, later(16), 16));
    }

    #[test]
    fn a_buffer_full_of_later_tasks_still_takes_due_ones_up_to_a_second_budget() {
        let p = read_shard(2, std::time::Duration::from_secs(60));
        let t = Task::default();
        assert!(p.admit(&queued(1, t.clone()), 0, later(1), 0));
        assert!(p.admit(&queued(2, t.clone()), 0, later(2), 0));
        assert!(
            !p.admit(&queued(3, t.clone()), 0, later(3), 0),
            "over budget"
        );
        // Due now, or before the next tick: held beyond the budget, up to twice it.
        assert!(p.admit(&queued(4, t.clone()), 0, 0, 0));
        assert!(p.admit(&queued(5, t.clone()), 0, DUE_SOON / 2, 0));
        assert!(
            !p.admit(&queued(6, t.clone()), 0, 0, 0),
            "over the second budget"
        );
        assert!(p.due_reads(0).is_empty(), "no room for anything");
        // A due task ran: the one left due is read although the buffer is over its budget.
        p.deleted(0, 7, &[4]);
        let r = p.due_reads(0);
        assert_eq!(r.len(), 1);
        let rows = vec![
            row(6, 0),
            row(5, DUE_SOON / 2),
            row(1, later(1)),
            row(2, later(2)),
            row(3, later(3)),
        ];
        let got = p.finish(&r[0], Some(rows), 0);
        assert_eq!(got.iter().map(|r| r.task_id).collect::<Vec<_>>(), vec![6]);
        assert_eq!(p.held(), 4);
        // The later task left waits for room under the first budget.
        p.deleted(0, 7, &[5, 6]);
        assert!(p.due_reads(0).is_empty(), "no room for a later task");
        p.deleted(0, 7, &[1]);
        let r = p.due_reads(0);
        let got = p.finish(&r[0], Some(vec![row(2, later(2)), row(3, later(3))]), 0);
        assert_eq!(got.iter().map(|r| r.task_id).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn tasks_beyond_the_lookahead_are_read_when_they_come_due() {
        let p = read_shard(10, std::time::Duration::from_nanos(100));
        let t = Task::default();
        assert!(p.admit(&queued(1, t.clone()), 0, 50, 0));
        assert!(!p.admit(&queued(2, t.clone()), 0, 500, 0));
        assert!(p.due_reads(0).is_empty());
        let r = p.due_reads(450);
        assert_eq!(r.len(), 1);
        let got = p.finish(&r[0], Some(vec![row(1, 50), row(2, 500)]), 450);
        assert_eq!(got.iter().map(|r| r.task_id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_row_deleted_during_a_read_is_not_taken_again() {
        let p = read_shard(10, std::time::Duration::from_secs(1));
        let t = Task::default();
        assert!(p.admit(&queued(1, t.clone()), 0, 0, 0));
        assert!(!p.admit(&queued(2, t.clone()), 0, i64::MAX, 0));
        let r = p.due_reads(i64::MAX - 10);
        assert_eq!(r.len(), 1);
        p.deleted(0, 7, &[1]);
        let got = p.finish(&r[0], Some(vec![row(1, 0), row(2, 9)]), 0);
        assert_eq!(got.iter().map(|r| r.task_id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn a_shard_given_up_forgets_its_buffers() {
        let p = Paging::new(10, std::time::Duration::from_secs(1));
        p.start(0, 7);
        p.open(0, 7);
        let r = p.due_reads(0);
        p.stop(0, 7);
        assert!(p.finish(&r[0], Some(vec![row(1, 0)]), 0).is_empty());
        assert!(!p.admit(&queued(1, Task::default()), 0, 0, 0));
        assert_eq!(p.held(), 0);
    }

    /// Between taking a shard in the database and holding it here, nothing of it is read:
    /// a task read then would be dropped as another ownership's, and, held, never read
    /// again (a workflow's timer lost after its shard came back, in a fault test).
    #[test]
    fn a_shard_is_read_only_once_its_ownership_is_in_force() {
        let p = Paging::new(10, std::time::Duration::from_secs(1));
        p.start(0, 7);
        assert!(p.due_reads(0).is_empty(), "not open yet");
        p.open(0, 6);
        assert!(p.due_reads(0).is_empty(), "another ownership opened");
        p.open(0, 7);
        assert_eq!(p.due_reads(0).len(), 1);
        p.stop(0, 7);
        p.start(0, 8);
        assert!(
            p.due_reads(0).is_empty(),
            "a new ownership is closed until opened"
        );
    }
}
