//! [`PolicyClient`]: a `reqwest::Client` that sends every call under a [`NetPolicy`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bevy::log::debug;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use reqwest::redirect::{Attempt, Policy};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::AssetError;
use crate::net::error::transport_error;
use crate::net::retry_after::retry_after;
use crate::net::{
    Answer, Auth, Failure, NetError, NetPolicy, NetRequest, Retries, scrub_text, scrub_url,
    server_text_without,
};

/// The most redirects one call follows.
pub(crate) const MAX_REDIRECTS: usize = 5;

/// An HTTP client for one backend: a base URL, a [`NetPolicy`] and a shared `reqwest::Client`.
/// Every call goes through one retry loop that applies the policy, reads answers within a size
/// bound and turns failures into [`NetError`]s (and those into typed
/// [`AssetError`](crate::AssetError)s). The credential goes only to the base URL's origin.
/// Cheap to clone; clones share connections and the concurrency limit.
///
/// # Redirects
///
/// A call that carries a credential or a body follows a redirect (at most 5 in a row)
/// only on the origin (scheme, host and port) it was sent to: a redirect to another origin is
/// not followed, so neither the credential (whatever header carries it) nor the body (a
/// password, a prompt, player ids) reaches it, and the call fails with
/// [`Failure::Redirected`], naming where it pointed without its query. A plain `GET` with
/// neither (a file on a CDN) may follow redirects to other origins, never from `https` down to
/// `http`. No call sends `Referer`.
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
    /// Follows redirects on the call's own origin only.
    http: reqwest::Client,
    /// Follows redirects anywhere (but not down to `http`): for calls with nothing to leak.
    open: reqwest::Client,
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
        let build = |redirects: Policy| {
            reqwest::Client::builder()
                .user_agent(policy.agent())
                .timeout(policy.attempt_timeout_value())
                .connect_timeout(policy.connect_timeout_value())
                .redirect(redirects)
                // The previous URL (its query included) is nobody else's business.
                .referer(false)
                .build()
                .map_err(|error| {
                    AssetError::generation(format!(
                        "could not build the HTTP client: {}",
                        scrub_text(&error.to_string())
                    ))
                })
        };
        let http = build(Policy::custom(|attempt| {
            follow_if(attempt, |previous, next| {
                previous
                    .first()
                    .is_some_and(|first| same_origin(first, next))
            })
        }))?;
        let open = build(Policy::custom(|attempt| {
            follow_if(attempt, |previous, next| {
                next.scheme() == "https" || previous.iter().all(|url| url.scheme() == "http")
            })
        }))?;
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                http,
                open,
                policy,
            }),
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
        same_origin(&self.inner.base, url)
    }

    /// `text`, the server's own words, as an error may carry them: cut to a bounded length,
    /// secrets in it (tokens, passwords, signed URLs) scrubbed, and without this client's
    /// credential should the server quote it back.
    pub fn server_text(&self, text: &str) -> String {
        let secret = self.inner.policy.credential().secret();
        server_text_without(text, secret.as_slice())
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
        let secrets = carried_secrets(header.is_some(), credential, &request);
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
            let failure = match judge(policy, outcome, &mut parse, &secrets) {
                Ok(value) => return Ok(value),
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
    ) -> Result<(Answer, Option<Duration>), Failure> {
        // Nothing to leak: a file on a CDN may move elsewhere.
        let plain = credential.is_none()
            && request.body.is_none()
            && matches!(request.method, Method::GET | Method::HEAD);
        let http = if plain {
            &self.inner.open
        } else {
            &self.inner.http
        };
        let mut builder = http.request(request.method.clone(), url.clone());
        if let Some((name, value)) = credential {
            builder = builder.header(name, value);
        }
        if let Some((body, content_type)) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        let mut response = builder.send().await.map_err(transport)?;
        let status: StatusCode = response.status();
        if status.is_redirection() {
            // Not followed: to another origin, or one redirect too many.
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| response.url().join(location).ok())
                .map(|next| bare_url(&next));
            return Err(Failure::Redirected { status, location });
        }
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let wait = retry_after(response.headers(), SystemTime::now());
        let bytes = read_capped(&mut response, max).await?;
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

/// Whether `a` and `b` share an origin: scheme, host and port.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The redirect policy: follows `attempt` when `allowed(previous, next)` says so (`previous`
/// holds the call's first URL and every one followed since) and fewer than [`MAX_REDIRECTS`]
/// were followed. Otherwise the redirect comes back as the answer, which the call turns into
/// [`Failure::Redirected`].
fn follow_if(
    attempt: Attempt<'_>,
    allowed: impl Fn(&[Url], &Url) -> bool,
) -> reqwest::redirect::Action {
    if attempt.previous().len() <= MAX_REDIRECTS && allowed(attempt.previous(), attempt.url()) {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// `url` without userinfo, query or fragment: where a refused redirect pointed, as an error
/// may name it.
fn bare_url(url: &Url) -> String {
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    bare.set_query(None);
    bare.set_fragment(None);
    bare.to_string()
}

/// `body` with every occurrence of each of `secrets` replaced by `<redacted>`.
fn redact(body: Vec<u8>, secrets: &[&str]) -> Vec<u8> {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(body, |body, secret| redact_one(body, secret.as_bytes()))
}

fn redact_one(body: Vec<u8>, secret: &[u8]) -> Vec<u8> {
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

/// A transport error as a failure: whether it failed to connect, and what it said.
fn transport(error: reqwest::Error) -> Failure {
    Failure::Transport {
        connect: error.is_connect(),
        message: transport_error(error),
    }
}

/// The body of `response`, refused as soon as it is known to be over `max` bytes.
async fn read_capped(response: &mut reqwest::Response, max: u64) -> Result<Vec<u8>, Failure> {
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
    Ok(bytes)
}

/// What a call carries that its error must never hold: the credential (when it was `sent`) and
/// the secrets the request hides. Some servers quote the key they were given (FastAPI's 422
/// quotes the whole input).
fn carried_secrets<'a>(sent: bool, credential: &'a Auth, request: &'a NetRequest) -> Vec<&'a str> {
    let mut secrets: Vec<&str> = credential.secret().filter(|_| sent).into_iter().collect();
    secrets.extend(request.hidden.iter().map(|secret| secret.expose()));
    secrets
}

/// One try's `outcome` under `policy`: the parsed value of a success, or the failure with the
/// server's words scrubbed of `secrets`.
fn judge<T>(
    policy: &NetPolicy,
    outcome: Result<(Answer, Option<Duration>), Failure>,
    parse: &mut impl FnMut(Answer) -> Result<T, String>,
    secrets: &[&str],
) -> Result<T, Failure> {
    match outcome {
        Ok((answer, _)) if answer.status.is_success() => parse(answer)
            // A parse error quotes what the server sent.
            .map_err(|message| Failure::Malformed(server_text_without(&message, secrets))),
        Ok((answer, header_wait)) => Err(Failure::Status {
            status: answer.status,
            wait: header_wait.or_else(|| policy.body_wait(answer.status, &answer.bytes)),
            verdict: policy.final_kind(answer.status, &answer.bytes),
            body: redact(answer.bytes, secrets),
        }),
        Err(failure) => Err(failure),
    }
}

/// Whether `failure` may be retried under `retries`: connection errors, timeouts, 429, 5xx and
/// garbled answers, unless the policy's rule made an answer final; with
/// [`Retries::Refusals`] only what shows the work was not done (a refused connection, a 429).
/// A refused redirect is never retried.
pub(crate) fn is_retryable(failure: &Failure, retries: Retries) -> bool {
    let Failure::Status {
        status, verdict, ..
    } = failure
    else {
        return match retries {
            Retries::Never => false,
            Retries::Refusals => matches!(failure, Failure::Transport { connect: true, .. }),
            Retries::All => matches!(failure, Failure::Transport { .. } | Failure::Malformed(_)),
        };
    };
    verdict.is_none()
        && match retries {
            Retries::Never => false,
            Retries::Refusals => *status == StatusCode::TOO_MANY_REQUESTS,
            Retries::All => *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
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
            redact(body.clone(), &["sk-1"]),
            br#"{"error":"Incorrect API key provided: <redacted> (<redacted>)"}"#
        );
        assert_eq!(redact(body.clone(), &[]), body);
        assert_eq!(redact(body.clone(), &[""]), body);
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
            // A 5xx may come after the work was done: a paid create is not sent again.
            (status(500, None), true, false),
            (status(504, None), true, false),
            (status(500, Some(AssetErrorKind::InvalidData)), false, false),
            (status(400, None), false, false),
            (status(401, None), false, false),
            (status(404, None), false, false),
            (reset, true, false),
            (refused, true, true),
            (Failure::Malformed("x".into()), true, false),
            (Failure::TooLarge(1), false, false),
            (
                Failure::Redirected {
                    status: StatusCode::TEMPORARY_REDIRECT,
                    location: None,
                },
                false,
                false,
            ),
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
