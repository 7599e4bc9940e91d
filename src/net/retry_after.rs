//! Reading `Retry-After`: delay-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest wait any answer can ask for; a larger `Retry-After` is read as this much (the
/// policy's own cap is usually far lower).
pub(crate) const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// The wait the `Retry-After` header in `headers` asks for, as of `now`: delay-seconds (`"120"`,
/// decimals accepted) or an HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`, a date in the past
/// meaning no wait). `None` when absent or unreadable. Never more than [`MAX_SERVER_WAIT`], and
/// absurd values (`1e20`) never overflow.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(value) = text.parse::<f64>() {
        return seconds(value);
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_SERVER_WAIT),
    )
}

/// `value` seconds as a wait: `None` unless finite and not negative, at most
/// [`MAX_SERVER_WAIT`].
pub(crate) fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0)
        .then(|| Duration::try_from_secs_f64(value).unwrap_or(MAX_SERVER_WAIT))
        .map(|wait| wait.min(MAX_SERVER_WAIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().unwrap());
        headers
    }

    #[test]
    fn seconds_and_dates_are_read_and_never_overflow() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_360);
        assert_eq!(retry_after(&with("3"), now), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after(&with("0.5"), now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            retry_after(&with("100000000000000000000"), now),
            Some(MAX_SERVER_WAIT)
        );
        assert_eq!(retry_after(&with("-1"), now), None);
        assert_eq!(retry_after(&with("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        // 2015-10-21 07:28:00 is 120 s after `now`.
        assert_eq!(
            retry_after(&with("Wed, 21 Oct 2015 07:28:00 GMT"), now),
            Some(Duration::from_secs(120))
        );
        // A date already past: retry now.
        assert_eq!(
            retry_after(&with("Wed, 21 Oct 2015 07:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(&with("Fri, 31 Dec 9999 23:59:59 GMT"), now),
            Some(MAX_SERVER_WAIT)
        );
    }
}
