//! [`Api`]: the one HTTP transport of the client. Every call to the backend (JSON calls and file
//! downloads) goes through its single retry loop, which knows the token, logs in again once when
//! the token is refused, honours the server's waits and bounds every answer's size.

use std::fmt;
use std::time::Duration;

use bevy::log::debug;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use crate::backend::http::{
    RetryPolicy, Secret, is_bad_input, resolve, retry_after, status_error, transport_error,
    try_again_in,
};
use crate::backend::wire::{LoginRequest, LoginResponse};
use crate::error::AssetError;

/// The largest JSON answer read; a bigger one is not an answer of this API.
pub(crate) const MAX_ANSWER_BYTES: u64 = 16 * 1024 * 1024;

/// Whether a call may be sent again after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to repeat (a read, a cancel): no connection, timeouts, resets, 5xx, 429 and garbled
    /// answers are retried with backoff, honouring the server's waits.
    Transient,
    /// Sent once; the caller decides (a create, which must never pay twice for a lost answer).
    Never,
}

/// Whether a call carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// The bearer token (logging in first when only a login is configured).
    Bearer,
    /// No `Authorization` header (login itself, and files on another host).
    None,
}

/// A whole answer.
pub(crate) struct Answer {
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    /// The `Retry-After` header, if any.
    wait: Option<Duration>,
}

/// Why a call failed, for the layers above to decide what it means.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer: refused, reset or timed out. `connect` when no connection was made (the
    /// server cannot have seen the call).
    Transport { message: String, connect: bool },
    /// An answer with a status that is not a success.
    Status {
        status: StatusCode,
        body: Vec<u8>,
        wait: Option<Duration>,
    },
    /// A success whose body is not the JSON expected.
    Malformed(String),
    /// The answer is larger than allowed.
    TooLarge(u64),
    /// No login is configured for a refused token, or the login failed.
    Login(AssetError),
}

/// A failed call: what was called and how it failed.
pub(crate) struct ApiError {
    pub what: String,
    pub failure: Failure,
    pub tries: u32,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_asset_error())
    }
}

/// The message of the real service when a create was answered with another user's generation
/// and that generation is read.
const OTHER_USERS: &str = "other users";

impl ApiError {
    /// Whether the server said 404.
    pub fn is_not_found(&self) -> bool {
        matches!(&self.failure, Failure::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }

    /// Whether the server refused to show what was asked because it belongs to another
    /// account: a 403, or the real service's 500 "Cannot access other users' generations".
    pub fn is_not_yours(&self) -> bool {
        match &self.failure {
            Failure::Status { status, body, .. } => {
                *status == StatusCode::FORBIDDEN
                    || (status.is_server_error()
                        && String::from_utf8_lossy(body)
                            .to_ascii_lowercase()
                            .contains(OTHER_USERS))
            }
            _ => false,
        }
    }

    /// Whether no answer came at all (refused, reset, timed out).
    pub fn is_transport(&self) -> bool {
        matches!(self.failure, Failure::Transport { .. })
    }

    /// Whether the call may have reached the server and done its work, though no answer says
    /// so (a timeout, a reset, a 5xx or a garbled answer).
    pub fn may_have_reached(&self) -> bool {
        match &self.failure {
            Failure::Transport { connect, .. } => !connect,
            Failure::Status { status, .. } => status.is_server_error(),
            Failure::Malformed(_) => true,
            Failure::TooLarge(_) | Failure::Login(_) => false,
        }
    }

    /// The error to report, with the server's own words.
    pub fn to_asset_error(&self) -> AssetError {
        let error = match &self.failure {
            Failure::Transport { message, .. } => {
                AssetError::generation(format!("{} {message}", self.what))
            }
            Failure::Status { status, body, .. } => status_error(&self.what, *status, body),
            Failure::Malformed(message) => AssetError::invalid_data(message.clone()),
            Failure::TooLarge(max) => AssetError::invalid_data(format!(
                "{} answered more than the {max}-byte limit",
                self.what
            )),
            Failure::Login(error) => error.clone(),
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

impl From<ApiError> for AssetError {
    fn from(error: ApiError) -> Self {
        error.to_asset_error()
    }
}

/// The transport: base URL, HTTP client, token and retry policy.
pub(crate) struct Api {
    pub base: Url,
    http: reqwest::Client,
    token: RwLock<Option<Secret>>,
    login: Option<(String, Secret)>,
    pub retry: RetryPolicy,
    /// The longest server-requested wait honoured before a retry (`Retry-After`, "try again
    /// in"); the request's own deadline bounds it too.
    pub max_server_wait: Duration,
}

impl Api {
    pub fn new(
        base: Url,
        http: reqwest::Client,
        token: Option<Secret>,
        login: Option<(String, Secret)>,
        retry: RetryPolicy,
        max_server_wait: Duration,
    ) -> Self {
        Self {
            base,
            http,
            token: RwLock::new(token),
            login,
            retry,
            max_server_wait,
        }
    }

    /// `path` under the base URL (or an absolute URL as it is).
    pub fn url(&self, path: &str) -> Result<Url, AssetError> {
        resolve(&self.base, path)
    }

    async fn bearer(&self) -> Result<Option<Secret>, AssetError> {
        if let Some(token) = self.token.read().await.clone() {
            return Ok(Some(token));
        }
        if self.login.is_some() {
            // Boxed: login sends through `send`, which asks for the bearer again.
            return Box::pin(self.log_in()).await.map(Some);
        }
        Ok(None)
    }

    /// Logs in and keeps the token. Several calls refused at once log in once.
    async fn log_in(&self) -> Result<Secret, AssetError> {
        let mut slot = self.token.write().await;
        if let Some(token) = slot.clone() {
            // Another call logged in while this one waited.
            return Ok(token);
        }
        let Some((user, password)) = &self.login else {
            return Err(AssetError::generation(
                "the backend refused the token and no login is configured",
            ));
        };
        let (email, username) = if user.contains('@') {
            (Some(user.clone()), None)
        } else {
            (None, Some(user.clone()))
        };
        let body = LoginRequest {
            email,
            username,
            password: password.expose().to_owned(),
        };
        let answer: LoginResponse = self
            .json(
                Method::POST,
                "api/v1/auth/login",
                Some(&body),
                Auth::None,
                Retry::Transient,
            )
            .await?;
        let token = Secret::new(answer.access_token);
        *slot = Some(token.clone());
        Ok(token)
    }

    /// Calls `path` and reads the answer as `T`. A garbled answer is retried like a transient
    /// failure when `retry` allows it.
    pub async fn json<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        auth: Auth,
        retry: Retry,
    ) -> Result<T, ApiError> {
        let url = self.url(path).map_err(|error| ApiError {
            what: format!("{method} /{}", path.trim_start_matches('/')),
            failure: Failure::Login(error),
            tries: 0,
        })?;
        let what = format!("{method} /{}", path.trim_start_matches('/'));
        let body = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|error| ApiError {
                what: what.clone(),
                failure: Failure::Malformed(format!("{what}: the body did not serialize: {error}")),
                tries: 0,
            })?),
            None => None,
        };
        self.send(
            &what,
            method,
            url,
            body,
            auth,
            retry,
            MAX_ANSWER_BYTES,
            |answer| {
                serde_json::from_slice::<T>(&answer.bytes)
                    .map_err(|error| format!("{what} answered malformed JSON: {error}"))
            },
        )
        .await
    }

