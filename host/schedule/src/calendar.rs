//! Calendars: the string form (`CalendarSpec`, cron fields) parsed into ranges, and a compiled
//! calendar that matches and finds the next matching second in a time zone, stepping over a
//! daylight-saving gap and firing twice in a repeated hour, as Temporal does.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use temporalio_protos::temporal::api::schedule::v1::{CalendarSpec, Range, StructuredCalendarSpec};

pub(crate) const MIN_YEAR: i32 = 2000;
pub(crate) const MAX_YEAR: i32 = 2100;
const MAX_COMMENT_LEN: usize = 200;

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

#[derive(Clone, Copy, PartialEq)]
enum Field {
    Number,
    Year,
    Month,
    Weekday,
}

/// Parses the string form of a calendar: seconds, minutes and hours default to `0`, the rest
/// to every value.
pub(crate) fn structured_from_strings(
    cal: &CalendarSpec,
) -> Result<StructuredCalendarSpec, String> {
    let mut errors = Vec::new();
    let mut field = |text: &str, name: &str, default: &str, min: i32, max: i32, kind: Field| {
        parse_ranges(text, name, default, min, max, kind).unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        })
    };
    let structured = StructuredCalendarSpec {
        second: field(&cal.second, "Second", "0", 0, 59, Field::Number),
        minute: field(&cal.minute, "Minute", "0", 0, 59, Field::Number),
        hour: field(&cal.hour, "Hour", "0", 0, 23, Field::Number),
        day_of_week: field(&cal.day_of_week, "DayOfWeek", "*", 0, 7, Field::Weekday),
        day_of_month: field(&cal.day_of_month, "DayOfMonth", "*", 1, 31, Field::Number),
        month: field(&cal.month, "Month", "*", 1, 12, Field::Month),
        year: field(&cal.year, "Year", "*", MIN_YEAR, MAX_YEAR, Field::Year),
        comment: cal.comment.clone(),
    };
    if errors.is_empty() {
        Ok(structured)
    } else {
        Err(errors.join(", "))
    }
}

fn parse_ranges(
    text: &str,
    name: &str,
    default: &str,
    min: i32,
    max: i32,
    kind: Field,
) -> Result<Vec<Range>, String> {
    let mut text = text.trim();
    if text.is_empty() {
        text = default;
    }
    if text == "*" && kind == Field::Year {
        return Ok(Vec::new()); // every year is the empty list
    }
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let (part, step, has_step) = match part.split_once('/') {
            Some((_, rest)) if rest.contains('/') => {
                return Err(format!("{name} has too many slashes"));
            }
            Some((_, "")) => return Err(format!("{name} missing step value")),
            Some((part, step)) => {
                let step: i32 = step
                    .parse()
                    .map_err(|_| format!("{name} has invalid Step"))?;
                if step < 1 {
                    return Err(format!("{name} has invalid Step"));
                }
                (part, step, true)
            }
            None => (part, 1, false),
        };
        let (mut start, mut end) = (min, max);
        if part != "*" {
            if let Some((a, b)) = part.split_once('-') {
                if b.contains('-') {
                    return Err(format!("{name} has too many dashes"));
                }
                start = parse_value(a, min, max, kind)
                    .ok_or_else(|| format!("{name} Start is not in range [{min}-{max}]"))?;
                end = parse_value(b, start, max, kind).ok_or_else(|| {
                    format!("{name} End is before Start or not in range [{min}-{max}]")
                })?;
            } else {
                start = parse_value(part, min, max, kind)
                    .ok_or_else(|| format!("{name} is not in range [{min}-{max}]"))?;
                if !has_step {
                    end = start;
                }
            }
        }
        if kind == Field::Weekday && end == 7 {
            // 7 is Sunday again; Temporal's reading of `x-7` (its quirk: `1-7` stays Monday..Saturday).
            if (7 - start) % step == 0 && (step > 1 || start > 1) {
                ranges.push(Range {
                    start: 0,
                    end: 0,
                    step: 0,
                });
                if start == 7 {
                    continue;
                }
            }
            end = 6;
        }
        ranges.push(Range {
            start,
            end: if start == end { 0 } else { end },
            step: if step == 1 { 0 } else { step },
        });
    }
    Ok(ranges)
}

