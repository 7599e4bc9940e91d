//! [`WaitSplit`]: how long a foreground request looked at the bare placeholder and at its
//! fallback, for the job table that measures it and the stats that keep it.

use std::time::{Duration, Instant};

/// How one foreground request's wait was spent: on the bare placeholder, then on its fallback.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WaitSplit {
    pub placeholder: Duration,
    pub fallback: Duration,
}

impl WaitSplit {
    /// The wait of a holder that got its handle at `since` and stopped waiting at `end`, on a
    /// handle that shows the fallback from `fallback_at` (if ever).
    pub fn of(since: Instant, fallback_at: Option<Instant>, end: Instant) -> Self {
        let whole = end.saturating_duration_since(since);
        match fallback_at {
            Some(at) if at < end => {
                let placeholder = at.saturating_duration_since(since);
                Self {
                    placeholder,
                    fallback: whole - placeholder,
                }
            }
            _ => Self {
                placeholder: whole,
                fallback: Duration::ZERO,
            },
        }
    }
}
