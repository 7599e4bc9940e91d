//! Caps on the paid generations the player's own requests start, beside the prefetch budget
//! ([`PredictionSettings`](crate::prediction::PredictionSettings)): a request the cap refuses
//! fails with [`AssetErrorKind::SpendCapReached`] instead of asking a generator.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bevy::reflect::Reflect;

use crate::error::{AssetError, AssetErrorKind};

/// How many generations the player's own (foreground) requests may start: per play session
/// (until the [`PlaySession`](crate::PlaySession) changes) and per minute. Set it with
/// [`AssetProviderPlugin::with_spend_cap`](crate::AssetProviderPlugin::with_spend_cap);
/// the default caps nothing.
///
/// A generation counts when a generator (a source of kind
/// [`SourceKind::Generated`](crate::source::SourceKind::Generated)) is asked for a job in the
/// foreground lane. Memory, disk and pre-made hits do not count, nor does a request that joins a
/// job already in flight, nor prefetches (their own budget is
/// [`PredictionSettings::max_per_session`](crate::prediction::PredictionSettings::max_per_session)).
/// A prefetch a player's request joins before it reached a generator is the player's from then
/// on, and counts when it does. A request the cap refuses fails with
/// [`AssetErrorKind::SpendCapReached`]; the placeholder (or its fallback) stays.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::SpendCap;
/// App::new().add_plugins(
///     AssetProviderPlugin::default()
///         .with_spend_cap(SpendCap::default().max_per_session(40).max_per_minute(6)),
/// );
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Reflect)]
pub struct SpendCap {
    /// Generations per play session at most (`None`: no cap).
    pub per_session: Option<u64>,
    /// Generations in any 60 seconds at most (`None`: no cap).
    pub per_minute: Option<u32>,
}

impl SpendCap {
    /// Caps the generations per play session.
    #[must_use]
    pub fn max_per_session(mut self, generations: u64) -> Self {
        self.per_session = Some(generations);
        self
    }

    /// Caps the generations in any 60 seconds.
    #[must_use]
    pub fn max_per_minute(mut self, generations: u32) -> Self {
        self.per_minute = Some(generations);
        self
    }
}

/// The window of [`SpendCap::per_minute`].
const MINUTE: Duration = Duration::from_secs(60);

/// The cap and what the player's requests have spent of it; shared by the provider (which
/// reads it and starts new sessions) and the runtime's jobs (which spend it).
#[derive(Debug, Default)]
pub(crate) struct SpendLedger {
    cap: SpendCap,
    spent: Mutex<Spent>,
}

#[derive(Debug, Default)]
struct Spent {
    this_session: u64,
    /// When the generations of the last minute started, oldest first (only with a
    /// per-minute cap).
    recent: VecDeque<Instant>,
}

impl SpendLedger {
    pub fn new(cap: SpendCap) -> Self {
        Self {
            cap,
            spent: Mutex::default(),
        }
    }

    /// Counts a generation a player's request is about to start, or refuses it when a cap is
    /// reached.
    pub fn start(&self, now: Instant) -> Result<(), AssetError> {
        let mut spent = self
            .spent
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(cap) = self.cap.per_session
            && spent.this_session >= cap
        {
            return Err(AssetError::new(
                AssetErrorKind::SpendCapReached,
                format!(
                    "the spend cap of {cap} generation{} per play session for the player's \
                     requests is reached",
                    plural(cap)
                ),
            ));
        }
        if let Some(cap) = self.cap.per_minute {
            while spent
                .recent
                .front()
                .is_some_and(|&at| now.saturating_duration_since(at) >= MINUTE)
            {
                spent.recent.pop_front();
            }
            if spent.recent.len() >= cap as usize {
                return Err(AssetError::new(
                    AssetErrorKind::SpendCapReached,
                    format!(
                        "the spend cap of {cap} generation{} per minute for the player's \
                         requests is reached",
                        plural(u64::from(cap))
                    ),
                ));
            }
            spent.recent.push_back(now);
        }
        spent.this_session += 1;
        Ok(())
    }

    /// Generations the player's requests started this play session.
    pub fn this_session(&self) -> u64 {
        self.spent.lock().map_or_else(
            |poison| poison.into_inner().this_session,
            |spent| spent.this_session,
        )
    }

    /// A new play session: its count starts at zero (the per-minute window goes on).
    pub fn new_session(&self) {
        self.spent
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .this_session = 0;
    }
}

fn plural(count: u64) -> &'static str {
    if count == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cap_refuses_once_spent_until_a_new_session() {
        let ledger = SpendLedger::new(SpendCap::default().max_per_session(2));
        let now = Instant::now();
        assert!(ledger.start(now).is_ok());
        assert!(ledger.start(now).is_ok());
        let refused = ledger.start(now).unwrap_err();
        assert_eq!(refused.kind(), AssetErrorKind::SpendCapReached);
        assert!(refused.message().contains("2 generations per play session"));
        assert_eq!(ledger.this_session(), 2);
        ledger.new_session();
        assert_eq!(ledger.this_session(), 0);
        assert!(ledger.start(now).is_ok());
    }

    #[test]
    fn the_minute_cap_frees_a_slot_a_minute_after_each_generation() {
        let ledger = SpendLedger::new(SpendCap::default().max_per_minute(1));
        let start = Instant::now();
        assert!(ledger.start(start).is_ok());
        let refused = ledger.start(start + Duration::from_secs(59)).unwrap_err();
        assert!(refused.message().contains("1 generation per minute"));
        assert!(ledger.start(start + MINUTE).is_ok());
        assert_eq!(ledger.this_session(), 2);
    }

    #[test]
    fn no_cap_counts_without_refusing() {
        let ledger = SpendLedger::default();
        for _ in 0..100 {
            ledger.start(Instant::now()).unwrap();
        }
        assert_eq!(ledger.this_session(), 100);
    }
}
