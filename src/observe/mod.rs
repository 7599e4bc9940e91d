//! What the plugin tells a game about its work: [`AnalyticsEvent`]s for every step from
//! requested to played, Bevy [diagnostics](AssetProviderDiagnostics), and (with the `state`
//! feature) a [`LoadingStatePlugin`] that holds a loading state until critical requests are
//! ready.

mod analytics;
pub(crate) mod diagnostics;
#[cfg(feature = "state")]
mod loading;

pub use analytics::{AnalyticsEvent, AnalyticsKind, AssetPlayed, CacheTier};
pub use diagnostics::AssetProviderDiagnostics;
#[cfg(feature = "state")]
pub use loading::{CriticalAsset, LoadingProgress, LoadingStatePlugin};
