//! [`Api`]: the client's transport. Every call to the backend (JSON calls and file downloads)
//! goes through the crate's [`PolicyClient`] and its one retry loop; this layer adds what is
//! PixSim7's own: the token, and logging in again once when the token is refused.

use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use crate::backend::answers::is_other_users;
use crate::backend::wire::{LoginRequest, LoginResponse};
use crate::error::AssetError;
use crate::net::{Answer, Failure, NetError, NetPolicy, NetRequest, PolicyClient, Retries, Secret};

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

/// A failed call: what was called, how it failed, after how many tries.
pub(crate) type ApiError = NetError;

/// What a failed call means to this client beyond its status.
pub(crate) trait PixSimFailure {
    /// Whether the server refused to show what was asked because it belongs to another
    /// account: a 403, or the real service's 500 "Cannot access other users' generations".
    fn is_not_yours(&self) -> bool;
}

impl PixSimFailure for NetError {
    fn is_not_yours(&self) -> bool {
        match self.failure() {
            Failure::Status { status, body, .. } => is_other_users(*status, body),
            _ => false,
        }
    }
}

/// The transport: the policy client for the base URL, and the token.
pub(crate) struct Api {
    client: PolicyClient,
    token: RwLock<Option<Secret>>,
    login: Option<(String, Secret)>,
}

impl Api {
    pub fn new(
        client: PolicyClient,
        token: Option<Secret>,
        login: Option<(String, Secret)>,
    ) -> Self {
        Self {
            client,
            token: RwLock::new(token),
            login,
        }
    }

    /// The backend's base URL, with a trailing slash.
    pub fn base(&self) -> &Url {
        self.client.base()
    }

    /// The policy every call is sent under.
    pub fn policy(&self) -> &NetPolicy {
        self.client.policy()
    }

    /// Whether `url` is on the backend's own origin (and so may get the token).
    pub fn same_origin(&self, url: &Url) -> bool {
        self.client.same_origin(url)
    }

    /// `path` under the base URL (or an absolute URL as it is).
    pub fn url(&self, path: &str) -> Result<Url, AssetError> {
        self.client.url(path)
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
        let what = format!("{method} /{}", path.trim_start_matches('/'));
        let url = self
            .url(path)
            .map_err(|error| NetError::new(what.clone(), Failure::Local(error), 0))?;
        let body = match body {
            Some(body) => Some(serde_json::to_vec(body).map_err(|error| {
                NetError::new(
                    what.clone(),
                    Failure::Malformed(format!("{what}: the body did not serialize: {error}")),
                    0,
                )
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

    /// Sends one call through the policy's retry loop; `parse` turns a success into `T` (a
    /// parse failure counts as a garbled answer). `what` names the call in errors and logs. A
    /// refused token is replaced by logging in again, once.
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
        let mut request = NetRequest::new(method, url.as_str())
            .what(what)
            .max_bytes(max_bytes)
            .retries(match retry {
                Retry::Transient => Retries::All,
                Retry::Never => Retries::Never,
            });
        if let Some(body) = body {
            request = request.json_bytes(body);
        }
        if let Some((_, password)) = &self.login {
            // A refusal of the login may quote it back (FastAPI's 422 quotes the input).
            request = request.hiding(password);
        }
        let mut relogged = false;
        loop {
            let token = match auth {
                Auth::Bearer => self
                    .bearer()
                    .await
                    .map_err(|error| NetError::new(what, Failure::Local(error), 1))?,
                Auth::None => None,
            };
            let credential = match token {
                Some(token) => crate::net::Auth::Bearer(token),
                None => crate::net::Auth::None,
            };
            match self
                .client
                .send_with(request.clone().auth(credential), &mut parse)
                .await
            {
                Err(error)
                    if error.status() == Some(StatusCode::UNAUTHORIZED)
                        && auth == Auth::Bearer
                        && !relogged
                        && self.login.is_some() =>
                {
                    relogged = true;
                    *self.token.write().await = None;
                }
                outcome => return outcome,
            }
        }
    }
}
