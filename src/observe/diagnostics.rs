//! The provider's counters as Bevy diagnostics, for `LogDiagnosticsPlugin`, an overlay or a
//! profiler: requests in flight, hits per tier, the disk tier's size and evictions, the
//! generations the player's requests started, and how long players looked at placeholders and
//! fallbacks.

use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::prelude::*;
use std::time::Duration;

use crate::provider::AssetProvider;

/// The paths of the diagnostics the plugin registers.
pub struct AssetProviderDiagnostics;

impl AssetProviderDiagnostics {
    /// Jobs in flight on the runtime.
    pub const IN_FLIGHT: DiagnosticPath = DiagnosticPath::const_new("asset_provider/in_flight");
    /// Requests answered on the frame from the memory tier (a running count).
    pub const MEMORY_HITS: DiagnosticPath = DiagnosticPath::const_new("asset_provider/memory_hits");
    /// Requests served from the disk tier (a running count).
    pub const DISK_HITS: DiagnosticPath = DiagnosticPath::const_new("asset_provider/disk_hits");
    /// Disk tier lookups that found nothing usable (a running count).
    pub const DISK_MISSES: DiagnosticPath = DiagnosticPath::const_new("asset_provider/disk_misses");
    /// Bytes the disk tier holds.
    pub const DISK_BYTES: DiagnosticPath = DiagnosticPath::const_new("asset_provider/disk_bytes");
    /// Entries the disk tier evicted for its size cap (a running count).
    pub const DISK_EVICTIONS: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/disk_evictions");
    /// Fraction of finished requests served from a cache tier (memory or disk), 0 to 1.
    pub const CACHE_HIT_RATE: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/cache_hit_rate");

    /// Median time from request to real media over recent requests, in milliseconds.
    pub const TIME_TO_MEDIA_P50: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/time_to_media_p50_ms");
    /// 95th percentile of the time from request to real media, in milliseconds.
    pub const TIME_TO_MEDIA_P95: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/time_to_media_p95_ms");
    /// Fraction of prefetches a player then used, 0 to 1.
    pub const PREFETCH_HIT_RATE: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/prefetch_hit_rate");
    /// Prefetches that reached a generator and were abandoned unused (a running count).
    pub const WASTED_GENERATIONS: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/wasted_generations");
    /// Prefetch jobs in flight.
    pub const PREFETCHES_IN_FLIGHT: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/prefetches_in_flight");

    /// Generations the player's own requests started this play session: what counts against
    /// the [`SpendCap`](crate::SpendCap).
    pub const PLAYER_GENERATIONS: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/player_generations");

    /// Median time a recent foreground request that had to wait showed the bare placeholder, in
    /// milliseconds. Over the last 256 foreground requests (entity tasks, direct requests,
    /// futures; not prefetches) that were not served at once from the memory tier, each
    /// counted once it stopped waiting: from when the game got its handle until the real media
    /// was behind it, its job failed, timed out or was cancelled, or it was given up, less the
    /// time its [`Fallback`](crate::Fallback) showed (see
    /// [`AssetProvider::time_on_placeholder`]).
    pub const PLACEHOLDER_TIME_P50: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/placeholder_time_p50_ms");
    /// 95th percentile of the same time on the bare placeholder, in milliseconds.
    pub const PLACEHOLDER_TIME_P95: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/placeholder_time_p95_ms");
    /// Median time those same requests showed their [`Fallback`](crate::Fallback) (0 for
    /// requests without one), in milliseconds.
    pub const FALLBACK_TIME_P50: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/fallback_time_p50_ms");
    /// 95th percentile of the time on a fallback, in milliseconds.
    pub const FALLBACK_TIME_P95: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/fallback_time_p95_ms");

    const ALL: [DiagnosticPath; 17] = [
        Self::IN_FLIGHT,
        Self::MEMORY_HITS,
        Self::DISK_HITS,
        Self::DISK_MISSES,
        Self::DISK_BYTES,
        Self::DISK_EVICTIONS,
        Self::CACHE_HIT_RATE,
        Self::TIME_TO_MEDIA_P50,
        Self::TIME_TO_MEDIA_P95,
        Self::PREFETCH_HIT_RATE,
        Self::WASTED_GENERATIONS,
        Self::PREFETCHES_IN_FLIGHT,
        Self::PLAYER_GENERATIONS,
        Self::PLACEHOLDER_TIME_P50,
        Self::PLACEHOLDER_TIME_P95,
        Self::FALLBACK_TIME_P50,
        Self::FALLBACK_TIME_P95,
    ];
}

/// What [`measure`] last saw, so it works only on change.
#[derive(Default)]
pub(crate) struct Measured {
    values: Vec<Option<f64>>,
    served: Option<u64>,
    waited: Option<u64>,
}

