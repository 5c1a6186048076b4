//! RFC 3339 UTC timestamps in one fixed width, so that their text sorts in time order
//! (DynamoDB sorts index keys as text).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// An RFC 3339 UTC timestamp with milliseconds, e.g. `2026-11-25T10:03:02.123Z`.
pub type Timestamp = String;

const FIXED: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `moment` in the fixed UTC form; `None` outside years 0..=9999 (which the form cannot hold).
fn format(moment: OffsetDateTime) -> Option<Timestamp> {
    let utc = moment.checked_to_offset(UtcOffset::UTC)?;
    if !(0..=9999).contains(&utc.year()) {
        return None;
    }
    utc.format(FIXED).ok()
}

/// The current time in Unix seconds (TTL attributes, rate-limit windows, token expiry).
pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The current time.
pub fn now() -> Timestamp {
    format(OffsetDateTime::now_utc()).expect("the clock reads a year before 10000")
}

/// Reads any RFC 3339 time (any offset) and returns it in the fixed UTC form.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    format(OffsetDateTime::parse(text, &Rfc3339).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_offsets_to_fixed_width_utc() {
        assert_eq!(parse_timestamp("2026-12-31T23:00:00+02:00").unwrap(), "2026-12-31T21:00:00.000Z");
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.5Z").unwrap(), "2026-01-01T00:00:00.500Z");
        assert!(parse_timestamp("tomorrow").is_none());
        assert!(parse_timestamp("2026-01-01").is_none());
        assert!(parse_timestamp("9999-12-31T23:59:59-01:00").is_none(), "past year 9999 in UTC");
        assert!(parse_timestamp("0000-01-01T00:30:00+01:00").is_none());
        assert_eq!(now().len(), "2026-11-25T10:03:02.123Z".len());
    }
}
