//! Notices between nodes: the payloads writers send with `pg_notify`, and the task that
//! `LISTEN`s on one dedicated connection and forwards what arrives to this process's subscribers.
//!
//! Every notice reaches subscribers through `LISTEN`, including the ones this process sent
//! (PostgreSQL delivers them to every listening session, ours included), so a notice is announced
//! once and only after its transaction committed. When the connection drops, the task reconnects
//! with growing delays and then announces `JobsAvailable { queue: None }`, because notices sent
//! while it was away are lost.
//!
//! Limits: PostgreSQL drops notifications for a listener that falls far behind (its queue holds
//! 8 GB), and a subscriber that lags on the broadcast channel misses notices too; notices are
//! hints and the database stays the source of truth.

use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, NoTls, Socket};

use super::connect::quote_identifier;
use crate::store::{JobId, JobStatus, StoreNotice};

/// The channel every node of one schema listens and sends on.
const CHANNEL_PREFIX: &str = "plugboard";

/// PostgreSQL refuses channel names of 64 bytes or more.
const MAX_CHANNEL_LENGTH: usize = 63;

/// The `application_name` of the listening connection, so operators (and tests) can tell it
/// apart in `pg_stat_activity`. PostgreSQL keeps its first 63 bytes.
pub(super) fn listener_application_name(channel: &str) -> String {
    format!("plugboard listen {channel}")
}

/// The first wait before reconnecting; it doubles up to [`MAX_RECONNECT_DELAY`].
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(100);
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(10);

/// A notice as sent on the wire: small JSON tagged by `t`.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "t", rename_all = "lowercase")]
enum Payload {
    Jobs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
    },
    Cancel {
        id: i64,
    },
    Job {
        id: i64,
        status: JobStatus,
    },
    Log {
        job: i64,
        seq: i64,
    },
    /// Local only: [`send`] leaves it out, so it never reaches the wire.
    Changed,
}

/// The channel for `schema`: `plugboard`, or `plugboard_<schema>` so that stores in different
/// schemas of one database (parallel tests, tenants) do not hear each other.
pub(super) fn channel_name(schema: Option<&str>) -> String {
    let mut channel = match schema {
        Some(schema) => format!("{CHANNEL_PREFIX}_{schema}"),
        None => CHANNEL_PREFIX.to_owned(),
    };
    // Schema names are ASCII, so any byte is a character boundary.
    channel.truncate(MAX_CHANNEL_LENGTH);
    channel
}

/// The `pg_notify` payload announcing `notice`.
pub(super) fn encode(notice: &StoreNotice) -> String {
    let payload = match notice {
        StoreNotice::JobsAvailable { queue } => Payload::Jobs {
            queue: queue.clone(),
        },
        StoreNotice::CancelRequested { id } => Payload::Cancel { id: id.0 },
        StoreNotice::JobChanged { id, status } => Payload::Job {
            id: id.0,
            status: *status,
        },
        StoreNotice::LogAppended { job_id, seq } => Payload::Log {
            job: job_id.0,
            seq: *seq,
        },
        StoreNotice::JobsChanged => Payload::Changed,
    };
    serde_json::to_string(&payload).expect("a payload of strings and integers serialises")
}

/// The notice a payload announces, or `None` for one this build does not know.
pub(super) fn decode(payload: &str) -> Option<StoreNotice> {
    let payload: Payload = serde_json::from_str(payload).ok()?;
    Some(match payload {
        Payload::Jobs { queue } => StoreNotice::JobsAvailable { queue },
        Payload::Cancel { id } => StoreNotice::CancelRequested { id: JobId(id) },
        Payload::Job { id, status } => StoreNotice::JobChanged {
            id: JobId(id),
            status,
        },
        Payload::Log { job, seq } => StoreNotice::LogAppended {
            job_id: JobId(job),
            seq,
        },
        Payload::Changed => StoreNotice::JobsChanged,
    })
}

