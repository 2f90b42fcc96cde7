//! Search attribute types and typed values, and decoding them from payloads (JSON data).

/// `temporal.api.enums.v1.IndexedValueType`, numbered as in the proto.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    Text = 1,
    Keyword = 2,
    Int = 3,
    Double = 4,
    Bool = 5,
    Datetime = 6,
    KeywordList = 7,
}

impl ValueType {
    pub const ALL: [ValueType; 7] = [
        ValueType::Text,
        ValueType::Keyword,
        ValueType::Int,
        ValueType::Double,
        ValueType::Bool,
        ValueType::Datetime,
        ValueType::KeywordList,
    ];

    pub fn from_i32(v: i32) -> Option<ValueType> {
        Self::ALL.into_iter().find(|t| *t as i32 == v)
    }

    /// The name used in payload metadata (`type`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Text => "Text",
            ValueType::Keyword => "Keyword",
            ValueType::Int => "Int",
            ValueType::Double => "Double",
            ValueType::Bool => "Bool",
            ValueType::Datetime => "Datetime",
            ValueType::KeywordList => "KeywordList",
        }
    }

    pub fn from_name(name: &str) -> Option<ValueType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One typed value. Datetimes are Unix nanoseconds (UTC).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Double(f64),
    Bool(bool),
    Time(i64),
}

/// Decodes a search attribute payload's JSON data as `ty`. Empty data, JSON `null` and `[]`
/// decode to no values (the attribute is unset). A list is accepted for every type (each
/// element of the type); a scalar for every type too (a one-element KeywordList). The error is
/// the offending value as Temporal's messages print it.
pub fn decode(ty: ValueType, data: &[u8]) -> Result<Vec<Value>, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let json: serde_json::Value =
        serde_json::from_slice(data).map_err(|_| String::from_utf8_lossy(data).into_owned())?;
    let items = match json {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    items.iter().map(|v| decode_one(ty, v)).collect()
}

fn decode_one(ty: ValueType, v: &serde_json::Value) -> Result<Value, String> {
    let bad = || match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match ty {
        ValueType::Keyword | ValueType::Text | ValueType::KeywordList => v
            .as_str()
            .map(|s| Value::Str(s.to_string()))
            .ok_or_else(bad),
        ValueType::Int => v.as_i64().map(Value::Int).ok_or_else(bad),
        ValueType::Double => v.as_f64().map(Value::Double).ok_or_else(bad),
        ValueType::Bool => v.as_bool().map(Value::Bool).ok_or_else(bad),
        ValueType::Datetime => v
            .as_str()
            .and_then(parse_datetime)
            .map(Value::Time)
            .ok_or_else(bad),
    }
}

/// RFC 3339 (with or without fractional seconds, any offset) → Unix nanos.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    t.timestamp_nanos_opt()
}

/// Unix nanos → RFC 3339 in UTC with as many fractional digits as needed.
pub fn format_datetime(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A duration as Temporal accepts it for `ExecutionDuration`: Go syntax (`1h30m`, `1.5s`,
/// `300ms`, plus `d` for days) or `hh:mm:ss`. Returns nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some((h, rest)) = s.split_once(':') {
        let (m, sec) = rest.split_once(':')?;
        let h: i64 = h.parse().ok()?;
        let m: i64 = m.parse().ok()?;
        let sec: f64 = sec.parse().ok()?;
        if !(0..60).contains(&m) || !(0.0..60.0).contains(&sec) || h < 0 {
            return None;
        }
        return Some(h * 3_600_000_000_000 + m * 60_000_000_000 + (sec * 1e9).round() as i64);
    }
    parse_go_duration(s).ok()
}

/// A Go duration string (`1h30m`, `1.5s`, `-2m`, and Temporal's `d` for 24 hours) in
/// nanoseconds; the error reads as Go's does.
pub fn parse_go_duration(s: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {s:?}");
    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {s:?}")),
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86_400e9,
            other => return Err(format!("time: unknown unit {other:?} in duration {s:?}")),
        };
        let value: f64 = number.parse().map_err(|_| invalid())?;
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    let nanos = total.round() as i64;
    Ok(if negative { -nanos } else { nanos })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("90s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("2d"), Ok(172_800_000_000_000));
        assert_eq!(parse_go_duration("-3ms"), Ok(-3_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert!(parse_go_duration("5").unwrap_err().contains("missing unit"));
        assert!(
            parse_go_duration("5q")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("h").is_err());
    }

    #[test]
    fn decodes_each_type() {
        assert_eq!(
            decode(ValueType::Keyword, b"\"a\"").unwrap(),
            vec![Value::Str("a".into())]
        );
        assert_eq!(
            decode(ValueType::KeywordList, br#"["a","b"]"#).unwrap(),
            vec![Value::Str("a".into()), Value::Str("b".into())]
        );
        assert_eq!(decode(ValueType::Int, b"42").unwrap(), vec![Value::Int(42)]);
        assert_eq!(
            decode(ValueType::Double, b"4").unwrap(),
            vec![Value::Double(4.0)]
        );
        assert_eq!(
            decode(ValueType::Bool, b"true").unwrap(),
            vec![Value::Bool(true)]
        );
        assert_eq!(
            decode(ValueType::Datetime, b"\"1970-01-01T00:00:01.5Z\"").unwrap(),
            vec![Value::Time(1_500_000_000)]
        );
        assert!(decode(ValueType::Int, b"\"x\"").is_err());
        assert!(decode(ValueType::Int, b"1.5").is_err());
        assert!(decode(ValueType::Datetime, b"\"yesterday\"").is_err());
        assert!(decode(ValueType::Keyword, b"null").unwrap().is_empty());
        assert!(decode(ValueType::Keyword, b"{").is_err());
    }

    #[test]
    fn datetimes_round_trip() {
        let n = parse_datetime("2026-11-29T10:00:00.123456789+01:00").unwrap();
        assert_eq!(format_datetime(n), "2026-11-29T09:00:00.123456789Z");
        assert_eq!(format_datetime(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(90_000_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1.5ms"), Some(1_500_000));
        assert_eq!(parse_duration("2d"), Some(172_800_000_000_000));
        assert_eq!(parse_duration("01:00:30"), Some(3_630_000_000_000));
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("5"), None);
    }
}
