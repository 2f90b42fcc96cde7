//! The pollers' side of matching: a worker's long poll takes a task from its queue and asks
//! history to start it, through the [`Starter`] handle, which reaches the run wherever its
//! shard is. A task history cannot start right now goes back to its queue.

use std::sync::Arc;
use std::time::Duration;

use crate::{Matching, QueueKey};

/// How long a poller waits before looking again at a task whose shard is changing owners.
const OWNER_MOVING: Duration = Duration::from_millis(200);

/// What became of a polled task history was asked to start.
pub enum Start<R> {
    /// Started in its run: the poll answers with this.
    Started(R),
    /// Nothing to start (the run moved on, or this copy of the task is stale): the task is
    /// dropped and the poll waits on.
    Dropped,
    /// The task's shard is changing owners: the task goes back to its queue and the poll
    /// looks again shortly.
    OwnerMoving,
}

/// The worker behind a poll.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Poller {
    pub identity: String,
    /// The worker's instance key (empty from SDKs that send none).
    pub instance_key: String,
    /// The build id the worker says it runs (empty: none), which the started events record.
    pub build_id: String,
    /// The tasks a second the worker asks the queue to hand out at most (activity workers'
    /// `max_tasks_per_second`); the last poll that says sets the queue's rate.
    pub max_tasks_per_second: Option<f64>,
}

/// History, as matching's pollers reach it.
#[async_trait::async_trait]
pub trait Starter<T>: Send + Sync {
    type Response: Send;
    type Error: Send;
    /// Records the start of `task`, taken by `poller`, in its run. An error puts the task
    /// back in its queue and ends the poll with that error.
    async fn start(&self, task: &T, poller: &Poller) -> Result<Start<Self::Response>, Self::Error>;
}

