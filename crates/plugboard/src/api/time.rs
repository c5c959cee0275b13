//! Times on the wire: RFC 3339 in UTC with microseconds (`2025-01-31T12:00:00.000000Z`).

use std::time::SystemTime;

use crate::store::Timestamp;

/// Formats a stored time for a response.
pub fn format(time: Timestamp) -> String {
    humantime::format_rfc3339_micros(SystemTime::from(time)).to_string()
}

/// Parses a time given in a request.
///
/// # Errors
/// A message with the expected form.
pub fn parse(text: &str) -> Result<Timestamp, String> {
    humantime::parse_rfc3339_weak(text)
        .map(Timestamp::from)
        .map_err(|error| {
            format!(
                "`{text}` is not an RFC 3339 time ({error}); write it like 2025-01-31T12:00:00Z"
            )
        })
}
