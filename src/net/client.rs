//! [`PolicyClient`]: a `reqwest::Client` that sends every call under a [`NetPolicy`].

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use bevy::log::debug;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::AssetError;
use crate::net::error::transport_error;
use crate::net::{
    Answer, Failure, NetError, NetPolicy, NetRequest, Retries, retry_after, scrub_text, scrub_url,
};

/// An HTTP client for one backend: a base URL, a [`NetPolicy`] and a shared `reqwest::Client`.
/// Every call goes through one retry loop that applies the policy, reads answers within a size
/// bound and turns failures into [`NetError`]s (and those into typed
/// [`AssetError`](crate::AssetError)s). The credential goes only to the base URL's origin.
/// Cheap to clone; clones share connections and the concurrency limit.
///
/// Any [`AssetSource`](crate::source::AssetSource) that speaks HTTP can use it:
///
/// ```no_run
/// use bevy_asset_provider::net::{NetPolicy, NetRequest, PolicyClient, Retries};
///
/// # async fn run() -> Result<(), bevy_asset_provider::AssetError> {
/// let client = PolicyClient::new(
///     "https://images.example.com",
///     NetPolicy::new().bearer(std::env::var("IMAGES_TOKEN").unwrap_or_default()),
/// )?;
/// let job: serde_json::Value = client
///     .json(NetRequest::get("v1/jobs/42"))
///     .await?;
/// let file = client.send(NetRequest::get("https://cdn.example.com/42.png")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PolicyClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: Url,
    http: reqwest::Client,
    policy: NetPolicy,
}

impl fmt::Debug for PolicyClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyClient")
            .field("base", &scrub_url(&self.inner.base))
            .field("policy", &self.inner.policy)
            .finish()
    }
}

impl PolicyClient {
    /// A client for the backend at `base_url` (`https://host/prefix`: paths are joined under
    /// the prefix). Fails, naming the URL without its credentials, when it is not an http or
    /// https URL.
    pub fn new(base_url: &str, policy: NetPolicy) -> Result<Self, AssetError> {
        let base = normalise_base(base_url)?;
        // reqwest is built without a bundled crypto provider; ring is the one this crate ships.
        // An error means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(policy.agent())
            .timeout(policy.attempt_timeout_value())
            .connect_timeout(policy.connect_timeout_value())
            .build()
            .map_err(|error| {
                AssetError::generation(format!(
                    "could not build the HTTP client: {}",
                    scrub_text(&error.to_string())
                ))
            })?;
        Ok(Self {
            inner: Arc::new(Inner { base, http, policy }),
        })
    }

    /// The base URL, with a trailing slash.
    pub fn base(&self) -> &Url {
        &self.inner.base
    }

    /// The policy calls are sent under.
    pub fn policy(&self) -> &NetPolicy {
        &self.inner.policy
    }

    /// `target` (`v1/x`, `/v1/x`) under the base URL, or an absolute URL as it is.
    pub fn url(&self, target: &str) -> Result<Url, AssetError> {
        if let Ok(absolute) = Url::parse(target) {
            return match absolute.scheme() {
                "http" | "https" => Ok(absolute),
                other => Err(AssetError::invalid_data(format!(
                    "cannot fetch a {other} URL (not http or https)"
                ))),
            };
        }
        self.inner
            .base
            .join(target.trim_start_matches('/'))
            .map_err(|error| {
                AssetError::invalid_data(format!(
                    "cannot resolve {:?} against {}: {error}",
                    scrub_text(target),
                    scrub_url(&self.inner.base)
                ))
            })
    }

    /// Whether `url` is on the base URL's origin (and so gets the credential).
    pub fn same_origin(&self, url: &Url) -> bool {
        let base = &self.inner.base;
        base.scheme() == url.scheme()
            && base.host_str() == url.host_str()
            && base.port_or_known_default() == url.port_or_known_default()
    }

    /// Sends `request` and returns the whole successful answer.
    pub async fn send(&self, request: NetRequest) -> Result<Answer, NetError> {
        self.send_with(request, Ok).await
    }

    /// Sends `request` and reads the answer as JSON of type `T`; an answer that does not fit
    /// counts as garbled (retried when the call's [`Retries`] allow).
    pub async fn json<T: DeserializeOwned>(&self, request: NetRequest) -> Result<T, NetError> {
        let what = self.what(&request);
        self.send_with(request, |answer| {
            answer
                .json::<T>()
                .map_err(|error| format!("{what} answered {error}"))
        })
        .await
    }

