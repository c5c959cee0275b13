//! A plugin told by each run's payload (`{"action": ...}`) what to do: succeed with logs and
//! progress, meet another run, use kv or emit, fail for good, wait for its cancel, wait to be
//! released, hang, or panic.

use std::sync::Arc;

use plugboard_sdk::{Context, Metadata, Plugin, PluginError, PluginInfo, RunParams, Tool, Value};
use serde_json::json;
use tokio::sync::{Barrier, Notify};

/// The scripted plugin. Clones share the rendezvous and the release.
#[derive(Clone)]
pub struct Scripted {
    /// Two `rendezvous` runs pass it only together.
    rendezvous: Arc<Barrier>,
    /// `wait-release` runs finish when the test notifies it.
    pub release: Arc<Notify>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted {
            rendezvous: Arc::new(Barrier::new(2)),
            release: Arc::new(Notify::new()),
        }
    }
}

impl Plugin for Scripted {
    fn info(&self) -> PluginInfo {
        PluginInfo {
            id: "scripted".to_owned(),
            name: "Scripted".to_owned(),
            version: "1.2.3".to_owned(),
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            events: vec!["form.submitted".to_owned()],
            tools: vec![Tool {
                name: "echo".to_owned(),
                description: "Says its arguments back.".to_owned(),
                input_schema: json!({"type": "object"}),
                title: None,
                output_schema: None,
                annotations: None,
            }],
            ..Metadata::default()
        }
    }

    async fn run(&self, ctx: Context, params: RunParams) -> Result<Option<Value>, PluginError> {
        let action = params.payload["action"].as_str().unwrap_or_default();
        match action {
            "greet" => {
                ctx.info("hello");
                ctx.progress(1.0, Some(2.0), Some("half"));
                ctx.progress(2.0, Some(2.0), None);
                Ok(Some(json!({"greeted": true})))
            }
            "rendezvous" => {
                self.rendezvous.wait().await;
                Ok(Some(json!({"met": true})))
            }
            "kv" => {
                let count = ctx
                    .kv_get("count")
                    .await?
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0);
                ctx.kv_set("count", count + 1).await?;
                Ok(Some(json!({"count": count + 1})))
            }
            "emit" => {
                let event_id = ctx.emit("hello.greeted", json!({"name": "Ada"})).await?;
                Ok(Some(json!({"eventId": event_id})))
            }
            "fail-final" => Err(PluginError::not_retryable(
                "the config's name is empty; set `name` in the config",
            )),
            "wait-cancel" => {
                ctx.info("waiting");
                ctx.cancelled().await;
                assert!(ctx.is_cancelled());
                assert_eq!(
                    ctx.cancel_reason(),
                    Some("the job was cancelled by an admin")
                );
                Err(PluginError::cancelled())
            }
            "until-cancelled" => {
                ctx.info("waiting");
                ctx.until_cancelled(std::future::pending::<()>()).await?;
                Ok(None)
            }
            "wait-release" => {
                ctx.info("waiting");
                self.release.notified().await;
                Ok(Some(json!({"released": true})))
            }
            "hang" => {
                ctx.info("waiting");
                std::future::pending().await
            }
            "panic" => panic!("scripted panic"),
            other => Err(PluginError::invalid_params(format!(
                "unknown action {other:?}"
            ))),
        }
    }
}