fn parse_value(text: &str, min: i32, max: i32, kind: Field) -> Option<i32> {
    let lower = text.to_ascii_lowercase();
    let named = match kind {
        Field::Month if text.len() >= 3 => MONTHS
            .iter()
            .position(|m| m.starts_with(&lower))
            .map(|i| i as i32 + 1),
        Field::Weekday if text.len() >= 2 => WEEKDAYS
            .iter()
            .position(|d| d.starts_with(&lower))
            .map(|i| i as i32),
        _ => None,
    };
    let value = match named {
        Some(v) => v,
        None => text.parse().ok()?,
    };
    (min..=max).contains(&value).then_some(value)
}

/// Checks a structured calendar's bounds (what Temporal refuses in the structured form).
pub(crate) fn validate(cal: &StructuredCalendarSpec) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut check = |ranges: &[Range], name: &str, min: i32, max: i32| {
        for r in ranges {
            if r.start < min || r.start > max {
                errors.push(format!("{name} Start is not in range [{min}-{max}]"));
            }
            if r.end != 0 && (r.end < r.start || r.end > max) {
                errors.push(format!(
                    "{name} End is before Start or not in range [{min}-{max}]"
                ));
            }
            if r.step < 0 {
                errors.push(format!("{name} has invalid Step"));
            }
        }
    };
    check(&cal.second, "Second", 0, 59);
    check(&cal.minute, "Minute", 0, 59);
    check(&cal.hour, "Hour", 0, 23);
    check(&cal.day_of_month, "DayOfMonth", 1, 31);
    check(&cal.month, "Month", 1, 12);
    check(&cal.year, "Year", MIN_YEAR, MAX_YEAR);
    check(&cal.day_of_week, "DayOfWeek", 0, 6);
    if cal.comment.len() > MAX_COMMENT_LEN {
        errors.push("comment is too long".to_string());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("invalid calendar spec: {}", errors.join(", ")))
    }
}

/// Ranges as `DescribeSchedule` shows them: an end before the start is the start, step 0 is 1.
pub(crate) fn clean(cal: &mut StructuredCalendarSpec) {
    for ranges in [
        &mut cal.second,
        &mut cal.minute,
        &mut cal.hour,
        &mut cal.day_of_month,
        &mut cal.month,
        &mut cal.year,
        &mut cal.day_of_week,
    ] {
        for r in ranges.iter_mut() {
            r.end = r.end.max(r.start);
            r.step = r.step.max(1);
        }
    }
}

/// A set of small values as bits (every field but the year).
#[derive(Clone, Copy)]
struct Bits(u64);

impl Bits {
    fn of(ranges: &[Range]) -> Self {
        let mut bits = 0u64;
        each_value(ranges, |v| {
            if (0..64).contains(&v) {
                bits |= 1 << v;
            }
        });
        Bits(bits)
    }
    fn has(self, v: u32) -> bool {
        v < 64 && self.0 & (1 << v) != 0
    }
}

fn each_value(ranges: &[Range], mut f: impl FnMut(i32)) {
    for r in ranges {
        let step = r.step.max(1);
        let mut v = r.start;
        while v <= r.end.max(r.start) {
            f(v);
            v += step;
        }
    }
}

pub(crate) struct Calendar {
    tz: Tz,
    years: Option<Vec<i32>>,
    month: Bits,
    day_of_month: Bits,
    day_of_week: Bits,
    hour: Bits,
    minute: Bits,
    second: Bits,
}

/// Go's `time.Date` in a zone: a local time in a gap or a repeated hour resolves as Go resolves
/// it (the offset found for the local time read as UTC, corrected once).
fn go_date(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let offset_at =
        |t: NaiveDateTime| tz.offset_from_utc_datetime(&t).fix().local_minus_utc() as i64;
    let first = offset_at(local);
    let utc = local - TimeDelta::seconds(first);
    let offset = offset_at(utc);
    Utc.from_utc_datetime(&(local - TimeDelta::seconds(offset)))
}

