//! [`NetError`]: why a call failed, detailed enough for a backend to decide what it means, and
//! its [`AssetError`] for everyone else.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::error::{AssetError, AssetErrorKind};
use crate::net::{MAX_REDIRECTS, scrub_text, server_text};

/// How a call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Failure {
    /// No answer: refused, reset or timed out. `connect` when no connection was made, so the
    /// server cannot have seen the call.
    Transport {
        /// What happened, without the URL.
        message: String,
        /// Whether connecting failed.
        connect: bool,
    },
    /// An answer whose status is not a success.
    Status {
        /// Its status.
        status: StatusCode,
        /// Its body (bounded by the call's size limit).
        body: Vec<u8>,
        /// The wait it asked for (`Retry-After`, or the policy's body rule).
        wait: Option<Duration>,
        /// The policy's [final-answer rule](crate::net::NetPolicy::final_answer_when)'s kind.
        verdict: Option<AssetErrorKind>,
    },
    /// A success whose body is not what was expected.
    Malformed(String),
    /// The answer was larger than the call's limit (in bytes).
    TooLarge(u64),
    /// The call's overall timeout passed.
    TimedOut(Duration),
    /// A redirect that was not followed: to another origin while the call carried a
    /// credential or a body (see [`PolicyClient`](crate::net::PolicyClient)), or one more than
    /// the 5 followed in a row. Final: never retried.
    Redirected {
        /// The redirect's status (301, 302, 303, 307, 308).
        status: StatusCode,
        /// Where it pointed, without userinfo, query or fragment; `None` without a usable
        /// `Location`.
        location: Option<String>,
    },
    /// The call could not be made: a bad URL or credential, a login that failed, the client
    /// closing.
    Local(AssetError),
}

/// A failed call: what was called (method and scrubbed path, or the caller's name for it), how
/// it failed, and after how many tries. Neither its `Debug` nor its `Display` carries a
/// credential.
pub struct NetError {
    pub(crate) what: String,
    pub(crate) failure: Failure,
    pub(crate) tries: u32,
}

impl NetError {
    pub(crate) fn new(what: impl Into<String>, failure: Failure, tries: u32) -> Self {
        Self {
            what: what.into(),
            failure,
            tries,
        }
    }

    /// What was called, as errors name it (`GET /v1/images/generations/42`).
    pub fn what(&self) -> &str {
        &self.what
    }

    /// How it failed.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }

    /// How many tries were made.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// The answer's status, when there was an answer that was not a success.
    pub fn status(&self) -> Option<StatusCode> {
        match &self.failure {
            Failure::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wait the last answer asked for.
    pub fn server_wait(&self) -> Option<Duration> {
        match &self.failure {
            Failure::Status { wait, .. } => *wait,
            _ => None,
        }
    }

    /// Whether the server said 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// Whether no answer came at all (refused, reset, timed out).
    pub fn is_transport(&self) -> bool {
        matches!(self.failure, Failure::Transport { .. })
    }

    /// Whether the call may have reached the server and done its work, though no answer says
    /// so (a timeout, a reset, a 5xx or a garbled success).
    pub fn may_have_reached(&self) -> bool {
        match &self.failure {
            Failure::Transport { connect, .. } => !connect,
            Failure::Status { status, .. } => status.is_server_error(),
            Failure::Malformed(_) | Failure::TimedOut(_) => true,
            // A redirect says the work is elsewhere, not that it was done.
            Failure::TooLarge(_) | Failure::Local(_) | Failure::Redirected { .. } => false,
        }
    }

    /// The error to report, with the server's own words.
    pub fn to_asset_error(&self) -> AssetError {
        let error = match &self.failure {
            Failure::Transport { message, .. } => {
                AssetError::generation(format!("{} {message}", self.what))
            }
            Failure::Status {
                status,
                body,
                verdict,
                ..
            } => status_error(&self.what, *status, body, *verdict),
            Failure::Malformed(message) => AssetError::invalid_data(message.clone()),
            Failure::TooLarge(max) => AssetError::invalid_data(format!(
                "{} answered more than the {max}-byte limit",
                self.what
            )),
            Failure::TimedOut(limit) => AssetError::new(
                AssetErrorKind::TimedOut,
                format!("{} did not finish within {limit:?}", self.what),
            ),
            Failure::Redirected { status, location } => AssetError::generation(format!(
                "{} answered {status}, a redirect to {}, which was not followed: a call \
                 carrying a credential or a body goes to no other origin, and at most \
                 {MAX_REDIRECTS} redirects are followed",
                self.what,
                location.as_deref().unwrap_or("nowhere usable")
            )),
            Failure::Local(error) => error.clone(),
        };
        if self.tries > 1 {
            AssetError::new(
                error.kind(),
                format!("{} (after {} tries)", error.message(), self.tries),
            )
        } else {
            error
        }
    }
}

impl fmt::Debug for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_asset_error())
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_asset_error())
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for AssetError {
    fn from(error: NetError) -> Self {
        error.to_asset_error()
    }
}

