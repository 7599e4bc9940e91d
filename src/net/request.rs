//! [`NetRequest`]: one call to send through a [`PolicyClient`](crate::net::PolicyClient).

use std::fmt;

use reqwest::Method;
use serde::Serialize;

use crate::error::AssetError;
use crate::net::{Auth, Secret, scrub_text};

/// Which failures of a call may be sent again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Retries {
    /// Safe to repeat (a read, a poll, a cancel): connection errors, timeouts, 429, 5xx and
    /// garbled successes are retried.
    #[default]
    All,
    /// Repeating costs if the first one did its work (a create that is paid for): only what
    /// shows the work was not done is retried, a refused connection (nothing was sent) or a 429
    /// (refused before any work). A 5xx (a gateway's 502 or 504 can come after the work was
    /// done), a timeout or reset after sending, or a garbled success, is final.
    Refusals,
    /// Sent once; the caller decides.
    Never,
}

/// One call: method, target (a path under the client's base URL, or an absolute URL), body,
/// and how it may be retried. Built like a sentence. Its `Debug` shows the body's length, never
/// the body, and the target without userinfo, query or fragment:
///
/// ```
/// use bevy_asset_provider::net::{NetRequest, Retries};
///
/// let create = NetRequest::post("v1/images/generations")
///     .json(&serde_json::json!({ "prompt": "a lighthouse" }))
///     .unwrap()
///     .retries(Retries::Refusals);
/// let poll = NetRequest::get("v1/images/generations/42");
/// ```
#[derive(Clone)]
#[must_use]
pub struct NetRequest {
    pub(crate) method: Method,
    pub(crate) target: String,
    pub(crate) body: Option<(Vec<u8>, &'static str)>,
    pub(crate) auth: Option<Auth>,
    pub(crate) retries: Retries,
    pub(crate) max_bytes: Option<u64>,
    pub(crate) what: Option<String>,
    pub(crate) hidden: Vec<Secret>,
}

impl fmt::Debug for NetRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self
            .body
            .as_ref()
            .map(|(bytes, content_type)| format!("{} bytes of {content_type}", bytes.len()));
        let target = scrub_text(&self.target);
        let target = target.split(['?', '#']).next().unwrap_or_default();
        f.debug_struct("NetRequest")
            .field("method", &self.method)
            .field("target", &target)
            .field("body", &body)
            .field("auth", &self.auth)
            .field("retries", &self.retries)
            .field("max_bytes", &self.max_bytes)
            .field("what", &self.what)
            .finish_non_exhaustive()
    }
}

impl NetRequest {
    /// A call of `method` to `target`.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Self {
            method,
            target: target.into(),
            body: None,
            auth: None,
            retries: Retries::All,
            max_bytes: None,
            what: None,
            hidden: Vec::new(),
        }
    }

    /// A `GET`.
    pub fn get(target: impl Into<String>) -> Self {
        Self::new(Method::GET, target)
    }

    /// A `POST`.
    pub fn post(target: impl Into<String>) -> Self {
        Self::new(Method::POST, target)
    }

    /// `body` as JSON; fails when it does not serialize.
    pub fn json<B: Serialize + ?Sized>(self, body: &B) -> Result<Self, AssetError> {
        let bytes = serde_json::to_vec(body).map_err(|error| {
            AssetError::invalid_data(format!(
                "the body of {} {} did not serialize: {error}",
                self.method, self.target
            ))
        })?;
        Ok(self.json_bytes(bytes))
    }

    /// Bytes already serialized as JSON.
    pub fn json_bytes(mut self, bytes: Vec<u8>) -> Self {
        self.body = Some((bytes, "application/json"));
        self
    }

    /// Overrides the policy's credential for this call (`Auth::None` to send none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Which failures may be retried (default [`Retries::All`]).
    pub fn retries(mut self, retries: Retries) -> Self {
        self.retries = retries;
        self
    }

    /// The largest answer read (default: the policy's).
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }

    /// A secret this call carries in its body (a login's password): should the server quote it
    /// back, errors show `<redacted>` instead. The credential sent is hidden without asking.
    pub fn hiding(mut self, secret: &Secret) -> Self {
        self.hidden.push(secret.clone());
        self
    }

    /// How errors and logs name the call (default: the method and the scrubbed path).
    pub fn what(mut self, what: impl Into<String>) -> Self {
        self.what = Some(what.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_body_and_no_secret() {
        let request = NetRequest::post("https://u:pw-SECRET@h/api/v1/auth/login?token=tok-SECRET")
            .json(&serde_json::json!({ "password": "hunter2-SECRET", "prompt": "private" }))
            .unwrap()
            .auth(Auth::bearer("bearer-SECRET"));
        let shown = format!("{request:?}");
        for hidden in ["SECRET", "hunter2", "private"] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
        assert!(
            shown.contains("bytes") && shown.contains("/api/v1/auth/login"),
            "{shown}"
        );
    }
}
