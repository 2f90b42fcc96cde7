//! Parsers for durations (`72h`, `2days`) and byte sizes (`64MiB`).

pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| {
            humantime::parse_duration(&t)
                .map_err(|e| serde::de::Error::custom(format!("invalid duration {t:?}: {e}")))
        })
        .transpose()
    }
}

pub(crate) mod duration_required {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let t = String::deserialize(d)?;
        humantime::parse_duration(&t)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {t:?}: {e}")))
    }
}

/// `16MiB`, `512KiB`, `1GiB`, `64MB` or a number of bytes.
pub(crate) mod byte_size {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }

    pub fn parse(text: &str) -> Option<usize> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().ok()?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "KB" | "kB" => 1000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            _ => return None,
        };
        usize::try_from(n.checked_mul(mult)?).ok()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Number(n) => usize::try_from(n).map_err(serde::de::Error::custom),
            Raw::Text(t) => parse(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {t:?}: use e.g. 16MiB, 512KiB or a number of bytes"
                ))
            }),
        }
    }
}

/// An optional [`byte_size`].
pub(crate) mod byte_size_opt {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    struct Size(#[serde(deserialize_with = "super::byte_size::deserialize")] usize);

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        Ok(Option::<Size>::deserialize(d)?.map(|s| s.0))
    }
}