impl<T: Send + Sync + 'static> Matching<T> {
    /// A worker's long poll of `key`: waits up to `wait` for a task that `starter` starts,
    /// and answers its response and, for a sync match, how long the poll took to wake up with
    /// the task; `None` when the wait ends first.
    pub async fn poll_and_start<S: Starter<T>>(
        self: &Arc<Self>,
        key: &QueueKey,
        poller: &Poller,
        wait: Duration,
        starter: &S,
    ) -> Result<Option<(S::Response, Option<Duration>)>, S::Error> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            if self.is_shut_down(&poller.instance_key) {
                return Ok(None);
            }
            self.record_poller(key, poller);
            if let Some(rate) = poller.max_tasks_per_second {
                self.set_dispatch_rate(key, rate);
            }
            let Some(guard) = self.poll(key, &poller.instance_key, left).await else {
                return Ok(None);
            };
            // On an error the guard goes out of scope unconsumed: the task goes back.
            match starter.start(guard.task(), poller).await? {
                Start::Started(response) => {
                    let sync_match = guard.sync_match;
                    guard.consume();
                    return Ok(Some((response, sync_match)));
                }
                Start::Dropped => {
                    guard.consume();
                }
                Start::OwnerMoving => {
                    drop(guard);
                    tokio::time::sleep(OWNER_MOVING.min(left)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueueKind;
    use std::sync::Mutex;

    fn w() -> Poller {
        Poller {
            identity: "w".into(),
            ..Default::default()
        }
    }

    fn key() -> QueueKey {
        QueueKey {
            namespace_id: "ns".into(),
            name: "q".into(),
            kind: QueueKind::Activity,
        }
    }

    /// Starts even tasks, drops odd ones, refuses 100 with an error and says the owner of
    /// 200 is moving the first time it is asked.
    #[derive(Default)]
    struct Evens {
        asked: Mutex<Vec<i64>>,
    }

    #[async_trait::async_trait]
    impl Starter<i64> for Evens {
        type Response = String;
        type Error = String;
        async fn start(&self, task: &i64, poller: &Poller) -> Result<Start<String>, String> {
            let first = {
                let mut asked = self.asked.lock().unwrap();
                asked.push(*task);
                asked.iter().filter(|t| **t == *task).count() == 1
            };
            match *task {
                100 => Err("refused".into()),
                200 if first => Ok(Start::OwnerMoving),
                t if t % 2 == 0 => Ok(Start::Started(format!("{}:{t}", poller.identity))),
                _ => Ok(Start::Dropped),
            }
        }
    }

    #[tokio::test]
    async fn dropped_tasks_are_skipped_and_the_poll_answers_the_started_one() {
        let m = Arc::new(Matching::<i64>::default());
        m.add(&key(), 1);
        m.add(&key(), 3);
        m.add(&key(), 4);
        let s = Evens::default();
        let got = m
            .poll_and_start(&key(), &w(), Duration::from_secs(1), &s)
            .await;
        assert_eq!(got, Ok(Some(("w:4".to_string(), None))));
        assert_eq!(m.backlog_len(&key()), 0);
        assert_eq!(m.pollers(&key())[0].0.identity, "w");
    }

    #[tokio::test]
    async fn an_error_puts_the_task_back_and_a_moving_owner_is_tried_again() {
        let m = Arc::new(Matching::<i64>::default());
        let s = Evens::default();
        m.add(&key(), 100);
        let got = m
            .poll_and_start(&key(), &w(), Duration::from_secs(1), &s)
            .await;
        assert_eq!(got, Err("refused".to_string()));
        assert_eq!(m.backlog_len(&key()), 1);
        m.remove_queue(&key());
        m.add(&key(), 200);
        let got = m
            .poll_and_start(&key(), &w(), Duration::from_secs(2), &s)
            .await;
        assert_eq!(got, Ok(Some(("w:200".to_string(), None))));
        assert_eq!(*s.asked.lock().unwrap(), vec![100, 200, 200]);
    }

    #[tokio::test]
    async fn a_shut_down_worker_s_polls_end_empty_and_others_wait_on() {
        let m = Arc::new(Matching::<i64>::default());
        let worker = |key: &str| Poller {
            identity: format!("id-{key}"),
            instance_key: key.into(),
            ..Default::default()
        };
        let (m1, m2) = (m.clone(), m.clone());
        let leaving = tokio::spawn(async move {
            m1.poll_and_start(
                &key(),
                &worker("a"),
                Duration::from_secs(30),
                &Evens::default(),
            )
            .await
        });
        let staying = tokio::spawn(async move {
            m2.poll_and_start(
                &key(),
                &worker("b"),
                Duration::from_secs(30),
                &Evens::default(),
            )
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(m.cancel_worker_polls("ns", "a", "id-a", &["q"]), 1);
        let ended = tokio::time::timeout(Duration::from_secs(5), leaving).await;
        assert_eq!(ended.expect("ended at once").unwrap(), Ok(None));
        let listed: Vec<String> = m
            .pollers(&key())
            .into_iter()
            .map(|p| p.0.identity)
            .collect();
        assert_eq!(listed, ["id-b"]);
        // A poll the worker sends after it shut down takes nothing.
        m.add(&key(), 2);
        let late = m
            .poll_and_start(
                &key(),
                &worker("a"),
                Duration::from_secs(1),
                &Evens::default(),
            )
            .await;
        assert_eq!(late, Ok(None));
        let staying = staying.await.unwrap().unwrap().unwrap();
        assert_eq!(staying.0, "id-b:2");
        assert!(staying.1.is_some(), "a sync match");
    }

    #[tokio::test]
    async fn a_stopping_node_ends_every_poll_at_once() {
        let m = Arc::new(Matching::<i64>::default());
        let m1 = m.clone();
        let waiting = tokio::spawn(async move {
            m1.poll_and_start(&key(), &w(), Duration::from_secs(30), &Evens::default())
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(m.stop_polls(), 1);
        let ended = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(ended.expect("ended at once").unwrap(), Ok(None));
        // Later polls take nothing, even with a task there; the task stays queued.
        m.add(&key(), 2);
        let late = tokio::time::timeout(
            Duration::from_secs(5),
            m.poll_and_start(&key(), &w(), Duration::from_secs(30), &Evens::default()),
        )
        .await;
        assert_eq!(late.expect("at once"), Ok(None));
    }

    #[tokio::test]
    async fn an_idle_poll_ends_empty() {
        let m = Arc::new(Matching::<i64>::default());
        let got = m
            .poll_and_start(&key(), &w(), Duration::from_millis(30), &Evens::default())
            .await;
        assert_eq!(got, Ok(None));
    }
}
