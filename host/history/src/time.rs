//! Time as the engine keeps it: i64 nanoseconds since the Unix epoch, converted to protobuf
//! `Timestamp`/`Duration` at the edges.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_types::{Duration, Timestamp};

pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub fn ts(nanos: i64) -> Timestamp {
    Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: nanos.rem_euclid(1_000_000_000) as i32,
    }
}

/// Go's zero time, which Temporal shows for a time that was never set (a deadline the run does
/// not have, a versioning change that never happened).
pub const GO_ZERO_TIME: Timestamp = Timestamp {
    seconds: -62_135_596_800,
    nanos: 0,
};

pub fn opt_ts(nanos: i64) -> Option<Timestamp> {
    (nanos > 0).then(|| ts(nanos))
}

/// Nanoseconds of an optional duration; `None` and negative values are 0.
pub fn dur_nanos(d: &Option<Duration>) -> i64 {
    match d {
        Some(d) => (d.seconds.saturating_mul(1_000_000_000))
            .saturating_add(d.nanos as i64)
            .max(0),
        None => 0,
    }
}

pub fn dur(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}

/// Checks a duration field: negative or mixed-sign values are invalid.
pub fn valid_duration(d: &Option<Duration>) -> bool {
    match d {
        None => true,
        Some(d) => d.seconds >= 0 && d.nanos >= 0 && d.nanos < 1_000_000_000,
    }
}

pub const SECOND: i64 = 1_000_000_000;
