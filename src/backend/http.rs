//! HTTP plumbing of the client: secrets, URLs, retries with backoff and error mapping.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::backend::wire::ErrorBody;
use crate::error::{AssetError, AssetErrorKind, without_url_secrets};

/// A secret string (a token or password). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The backend's base URL with a trailing slash, so that joining keeps a path prefix
/// (`https://host/pixsim/` + `api/v1/...`).
pub(crate) fn normalise_base(base: &str) -> Result<Url, AssetError> {
    let mut text = base.trim().to_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    let url = Url::parse(&text).map_err(|error| {
        AssetError::invalid_data(format!("backend base URL {base:?} is not a URL: {error}"))
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(AssetError::invalid_data(format!(
            "backend base URL {base:?} has scheme {other:?}; expected http or https"
        ))),
    }
}

/// `path` (`/api/v1/...` or `api/v1/...`) under `base`, or an absolute URL as it is.
pub(crate) fn resolve(base: &Url, path: &str) -> Result<Url, AssetError> {
    if let Ok(absolute) = Url::parse(path) {
        return Ok(absolute);
    }
    base.join(path.trim_start_matches('/')).map_err(|error| {
        AssetError::invalid_data(format!(
            "cannot resolve {path:?} against the backend: {error}"
        ))
    })
}

/// Whether `url` is on the backend's own origin (and so may get the token).
pub(crate) fn same_origin(base: &Url, url: &Url) -> bool {
    base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
}

/// How retries are spaced and bounded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RetryPolicy {
    /// Tries in all, the first included.
    pub attempts: u32,
    /// The first backoff.
    pub base: Duration,
    /// The longest backoff, and the longest `Retry-After` honoured.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The backoff before try `attempt + 1` (0-based `attempt`): exponential, capped, with
    /// jitter in its upper half so that many clients do not retry in step.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let exponential = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
        let capped = exponential.min(self.cap);
        capped.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

/// The longest wait any answer can ask for; a larger `Retry-After` is read as this much.
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// `Retry-After` in seconds (the HTTP-date form is rare on APIs and falls back to backoff).
/// Absurd values (`1e20`) are capped at [`MAX_SERVER_WAIT`], never overflow.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    seconds(text.parse().ok()?)
}

/// The wait a 429 body names when the header is absent: the real service says "Rate limit
/// exceeded. Try again in 54 seconds."
pub(crate) fn try_again_in(body: &[u8]) -> Option<Duration> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let after = &lower[lower.find("try again in")? + "try again in".len()..];
    let number: String = after
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    seconds(number.parse().ok()?)
}

fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0)
        .then(|| Duration::try_from_secs_f64(value).unwrap_or(MAX_SERVER_WAIT))
        .map(|wait| wait.min(MAX_SERVER_WAIT))
}

/// What the real service answers with a 500 although the request itself is at fault (an empty
/// prompt, an unknown provider, an image operation without inputs): retrying cannot help.
const BAD_INPUT_500S: &[&str] = &[
    "requires a non-empty",
    "not found or not registered",
    "requires 'composition_assets'",
];

/// Whether a 5xx `body` names a bad input rather than a server fault.
pub(crate) fn is_bad_input(status: StatusCode, body: &[u8]) -> bool {
    status.is_server_error() && {
        let text = String::from_utf8_lossy(body);
        BAD_INPUT_500S.iter().any(|pattern| text.contains(pattern))
    }
}

/// The error for a final answer `status` with `body` to `what` (`POST /api/v1/generations`).
pub(crate) fn status_error(what: &str, status: StatusCode, body: &[u8]) -> AssetError {
    let said = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) if !error.summary().is_empty() => error.summary(),
        _ => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "no error body".to_owned()
            } else {
                // Bodies can be whole HTML pages from a proxy: keep the start.
                text.chars().take(300).collect()
            }
        }
    };
    let kind = match status {
        StatusCode::NOT_FOUND => AssetErrorKind::NotFound,
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => AssetErrorKind::InvalidData,
        _ if is_bad_input(status, body) => AssetErrorKind::InvalidData,
        _ => AssetErrorKind::Generation,
    };
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (check the backend token or login)",
        StatusCode::FORBIDDEN => " (the account may not do this)",
        _ => "",
    };
    AssetError::new(kind, format!("{what} answered {status}{hint}: {said}"))
}

/// Why a request never got an answer, without its URL: reqwest names the URL, which can carry
/// a token in its query (`?token=`) or userinfo, so the caller names the call instead.
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
    format!("{why}: {}", without_url_secrets(&detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_resolve_under_a_prefix_and_origins_compare() {
        let base = normalise_base("http://127.0.0.1:8080/pixsim").unwrap();
        let file = resolve(&base, "/api/v1/assets/4/file").unwrap();
        assert_eq!(
            file.as_str(),
            "http://127.0.0.1:8080/pixsim/api/v1/assets/4/file"
        );
        assert!(same_origin(&base, &file));
        let cdn = resolve(&base, "http://127.0.0.1:9090/media/x.png").unwrap();
        assert!(!same_origin(&base, &cdn));
        assert!(normalise_base("ftp://host").is_err());
        assert!(normalise_base("not a url").is_err());
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for attempt in 0..20 {
            let wait = policy.backoff(attempt);
            let full = (Duration::from_millis(100) * 2u32.pow(attempt.min(10)))
                .min(Duration::from_secs(1));
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
    }

    #[test]
    fn final_errors_carry_the_server_message() {
        let body = br#"{"code": "bad", "message": "prompt is empty", "detail": "config.prompt"}"#;
        let error = status_error("POST /api/v1/generations", StatusCode::BAD_REQUEST, body);
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert!(error.message().contains("prompt is empty"));
        assert!(error.message().contains("config.prompt"));
        let error = status_error("GET /x", StatusCode::UNAUTHORIZED, b"");
        assert!(error.message().contains("token"));
        let body = br#"{"code":"internal_error","message":"Failed to create generation: text_to_image operation requires a non-empty 'prompt'"}"#;
        let error = status_error("POST /x", StatusCode::INTERNAL_SERVER_ERROR, body);
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert!(error.message().contains("non-empty 'prompt'"), "{error}");
    }

    #[test]
    fn server_waits_are_read_from_the_header_or_the_body_and_never_overflow() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "100000000000000000000".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(MAX_SERVER_WAIT));
        headers.insert(RETRY_AFTER, "-1".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        let body =
            br#"{"code":"http_429","message":"Rate limit exceeded. Try again in 54 seconds."}"#;
        assert_eq!(try_again_in(body), Some(Duration::from_secs(54)));
        assert_eq!(
            try_again_in(b"Try again in 1e400 seconds"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(try_again_in(b"slow down"), None);
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("abc")), "<redacted>");
    }
}
