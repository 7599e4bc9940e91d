//! What the plugin tells a game about its work: [`AnalyticsEvent`]s for every step from
//! requested to played, Bevy [diagnostics](AssetProviderDiagnostics), and (with the `state`
//! feature) a [`LoadingStatePlugin`] that holds a loading state until critical requests are
//! ready.

mod analytics;
pub(crate) mod diagnostics;
#[cfg(feature = "state")]
mod loading;
#[cfg(feature = "progress")]
mod progress;

pub use crate::provider::{AnalyticsEvent, AnalyticsKind, AssetPlayed, CacheTier};

use bevy::prelude::*;

use crate::AssetProviderSystems;
use crate::provider::AssetProvider;
pub use diagnostics::AssetProviderDiagnostics;
#[cfg(feature = "state")]
pub use loading::{CriticalAsset, LoadingProgress, LoadingStatePlugin};
#[cfg(feature = "progress")]
pub use progress::ProviderProgressPlugin;

/// The observing part of the plugin: the [`AnalyticsEvent`] and [`AssetPlayed`] messages (each
/// analytics message triggered as an event too, for observers) and the
/// [diagnostics](AssetProviderDiagnostics). Part of
/// [`AssetProviderPlugins`](crate::AssetProviderPlugins). Its systems run only on frames that have something for them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObservePlugin;

impl Plugin for ObservePlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<AnalyticsEvent>()
            .add_message::<AssetPlayed>()
            .add_systems(
                Update,
                analytics::record_played
                    .run_if(on_message::<AssetPlayed>)
                    .in_set(AssetProviderSystems::Request),
            )
            .add_systems(
                PostUpdate,
                (
                    diagnostics::measure
                        .run_if(resource_exists_and_changed::<AssetProvider>)
                        .after(AssetProviderSystems::Flush),
                    analytics::trigger_analytics
                        .run_if(on_message::<AnalyticsEvent>)
                        .after(AssetProviderSystems::Flush),
                ),
            );
        #[cfg(feature = "state")]
        app.register_type::<(CriticalAsset, LoadingProgress)>();
        diagnostics::register(app);
    }
}
