//! Times on the wire: RFC 3339 in UTC with microseconds (`2025-01-31T12:00:00.000000Z`).

use std::time::SystemTime;

use crate::store::Timestamp;

/// Formats a stored time for a response.
pub fn format(time: Timestamp) -> String {
    humantime::format_rfc3339_micros(SystemTime::from(time)).to_string()
}

/// Parses a time given in a request: any RFC 3339 time (years 0000 to 9999, any offset), as
/// the document's `date-time` format says. A time before 1970 counts as the start of 1970:
/// every time plugboard keeps is after it, so a filter or a due time means the same.
///
/// # Errors
/// A message with the expected form.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|time| Timestamp(time.timestamp_micros().max(0)))
        .map_err(|error| {
            format!(
                "`{text}` is not an RFC 3339 time ({error}); write it like 2025-01-31T12:00:00Z"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc3339_time_parses_and_times_before_1970_count_as_1970() {
        assert_eq!(parse("1970-01-01T00:00:01Z"), Ok(Timestamp(1_000_000)));
        assert_eq!(parse("1970-01-01T01:00:01+01:00"), Ok(Timestamp(1_000_000)));
        assert_eq!(parse("0420-06-02T12:12:16+22:09"), Ok(Timestamp(0)));
        assert!(parse("9999-12-31T23:59:59.999999Z").is_ok());
        for bad in ["2025-01-31", "2025-01-31T12:00:00", "yesterday", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
