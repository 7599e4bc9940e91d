//! The provider's counters as Bevy diagnostics, for `LogDiagnosticsPlugin`, an overlay or a
//! profiler: requests in flight, hits per tier, the disk tier's size and evictions, and the
//! generations the player's requests started.

use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::prelude::*;

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

    const ALL: [DiagnosticPath; 13] = [
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
    ];
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
    mut last: Local<Vec<Option<f64>>>,
    mut last_served: Local<Option<u64>>,
) {
    let Some(provider) = provider else { return };
    let stats = provider.stats();
    let disk = disk_counters(&provider);
    let served = stats.memory_hits + stats.cached + stats.pre_made + stats.generated;
    // The percentiles sort a window of times: only when a request was served since.
    let times = if *last_served != Some(served) {
        *last_served = Some(served);
        provider.time_to_media()
    } else {
        None
    };
    let ratio = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    let now: [(DiagnosticPath, Option<f64>); 13] = [
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
        (
            AssetProviderDiagnostics::TIME_TO_MEDIA_P50,
            times.map(|(p50, _)| p50.as_secs_f64() * 1e3),
        ),
        (
            AssetProviderDiagnostics::TIME_TO_MEDIA_P95,
            times.map(|(_, p95)| p95.as_secs_f64() * 1e3),
        ),
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
    ];
    last.resize(now.len(), None);
    for ((path, value), last) in now.iter().zip(last.iter_mut()) {
        if let Some(value) = *value
            && *last != Some(value)
        {
            *last = Some(value);
            diagnostics.add_measurement(path, || value);
        }
    }
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
