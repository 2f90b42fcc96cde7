//! Matching: in-memory task queues in front of the durable dispatch tasks.
//!
//! A dispatched task goes straight to a waiting poller when there is one (sync match);
//! otherwise it waits in the queue's backlog. The queues hold whatever item history hands
//! them (its durable task and where its row lives); the durable copy stays in history's
//! database until the task has started, and history pages it in, so what a queue holds is a
//! window of its backlog.
//!
//! A worker's poll takes a task and has history start it in its run ([`Starter`], in
//! `poll.rs`), so the pollers' side of the exchange lives here and history is reached through
//! a handle.

mod poll;

pub use poll::{Poller, Start, Starter};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sundial_quotas::{Bucket, Quota};
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    Workflow,
    Activity,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueKey {
    pub namespace_id: String,
    pub name: String,
    pub kind: QueueKind,
}

/// What a waiting poll is handed: a task, or word to look at the backlog again (a task
/// waits there for the queue's dispatch rate).
enum Handoff<T> {
    /// A task, and when it was handed over.
    Task(T, Instant),
    Retry,
}

/// A queue's dispatch rate, the workers' `max_tasks_per_second`.
struct Dispatch {
    quota: Quota,
    bucket: Bucket,
}

struct Queue<T> {
    backlog: VecDeque<T>,
    /// Waiting polls: their id, their worker's instance key, and where a task reaches them.
    pollers: VecDeque<(u64, String, oneshot::Sender<Handoff<T>>)>,
    /// None: tasks go out as fast as they are polled.
    dispatch: Option<Dispatch>,
    last_poll: Option<Instant>,
    /// Workers that polled (by identity: their build id), and when they last did (for
    /// DescribeTaskQueue).
    seen: HashMap<String, (String, std::time::SystemTime)>,
}

impl<T> Queue<T> {
    /// Takes a dispatch token, or says how long until there is one (`None`: paused).
    fn take_token(&self) -> Result<(), Option<Duration>> {
        match &self.dispatch {
            None => Ok(()),
            Some(d) => d.bucket.take_or_wait(Instant::now(), d.quota),
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue {
            backlog: VecDeque::new(),
            pollers: VecDeque::new(),
            dispatch: None,
            last_poll: None,
            seen: HashMap::new(),
        }
    }
}

/// How long the polls of a worker that shut down are answered empty at once (a poll it sent
/// as it shut down must not take a task it would never run).
const SHUT_DOWN_FOR: Duration = Duration::from_secs(30);

/// Tells the oldest waiting poller that can still hear it to look at the backlog.
fn wake<T>(q: &mut Queue<T>) {
    while let Some((_, _, tx)) = q.pollers.pop_front() {
        if tx.send(Handoff::Retry).is_ok() {
            return;
        }
    }
}

/// How long a worker that stopped polling is still listed by DescribeTaskQueue.
const POLLER_LISTED_FOR: Duration = Duration::from_secs(300);

/// How long after its last poll a sticky queue still counts as served by a worker.
const STICKY_LIVENESS: Duration = Duration::from_secs(10);

/// The task queues of this node, holding items of type `T`.
pub struct Matching<T> {
    queues: Mutex<HashMap<QueueKey, Queue<T>>>,
    next_poller: std::sync::atomic::AtomicU64,
    /// Worker instances that shut down lately, and when.
    shut_down: Mutex<HashMap<String, Instant>>,
    /// The node is stopping: every poll ends empty, at once.
    stopping: std::sync::atomic::AtomicBool,
}

impl<T> Default for Matching<T> {
    fn default() -> Self {
        Matching {
            queues: Mutex::new(HashMap::new()),
            next_poller: std::sync::atomic::AtomicU64::new(0),
            shut_down: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Matching's handle for adding tasks: this node's queues ([`Matching`]), or the node that owns
/// a queue, reached over the internal API.
#[async_trait::async_trait]
pub trait Queues<T>: Send + Sync {
    type Error;
    /// Adds a task to `key`'s queue. With `only_if_polled` (a task for a sticky queue) the
    /// queue takes it only while a worker polls it, and answers false otherwise.
    async fn add_task(
        &self,
        key: &QueueKey,
        task: T,
        only_if_polled: bool,
    ) -> Result<bool, Self::Error>;
}

#[async_trait::async_trait]
impl<T: Send + Sync + 'static> Queues<T> for Matching<T> {
    type Error = std::convert::Infallible;
    async fn add_task(
        &self,
        key: &QueueKey,
        task: T,
        only_if_polled: bool,
    ) -> Result<bool, Self::Error> {
        if only_if_polled && !self.has_live_poller(key) {
            return Ok(false);
        }
        self.add(key, task);
        Ok(true)
    }
}

/// A task taken from a queue. Unless [`TaskGuard::consume`] is called, dropping the guard
/// (for example when the poll's client goes away) puts the task back.
pub struct TaskGuard<T> {
    matching: Arc<Matching<T>>,
    key: QueueKey,
    item: Option<T>,
    /// Handed to the poll as it was added (a sync match), not taken from the backlog: how
    /// long the poll took to wake up with it.
    pub sync_match: Option<Duration>,
}

impl<T> TaskGuard<T> {
    pub fn task(&self) -> &T {
        self.item.as_ref().expect("task present until consumed")
    }
    pub fn consume(mut self) -> T {
        self.item.take().expect("task present until consumed")
    }
}

impl<T> Drop for TaskGuard<T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            self.matching.add(&self.key, item);
        }
    }
}