/// A pair of percentiles in milliseconds.
fn millis(times: Option<(Duration, Duration)>) -> [Option<f64>; 2] {
    match times {
        Some((p50, p95)) => [p50, p95].map(|time| Some(time.as_secs_f64() * 1e3)),
        None => [None; 2],
    }
}

pub(crate) fn register(app: &mut App) {
    for path in AssetProviderDiagnostics::ALL {
        app.register_diagnostic(Diagnostic::new(path));
    }
}

/// Adds a measurement when a value changed; reads counters only, never the disk. Most frames
/// nothing changes and nothing is recorded.
pub(crate) fn measure(
    provider: Option<Res<AssetProvider>>,
    mut diagnostics: Diagnostics,
    mut last: Local<Measured>,
) {
    let Some(provider) = provider else { return };
    let now = values(&provider, &mut last);
    last.values.resize(now.len(), None);
    for ((path, value), last) in now.iter().zip(last.values.iter_mut()) {
        if let Some(value) = *value
            && *last != Some(value)
        {
            *last = Some(value);
            diagnostics.add_measurement(path, || value);
        }
    }
}

/// The percentiles in milliseconds (time to media, on the placeholder, on a fallback: p50 and
/// p95 each), `None` when not measured again: they sort a window of times, so only when a
/// request was served, or stopped waiting, since they were last measured.
fn recent_times(provider: &AssetProvider, last: &mut Measured) -> [Option<f64>; 6] {
    let stats = provider.stats();
    let served = stats.memory_hits + stats.cached + stats.pre_made + stats.generated;
    let mut times = [None; 6];
    if last.served != Some(served) {
        last.served = Some(served);
        times[..2].copy_from_slice(&millis(provider.time_to_media()));
    }
    if last.waited != Some(stats.waited) {
        last.waited = Some(stats.waited);
        times[2..4].copy_from_slice(&millis(provider.time_on_placeholder()));
        times[4..].copy_from_slice(&millis(provider.time_on_fallback()));
    }
    times
}

/// Each diagnostic's value now; `None` for what is unknown or not measured again.
fn values(provider: &AssetProvider, last: &mut Measured) -> [(DiagnosticPath, Option<f64>); 17] {
    let stats = provider.stats();
    let disk = disk_counters(provider);
    let served = stats.memory_hits + stats.cached + stats.pre_made + stats.generated;
    let times = recent_times(provider, last);
    let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    [
        (
            AssetProviderDiagnostics::IN_FLIGHT,
            Some(provider.in_flight() as f64),
        ),
        (
            AssetProviderDiagnostics::MEMORY_HITS,
            Some(stats.memory_hits as f64),
        ),
        (AssetProviderDiagnostics::DISK_HITS, disk[0]),
        (AssetProviderDiagnostics::DISK_MISSES, disk[1]),
        (AssetProviderDiagnostics::DISK_BYTES, disk[2]),
        (AssetProviderDiagnostics::DISK_EVICTIONS, disk[3]),
        (
            AssetProviderDiagnostics::CACHE_HIT_RATE,
            ratio(stats.memory_hits + stats.cached, served),
        ),
        (AssetProviderDiagnostics::TIME_TO_MEDIA_P50, times[0]),
        (AssetProviderDiagnostics::TIME_TO_MEDIA_P95, times[1]),
        (
            AssetProviderDiagnostics::PREFETCH_HIT_RATE,
            ratio(stats.prefetch_used, stats.prefetched),
        ),
        (
            AssetProviderDiagnostics::WASTED_GENERATIONS,
            Some(stats.prefetch_wasted as f64),
        ),
        (
            AssetProviderDiagnostics::PREFETCHES_IN_FLIGHT,
            Some(provider.prefetches_in_flight() as f64),
        ),
        (
            AssetProviderDiagnostics::PLAYER_GENERATIONS,
            Some(provider.player_generations() as f64),
        ),
        (AssetProviderDiagnostics::PLACEHOLDER_TIME_P50, times[2]),
        (AssetProviderDiagnostics::PLACEHOLDER_TIME_P95, times[3]),
        (AssetProviderDiagnostics::FALLBACK_TIME_P50, times[4]),
        (AssetProviderDiagnostics::FALLBACK_TIME_P95, times[5]),
    ]
}

/// The disk tier's hits, misses, bytes and evictions.
#[cfg(feature = "disk")]
fn disk_counters(provider: &AssetProvider) -> [Option<f64>; 4] {
    let disk = provider.disk().stats().unwrap_or_default();
    [disk.hits, disk.misses, disk.bytes, disk.evictions].map(|count| Some(count as f64))
}

/// Built without `disk`: nothing to measure, so the disk diagnostics stay empty.
#[cfg(not(feature = "disk"))]
fn disk_counters(_: &AssetProvider) -> [Option<f64>; 4] {
    [None; 4]
}
