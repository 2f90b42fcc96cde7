//! Token buckets as Temporal's limiters keep them (Go's `x/time/rate`): a bucket starts full,
//! fills at `rate` tokens a second up to `burst`, and a call takes one token. Besides taking a
//! token only when one is there ([`Bucket::allow`]), a bucket can be made to owe one
//! ([`Bucket::reserve`]): a priority limiter takes a token from every lower priority's bucket
//! for each call it admits, so those run dry first. `governor` has no such debt, hence this.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The rate and burst a bucket is read with; both may change between calls (dynamic config).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    /// Tokens a second.
    pub rate: f64,
    /// Most tokens held.
    pub burst: f64,
}

impl Quota {
    /// A rate with its burst as Temporal derives one: `rate × ratio`, at least 1 unless the
    /// rate or the ratio is 0.
    pub fn with_burst_ratio(rate: f64, ratio: f64) -> Quota {
        let (rate, ratio) = (rate.max(0.0), ratio.max(0.0));
        let mut burst = (rate * ratio).floor();
        if burst == 0.0 && rate > 0.0 && ratio > 0.0 {
            burst = 1.0;
        }
        Quota { rate, burst }
    }
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Bucket {
    state: Mutex<Option<State>>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            state: Mutex::new(None),
        }
    }
}