    /// Sends one call with the retry loop; `parse` turns a success into `T` (a parse failure
    /// counts as a garbled answer). `what` names the call in errors and logs.
    #[allow(clippy::too_many_arguments)]
    pub async fn send<T>(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: Auth,
        retry: Retry,
        max_bytes: u64,
        mut parse: impl FnMut(Answer) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        let policy = self.retry;
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let token = match auth {
                Auth::Bearer => self.bearer().await.map_err(|error| ApiError {
                    what: what.to_owned(),
                    failure: Failure::Login(error),
                    tries: attempt + 1,
                })?,
                Auth::None => None,
            };
            let mut builder = self.http.request(method.clone(), url.clone());
            if let Some(token) = &token {
                builder = builder.bearer_auth(token.expose());
            }
            if let Some(body) = &body {
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let failure = match read_capped(builder, max_bytes).await {
                Ok((status, answer)) if status.is_success() => match parse(answer) {
                    Ok(value) => return Ok(value),
                    Err(message) => Failure::Malformed(message),
                },
                Ok((status, _))
                    if status == StatusCode::UNAUTHORIZED
                        && auth == Auth::Bearer
                        && !relogged
                        && self.login.is_some() =>
                {
                    relogged = true;
                    *self.token.write().await = None;
                    continue;
                }
                Ok((status, answer)) => Failure::Status {
                    status,
                    wait: answer.wait.or_else(|| answer_wait(status, &answer.bytes)),
                    body: answer.bytes,
                },
                Err(failure) => failure,
            };
            let error = ApiError {
                what: what.to_owned(),
                failure,
                tries: attempt + 1,
            };
            let retryable = retry == Retry::Transient
                && match &error.failure {
                    Failure::Transport { .. } | Failure::Malformed(_) => true,
                    Failure::Status { status, body, .. } => {
                        *status == StatusCode::TOO_MANY_REQUESTS
                            || (status.is_server_error()
                                && !error.is_not_yours()
                                && !is_bad_input(*status, body))
                    }
                    Failure::TooLarge(_) | Failure::Login(_) => false,
                };
            if !retryable || attempt + 1 >= policy.attempts {
                return Err(error);
            }
            let wait = match &error.failure {
                Failure::Status {
                    wait: Some(wait), ..
                } => (*wait).min(self.max_server_wait),
                _ => policy.backoff(attempt),
            };
            debug!(
                "{what}: {}; retrying in {wait:?}",
                error.to_asset_error().message()
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

/// How long the server asked to wait before the next try, from the header or a 429's body.
fn answer_wait(status: StatusCode, body: &[u8]) -> Option<Duration> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        try_again_in(body)
    } else {
        None
    }
}

/// Sends and reads the whole body, stopping once it passes `max` bytes.
async fn read_capped(
    builder: reqwest::RequestBuilder,
    max: u64,
) -> Result<(StatusCode, Answer), Failure> {
    let transport = |error: reqwest::Error| Failure::Transport {
        connect: error.is_connect(),
        message: transport_error(error),
    };
    let mut response = builder.send().await.map_err(transport)?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let wait = retry_after(response.headers());
    if response.content_length().is_some_and(|len| len > max) {
        return Err(Failure::TooLarge(max));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() as u64 + chunk.len() as u64 > max {
            return Err(Failure::TooLarge(max));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((
        status,
        Answer {
            content_type,
            bytes,
            wait,
        },
    ))
}
