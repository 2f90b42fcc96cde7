//! Cron strings in a schedule spec: an optional `CRON_TZ=`/`TZ=` zone, a `#` comment, the
//! `@daily`-style names, `@every <duration>[/<phase>]`, and five to seven fields.

use prost_types::Duration;
use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, StructuredCalendarSpec,
};

use crate::calendar::structured_from_strings;
use sundial_visquery::values::parse_go_duration;

/// What one cron string becomes: a calendar or an interval, and the zone it named ("" if none).
pub(crate) enum Cron {
    Calendar(StructuredCalendarSpec, String),
    Interval(IntervalSpec),
}

pub(crate) fn parse(text: &str) -> Result<Cron, String> {
    let mut text = text.trim();
    let mut zone = "";
    if text.starts_with("TZ=") || text.starts_with("CRON_TZ=") {
        let (tz, rest) = text
            .split_once(' ')
            .ok_or("CronString has time zone but missing fields")?;
        text = rest;
        zone = tz.split_once('=').map_or("", |(_, name)| name);
    }
    let (body, comment) = text.split_once('#').unwrap_or((text, ""));
    let (body, comment) = (body.trim(), comment.trim());

    if body.starts_with("@every") {
        return every(body).map(Cron::Interval);
    }
    let body = match body {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = body.split_whitespace().collect();
    if !(5..=7).contains(&fields.len()) {
        return Err("CronString does not have 5-7 fields".to_string());
    }
    // Seven fields start with the second; six or seven end with the year.
    let (second, rest) = match fields.len() {
        7 => (fields[0], &fields[1..]),
        _ => ("", &fields[..]),
    };
    let text = |i: usize| rest.get(i).map_or(String::new(), |f| f.to_string());
    let cal = CalendarSpec {
        second: second.to_string(),
        minute: text(0),
        hour: text(1),
        day_of_month: text(2),
        month: text(3),
        day_of_week: text(4),
        year: text(5),
        comment: comment.to_string(),
    };
    Ok(Cron::Calendar(
        structured_from_strings(&cal)?,
        zone.to_string(),
    ))
}

fn every(body: &str) -> Result<IntervalSpec, String> {
    let (_, rest) = body
        .split_once(' ')
        .ok_or("CronString does not have interval after @every")?;
    let (interval, phase) = rest.split_once('/').unwrap_or((rest, ""));
    let interval = duration(parse_go_duration(interval)?);
    let phase = if phase.is_empty() {
        None
    } else {
        Some(duration(parse_go_duration(phase)?))
    };
    Ok(IntervalSpec {
        interval: Some(interval),
        phase,
    })
}

fn duration(nanos: i64) -> Duration {
    Duration {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    }
}
