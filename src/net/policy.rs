//! [`NetPolicy`]: how a client retries, waits, times out, limits itself and authenticates.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;

use crate::error::AssetErrorKind;
use crate::net::{Auth, Backoff, ConcurrencyLimit, MAX_SERVER_WAIT, Secret};
use crate::request::LONGEST_WAIT;

/// A rule reading a failed answer's status and body: `Some(kind)` makes it final (not retried,
/// failing with `kind`) whatever its status says.
type FinalAnswerRule = Arc<dyn Fn(StatusCode, &[u8]) -> Option<AssetErrorKind> + Send + Sync>;

/// A rule reading the wait a failed answer's body asks for when it has no `Retry-After` header.
type BodyWaitRule = Arc<dyn Fn(StatusCode, &[u8]) -> Option<Duration> + Send + Sync>;

/// The network policy of a [`PolicyClient`](crate::net::PolicyClient): retries with capped,
/// jittered backoff; the server's `Retry-After` honoured within a cap; a timeout per attempt and
/// optionally for the whole call; an optional concurrency limit; a credential; a bound on answer
/// sizes. Cheap to clone.
///
/// What is retried: connection errors, timeouts, 429, 5xx and successes whose body does not
/// parse, as far as the call's [`Retries`](crate::net::Retries) allow. Other 4xx answers are
/// final and typed (404 [`NotFound`](AssetErrorKind::NotFound), 400 and 422
/// [`InvalidData`](AssetErrorKind::InvalidData)).
///
/// ```
/// use bevy_asset_provider::net::NetPolicy;
/// use std::time::Duration;
///
/// let policy = NetPolicy::new()
///     .max_attempts(4)
///     .backoff(Duration::from_millis(200), Duration::from_secs(5))
///     .max_retry_after(Duration::from_secs(30))
///     .attempt_timeout(Duration::from_secs(20))
///     .overall_timeout(Duration::from_secs(90))
///     .max_concurrent(2)
///     .bearer("sk-…");
/// assert!(!format!("{policy:?}").contains("sk-"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct NetPolicy {
    attempts: u32,
    backoff: Backoff,
    max_retry_after: Duration,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    overall_timeout: Option<Duration>,
    concurrency: Option<ConcurrencyLimit>,
    auth: Auth,
    user_agent: String,
    max_answer_bytes: u64,
    final_answer: Option<FinalAnswerRule>,
    body_wait: Option<BodyWaitRule>,
}

impl Default for NetPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl NetPolicy {
    /// The defaults: 5 tries, backoff from 250 ms to 10 s, `Retry-After` honoured up to 2 min,
    /// 60 s per attempt, 10 s to connect, no overall timeout, no concurrency limit, no
    /// credential, answers up to 16 MiB.
    pub fn new() -> Self {
        Self {
            attempts: 5,
            backoff: Backoff::default(),
            max_retry_after: Duration::from_secs(120),
            attempt_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            overall_timeout: None,
            concurrency: None,
            auth: Auth::None,
            user_agent: concat!("bevy_asset_provider/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_answer_bytes: 16 * 1024 * 1024,
            final_answer: None,
            body_wait: None,
        }
    }

    /// Tries per call, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Backoff between tries: from `base`, doubling, up to `cap`, with jitter.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        let base = base.min(LONGEST_WAIT);
        self.backoff = Backoff::new(base, cap.min(LONGEST_WAIT));
        self
    }

    /// The longest server-requested wait (`Retry-After`) honoured before a retry; a longer one
    /// is waited only this long. The overall timeout bounds it too.
    pub fn max_retry_after(mut self, wait: Duration) -> Self {
        self.max_retry_after = wait.min(MAX_SERVER_WAIT);
        self
    }

