//! Matching times and errors compared with what Temporal 1.32 answered for the same specs
//! (`testdata/matching_times.json`, recorded with `ListScheduleMatchingTimes` on
//! `temporal server start-dev`), and the canonical form `DescribeSchedule` showed.

use chrono::{DateTime, SecondsFormat, Utc};
use prost_types::{Duration, Timestamp};
use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};

use crate::CompiledSpec;

fn secs(s: i64) -> Option<Duration> {
    Some(Duration {
        seconds: s,
        nanos: 0,
    })
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn ts(text: &str) -> Option<Timestamp> {
    let t = at(text);
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

fn cal(fields: &[(&str, &str)]) -> CalendarSpec {
    let mut c = CalendarSpec::default();
    for &(k, v) in fields {
        let v = v.to_string();
        match k {
            "second" => c.second = v,
            "minute" => c.minute = v,
            "hour" => c.hour = v,
            "dom" => c.day_of_month = v,
            "month" => c.month = v,
            "dow" => c.day_of_week = v,
            "comment" => c.comment = v,
            other => panic!("{other}"),
        }
    }
    c
}

fn r(start: i32, end: i32, step: i32) -> Range {
    Range { start, end, step }
}

fn every_day(hour: Vec<Range>, minute: Vec<Range>, second: Vec<Range>) -> StructuredCalendarSpec {
    StructuredCalendarSpec {
        second,
        minute,
        hour,
        day_of_month: vec![r(1, 31, 0)],
        month: vec![r(1, 12, 0)],
        day_of_week: vec![r(0, 6, 0)],
        ..Default::default()
    }
}

fn crons(list: &[&str]) -> ScheduleSpec {
    ScheduleSpec {
        cron_string: list.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

/// The specs recorded in the golden file, with the window asked for.
fn cases() -> Vec<(&'static str, ScheduleSpec, &'static str, &'static str)> {
    let day = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    vec![
        (
            "interval_phase_jitter",
            ScheduleSpec {
                interval: vec![IntervalSpec {
                    interval: secs(3600),
                    phase: secs(600),
                }],
                jitter: secs(1800),
                ..Default::default()
            },
            "2026-01-01T00:00:00Z",
            "2026-01-01T06:00:00Z",
        ),
        (
            "cron_weekly",
            crons(&["0 12 * * MON"]),
            "2026-01-01T00:00:00Z",
            "2026-02-01T00:00:00Z",
        ),
        (
            "cron_tz_dst_gap",
            crons(&["CRON_TZ=America/New_York 30 2 * * *"]),
            "2026-03-06T00:00:00Z",
            "2026-03-11T00:00:00Z",
        ),
        (
            "dst_repeat",
            ScheduleSpec {
                calendar: vec![cal(&[("minute", "30"), ("hour", "1")])],
                timezone_name: "America/New_York".into(),
                ..Default::default()
            },
            "2026-10-30T00:00:00Z",
            "2026-11-03T00:00:00Z",
        ),
        (
            "dst_repeat_europe",
            ScheduleSpec {
                calendar: vec![cal(&[("minute", "30"), ("hour", "2")])],
                timezone_name: "Europe/Berlin".into(),
                ..Default::default()
            },
            "2026-10-23T00:00:00Z",
            "2026-10-27T00:00:00Z",
        ),
        (
            "calendar_strings",
            ScheduleSpec {
                calendar: vec![cal(&[
                    ("second", "5/20"),
                    ("minute", "1-3"),
                    ("hour", "4-10/3"),
                    ("dow", "mon-fri"),
                    ("month", "jan,mar"),
                    ("comment", "c"),
                ])],
                ..Default::default()
            },
            "2026-01-01T00:00:00Z",
            "2026-01-03T00:00:00Z",
        ),
        (
            "dow_quirk",
            ScheduleSpec {
                calendar: vec![
                    cal(&[("dow", "1-7")]),
                    cal(&[("dow", "0-7/2"), ("hour", "3")]),
                    cal(&[("dow", "7")]),
                ],
                ..Default::default()
            },
            "2026-01-01T00:00:00Z",
            "2026-01-10T00:00:00Z",
        ),
        (
            "structured_exclude",
            ScheduleSpec {
                structured_calendar: vec![every_day(
                    vec![r(1, 23, 2)],
                    vec![r(0, 0, 0)],
                    vec![r(0, 0, 0)],
                )],
                exclude_structured_calendar: vec![every_day(
                    vec![r(5, 9, 0)],
                    vec![r(0, 59, 0)],
                    vec![r(0, 59, 0)],
                )],
                jitter: secs(7200),
                start_time: ts("2026-01-01T02:00:00Z"),
                end_time: ts("2026-01-01T20:00:00Z"),
                ..Default::default()
            },
            day.0,
            day.1,
        ),
        (
            "every_phase",
            crons(&["@every 90m/15m # x"]),
            "2026-01-01T00:00:00Z",
            "2026-01-01T06:00:00Z",
        ),
        (
            "named",
            ScheduleSpec {
                jitter: secs(300),
                ..crons(&["@monthly", "@hourly"])
            },
            "2026-01-31T20:00:00Z",
            "2026-02-01T03:00:00Z",
        ),
        (
            "seven_fields",
            crons(&["TZ=Asia/Kolkata 30 15 9 */10 * * 2026-2027"]),
            "2026-01-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        ),
        (
            "leap",
            ScheduleSpec {
                calendar: vec![cal(&[("dom", "29"), ("month", "2")])],
                ..Default::default()
            },
            "2026-01-01T00:00:00Z",
            "2033-01-01T00:00:00Z",
        ),
        ("bad_fields", crons(&["1 2 3"]), day.0, day.1),
        (
            "bad_range",
            ScheduleSpec {
                calendar: vec![cal(&[("hour", "25")])],
                ..Default::default()
            },
            day.0,
            day.1,
        ),
        (
            "bad_tz_conflict",
            ScheduleSpec {
                timezone_name: "UTC".into(),
                ..crons(&["CRON_TZ=Asia/Tokyo 0 0 * * *"])
            },
            day.0,
            day.1,
        ),
        (
            "bad_interval",
            ScheduleSpec {
                interval: vec![IntervalSpec {
                    interval: Some(Duration {
                        seconds: 0,
                        nanos: 500_000_000,
                    }),
                    phase: None,
                }],
                ..Default::default()
            },
            day.0,
            day.1,
        ),
        (
            "bad_zone",
            ScheduleSpec {
                timezone_name: "Mars/Olympus".into(),
                calendar: vec![CalendarSpec::default()],
                ..Default::default()
            },
            day.0,
            day.1,
        ),
    ]
}

#[test]
fn matching_times_and_errors_as_temporal_answered() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("../testdata/matching_times.json")).unwrap();
    let namespace_id = golden["namespace_id"].as_str().unwrap();
    let cases = cases();
    assert_eq!(cases.len(), golden["cases"].as_object().unwrap().len());
    for (name, spec, start, end) in cases {
        let expected = &golden["cases"][name];
        let seed = format!("{namespace_id}-golden-{name}");
        match CompiledSpec::new(&spec) {
            Err(e) => assert_eq!(
                format!("Invalid schedule spec: {e}"),
                expected["error"].as_str().unwrap_or_default(),
                "{name}"
            ),
            Ok(compiled) => {
                let times: Vec<String> = compiled
                    .times_between(&seed, at(start), at(end), 1000)
                    .iter()
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                    .collect();
                let want: Vec<String> = expected["times"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: Temporal refused it: {}", expected["error"]))
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect();
                assert_eq!(times, want, "{name}");
            }
        }
    }
}

#[test]
fn canonical_form_as_describe_shows_it() {
    let weekly = CompiledSpec::new(&crons(&["0 12 * * MON"])).unwrap();
    let c = weekly.canonical();
    assert!(c.cron_string.is_empty() && c.calendar.is_empty());
    assert_eq!(c.structured_calendar.len(), 1);
    let s = &c.structured_calendar[0];
    assert_eq!(s.second, vec![r(0, 0, 1)]);
    assert_eq!(s.minute, vec![r(0, 0, 1)]);
    assert_eq!(s.hour, vec![r(12, 12, 1)]);
    assert_eq!(s.day_of_month, vec![r(1, 31, 1)]);
    assert_eq!(s.month, vec![r(1, 12, 1)]);
    assert_eq!(s.day_of_week, vec![r(1, 1, 1)]);
    assert!(s.year.is_empty());

    let mixed = CompiledSpec::new(&ScheduleSpec {
        calendar: vec![
            cal(&[("dow", "1-7")]),
            cal(&[("dow", "0-7/2"), ("hour", "3")]),
            cal(&[("dow", "7")]),
        ],
        ..crons(&["30 2 * * *", "@every 90m/15m"])
    })
    .unwrap();
    let c = mixed.canonical();
    let dows: Vec<_> = c
        .structured_calendar
        .iter()
        .map(|s| s.day_of_week.clone())
        .collect();
    assert_eq!(
        dows,
        vec![
            vec![r(1, 6, 1)],
            vec![r(0, 6, 2)],
            vec![r(0, 0, 1)],
            vec![r(0, 6, 1)]
        ]
    );
    assert!(
        CompiledSpec::new(&crons(&[
            "CRON_TZ=America/New_York 30 2 * * *",
            "@every 1h"
        ]))
        .is_err()
    );
    assert_eq!(
        c.interval,
        vec![IntervalSpec {
            interval: secs(5400),
            phase: secs(900)
        }]
    );
}
