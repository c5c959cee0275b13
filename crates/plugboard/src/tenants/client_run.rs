//! `plugin.run` jobs asked for by a client (`POST /api/v1/jobs`, `plugboard job enqueue`).
//!
//! Only the host writes a run's `config` and `trigger`: a plugin trusts them to be a config of the
//! job's tenant, checked against its schema, and a real schedule fire, event or run by hand. A
//! client names a config by its id and the host fills the config in from the store, as a run now
//! does (trigger `manual`); a payload that carries `config` or `trigger` itself is refused.

use plugboard_protocol::methods::TriggerKind;
use serde_json::Value;

use super::{TenantError, Tenants};
use crate::schedule;
use crate::store::NewJob;

/// The fields of a `plugin.run` payload that only the host writes.
pub const HOST_WRITTEN_FIELDS: [&str; 2] = ["config", "trigger"];

/// Refuses a client's `plugin.run` payload that carries a field only the host writes.
///
/// # Errors
/// [`TenantError::HostWrittenFields`] naming every such field.
pub fn check_client_payload(payload: &Value) -> Result<(), TenantError> {
    let fields: Vec<&'static str> = HOST_WRITTEN_FIELDS
        .into_iter()
        .filter(|field| payload.get(field).is_some())
        .collect();
    if fields.is_empty() {
        Ok(())
    } else {
        Err(TenantError::HostWrittenFields { fields })
    }
}

impl Tenants {
    /// The `plugin.run` job of a client's run of config `config_id`: the job a run now makes,
    /// with the client's `payload.payload` (the run's input) in it. The client's `plugin` and
    /// `tenant`, when given, must be the config's. The caller checks that the client may see the
    /// config's tenant.
    ///
    /// # Errors
    /// [`TenantError::HostWrittenFields`], [`TenantError::RunMismatch`],
    /// [`TenantError::UnknownConfigId`], [`TenantError::ConfigInvalid`].
    pub async fn client_run(
        &self,
        config_id: &str,
        payload: &Value,
    ) -> Result<NewJob, TenantError> {
        check_client_payload(payload)?;
        let config = self
            .store
            .config_get(config_id)
            .await?
            .ok_or_else(|| TenantError::UnknownConfigId(config_id.to_owned()))?;
        for (field, expected) in [("plugin", &config.plugin), ("tenant", &config.tenant)] {
            if let Some(given) = payload.get(field) {
                if given.as_str() != Some(expected.as_str()) {
                    return Err(TenantError::RunMismatch {
                        field,
                        given: given.to_string(),
                        config: config.id.clone(),
                        expected: expected.clone(),
                    });
                }
            }
        }
        if let Some(reason) = &config.invalid_reason {
            return Err(TenantError::ConfigInvalid {
                id: config.id.clone(),
                reason: reason.clone(),
            });
        }
        let mut job = schedule::fire_job(&config, TriggerKind::Manual, None);
        if let Some(input) = payload.get("payload") {
            job.payload["payload"] = input.clone();
        }
        Ok(job)
    }
}