    /// Sends `request` under the policy; `parse` turns a success into `T`, and a parse error
    /// counts as a garbled answer.
    pub async fn send_with<T>(
        &self,
        request: NetRequest,
        mut parse: impl FnMut(Answer) -> Result<T, String>,
    ) -> Result<T, NetError> {
        let policy = &self.inner.policy;
        let what = self.what(&request);
        let local = |error: AssetError| NetError::new(what.clone(), Failure::Local(error), 0);
        let url = self.url(&request.target).map_err(local)?;
        let credential = request.auth.as_ref().unwrap_or(policy.credential());
        let header = if self.same_origin(&url) {
            credential.to_header().map_err(local)?
        } else {
            None
        };
        // Some servers quote the key they were given in their refusal.
        let secret = header.as_ref().and(credential.secret());
        let max = request.max_bytes.unwrap_or(policy.answer_limit());
        let deadline = policy
            .overall_timeout_value()
            .map(|limit| (Instant::now() + limit, limit));
        let mut attempt = 0;
        loop {
            let once = async {
                let _permit = match policy.concurrency_limit() {
                    Some(limit) => Some(limit.acquire().await.map_err(Failure::Local)?),
                    None => None,
                };
                self.attempt(&request, &url, header.clone(), max).await
            };
            let outcome = match deadline {
                Some((at, limit)) => match tokio::time::timeout_at(at, once).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        return Err(NetError::new(what, Failure::TimedOut(limit), attempt + 1));
                    }
                },
                None => once.await,
            };
            let failure = match outcome {
                Ok((answer, _)) if answer.status.is_success() => match parse(answer) {
                    Ok(value) => return Ok(value),
                    Err(message) => Failure::Malformed(message),
                },
                Ok((answer, header_wait)) => Failure::Status {
                    status: answer.status,
                    wait: header_wait.or_else(|| policy.body_wait(answer.status, &answer.bytes)),
                    verdict: policy.final_kind(answer.status, &answer.bytes),
                    body: redact(answer.bytes, secret),
                },
                Err(failure) => failure,
            };
            let error = NetError::new(what.clone(), failure, attempt + 1);
            if !is_retryable(error.failure(), request.retries) || attempt + 1 >= policy.attempts() {
                return Err(error);
            }
            let wait = policy.wait_before_retry(attempt, error.server_wait());
            if deadline.is_some_and(|(at, _)| Instant::now() + wait >= at) {
                // The next try could not finish in time: the last answer is the best report.
                return Err(error);
            }
            debug!(
                "{what}: {}; retrying in {wait:?}",
                error.to_asset_error().message()
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// How errors name `request`.
    fn what(&self, request: &NetRequest) -> String {
        request.what.clone().unwrap_or_else(|| {
            let path = self
                .url(&request.target)
                .map(|url| url.path().to_owned())
                .unwrap_or_else(|_| scrub_text(&request.target));
            format!("{} {path}", request.method)
        })
    }

    /// One try: sends and reads the whole body, stopping once it passes `max` bytes. The
    /// answer's `Retry-After` comes with it.
    async fn attempt(
        &self,
        request: &NetRequest,
        url: &Url,
        credential: Option<(HeaderName, HeaderValue)>,
        max: u64,
    ) -> Result<(Answer, Option<std::time::Duration>), Failure> {
        let mut builder = self.inner.http.request(request.method.clone(), url.clone());
        if let Some((name, value)) = credential {
            builder = builder.header(name, value);
        }
        if let Some((body, content_type)) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        let transport = |error: reqwest::Error| Failure::Transport {
            connect: error.is_connect(),
            message: transport_error(error),
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status: StatusCode = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let wait = retry_after(response.headers(), SystemTime::now());
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
            Answer {
                status,
                content_type,
                bytes,
            },
            wait,
        ))
    }
}

