//! Opening a config's secrets for the run that needs them, and only in memory: jobs carry the
//! sealed values, and this wrapper around the `plugin.run` kind opens them just before the
//! plugin gets the job.

use async_trait::async_trait;
use serde_json::Value;

use super::SecretKey;
use crate::queue::{JobContext, JobError, JobHandler};
use crate::store::NewJob;

/// A job kind whose payload's `config.values` are opened before the inner kind runs.
pub struct SecretsOpened<H> {
    inner: H,
    key: SecretKey,
}

impl<H: JobHandler> SecretsOpened<H> {
    pub fn new(inner: H, key: SecretKey) -> SecretsOpened<H> {
        SecretsOpened { inner, key }
    }
}

#[async_trait]
impl<H: JobHandler> JobHandler for SecretsOpened<H> {
    fn validate(&self, payload: &Value) -> Result<(), String> {
        self.inner.validate(payload)
    }

    fn prepare(&self, job: &mut NewJob) {
        self.inner.prepare(job);
    }

    async fn run(&self, context: JobContext) -> Result<Option<Value>, JobError> {
        let mut payload = context.job().payload.clone();
        let Some(values) = payload
            .get_mut("config")
            .and_then(|config| config.get_mut("values"))
        else {
            return self.inner.run(context).await;
        };
        // A key that cannot open them will not open them on a retry either.
        self.key
            .open(values)
            .map_err(|error| JobError::permanent(error.to_string()))?;
        self.inner.run(context.with_payload(payload)).await
    }
}