/// The error for a final answer `status` with `body` to `what`: the kind from the policy's
/// `verdict`, else from the status (404 not found, 400 and 422 invalid, others generation).
pub(crate) fn status_error(
    what: &str,
    status: StatusCode,
    body: &[u8],
    verdict: Option<AssetErrorKind>,
) -> AssetError {
    let said = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|value| summary(&value))
        .filter(|said| !said.is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no error body".to_owned()
            } else {
                text.to_owned()
            }
        });
    let kind = verdict.unwrap_or(match status {
        StatusCode::NOT_FOUND => AssetErrorKind::NotFound,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => AssetErrorKind::InvalidData,
        _ => AssetErrorKind::Generation,
    });
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (check the backend token or login)",
        StatusCode::FORBIDDEN => " (the account may not do this)",
        _ => "",
    };
    AssetError::new(
        kind,
        // Bodies can be whole HTML pages from a proxy, or megabytes of JSON.
        format!("{what} answered {status}{hint}: {}", server_text(&said)),
    )
}

/// One line saying everything a JSON error body says: its `message`, `code`, `detail` and
/// `fields`, or those of its `error` object (OpenAI's shape), or its `error` string. `None`
/// when the body is not of that shape.
fn summary(value: &Value) -> Option<String> {
    let object = value.as_object()?;
    match object.get("error") {
        Some(Value::String(error)) if !error.trim().is_empty() => return Some(error.clone()),
        Some(inner @ Value::Object(_)) => {
            if let Some(said) = summary(inner).filter(|said| !said.is_empty()) {
                return Some(said);
            }
        }
        _ => {}
    }
    let text = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) => Some(Some(text.clone())),
        Some(_) => None,
    };
    let mut parts = Vec::new();
    if let Some(message) = text("message")? {
        parts.push(message);
    }
    if let Some(code) = text("code")? {
        parts.push(format!("code {code}"));
    }
    match object.get("detail") {
        Some(Value::String(detail)) => parts.push(format!("detail: {detail}")),
        Some(Value::Null) | None => {}
        Some(other) => parts.push(format!("detail: {other}")),
    }
    match object.get("fields") {
        Some(Value::Array(fields)) if !fields.is_empty() => {
            let fields: Vec<String> = fields.iter().map(Value::to_string).collect();
            parts.push(format!("fields: {}", fields.join(", ")));
        }
        Some(Value::Array(_) | Value::Null) | None => {}
        Some(_) => return None,
    }
    Some(parts.join("; "))
}

/// Why a call never got an answer, without its URL: reqwest names the URL, which can carry a
/// credential in its query or userinfo, so the caller names the call instead.
pub(crate) fn transport_error(error: reqwest::Error) -> String {
    let why = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let error = error.without_url();
    // The source chain says what happened (refused, reset); the top line is only "error
    // sending request".
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    format!("{why}: {}", scrub_text(&detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_errors_carry_the_server_message_and_a_kind() {
        let body = br#"{"code": "bad", "message": "prompt is empty", "detail": "config.prompt"}"#;
        let error = status_error("POST /x", StatusCode::BAD_REQUEST, body, None);
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert_eq!(
            error.message(),
            "POST /x answered 400 Bad Request: prompt is empty; code bad; detail: config.prompt"
        );
        let error = status_error("GET /x", StatusCode::UNAUTHORIZED, b"", None);
        assert!(error.message().contains("token"), "{error}");
        assert_eq!(error.kind(), AssetErrorKind::Generation);
        let openai = br#"{"error":{"message":"Your request was rejected","type":"invalid_request_error","code":"content_policy_violation"}}"#;
        let error = status_error(
            "POST /v1/images/generations",
            StatusCode::BAD_REQUEST,
            openai,
            Some(AssetErrorKind::Rejected),
        );
        assert_eq!(error.kind(), AssetErrorKind::Rejected);
        assert!(
            error
                .message()
                .ends_with("Your request was rejected; code content_policy_violation"),
            "{error}"
        );
        let error = status_error("GET /y", StatusCode::NOT_FOUND, b"<html>gone</html>", None);
        assert_eq!(error.kind(), AssetErrorKind::NotFound);
        assert!(error.message().ends_with("<html>gone</html>"), "{error}");
        let error = status_error(
            "GET /z",
            StatusCode::BAD_GATEWAY,
            br#"{"message": 7}"#,
            None,
        );
        assert!(error.message().ends_with(r#"{"message": 7}"#), "{error}");
    }

    #[test]
    fn tries_are_counted_and_kinds_follow_the_failure() {
        let error = NetError::new("GET /a", Failure::TimedOut(Duration::from_secs(2)), 3);
        let asset = error.to_asset_error();
        assert_eq!(asset.kind(), AssetErrorKind::TimedOut);
        assert!(asset.message().ends_with("(after 3 tries)"), "{asset}");
        assert!(error.may_have_reached());
        let refused = NetError::new(
            "GET /a",
            Failure::Transport {
                message: "could not connect".into(),
                connect: true,
            },
            1,
        );
        assert!(refused.is_transport() && !refused.may_have_reached());
    }
}