    /// How long one attempt may take, reading the whole answer included.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout.clamp(Duration::from_millis(1), LONGEST_WAIT);
        self
    }

    /// How long connecting may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.clamp(Duration::from_millis(1), LONGEST_WAIT);
        self
    }

    /// How long a whole call may take, its retries and waits included; past it the call fails
    /// as [`TimedOut`](AssetErrorKind::TimedOut), and a wait that would pass it is not begun.
    pub fn overall_timeout(mut self, timeout: Duration) -> Self {
        self.overall_timeout = Some(timeout.min(LONGEST_WAIT));
        self
    }

    /// At most `limit` attempts in flight at once through this client.
    pub fn max_concurrent(mut self, limit: usize) -> Self {
        self.concurrency = Some(ConcurrencyLimit::new(limit));
        self
    }

    /// Shares `limit` with whoever else holds it.
    pub fn concurrency(mut self, limit: ConcurrencyLimit) -> Self {
        self.concurrency = Some(limit);
        self
    }

    /// The credential sent with every call to the client's origin.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sends `token` as a bearer token.
    pub fn bearer(self, token: impl Into<String>) -> Self {
        self.auth(Auth::Bearer(Secret::new(token)))
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// The largest answer read by default; a call may set its own.
    pub fn max_answer_bytes(mut self, bytes: u64) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// Answers the backend means as final whatever their status (a 500 naming bad input, a 400
    /// naming a refused prompt): when `rule` says `Some(kind)` the answer is not retried and
    /// fails with `kind`.
    pub fn final_answer_when(
        mut self,
        rule: impl Fn(StatusCode, &[u8]) -> Option<AssetErrorKind> + Send + Sync + 'static,
    ) -> Self {
        self.final_answer = Some(Arc::new(rule));
        self
    }

    /// Where the backend names a wait in a failed answer's body ("try again in 54 seconds")
    /// when the `Retry-After` header is absent.
    pub fn wait_from_body(
        mut self,
        rule: impl Fn(StatusCode, &[u8]) -> Option<Duration> + Send + Sync + 'static,
    ) -> Self {
        self.body_wait = Some(Arc::new(rule));
        self
    }

    /// Tries per call.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The backoff between tries.
    pub(crate) fn backoff_policy(&self) -> Backoff {
        self.backoff
    }

    /// The longest `Retry-After` honoured.
    pub(crate) fn retry_after_cap(&self) -> Duration {
        self.max_retry_after
    }

    /// The timeout of one attempt.
    pub(crate) fn attempt_timeout_value(&self) -> Duration {
        self.attempt_timeout
    }

    /// The timeout of a whole call, if any.
    pub(crate) fn overall_timeout_value(&self) -> Option<Duration> {
        self.overall_timeout
    }

    /// The concurrency limit, if any.
    pub(crate) fn concurrency_limit(&self) -> Option<&ConcurrencyLimit> {
        self.concurrency.as_ref()
    }

    /// The wait before the try after the `attempt`-th failed one (0-based): the server's wait
    /// (capped) when it named one, never shorter than the backoff: a limiter that answers
    /// "try again in 0 seconds" while its window is still closed would otherwise get every
    /// try at once and refuse them all.
    pub(crate) fn wait_before_retry(
        &self,
        attempt: u32,
        server_wait: Option<Duration>,
    ) -> Duration {
        let backoff = self.backoff.delay(attempt);
        match server_wait {
            Some(wait) => wait.max(backoff).min(self.max_retry_after.max(backoff)),
            None => backoff,
        }
    }

    pub(crate) fn credential(&self) -> &Auth {
        &self.auth
    }

    pub(crate) fn agent(&self) -> &str {
        &self.user_agent
    }

    pub(crate) fn connect_timeout_value(&self) -> Duration {
        self.connect_timeout
    }

    pub(crate) fn answer_limit(&self) -> u64 {
        self.max_answer_bytes
    }

    /// The rule's verdict on a failed answer.
    pub(crate) fn final_kind(&self, status: StatusCode, body: &[u8]) -> Option<AssetErrorKind> {
        self.final_answer
            .as_ref()
            .and_then(|rule| rule(status, body))
    }

    /// The wait a failed answer's body names.
    pub(crate) fn body_wait(&self, status: StatusCode, body: &[u8]) -> Option<Duration> {
        self.body_wait.as_ref().and_then(|rule| rule(status, body))
    }
}

impl fmt::Debug for NetPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetPolicy")
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("overall_timeout", &self.overall_timeout)
            .field("concurrency", &self.concurrency)
            .field("auth", &self.auth)
            .field("user_agent", &self.user_agent)
            .field("max_answer_bytes", &self.max_answer_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_waits_are_capped_and_backoff_fills_in() {
        let policy = NetPolicy::new()
            .backoff(Duration::from_millis(100), Duration::from_millis(400))
            .max_retry_after(Duration::from_secs(3));
        assert_eq!(
            policy.wait_before_retry(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.wait_before_retry(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(3)
        );
        let wait = policy.wait_before_retry(5, None);
        assert!(
            wait >= Duration::from_millis(200) && wait <= Duration::from_millis(400),
            "{wait:?}"
        );
        // "Try again in 0 seconds" from a limiter still closed: the backoff still spaces tries.
        let wait = policy.wait_before_retry(2, Some(Duration::ZERO));
        assert!(
            wait >= Duration::from_millis(200) && wait <= Duration::from_millis(400),
            "{wait:?}"
        );
        assert_eq!(NetPolicy::new().max_attempts(0).attempts(), 1);
    }

    #[test]
    fn debug_names_the_credential_kind_only() {
        let policy = NetPolicy::new().bearer("tok-secret-7");
        let text = format!("{policy:?}");
        assert!(
            !text.contains("tok-secret-7") && text.contains("Bearer"),
            "{text}"
        );
    }
}
