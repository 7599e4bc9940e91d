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

    const ALL: [DiagnosticPath; 7] = [
        Self::IN_FLIGHT,
        Self::MEMORY_HITS,
        Self::DISK_HITS,
        Self::DISK_MISSES,
        Self::DISK_BYTES,
        Self::DISK_EVICTIONS,
        Self::CACHE_HIT_RATE,
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
    let served = stats.memory_hits + stats.cached + stats.pre_made + stats.generated;
    if served > 0 {
        diagnostics.add_measurement(&AssetProviderDiagnostics::CACHE_HIT_RATE, || {
            (stats.memory_hits + stats.cached) as f64 / served as f64
        });
    }
}