/// Sends `notices` on `channel` in `client`'s current transaction (or at once outside one).
pub(super) async fn send<C>(
    client: &C,
    channel: &str,
    notices: &[StoreNotice],
) -> Result<(), tokio_postgres::Error>
where
    C: deadpool_postgres::GenericClient,
{
    let payloads: Vec<String> = notices
        .iter()
        .filter(|notice| **notice != StoreNotice::JobsChanged)
        .map(encode)
        .collect();
    if payloads.is_empty() {
        return Ok(());
    }
    let statement = client
        .prepare_cached("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
        .await?;
    client.execute(&statement, &[&channel, &payloads]).await?;
    Ok(())
}

/// Opens the listening connection and starts the task that forwards notices to `notices`.
///
/// # Errors
/// Why the first connection or its `LISTEN` failed; later failures are retried by the task.
pub(super) async fn start(
    config: Config,
    channel: String,
    notices: broadcast::Sender<StoreNotice>,
) -> Result<JoinHandle<()>, String> {
    let mut config = config;
    config.application_name(listener_application_name(&channel));
    let session = Session::open(&config, &channel, &notices).await?;
    Ok(tokio::spawn(run(session, config, channel, notices)))
}

/// One connection that has run `LISTEN`.
struct Session {
    client: Client,
    connection: Connection<Socket, NoTlsStream>,
}

impl Session {
    async fn open(
        config: &Config,
        channel: &str,
        notices: &broadcast::Sender<StoreNotice>,
    ) -> Result<Session, String> {
        let (client, mut connection) = config
            .connect(NoTls)
            .await
            .map_err(|error| error.to_string())?;
        {
            let listen_sql = format!("LISTEN {}", quote_identifier(channel));
            let mut listen = pin!(client.batch_execute(&listen_sql));
            let mut messages =
                futures_util::stream::poll_fn(|context| connection.poll_message(context));
            // The connection only makes progress while it is polled, so drive it until LISTEN
            // has been answered.
            loop {
                tokio::select! {
                    outcome = &mut listen => {
                        outcome.map_err(|error| format!("LISTEN failed: {error}"))?;
                        break;
                    }
                    message = messages.next() => match message {
                        Some(Ok(message)) => forward(message, notices),
                        Some(Err(error)) => return Err(error.to_string()),
                        None => return Err("the server closed the connection".to_owned()),
                    },
                }
            }
        }
        Ok(Session { client, connection })
    }

    /// Forwards notifications until the connection ends; returns why it ended.
    async fn forward(self, notices: &broadcast::Sender<StoreNotice>) -> String {
        // The client must live while we listen: dropping it closes the connection.
        let Session {
            client: _client,
            mut connection,
        } = self;
        let mut messages =
            futures_util::stream::poll_fn(|context| connection.poll_message(context));
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => forward(message, notices),
                Err(error) => return error.to_string(),
            }
        }
        "the server closed the connection".to_owned()
    }
}

fn forward(message: AsyncMessage, notices: &broadcast::Sender<StoreNotice>) {
    match message {
        AsyncMessage::Notification(notification) => match decode(notification.payload()) {
            // No subscriber is fine: notices are hints.
            Some(notice) => {
                let _ = notices.send(notice);
            }
            None => tracing::debug!(
                payload = notification.payload(),
                "ignoring a notification this plugboard does not understand"
            ),
        },
        AsyncMessage::Notice(notice) => {
            tracing::debug!(
                message = notice.message(),
                "PostgreSQL notice on the LISTEN connection"
            );
        }
        _ => {}
    }
}

async fn run(
    mut session: Session,
    config: Config,
    channel: String,
    notices: broadcast::Sender<StoreNotice>,
) {
    loop {
        let reason = session.forward(&notices).await;
        tracing::warn!(%channel, %reason, "lost the PostgreSQL LISTEN connection; reconnecting");
        let mut delay = FIRST_RECONNECT_DELAY;
        session = loop {
            tokio::time::sleep(with_jitter(delay)).await;
            match Session::open(&config, &channel, &notices).await {
                Ok(session) => break session,
                Err(reason) => {
                    tracing::warn!(%channel, %reason, retry_in_ms = delay.as_millis() as u64, "cannot reconnect the PostgreSQL LISTEN connection");
                    delay = (delay * 2).min(MAX_RECONNECT_DELAY);
                }
            }
        };
        tracing::info!(%channel, "PostgreSQL LISTEN connection re-established");
        // Whatever was announced while we were away is lost: tell workers to look.
        let _ = notices.send(StoreNotice::JobsAvailable { queue: None });
    }
}

/// `delay` give or take a quarter, so that nodes that lost the server together do not all
/// reconnect in the same instant.
fn with_jitter(delay: Duration) -> Duration {
    let factor = rand::random_range(0.75..1.25);
    delay.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let notices = [
            StoreNotice::JobsAvailable {
                queue: Some("default".to_owned()),
            },
            StoreNotice::JobsAvailable { queue: None },
            StoreNotice::CancelRequested { id: JobId(5) },
            StoreNotice::JobChanged {
                id: JobId(5),
                status: JobStatus::Cancelled,
            },
            StoreNotice::LogAppended {
                job_id: JobId(5),
                seq: 9,
            },
        ];
        for notice in notices {
            assert_eq!(decode(&encode(&notice)), Some(notice));
        }
        assert_eq!(
            encode(&StoreNotice::JobsAvailable { queue: None }),
            r#"{"t":"jobs"}"#
        );
        // The log statement builds its payload in SQL, with spaces.
        assert_eq!(
            decode(r#"{"t" : "log", "job" : 5, "seq" : 9}"#),
            Some(StoreNotice::LogAppended {
                job_id: JobId(5),
                seq: 9
            })
        );
        assert_eq!(decode("not json"), None);
    }

    #[test]
    fn channel_names_fit() {
        assert_eq!(channel_name(None), "plugboard");
        assert_eq!(channel_name(Some("pb_1")), "plugboard_pb_1");
        assert_eq!(channel_name(Some(&"x".repeat(63))).len(), 63);
    }
}
