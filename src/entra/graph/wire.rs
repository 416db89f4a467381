//! Small serde helpers for Graph's JSON.
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// A DateTimeOffset that may be missing, null, or lack its `Z`; unparsable values are
/// treated as absent rather than failing the whole answer.
pub(crate) fn lenient_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.as_deref().and_then(parse_datetime))
}

pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc())
}

/// A collection that may be `null`.
pub(crate) fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_timestamps() {
        assert!(parse_datetime("2022-06-05T16:40:24.0575845Z").is_some());
        assert!(parse_datetime("2022-06-05T16:40:24Z").is_some());
        assert!(parse_datetime("2022-06-05T16:40:24.123").is_some());
        assert!(parse_datetime("yesterday").is_none());
    }
}
