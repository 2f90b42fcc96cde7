//! A schedule spec compiled: its canonical form, and the next time it fires after a given
//! time, with Temporal's deterministic jitter.

use chrono::{DateTime, Datelike, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use prost_types::{Duration, Timestamp};
use temporalio_protos::temporal::api::schedule::v1::ScheduleSpec;

use crate::calendar::{self, Calendar, MAX_YEAR};
use crate::cron::{self, Cron};

/// Seconds between 0001-01-01 and the Unix epoch (Go's internal time base).
const GO_EPOCH_OFFSET: i64 = 62_135_596_800;

/// One firing: the nominal time the spec matched and the time after jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Next {
    pub nominal: DateTime<Utc>,
    pub actual: DateTime<Utc>,
}

pub struct CompiledSpec {
    canonical: ScheduleSpec,
    calendars: Vec<Calendar>,
    excludes: Vec<Calendar>,
    /// Intervals and phases in whole seconds.
    intervals: Vec<(i64, i64)>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    jitter_ms: i64,
}

fn nanos(d: &Option<Duration>) -> i64 {
    d.as_ref().map_or(0, |d| {
        d.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(d.nanos as i64)
    })
}

pub fn time_of(t: &Timestamp) -> DateTime<Utc> {
    Utc.timestamp_opt(t.seconds, t.nanos.clamp(0, 999_999_999) as u32)
        .single()
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The canonical form: every string calendar and cron string as a structured calendar (and
/// `@every` as an interval), a cron zone moved to `timezone_name`, ranges normalised.
fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, String> {
    let mut spec = spec.clone();
    for cal in std::mem::take(&mut spec.calendar) {
        spec.structured_calendar
            .push(calendar::structured_from_strings(&cal)?);
    }
    #[allow(deprecated)]
    for cal in std::mem::take(&mut spec.exclude_calendar) {
        spec.exclude_structured_calendar
            .push(calendar::structured_from_strings(&cal)?);
    }
    let mut cron_zone: Option<String> = None;
    for text in std::mem::take(&mut spec.cron_string) {
        let zone = match cron::parse(&text)? {
            Cron::Calendar(cal, zone) => {
                spec.structured_calendar.push(cal);
                zone
            }
            Cron::Interval(interval) => {
                spec.interval.push(interval);
                String::new()
            }
        };
        if cron_zone.as_ref().is_some_and(|z| *z != zone) {
            return Err("conflicting timezone names".to_string());
        }
        cron_zone = Some(zone);
    }
    if let Some(zone) = cron_zone.filter(|z| !z.is_empty()) {
        if !spec.timezone_data.is_empty()
            || (!spec.timezone_name.is_empty() && spec.timezone_name != zone)
        {
            return Err("conflicting timezone names".to_string());
        }
        spec.timezone_name = zone;
    }
    for cal in &spec.structured_calendar {
        calendar::validate(cal)?;
    }
    for interval in &spec.interval {
        let (every, phase) = (nanos(&interval.interval), nanos(&interval.phase));
        if every < 1_000_000_000 {
            return Err("interval is too small".to_string());
        } else if phase < 0 {
            return Err("phase is negative".to_string());
        } else if phase >= every {
            return Err("phase cannot be greater than Interval".to_string());
        }
    }
    for cal in spec
        .structured_calendar
        .iter_mut()
        .chain(spec.exclude_structured_calendar.iter_mut())
    {
        calendar::clean(cal);
    }
    Ok(spec)
}

fn zone(spec: &ScheduleSpec) -> Result<Tz, String> {
    if !spec.timezone_data.is_empty() {
        return Err(
            "timezone_data is not supported by this server; name the zone in timezone_name"
                .to_string(),
        );
    }
    match spec.timezone_name.as_str() {
        "" | "UTC" | "Local" => Ok(Tz::UTC),
        name => name
            .parse()
            .map_err(|_| format!("unknown time zone {name}")),
    }
}

impl CompiledSpec {
    /// Compiles a spec as given by a client; the error is the detail of Temporal's
    /// `Invalid schedule spec: <detail>`.
    pub fn new(spec: &ScheduleSpec) -> Result<Self, String> {
        let canonical = canonicalize(spec)?;
        let tz = zone(&canonical)?;
        let compile = |cals: &[_]| cals.iter().map(|c| Calendar::new(c, tz)).collect();
        Ok(CompiledSpec {
            calendars: compile(&canonical.structured_calendar),
            excludes: compile(&canonical.exclude_structured_calendar),
            intervals: canonical
                .interval
                .iter()
                .map(|i| {
                    (
                        nanos(&i.interval) / 1_000_000_000,
                        nanos(&i.phase) / 1_000_000_000,
                    )
                })
                .collect(),
            start: canonical.start_time.as_ref().map(time_of),
            end: canonical.end_time.as_ref().map(time_of),
            jitter_ms: nanos(&canonical.jitter) / 1_000_000,
            canonical,
        })
    }

    pub fn canonical(&self) -> &ScheduleSpec {
        &self.canonical
    }

    /// The first time the spec fires strictly after `after` (nominal second and jittered time),
    /// or `None` when it never fires again. `seed` is `<namespace id>-<schedule id>`.
    pub fn next_time(&self, seed: &str, after: DateTime<Utc>) -> Option<Next> {
        let floor = self.start.unwrap_or(DateTime::UNIX_EPOCH) - TimeDelta::seconds(1);
        let mut after = after.max(floor);
        let nominal = loop {
            let nominal = self.raw_next(after)?;
            if self.end.is_some_and(|end| nominal > end) || nominal.year() > MAX_YEAR {
                return None;
            }
            if !self.excludes.iter().any(|x| x.matches(nominal)) {
                break nominal;
            }
            after = nominal;
        };
        let mut max_jitter = self.jitter_ms.max(0);
        if let Some(following) = self.raw_next(nominal) {
            max_jitter = max_jitter.min((following - nominal).num_milliseconds());
        }
        Some(Next {
            nominal,
            actual: nominal + TimeDelta::milliseconds(jitter_ms(seed, nominal, max_jitter)),
        })
    }

    /// Every jittered firing in `(start, end]`, at most `limit`.
    pub fn times_between(
        &self,
        seed: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut times = Vec::new();
        let mut after = start;
        while times.len() < limit {
            match self.next_time(seed, after) {
                Some(next) if next.actual <= end => {
                    times.push(next.actual);
                    after = next.nominal;
                }
                _ => break,
            }
        }
        times
    }

    fn raw_next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let ts = after.timestamp();
        let calendars = self
            .calendars
            .iter()
            .filter_map(|c| c.next(after))
            .map(|t| t.timestamp());
        let intervals = self
            .intervals
            .iter()
            .map(|&(every, phase)| ((ts - phase) / every + 1) * every + phase);
        let earliest = calendars.chain(intervals).min()?;
        Utc.timestamp_opt(earliest, 0).single()
    }
}

/// Temporal's jitter: a FarmHash fingerprint of the nominal time (Go's binary time encoding)
/// and the seed, scaled into `[0, max_ms)`.
fn jitter_ms(seed: &str, nominal: DateTime<Utc>, max_ms: i64) -> i64 {
    let mut bytes = Vec::with_capacity(15 + seed.len());
    bytes.push(1u8);
    bytes.extend_from_slice(&(nominal.timestamp() + GO_EPOCH_OFFSET).to_be_bytes());
    bytes.extend_from_slice(&(nominal.timestamp_subsec_nanos() as i32).to_be_bytes());
    bytes.extend_from_slice(&[0xff, 0xff]);
    bytes.extend_from_slice(seed.as_bytes());
    let fingerprint = farmhash::fingerprint32(&bytes) as u64;
    let range = (max_ms.max(0) as u64).min(u32::MAX as u64);
    ((fingerprint * range) >> 32) as i64
}
