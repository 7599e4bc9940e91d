//! Every analytics event an app sent, kept for a benchmark to read after the run.

use bevy::prelude::*;
use bevy_asset_provider::observe::AnalyticsEvent;

/// Every analytics event an app sent.
#[derive(Resource, Default)]
pub struct Seen(pub Vec<AnalyticsEvent>);

/// Makes `app` keep every analytics event it sends in [`Seen`].
pub fn record_analytics(app: &mut App) {
    app.init_resource::<Seen>().add_systems(
        Last,
        |mut events: MessageReader<AnalyticsEvent>, mut seen: ResMut<Seen>| {
            seen.0.extend(events.read().cloned());
        },
    );
}
