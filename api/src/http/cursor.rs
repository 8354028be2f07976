//! Keyset paging cursors: a time and an id, opaque to the client (URL-safe base64).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};

/// Where the next page starts: the last item's sort time and id.
pub fn encode(at: NaiveDateTime, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.and_utc().timestamp_micros()))
}

/// The time and id in a cursor, or `None` for anything this server did not make.
pub fn decode(cursor: &str) -> Option<(NaiveDateTime, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = raw.split_once('|')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?)?.naive_utc();
    uuid::Uuid::parse_str(id).ok()?;
    Some((at, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = DateTime::from_timestamp_micros(1_772_442_000_123_456).unwrap().naive_utc();
        let id = "019a2b3c-4d5e-7f00-8a1b-2c3d4e5f6a7b";
        assert_eq!(decode(&encode(at, id)), Some((at, id.to_owned())));
        for bad in ["", "zz", &URL_SAFE_NO_PAD.encode("12|not-a-uuid"), &URL_SAFE_NO_PAD.encode("x|".to_owned() + id)] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
