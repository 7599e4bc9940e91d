//! [`Backoff`]: how long to wait before the next try.

use std::time::Duration;

/// Capped exponential backoff with jitter: the wait before try `n + 1` is `base × 2ⁿ`, at most
/// `cap`, and then a random point in its upper half, so that many clients refused at once do
/// not all come back at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    base: Duration,
    cap: Duration,
}

impl Backoff {
    /// Backoff from `base` doubling up to `cap` (at least `base`).
    pub(crate) fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
        }
    }

    /// The first wait.
    pub(crate) fn base(&self) -> Duration {
        self.base
    }

    /// The longest wait.
    pub(crate) fn cap(&self) -> Duration {
        self.cap
    }

    /// The wait after the `attempt`-th failed try (0-based).
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let exponential = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX));
        exponential
            .min(self.cap)
            .mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

impl Default for Backoff {
    /// 250 ms doubling to 10 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..40 {
            let wait = backoff.delay(attempt);
            let full = (Duration::from_millis(100) * 2u32.pow(attempt.min(10)))
                .min(Duration::from_secs(1));
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
        let huge = Backoff::new(Duration::MAX, Duration::from_secs(1));
        assert_eq!(huge.cap(), Duration::MAX);
        assert!(huge.delay(3) >= Duration::MAX / 2);
    }
}