/// Removes a waiting poller when its poll ends for any reason, rescuing a task that was
/// handed to it in the meantime.
struct PollerGuard<T> {
    matching: Arc<Matching<T>>,
    key: QueueKey,
    id: u64,
    rx: Option<oneshot::Receiver<Handoff<T>>>,
}

impl<T> Drop for PollerGuard<T> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            {
                let mut queues = self.matching.queues.lock().unwrap();
                if let Some(q) = queues.get_mut(&self.key) {
                    q.pollers.retain(|(id, _, _)| *id != self.id);
                    q.last_poll = Some(Instant::now());
                }
            }
            rx.close();
            match rx.try_recv() {
                Ok(Handoff::Task(item, _)) => self.matching.add(&self.key, item),
                // Another poll looks at the backlog in its place.
                Ok(Handoff::Retry) => self.matching.wake_one(&self.key),
                Err(_) => {}
            }
        }
    }
}

impl<T> Matching<T> {
    /// Offers a task: to the oldest waiting poller, else to the backlog. Over the queue's
    /// dispatch rate it waits in the backlog, and a waiting poller is told to wait for the
    /// next token there.
    pub fn add(&self, key: &QueueKey, mut item: T) {
        let mut queues = self.queues.lock().unwrap();
        let q = queues.entry(key.clone()).or_default();
        if q.pollers.is_empty() {
            q.backlog.push_back(item);
            return;
        }
        if q.take_token().is_err() {
            q.backlog.push_back(item);
            wake(q);
            return;
        }
        while let Some((_, _, tx)) = q.pollers.pop_front() {
            match tx.send(Handoff::Task(item, Instant::now())) {
                Ok(()) => return,
                Err(Handoff::Task(back, _)) => item = back,
                Err(Handoff::Retry) => unreachable!("a task was sent"),
            }
        }
        q.backlog.push_back(item);
    }

    /// Tells one waiting poller of `key` to look at the backlog.
    fn wake_one(&self, key: &QueueKey) {
        if let Some(q) = self.queues.lock().unwrap().get_mut(key)
            && !q.backlog.is_empty()
        {
            wake(q);
        }
    }

    /// Sets the rate at which `key`'s tasks go out, a second (the burst is one second's worth;
    /// 0 pauses the queue).
    pub fn set_dispatch_rate(&self, key: &QueueKey, rate: f64) {
        let rate = rate.max(0.0);
        let quota = Quota {
            rate,
            burst: if rate > 0.0 {
                rate.ceil().max(1.0)
            } else {
                0.0
            },
        };
        let mut queues = self.queues.lock().unwrap();
        let q = queues.entry(key.clone()).or_default();
        match &mut q.dispatch {
            Some(d) => d.quota = quota,
            None => {
                q.dispatch = Some(Dispatch {
                    quota,
                    bucket: Bucket::default(),
                })
            }
        }
    }

