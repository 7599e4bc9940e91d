//! The provider's counters as Bevy diagnostics, for `LogDiagnosticsPlugin`, an overlay or a
//! profiler: requests in flight, hits per tier, the disk tier's size and evictions.

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

    const ALL: [DiagnosticPath; 12] = [
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
    ];
}

pub(crate) fn register(app: &mut App) {
    for path in AssetProviderDiagnostics::ALL {
        app.register_diagnostic(Diagnostic::new(path));
    }
}

/// Adds this frame's measurements; reads counters only, never the disk.
pub(crate) fn measure(provider: Option<Res<AssetProvider>>, mut diagnostics: Diagnostics) {
    let Some(provider) = provider else { return };
    let stats = provider.stats();
    let disk = provider.disk_stats().unwrap_or_default();
    diagnostics.add_measurement(&AssetProviderDiagnostics::IN_FLIGHT, || {
        provider.in_flight() as f64
    });
    diagnostics.add_measurement(&AssetProviderDiagnostics::MEMORY_HITS, || {
        stats.memory_hits as f64
    });
    diagnostics.add_measurement(&AssetProviderDiagnostics::DISK_HITS, || disk.hits as f64);
    diagnostics.add_measurement(&AssetProviderDiagnostics::DISK_MISSES, || {
        disk.misses as f64
    });
    diagnostics.add_measurement(&AssetProviderDiagnostics::DISK_BYTES, || disk.bytes as f64);
    diagnostics.add_measurement(&AssetProviderDiagnostics::DISK_EVICTIONS, || {
        disk.evictions as f64
    });
    if let Some((p50, p95)) = provider.time_to_media() {
        diagnostics.add_measurement(&AssetProviderDiagnostics::TIME_TO_MEDIA_P50, || {
            p50.as_secs_f64() * 1e3
        });
        diagnostics.add_measurement(&AssetProviderDiagnostics::TIME_TO_MEDIA_P95, || {
            p95.as_secs_f64() * 1e3
        });
    }
    if stats.prefetched > 0 {
        diagnostics.add_measurement(&AssetProviderDiagnostics::PREFETCH_HIT_RATE, || {
            stats.prefetch_used as f64 / stats.prefetched as f64
        });
    }
    diagnostics.add_measurement(&AssetProviderDiagnostics::WASTED_GENERATIONS, || {
        stats.prefetch_wasted as f64
    });
    diagnostics.add_measurement(&AssetProviderDiagnostics::PREFETCHES_IN_FLIGHT, || {
        provider.prefetches_in_flight() as f64
    });
    let served = stats.memory_hits + stats.cached + stats.pre_made + stats.generated;
    if served > 0 {
        diagnostics.add_measurement(&AssetProviderDiagnostics::CACHE_HIT_RATE, || {
            (stats.memory_hits + stats.cached) as f64 / served as f64
        });
    }
}
