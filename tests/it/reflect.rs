//! Every public component and resource is `Reflect` and registered, so inspectors and scenes
//! see them.

use std::any::TypeId;

use bevy::ecs::reflect::{ReflectComponent, ReflectResource};
use bevy::prelude::*;
use bevy_asset_provider::observe::{CriticalAsset, LoadingProgress};
use bevy_asset_provider::prediction::{ChoiceCounts, PredictionState};
use bevy_asset_provider::prediction::{PredictionSettings, SceneFlags};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneMedia;
#[cfg(feature = "video")]
use bevy_asset_provider::video::{VideoClips, VideoPlayer};

use crate::common::*;

#[test]
fn public_components_and_resources_are_registered_for_reflection() {
    let app = headless_app(AssetProviderPlugin::new().without_disk_cache());
    let registry = app.world().resource::<AppTypeRegistry>().read();
    let components = [
        ("AssetRequest", TypeId::of::<AssetRequest>()),
        ("GenerationTask", TypeId::of::<GenerationTask>()),
        ("SceneMedia", TypeId::of::<SceneMedia>()),
        ("CriticalAsset", TypeId::of::<CriticalAsset>()),
        #[cfg(feature = "video")]
        ("VideoPlayer", TypeId::of::<VideoPlayer>()),
    ];
    for (name, id) in components {
        let registration = registry
            .get(id)
            .unwrap_or_else(|| panic!("{name} is not registered"));
        assert!(
            registration.data::<ReflectComponent>().is_some(),
            "{name} has no ReflectComponent"
        );
    }
    // The session lives in the provider alone, reflected as its `session` field.
    assert!(registry.get(TypeId::of::<PlaySession>()).is_some());
    let resources = [
        ("PredictionSettings", TypeId::of::<PredictionSettings>()),
        ("SceneFlags", TypeId::of::<SceneFlags>()),
        ("ChoiceCounts", TypeId::of::<ChoiceCounts>()),
        ("PredictionState", TypeId::of::<PredictionState>()),
        ("LoadingProgress", TypeId::of::<LoadingProgress>()),
        #[cfg(feature = "video")]
        ("VideoClips", TypeId::of::<VideoClips>()),
    ];
    for (name, id) in resources {
        let registration = registry
            .get(id)
            .unwrap_or_else(|| panic!("{name} is not registered"));
        assert!(
            registration.data::<ReflectResource>().is_some(),
            "{name} has no ReflectResource"
        );
    }
    // The provider is reflected (its session and counters) but, being threads and channels,
    // cannot be made from reflection.
    assert!(registry.get(TypeId::of::<AssetProvider>()).is_some());
    let provider = app.world().resource::<AssetProvider>();
    let reflected = provider.reflect_ref();
    let bevy::reflect::ReflectRef::Struct(fields) = reflected else {
        panic!("the provider reflects as a struct");
    };
    assert!(fields.field("stats").is_some() && fields.field("session").is_some());
}
