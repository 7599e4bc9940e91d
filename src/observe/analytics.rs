//! Analytics plumbing: the game's [`AssetPlayed`] messages become analytics events, and every
//! analytics message is triggered as an event too, for observers.

use bevy::prelude::*;

use crate::provider::{AnalyticsEvent, AnalyticsKind, AssetPlayed};

/// Turns the game's [`AssetPlayed`] messages into analytics events.
pub(crate) fn record_played(
    mut played: MessageReader<AssetPlayed>,
    mut analytics: MessageWriter<AnalyticsEvent>,
) {
    for message in played.read() {
        analytics.write(AnalyticsEvent::new(
            AnalyticsKind::Played,
            message.key,
            message.kind,
        ));
    }
}

/// Triggers each analytics message as an event too, for observers.
pub(crate) fn trigger_analytics(mut events: MessageReader<AnalyticsEvent>, mut commands: Commands) {
    for event in events.read() {
        commands.trigger(event.clone());
    }
}
