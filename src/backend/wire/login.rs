//! Logging in; neither side's `Debug` shows the secret.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// `POST /api/v1/auth/login`. Its `Debug` hides the password.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The account's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Or its user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password.
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The answer to a login. Its `Debug` hides the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// The user, as sent.
    #[serde(default)]
    pub user: Option<Value>,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
}
