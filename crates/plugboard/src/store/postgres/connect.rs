//! Turning the user's URL and schema into connection settings, and connection failures into
//! messages that say what to check. Owns no connection itself.

use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::Config;

use crate::store::StoreError;

/// How long one attempt to open a connection may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest schema name accepted: PostgreSQL keeps only the first 63 bytes of an identifier.
const MAX_SCHEMA_LENGTH: usize = 63;

/// Parses `url` (a `postgres://` URL or a `key=value` string) into settings for plugboard's
/// connections: a connect timeout, TCP keepalives (so a dead server is noticed), an
/// application name, and `search_path` set to `schema` when there is one.
pub(super) fn config(url: &str, schema: Option<&str>) -> Result<Config, StoreError> {
    let mut config: Config = url.parse().map_err(|error| StoreError::Connect {
        url: redact_url(url),
        reason: format!(
            "the URL is malformed ({error}); write it as postgres://user:password@host:port/database"
        ),
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("plugboard");
    }
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    if let Some(schema) = schema {
        // Server options are split on spaces; a checked schema name has none, and quoting keeps
        // its case.
        let search_path = format!("-c search_path={}", quote_identifier(schema));
        let options = match config.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {search_path}"),
            _ => search_path,
        };
        config.options(options);
    }
    Ok(config)
}

/// Accepts a schema name made of ASCII letters, digits and underscores (so it can be quoted and
/// used in a channel name without escaping), at most 63 bytes long.
pub(super) fn checked_schema<'a>(url: &str, schema: &'a str) -> Result<&'a str, StoreError> {
    let valid = !schema.is_empty()
        && schema.len() <= MAX_SCHEMA_LENGTH
        && schema
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_');
    if valid {
        Ok(schema)
    } else {
        Err(StoreError::Connect {
            url: redact_url(url),
            reason: format!(
                "the schema name `{schema}` is not allowed; use 1 to {MAX_SCHEMA_LENGTH} ASCII letters, digits or underscores"
            ),
        })
    }
}

/// Quotes an identifier already checked by [`checked_schema`] (or built from one).
pub(super) fn quote_identifier(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The URL with any password replaced by `***`, fit for messages and logs.
pub(super) fn redact_url(url: &str) -> String {
    let mut text = url.to_owned();
    if let Some(scheme_end) = text.find("://") {
        let authority_start = scheme_end + 3;
        // The user information ends at the last `@`: a password may itself contain `@` or `/`.
        if let Some(at) = text[authority_start..].rfind('@') {
            let at = authority_start + at;
            if let Some(colon) = text[authority_start..at].find(':') {
                text.replace_range(authority_start + colon + 1..at, "***");
            }
        }
    }
    redact_password_parameters(&text)
}

/// Replaces the value of every `password=` parameter (URL query or `key=value` form).
fn redact_password_parameters(text: &str) -> String {
    const KEY: &str = "password=";
    let lower = text.to_ascii_lowercase();
    let mut redacted = String::with_capacity(text.len());
    let mut position = 0;
    while let Some(found) = lower[position..].find(KEY) {
        let value_start = position + found + KEY.len();
        let preceded_by_separator = position + found == 0
            || matches!(
                text.as_bytes()[position + found - 1],
                b'?' | b'&' | b' ' | b'\t'
            );
        redacted.push_str(&text[position..value_start]);
        if !preceded_by_separator {
            position = value_start;
            continue;
        }
        let rest = &text[value_start..];
        let value_length = if let Some(quoted) = rest.strip_prefix('\'') {
            quoted.find('\'').map_or(rest.len(), |end| end + 2)
        } else {
            rest.find(['&', ' ', '\t']).unwrap_or(rest.len())
        };
        redacted.push_str("***");
        position = value_start + value_length;
    }
    redacted.push_str(&text[position..]);
    redacted
}

/// Says why connecting failed and what to check.
pub(super) fn explain_connect_error(config: &Config, error: &tokio_postgres::Error) -> String {
    let server = describe_server(config);
    let database = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or("postgres");
    let Some(database_error) = error.as_db_error() else {
        return format!(
            "{error}; check that the PostgreSQL server is running and accepts connections at {server} (host and port in the URL)"
        );
    };
    let message = database_error.message();
    let code = database_error.code();
    if *code == SqlState::INVALID_CATALOG_NAME {
        format!("{message}; create it (for example `createdb -h HOST {database}`) or fix the database name in the URL")
    } else if *code == SqlState::INVALID_PASSWORD
        || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    {
        format!(
            "{message}; check the user name and password in the URL and the server's pg_hba.conf"
        )
    } else if *code == SqlState::TOO_MANY_CONNECTIONS {
        format!("{message}; lower the pool size or raise max_connections on the server")
    } else if *code == SqlState::CANNOT_CONNECT_NOW {
        format!("{message}; the server at {server} is starting or stopping, try again shortly")
    } else {
        format!("{message} (server at {server})")
    }
}

/// Says that opening a connection took too long.
pub(super) fn explain_connect_timeout(config: &Config) -> String {
    format!(
        "no answer within {} s; check that the server at {} is reachable (host, port, firewall)",
        config
            .get_connect_timeout()
            .unwrap_or(&CONNECT_TIMEOUT)
            .as_secs(),
        describe_server(config)
    )
}

fn describe_server(config: &Config) -> String {
    let ports = config.get_ports();
    let servers: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = ports.get(index).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}/.s.PGSQL.{port}", path.display()),
            }
        })
        .collect();
    if servers.is_empty() {
        "(no host in the URL)".to_owned()
    } else {
        servers.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_removed_from_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cr@t/x@db.example:5432/jobs"),
            "postgres://app:***@db.example:5432/jobs"
        );
        assert_eq!(
            redact_url("postgres://app@db/jobs?password=hunter2&sslmode=disable"),
            "postgres://app@db/jobs?password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("host=db user=app password='a b' dbname=jobs"),
            "host=db user=app password=*** dbname=jobs"
        );
        assert_eq!(redact_url("postgres://db/jobs"), "postgres://db/jobs");
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(checked_schema("postgres://db", "pb_test_1").is_ok());
        assert!(checked_schema("postgres://db", "bad-name").is_err());
        assert!(checked_schema("postgres://db", "x\"; DROP").is_err());
        assert!(checked_schema("postgres://db", "").is_err());
    }

    #[test]
    fn search_path_is_added_to_options() {
        let config = config(
            "postgres://u@h/d?options=-c%20work_mem%3D4MB",
            Some("Tenant_1"),
        )
        .expect("a valid URL");
        assert_eq!(
            config.get_options(),
            Some("-c work_mem=4MB -c search_path=\"Tenant_1\"")
        );
    }
}