fn naive(y: i32, month: u32, d: u32, h: u32, m: u32, s: u32) -> NaiveDateTime {
    let first = NaiveDate::from_ymd_opt(y, month, 1).expect("month in 1..=12");
    (first + TimeDelta::days(d as i64 - 1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        + TimeDelta::seconds(h as i64 * 3600 + m as i64 * 60 + s as i64)
}

fn days_in_month(month: u32, year: i32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Calendar {
    pub(crate) fn new(cal: &StructuredCalendarSpec, tz: Tz) -> Self {
        let years = (!cal.year.is_empty()).then(|| {
            let mut years = Vec::new();
            each_value(&cal.year, |v| years.push(v));
            years
        });
        Calendar {
            tz,
            years,
            month: Bits::of(&cal.month),
            day_of_month: Bits::of(&cal.day_of_month),
            day_of_week: Bits::of(&cal.day_of_week),
            hour: Bits::of(&cal.hour),
            minute: Bits::of(&cal.minute),
            second: Bits::of(&cal.second),
        }
    }

    fn year(&self, y: i32) -> bool {
        self.years.as_ref().is_none_or(|ys| ys.contains(&y))
    }

    pub(crate) fn matches(&self, t: DateTime<Utc>) -> bool {
        let t = t.with_timezone(&self.tz);
        self.year(t.year())
            && self.month.has(t.month())
            && self.day_of_month.has(t.day())
            && self.day_of_week.has(t.weekday().num_days_from_sunday())
            && self.hour.has(t.hour())
            && self.minute.has(t.minute())
            && self.second.has(t.second())
    }

    /// The first matching second after `t`, if any before the end of 2100.
    pub(crate) fn next(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let tz = self.tz;
        let local = t.with_timezone(&tz);
        let (mut y, mut mo, mut d) = (local.year(), local.month(), local.day());
        let (mut h, mut m, mut s) = (local.hour(), local.minute(), local.second());
        // In the second pass through a repeated hour, results are an hour later.
        let mut dst_offset = if (t - TimeDelta::hours(1)).with_timezone(&tz).hour() == h {
            3600
        } else {
            0
        };
        s += 1;
        'outer: loop {
            if s >= 60 {
                (m, s) = (m + 1, 0);
            }
            if m >= 60 {
                let prev = go_date(tz, naive(y, mo, d, h, 0, 0));
                (h, m) = (h + 1, 0);
                let next = go_date(tz, naive(y, mo, d, h, 0, 0));
                if dst_offset == 0 && next - prev > TimeDelta::hours(1) {
                    h -= 1;
                    dst_offset = 3600;
                } else {
                    dst_offset = 0;
                }
            }
            if h >= 24 {
                (d, h) = (d + 1, 0);
            }
            if d > days_in_month(mo, y) {
                (mo, d) = (mo + 1, 1);
            }
            if mo > 12 {
                (y, mo) = (y + 1, 1);
            }
            if y > MAX_YEAR {
                return None;
            }
            if !self.year(y) {
                (y, mo, d, h, m, s) = (y + 1, 1, 1, 0, 0, 0);
                dst_offset = 0;
                continue 'outer;
            }
            while !self.month.has(mo) {
                (mo, d, h, m, s) = (mo + 1, 1, 0, 0, 0);
                dst_offset = 0;
                if mo > 12 {
                    continue 'outer;
                }
            }
            while !self.day_of_month.has(d) || !self.day_of_week.has(weekday(y, mo, d)) {
                (d, h, m, s) = (d + 1, 0, 0, 0);
                dst_offset = 0;
                if d > days_in_month(mo, y) {
                    continue 'outer;
                }
            }
            while !self.hour.has(h) {
                (h, m, s) = (h + 1, 0, 0);
                dst_offset = 0;
                if h >= 24 {
                    continue 'outer;
                }
            }
            while !self.minute.has(m) {
                (m, s) = (m + 1, 0);
                if m >= 60 {
                    continue 'outer;
                }
            }
            while !self.second.has(s) {
                s += 1;
                if s >= 60 {
                    continue 'outer;
                }
            }
            let found = go_date(tz, naive(y, mo, d, h, m, s));
            if found.with_timezone(&tz).hour() != h {
                // A local time in a daylight-saving gap: it never happens.
                (h, m, s) = (h + 1, 0, 0);
                continue 'outer;
            }
            return Some(found + TimeDelta::seconds(dst_offset));
        }
    }
}

fn weekday(y: i32, mo: u32, d: u32) -> u32 {
    NaiveDate::from_ymd_opt(y, mo, d).map_or(7, |date| date.weekday().num_days_from_sunday())
}