impl Bucket {
    /// Takes one token if there is one.
    pub fn allow(&self, now: Instant, quota: Quota) -> bool {
        let mut state = self.state.lock().unwrap();
        let tokens = fill(&mut state, now, quota);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token, owing it when there is none (unless the burst is below one token,
    /// when no call could ever be admitted).
    pub fn reserve(&self, now: Instant, quota: Quota) {
        if quota.burst < 1.0 {
            return;
        }
        let mut state = self.state.lock().unwrap();
        *fill(&mut state, now, quota) -= 1.0;
    }

    /// Takes one token if there is one; else says how long until there is (`None`: never,
    /// at a rate of 0).
    pub fn take_or_wait(&self, now: Instant, quota: Quota) -> Result<(), Option<Duration>> {
        let mut state = self.state.lock().unwrap();
        let tokens = fill(&mut state, now, quota);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        if quota.rate <= 0.0 || quota.burst < 1.0 {
            return Err(None);
        }
        Err(Some(Duration::from_secs_f64((1.0 - *tokens) / quota.rate)))
    }

    /// True when the bucket is full: forgetting it changes nothing.
    pub fn is_full(&self, now: Instant, quota: Quota) -> bool {
        let mut state = self.state.lock().unwrap();
        *fill(&mut state, now, quota) >= quota.burst
    }
}

/// The tokens after filling up to `now`.
fn fill(state: &mut Option<State>, now: Instant, quota: Quota) -> &mut f64 {
    let s = state.get_or_insert(State {
        tokens: quota.burst,
        at: now,
    });
    let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
    s.tokens = (s.tokens + elapsed * quota.rate).min(quota.burst);
    s.at = s.at.max(now);
    &mut s.tokens
}

/// One bucket per priority, 0 the highest. Priority 0 (the operator's calls) fills at a share
/// of the rate (`system.operatorRPSRatio`); the others at the full rate, each on its own. A call
/// is admitted by its own priority's bucket and then takes a token from every lower priority's.
#[derive(Debug)]
pub struct PriorityBuckets {
    buckets: Vec<Bucket>,
}

impl PriorityBuckets {
    pub fn new(priorities: usize) -> PriorityBuckets {
        PriorityBuckets {
            buckets: (0..priorities).map(|_| Bucket::default()).collect(),
        }
    }

    pub fn allow(&self, priority: usize, now: Instant, quota: Quota, operator_ratio: f64) -> bool {
        let priority = priority.min(self.buckets.len() - 1);
        let quota_of = |p: usize| {
            if p == 0 {
                Quota {
                    rate: quota.rate * operator_ratio,
                    burst: quota.burst,
                }
            } else {
                quota
            }
        };
        if !self.buckets[priority].allow(now, quota_of(priority)) {
            return false;
        }
        for lower in priority + 1..self.buckets.len() {
            self.buckets[lower].reserve(now, quota_of(lower));
        }
        true
    }

    /// True when every bucket is full.
    pub fn is_idle(&self, now: Instant, quota: Quota, operator_ratio: f64) -> bool {
        self.buckets.iter().enumerate().all(|(p, b)| {
            let rate = if p == 0 {
                quota.rate * operator_ratio
            } else {
                quota.rate
            };
            b.is_full(now, Quota { rate, ..quota })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let bucket = Bucket::default();
        let quota = Quota::with_burst_ratio(10.0, 2.0);
        assert_eq!(quota.burst, 20.0);
        let t0 = Instant::now();
        assert_eq!((0..30).filter(|_| bucket.allow(t0, quota)).count(), 20);
        // A tenth of a second later, one more token.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!((0..5).filter(|_| bucket.allow(t1, quota)).count(), 1);
        // Never more than the burst, however long it rests.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!((0..30).filter(|_| bucket.allow(t2, quota)).count(), 20);
    }

    #[test]
    fn burst_as_temporal_derives_it() {
        assert_eq!(Quota::with_burst_ratio(0.3, 1.0).burst, 1.0);
        assert_eq!(Quota::with_burst_ratio(0.0, 2.0).burst, 0.0);
        assert_eq!(Quota::with_burst_ratio(2400.0, 2.0).burst, 4800.0);
        assert_eq!(Quota::with_burst_ratio(5.0, 1.5).burst, 7.0);
    }

    #[test]
    fn a_bucket_says_how_long_until_its_next_token() {
        let bucket = Bucket::default();
        let quota = Quota {
            rate: 4.0,
            burst: 1.0,
        };
        let t0 = Instant::now();
        assert_eq!(bucket.take_or_wait(t0, quota), Ok(()));
        assert_eq!(
            bucket.take_or_wait(t0, quota),
            Err(Some(Duration::from_millis(250)))
        );
        assert_eq!(
            bucket.take_or_wait(t0 + Duration::from_millis(250), quota),
            Ok(())
        );
        let paused = Quota {
            rate: 0.0,
            burst: 1.0,
        };
        let fresh = Bucket::default();
        assert_eq!(fresh.take_or_wait(t0, paused), Ok(()));
        assert_eq!(
            fresh.take_or_wait(t0 + Duration::from_secs(9), paused),
            Err(None)
        );
    }

    #[test]
    fn a_rate_of_zero_admits_nothing_after_the_burst() {
        let bucket = Bucket::default();
        let t0 = Instant::now();
        let none = Quota {
            rate: 0.0,
            burst: 0.0,
        };
        assert!(!bucket.allow(t0, none));
        bucket.reserve(t0, none);
        assert!(!bucket.allow(t0 + Duration::from_secs(5), none));
    }

    #[test]
    fn high_priorities_drain_the_low_ones_first() {
        let buckets = PriorityBuckets::new(3);
        let quota = Quota {
            rate: 1.0,
            burst: 10.0,
        };
        let at = |s: u64| Instant::now() + Duration::from_secs(s);
        let t0 = at(0);
        // Ten calls of priority 1 empty its bucket and priority 2's ...
        for _ in 0..10 {
            assert!(buckets.allow(1, t0, quota, 0.2));
        }
        assert!(!buckets.allow(1, t0, quota, 0.2));
        assert!(!buckets.allow(2, t0, quota, 0.2));
        // ... five of priority 0, which has a bucket of its own, put both in debt ...
        for _ in 0..5 {
            assert!(buckets.allow(0, t0, quota, 0.2));
        }
        // ... which five seconds pay back.
        assert!(!buckets.allow(1, t0 + Duration::from_secs(5), quota, 0.2));
        // Then priority 1 takes what refills, and priority 2 gets nothing while it does.
        let t6 = t0 + Duration::from_secs(6);
        assert!(buckets.allow(1, t6, quota, 0.2));
        assert!(!buckets.allow(2, t6, quota, 0.2));
        assert!(buckets.allow(2, t6 + Duration::from_secs(1), quota, 0.2));
        assert!(!buckets.is_idle(t6, quota, 0.2));
        assert!(buckets.is_idle(t6 + Duration::from_secs(100), quota, 0.2));
    }
}
