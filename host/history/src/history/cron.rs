//! Cron schedules of workflows (`cron_schedule`): standard five-field expressions, the
//! `@hourly`-style shorthands, and `@every <duration>`, evaluated in UTC.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;

use crate::time::SECOND;

pub(crate) enum Schedule {
    Cron(Box<Cron>),
    /// `@every`: a fixed period in nanoseconds.
    Every(i64),
}

pub(crate) fn parse(expr: &str) -> Result<Schedule, String> {
    let expr = expr.trim();
    if let Some(d) = expr.strip_prefix("@every ") {
        return sundial_visquery::values::parse_go_duration(d.trim())
            .ok()
            .filter(|nanos| *nanos > 0)
            .map(Schedule::Every)
            .ok_or_else(|| format!("invalid duration in {expr:?}"));
    }
    if expr.split_whitespace().count() != 5 && !expr.starts_with('@') {
        return Err(format!(
            "{expr:?} is not a cron expression of five fields (minute hour day month weekday)"
        ));
    }
    Cron::from_str(expr)
        .map(|c| Schedule::Cron(Box::new(c)))
        .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))
}

fn to_dt(nanos: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(nanos)
}

impl Schedule {
    /// The first schedule time strictly after `t` (unix nanos).
    fn next_after(&self, t: i64) -> Option<i64> {
        match self {
            Schedule::Every(p) => Some(t - t.rem_euclid(*p) + p),
            Schedule::Cron(c) => c
                .find_next_occurrence(&to_dt(t), false)
                .ok()
                .and_then(|d| d.timestamp_nanos_opt()),
        }
    }

    /// How long after `close` the next run starts: the first schedule time after `start`
    /// that is not before `close`, rounded up to whole seconds.
    pub fn backoff(&self, start: i64, close: i64) -> Option<i64> {
        let mut next = self.next_after(start)?;
        while next < close {
            next = self.next_after(next)?;
        }
        let d = next - close;
        Some((d + SECOND - 1) / SECOND * SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * SECOND;

    #[test]
    fn every_minute_waits_for_the_next_minute() {
        let s = parse("* * * * *").unwrap();
        let start = 1_700_000_000 * SECOND + 15 * SECOND;
        let b = s.backoff(start, start).unwrap();
        assert!(b > 0 && b <= MIN, "{b}");
        assert_eq!((start + b) % MIN, 0);
    }

    #[test]
    fn every_duration_and_errors() {
        let s = parse("@every 90s").unwrap();
        assert_eq!(s.backoff(0, 0), Some(90 * SECOND));
        assert!(parse("@every nonsense").is_err());
        assert!(parse("* * *").is_err());
        assert!(parse("61 * * * *").is_err());
        assert!(parse("@hourly").is_ok());
    }

    #[test]
    fn late_close_skips_missed_times() {
        let s = parse("*/5 * * * *").unwrap();
        let start = 0;
        let close = 12 * MIN + SECOND;
        assert_eq!(s.backoff(start, close), Some(15 * MIN - close));
    }
}