    /// Waits up to `timeout` for a task, for the worker instance `instance_key` (may be empty);
    /// `None` when the wait ends first or the worker shuts down.
    pub async fn poll(
        self: &Arc<Self>,
        key: &QueueKey,
        instance_key: &str,
        timeout: Duration,
    ) -> Option<TaskGuard<T>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let waiting = {
                let mut queues = self.queues.lock().unwrap();
                // Read under the lock that `stop_polls` clears the pollers under: no poll
                // parks after it.
                if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                    return None;
                }
                let q = queues.entry(key.clone()).or_default();
                q.last_poll = Some(Instant::now());
                if q.backlog.is_empty() {
                    let id = self
                        .next_poller
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let (tx, rx) = oneshot::channel();
                    q.pollers.push_back((id, instance_key.to_string(), tx));
                    Ok((id, rx))
                } else {
                    match q.take_token() {
                        Ok(()) => {
                            let item = q.backlog.pop_front();
                            return Some(TaskGuard {
                                matching: self.clone(),
                                key: key.clone(),
                                item,
                                sync_match: None,
                            });
                        }
                        Err(until_token) => Err(until_token.unwrap_or(left).min(left)),
                    }
                }
            };
            let (id, rx) = match waiting {
                Ok(parked) => parked,
                // Over the dispatch rate: back when the next token is there.
                Err(pause) => {
                    if left.is_zero() {
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            let mut guard = PollerGuard {
                matching: self.clone(),
                key: key.clone(),
                id,
                rx: Some(rx),
            };
            let rx = guard.rx.as_mut().expect("receiver set");
            match tokio::time::timeout(left, rx).await {
                Ok(Ok(Handoff::Task(item, handed))) => {
                    guard.rx = None;
                    if let Some(q) = self.queues.lock().unwrap().get_mut(key) {
                        q.last_poll = Some(Instant::now());
                    }
                    return Some(TaskGuard {
                        matching: self.clone(),
                        key: key.clone(),
                        item: Some(item),
                        sync_match: Some(handed.elapsed()),
                    });
                }
                Ok(Ok(Handoff::Retry)) => {
                    guard.rx = None;
                }
                // PollerGuard's drop deregisters and rescues a late hand-off.
                _ => return None,
            }
        }
    }

    /// Drops every backlog task `keep` refuses (the tasks of a shard this node gave up).
    pub fn retain(&self, mut keep: impl FnMut(&T) -> bool) {
        for q in self.queues.lock().unwrap().values_mut() {
            q.backlog.retain(&mut keep);
        }
    }

    /// The node is stopping: the polls waiting here end empty now, and later ones at once;
    /// tasks stay in their queues (and in the database) for the next owner. Answers how
    /// many polls it ended.
    pub fn stop_polls(&self) -> usize {
        let mut queues = self.queues.lock().unwrap();
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let mut ended = 0;
        for q in queues.values_mut() {
            ended += q.pollers.len();
            // Dropping a poll's sender ends its wait with nothing.
            q.pollers.clear();
        }
        ended
    }

    /// A worker instance shut down: its waiting polls end empty now, and the polls it sends in
    /// the next 30 s end empty at once; `identity` is no longer listed as a poller of the
    /// queues named `queues` in its namespace. Answers how many polls it ended.
    pub fn cancel_worker_polls(
        &self,
        namespace_id: &str,
        instance_key: &str,
        identity: &str,
        queues: &[&str],
    ) -> usize {
        if instance_key.is_empty() {
            return 0;
        }
        {
            let mut shut_down = self.shut_down.lock().unwrap();
            shut_down.retain(|_, at| at.elapsed() < SHUT_DOWN_FOR);
            shut_down.insert(instance_key.to_string(), Instant::now());
        }
        let mut ended = 0;
        for (key, q) in self.queues.lock().unwrap().iter_mut() {
            let before = q.pollers.len();
            // Dropping a poll's sender ends its wait with nothing.
            q.pollers.retain(|(_, k, _)| k != instance_key);
            ended += before - q.pollers.len();
            if key.namespace_id == namespace_id && queues.contains(&key.name.as_str()) {
                q.seen.remove(identity);
            }
        }
        ended
    }

    /// Whether the worker instance shut down within the last 30 s.
    pub fn is_shut_down(&self, instance_key: &str) -> bool {
        !instance_key.is_empty()
            && self
                .shut_down
                .lock()
                .unwrap()
                .get(instance_key)
                .is_some_and(|at| at.elapsed() < SHUT_DOWN_FOR)
    }

    /// Notes that `identity` is polling this queue.
    pub fn record_poller(&self, key: &QueueKey, poller: &Poller) {
        let mut queues = self.queues.lock().unwrap();
        let q = queues.entry(key.clone()).or_default();
        q.seen.insert(
            poller.identity.clone(),
            (poller.build_id.clone(), std::time::SystemTime::now()),
        );
    }

    /// Workers that polled this queue lately, most recent first.
    pub fn pollers(&self, key: &QueueKey) -> Vec<(Poller, std::time::SystemTime)> {
        let mut queues = self.queues.lock().unwrap();
        let Some(q) = queues.get_mut(key) else {
            return Vec::new();
        };
        let now = std::time::SystemTime::now();
        q.seen
            .retain(|_, (_, t)| now.duration_since(*t).unwrap_or_default() < POLLER_LISTED_FOR);
        let mut out: Vec<_> = q
            .seen
            .iter()
            .map(|(identity, (build_id, t))| {
                let poller = Poller {
                    identity: identity.clone(),
                    build_id: build_id.clone(),
                    ..Default::default()
                };
                (poller, *t)
            })
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse(p.1));
        out
    }

    /// Whether a worker polled this queue recently (used to decide sticky dispatch).
    pub fn has_live_poller(&self, key: &QueueKey) -> bool {
        let queues = self.queues.lock().unwrap();
        match queues.get(key) {
            Some(q) => {
                !q.pollers.is_empty() || q.last_poll.is_some_and(|t| t.elapsed() < STICKY_LIVENESS)
            }
            None => false,
        }
    }

    /// The queues this node holds.
    pub fn queue_keys(&self) -> Vec<QueueKey> {
        self.queues.lock().unwrap().keys().cloned().collect()
    }

    /// Forgets a queue (a sticky queue whose worker shut down) and returns its backlog.
    pub fn remove_queue(&self, key: &QueueKey) -> Vec<T> {
        let mut queues = self.queues.lock().unwrap();
        match queues.remove(key) {
            Some(q) => q.backlog.into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// How many tasks wait in the queue here.
    #[cfg(test)]
    pub fn backlog_len(&self, key: &QueueKey) -> usize {
        self.queues
            .lock()
            .unwrap()
            .get(key)
            .map(|q| q.backlog.len())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> QueueKey {
        QueueKey {
            namespace_id: "ns".into(),
            name: "q".into(),
            kind: QueueKind::Workflow,
        }
    }
    fn item(id: i64) -> i64 {
        id
    }

    #[tokio::test]
    async fn sync_match_hands_task_to_waiting_poller() {
        let m = Arc::new(Matching::<i64>::default());
        let m2 = m.clone();
        let poller = tokio::spawn(async move {
            m2.poll(&key(), "", Duration::from_secs(5))
                .await
                .map(|g| g.consume())
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        m.add(&key(), item(7));
        assert_eq!(poller.await.unwrap(), Some(7));
        assert_eq!(m.backlog_len(&key()), 0);
    }

    #[tokio::test]
    async fn backlog_is_served_later_and_idle_poll_times_out() {
        let m = Arc::new(Matching::<i64>::default());
        assert!(
            m.poll(&key(), "", Duration::from_millis(20))
                .await
                .is_none()
        );
        m.add(&key(), item(1));
        m.add(&key(), item(2));
        assert_eq!(m.backlog_len(&key()), 2);
        let a = m
            .poll(&key(), "", Duration::from_millis(20))
            .await
            .unwrap()
            .consume();
        assert_eq!(a, 1);
    }

    #[tokio::test]
    async fn tasks_go_out_at_the_dispatch_rate() {
        let m = Arc::new(Matching::<i64>::default());
        m.set_dispatch_rate(&key(), 10.0);
        for i in 0..15 {
            m.add(&key(), item(i));
        }
        let began = Instant::now();
        let mut got = Vec::new();
        for _ in 0..15 {
            let task = m.poll(&key(), "", Duration::from_secs(5)).await.unwrap();
            got.push(task.consume());
        }
        assert_eq!(got, (0..15).collect::<Vec<_>>());
        // Ten at once (the burst), then five at ten a second.
        assert!(
            began.elapsed() >= Duration::from_millis(450),
            "{:?}",
            began.elapsed()
        );

        // A poller waiting when a task comes over the rate gets it once a token is there.
        let m2 = m.clone();
        let waiting = tokio::spawn(async move {
            m2.poll(&key(), "", Duration::from_secs(5))
                .await
                .map(|g| g.consume())
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        m.add(&key(), item(99));
        assert_eq!(waiting.await.unwrap(), Some(99));

        // Rate 0 pauses the queue; a rate again resumes it.
        m.set_dispatch_rate(&key(), 0.0);
        m.add(&key(), item(100));
        assert!(
            m.poll(&key(), "", Duration::from_millis(200))
                .await
                .is_none()
        );
        m.set_dispatch_rate(&key(), 100.0);
        let resumed = m.poll(&key(), "", Duration::from_secs(1)).await.unwrap();
        assert_eq!(resumed.consume(), 100);
    }

    #[tokio::test]
    async fn dropped_guard_requeues_task() {
        let m = Arc::new(Matching::<i64>::default());
        m.add(&key(), item(3));
        let g = m.poll(&key(), "", Duration::from_millis(20)).await.unwrap();
        drop(g);
        assert_eq!(m.backlog_len(&key()), 1);
    }
}
