//! Secret config fields: which fields are secret, sealing them before they are stored, and
//! keeping them out of what reads return.
//!
//! A field is secret when its schema says `"writeOnly": true` or `"format": "password"`. Its
//! value is stored as `{"$sealed": "v1:<base64 of nonce and ciphertext>"}`, encrypted with
//! XChaCha20-Poly1305 under a 32-byte key kept outside the database: the file `secret.key` in the
//! data directory (created on first use, mode 0600), or `PLUGBOARD_SECRET_KEY` (the key in
//! base64), which every node of a PostgreSQL cluster must share. Reads show a sealed field as
//! `"********"`; only the job payload handed to the plugin carries it (still sealed at rest).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::XChaCha20Poly1305;
use serde_json::{Map, Value};

/// The environment variable that holds the key (base64 of 32 bytes).
pub const SECRET_KEY_VARIABLE: &str = "PLUGBOARD_SECRET_KEY";

/// The key file's name in the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";

/// What a read shows instead of a secret.
pub const REDACTED: &str = "********";

const SEALED_FIELD: &str = "$sealed";
const VERSION: &str = "v1:";
const NONCE_BYTES: usize = 24;

/// What can go wrong with secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{SECRET_KEY_VARIABLE} is not the base64 of 32 bytes; generate one with `head -c 32 /dev/urandom | base64`")]
    BadVariable,
    #[error("the secret key file {path} cannot be used: {reason}; fix its permissions, or set {SECRET_KEY_VARIABLE}")]
    KeyFile { path: PathBuf, reason: String },
    #[error("a sealed config value cannot be opened with this key: {0}; every node must use the same secret key (the data directory's {SECRET_KEY_FILE} or {SECRET_KEY_VARIABLE})")]
    Open(String),
}

/// The key that seals secret config values.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// A key from 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SecretKey {
        SecretKey {
            cipher: XChaCha20Poly1305::new(bytes.into()),
        }
    }

    /// The key from `PLUGBOARD_SECRET_KEY` when set, else from `secret.key` in `data_dir`,
    /// which is created (32 random bytes, mode 0600) when missing.
    ///
    /// # Errors
    /// A malformed variable, or a key file that cannot be read, created or is not 32 bytes.
    pub fn load(data_dir: &Path) -> Result<SecretKey, SecretError> {
        if let Ok(text) = std::env::var(SECRET_KEY_VARIABLE) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| SecretError::BadVariable)?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadVariable)?;
            return Ok(SecretKey::from_bytes(&bytes));
        }
        let path = data_dir.join(SECRET_KEY_FILE);
        let failed = |reason: String| SecretError::KeyFile {
            path: path.clone(),
            reason,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
                    failed(format!("it holds {} bytes, not 32", bytes.len()))
                })?;
                Ok(SecretKey::from_bytes(&bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let bytes: [u8; 32] = rand::random();
                // create_new: two processes creating it at once must not both win.
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                {
                    Ok(mut file) => {
                        file.write_all(&bytes)
                            .and_then(|()| file.sync_all())
                            .map_err(|error| failed(error.to_string()))?;
                        Ok(SecretKey::from_bytes(&bytes))
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                        SecretKey::load(data_dir)
                    }
                    Err(error) => Err(failed(error.to_string())),
                }
            }
            Err(error) => Err(failed(error.to_string())),
        }
    }

    fn seal_text(&self, plain: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .cipher
            .encrypt((&nonce_bytes).into(), plain)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut joined = nonce_bytes.to_vec();
        joined.extend_from_slice(&sealed);
        format!(
            "{VERSION}{}",
            base64::engine::general_purpose::STANDARD.encode(joined)
        )
    }

    fn open_text(&self, text: &str) -> Result<Vec<u8>, SecretError> {
        let encoded = text
            .strip_prefix(VERSION)
            .ok_or_else(|| SecretError::Open("unknown sealing version".to_owned()))?;
        let joined = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|error| SecretError::Open(error.to_string()))?;
        if joined.len() < NONCE_BYTES {
            return Err(SecretError::Open("too short".to_owned()));
        }
        let (nonce, sealed) = joined.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce length");
        self.cipher
            .decrypt((&nonce).into(), sealed)
            .map_err(|_| SecretError::Open("authentication failed".to_owned()))
    }

    /// Replaces each secret field's value by its sealed form. Fields already sealed stay.
    pub fn seal(&self, values: &mut Value, secret_paths: &[Vec<String>]) {
        for path in secret_paths {
            if let Some(field) = field_mut(values, path) {
                if !is_sealed(field) {
                    let plain = field.to_string();
                    let mut sealed = Map::new();
                    sealed.insert(
                        SEALED_FIELD.to_owned(),
                        Value::String(self.seal_text(plain.as_bytes())),
                    );
                    *field = Value::Object(sealed);
                }
            }
        }
    }

    /// Replaces every sealed value in `values` by the value it seals.
    ///
    /// # Errors
    /// [`SecretError::Open`] when a value was sealed with another key or altered.
    pub fn open(&self, values: &mut Value) -> Result<(), SecretError> {
        if is_sealed(values) {
            let text = values[SEALED_FIELD].as_str().unwrap_or_default().to_owned();
            let plain = self.open_text(&text)?;
            *values = serde_json::from_slice(&plain)
                .map_err(|error| SecretError::Open(error.to_string()))?;
            return Ok(());
        }
        match values {
            Value::Object(map) => map.values_mut().try_for_each(|value| self.open(value)),
            Value::Array(items) => items.iter_mut().try_for_each(|value| self.open(value)),
            _ => Ok(()),
        }
    }
}

fn is_sealed(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.len() == 1 && map.get(SEALED_FIELD).is_some_and(Value::is_string))
}

fn field_mut<'a>(values: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter()
        .try_fold(values, |value, key| value.as_object_mut()?.get_mut(key))
}

/// Every sealed value replaced by [`REDACTED`]: what reads show.
pub fn redacted(values: &Value) -> Value {
    if is_sealed(values) {
        return Value::String(REDACTED.to_owned());
    }
    match values {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), redacted(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// The paths (property names from the root) of the fields `schema` marks secret: `writeOnly`
/// or `format: password`, in `properties` at any depth.
pub fn secret_paths(schema: &Value) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    collect_secret_paths(schema, &mut Vec::new(), &mut paths);
    paths
}

fn collect_secret_paths(schema: &Value, prefix: &mut Vec<String>, paths: &mut Vec<Vec<String>>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        prefix.push(name.clone());
        let secret = property.get("writeOnly") == Some(&Value::Bool(true))
            || property.get("format").and_then(Value::as_str) == Some("password");
        if secret {
            paths.push(prefix.clone());
        } else {
            collect_secret_paths(property, prefix, paths);
        }
        prefix.pop();
    }
}

/// Keeps the stored sealed value of each secret field that `new_values` leaves out or gives as
/// [`REDACTED`] (a config written back after a read keeps its secrets).
pub fn keep_unchanged_secrets(
    new_values: &mut Value,
    stored: &Value,
    secret_paths: &[Vec<String>],
) {
    for path in secret_paths {
        let Some(old) = path
            .iter()
            .try_fold(stored, |value, key| value.as_object()?.get(key))
        else {
            continue;
        };
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let Some(parent) = field_mut(new_values, parents).and_then(Value::as_object_mut) else {
            continue;
        };
        let unchanged = match parent.get(last) {
            None => true,
            Some(Value::String(text)) => text == REDACTED,
            Some(_) => false,
        };
        if unchanged {
            parent.insert(last.clone(), old.clone());
        }
    }
}
