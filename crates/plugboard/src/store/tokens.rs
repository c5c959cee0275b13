//! API tokens as stored: only the sha256 of the secret is kept, never the secret itself.
//!
//! Minting the secret, hashing what a caller presents and deciding what a token may do belong to
//! `api/`; the store keeps the rows and finds one by its hash.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAccess {
    /// Read only: every `GET`.
    Read,
    /// Read and change.
    Write,
    /// Everything the admin token may do: a console session, made by signing in with a one-time
    /// link (`api/session.rs`), never by `POST /api/v1/tokens`.
    Admin,
}

impl TokenAccess {
    /// The name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAccess::Read => "read",
            TokenAccess::Write => "write",
            TokenAccess::Admin => "admin",
        }
    }

    /// Parses a stored or given name.
    ///
    /// # Errors
    /// A message naming the accepted values.
    pub fn parse(text: &str) -> Result<TokenAccess, String> {
        match text {
            "read" => Ok(TokenAccess::Read),
            "write" => Ok(TokenAccess::Write),
            "admin" => Ok(TokenAccess::Admin),
            other => Err(format!("unknown token access `{other}`; use read or write")),
        }
    }
}

impl fmt::Display for TokenAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A token to store. `hash` is the lowercase hex sha256 of the whole secret the caller will
/// present.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiToken {
    /// Public id, unique, shown in listings and used to revoke.
    pub id: String,
    pub name: String,
    pub hash: String,
    /// `None`: every tenant (global).
    pub tenant: Option<String>,
    pub access: TokenAccess,
    /// `None`: never expires.
    pub expires_at: Option<Timestamp>,
}

/// A stored token, without any way back to its secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub hash: String,
    pub tenant: Option<String>,
    pub access: TokenAccess,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}
