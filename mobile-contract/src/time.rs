//! Times on the wire: instants (RFC 3339 with an offset) and wall-clock times that may be either.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A time a person plans in: either an instant (RFC 3339 with `Z` or an offset, as the API
/// answers) or a local wall-clock time without offset, read in the agency's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalOrInstant {
    Local(NaiveDateTime),
    Instant(DateTime<FixedOffset>),
}

impl LocalOrInstant {
    pub fn parse(text: &str) -> Option<LocalOrInstant> {
        let text = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(LocalOrInstant::Instant(at));
        }
        text.parse::<NaiveDateTime>()
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
            .ok()
            .map(LocalOrInstant::Local)
    }
}

impl From<NaiveDateTime> for LocalOrInstant {
    fn from(local: NaiveDateTime) -> LocalOrInstant {
        LocalOrInstant::Local(local)
    }
}

impl From<DateTime<Utc>> for LocalOrInstant {
    fn from(at: DateTime<Utc>) -> LocalOrInstant {
        LocalOrInstant::Instant(at.fixed_offset())
    }
}

impl fmt::Display for LocalOrInstant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalOrInstant::Local(local) => write!(f, "{}", local.format("%Y-%m-%dT%H:%M:%S")),
            LocalOrInstant::Instant(at) => write!(f, "{}", at.to_rfc3339()),
        }
    }
}

impl Serialize for LocalOrInstant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalOrInstant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<LocalOrInstant, D::Error> {
        let text = String::deserialize(deserializer)?;
        LocalOrInstant::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected an RFC 3339 time (2026-07-06T16:00:00Z, 2026-07-06T18:00:00+02:00) or a local time \
                 without offset (2026-07-06T18:00:00), got {text:?}"
            ))
        })
    }
}

/// Query parameters that are instants, parsed with an error that names the parameter and the
/// form it needs (the server turns `` `name`: … `` into a problem naming the parameter).
pub mod instant_param {
    use super::*;

    pub fn at<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        optional("at", deserializer)
    }

    pub fn from_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        optional("from", deserializer)
    }

    pub fn to_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        optional("to", deserializer)
    }

    pub fn from<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        parse("from", &String::deserialize(deserializer)?)
    }

    pub fn to<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        parse("to", &String::deserialize(deserializer)?)
    }

    fn optional<'de, D: Deserializer<'de>>(name: &str, deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<String>::deserialize(deserializer)?.map(|text| parse(name, &text)).transpose()
    }

    fn parse<E: serde::de::Error>(name: &str, text: &str) -> Result<DateTime<Utc>, E> {
        DateTime::parse_from_rfc3339(text.trim()).map(|at| at.with_timezone(&Utc)).map_err(|_| {
            E::custom(format!(
                "`{name}`: expected an RFC 3339 instant with `Z` or an offset, e.g. 2026-07-06T16:00:00Z or \
                 2026-07-06T18:00:00%2B02:00 (a `+` must be sent as %2B), got {text:?}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_offset_times_both_parse_and_round_trip() {
        for text in ["2026-07-06T18:00:00", "2026-07-06T16:00:00+00:00", "2026-07-06T18:00:00+02:00"] {
            let parsed = LocalOrInstant::parse(text).unwrap();
            assert_eq!(parsed.to_string(), text);
        }
        assert!(matches!(LocalOrInstant::parse("2026-07-06T16:00:00Z"), Some(LocalOrInstant::Instant(_))));
        assert!(matches!(LocalOrInstant::parse("2026-07-06T18:00"), Some(LocalOrInstant::Local(_))));
        assert!(LocalOrInstant::parse("18:00").is_none());
        assert!(serde_json::from_str::<LocalOrInstant>("\"tomorrow\"").is_err());
    }
}