/// `body` with every occurrence of `secret` replaced by `<redacted>`.
fn redact(body: Vec<u8>, secret: Option<&str>) -> Vec<u8> {
    let Some(secret) = secret
        .map(str::as_bytes)
        .filter(|secret| !secret.is_empty())
    else {
        return body;
    };
    if !body.windows(secret.len()).any(|window| window == secret) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body.as_slice();
    while !rest.is_empty() {
        if rest.starts_with(secret) {
            out.extend_from_slice(b"<redacted>");
            rest = &rest[secret.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// Whether `failure` may be retried under `retries`: connection errors, timeouts, 429, 5xx and
/// garbled answers, unless the policy's rule made an answer final; with
/// [`Retries::Refusals`] only what shows the work was not done.
pub fn is_retryable(failure: &Failure, retries: Retries) -> bool {
    let refused_status = |failure: &Failure| match failure {
        Failure::Status {
            status, verdict, ..
        } => {
            verdict.is_none()
                && (*status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
        }
        _ => false,
    };
    match retries {
        Retries::Never => false,
        Retries::Refusals => {
            matches!(failure, Failure::Transport { connect: true, .. }) || refused_status(failure)
        }
        Retries::All => {
            matches!(failure, Failure::Transport { .. } | Failure::Malformed(_))
                || refused_status(failure)
        }
    }
}

/// The base URL with a trailing slash, so that joining keeps a path prefix
/// (`https://host/pixsim/` + `api/v1/...`).
pub(crate) fn normalise_base(base: &str) -> Result<Url, AssetError> {
    let mut text = base.trim().to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    // Named without a query or userinfo even when it is not a URL at all.
    let shown = scrub_text(base);
    let shown = shown.split(['?', '#']).next().unwrap_or_default();
    let url = Url::parse(&text).map_err(|error| {
        AssetError::invalid_data(format!("backend base URL {shown:?} is not a URL: {error}"))
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(AssetError::invalid_data(format!(
            "backend base URL {shown:?} has scheme {other:?}; expected http or https"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AssetErrorKind;

    #[test]
    fn urls_resolve_under_a_prefix_and_origins_compare() {
        let client = PolicyClient::new("http://127.0.0.1:8080/pixsim", NetPolicy::new()).unwrap();
        let file = client.url("/api/v1/assets/4/file").unwrap();
        assert_eq!(
            file.as_str(),
            "http://127.0.0.1:8080/pixsim/api/v1/assets/4/file"
        );
        assert!(client.same_origin(&file));
        let cdn = client.url("http://127.0.0.1:9090/media/x.png").unwrap();
        assert!(!client.same_origin(&cdn));
        assert!(client.url("file:///etc/passwd").is_err());
        assert!(normalise_base("ftp://host").is_err());
        let error = normalise_base("not a url?token=sekrit").unwrap_err();
        assert!(!error.message().contains("sekrit"), "{error}");
    }

    fn status(code: u16, verdict: Option<AssetErrorKind>) -> Failure {
        Failure::Status {
            status: StatusCode::from_u16(code).unwrap(),
            body: Vec::new(),
            wait: None,
            verdict,
        }
    }

    #[test]
    fn echoed_secrets_are_redacted() {
        let body = br#"{"error":"Incorrect API key provided: sk-1 (sk-1)"}"#.to_vec();
        assert_eq!(
            redact(body.clone(), Some("sk-1")),
            br#"{"error":"Incorrect API key provided: <redacted> (<redacted>)"}"#
        );
        assert_eq!(redact(body.clone(), None), body);
    }

    #[test]
    fn refusals_and_server_faults_are_retried_client_errors_are_not() {
        let reset = Failure::Transport {
            message: "reset".into(),
            connect: false,
        };
        let refused = Failure::Transport {
            message: "refused".into(),
            connect: true,
        };
        for (failure, all, refusals) in [
            (status(429, None), true, true),
            (status(500, None), true, true),
            (status(503, None), true, true),
            (status(500, Some(AssetErrorKind::InvalidData)), false, false),
            (status(400, None), false, false),
            (status(401, None), false, false),
            (status(404, None), false, false),
            (reset, true, false),
            (refused, true, true),
            (Failure::Malformed("x".into()), true, false),
            (Failure::TooLarge(1), false, false),
        ] {
            assert_eq!(is_retryable(&failure, Retries::All), all, "{failure:?}");
            assert_eq!(
                is_retryable(&failure, Retries::Refusals),
                refusals,
                "{failure:?}"
            );
            assert!(!is_retryable(&failure, Retries::Never));
        }
    }
}
