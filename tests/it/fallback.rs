//! Fallbacks: what a request's handle shows while its real media is on its way (a handle the
//! game has, a pre-made picture by tags, the scene's previous picture), how the real media
//! replaces it, and how the wait is split between the bare placeholder and the fallback in the
//! analytics, the stats and the diagnostics.

use std::time::Duration;

use crate::common::*;
use bevy::asset::RenderAssetUsages;
use bevy::diagnostic::{DiagnosticPath, DiagnosticsStore};
use bevy::image::{CompressedImageFormats, ImageLoader};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use bevy_asset_provider::Fallback;
use bevy_asset_provider::observe::{AnalyticsEvent, AnalyticsKind, AssetProviderDiagnostics};
use bevy_asset_provider::prediction::PredictionSettings;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{SceneFallback, SceneMedia, SceneSettings};
use bevy_asset_provider::source::{PreMadeManifest, PreMadeSource};
use serde_json::json;

/// A plugin whose only generator waits at `gate`, then serves an 8×8 picture.
fn gated(gate: &std::sync::Arc<tokio::sync::Semaphore>) -> AssetProviderPlugin {
    plugin_with(FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 8,
        height: 8,
    }))
    .with_prediction(PredictionSettings::off())
}

/// A 4×4 blue image the game already has.
fn blue_card(app: &mut App) -> Handle<Image> {
    let image = Image::new_fill(
        Extent3d {
            width: 4,
            height: 4,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[20, 40, 220, 255],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    );
    app.world_mut().resource_mut::<Assets<Image>>().add(image)
}

/// The image behind `handle`.
fn shown(app: &App, handle: &Handle<Image>) -> Option<Image> {
    app.world().resource::<Assets<Image>>().get(handle).cloned()
}

/// Steps `app` `frames` times, then checks the request on `entity` still waits and its image
/// still holds the fallback's `pixels`.
fn still_on_the_fallback(
    app: &mut App,
    (entity, image): (Entity, &Handle<Image>),
    pixels: &Option<Vec<u8>>,
    frames: usize,
) {
    for _ in 0..frames {
        app.update();
    }
    assert!(!task(app, entity).status().is_terminal(), "still waiting");
    assert!(
        shown(app, image).unwrap().data == *pixels,
        "still the fallback"
    );
}

fn image_of(app: &App, entity: Entity) -> Handle<Image> {
    task(app, entity).handle().image().unwrap().clone()
}

/// The one `Completed` analytics event collected.
fn completed(app: &App) -> AnalyticsEvent {
    let events: Vec<_> = collected::<AnalyticsEvent>(app)
        .into_iter()
        .filter(|event| event.kind == AnalyticsKind::Completed)
        .collect();
    assert_eq!(events.len(), 1, "one job completed: {events:?}");
    events[0].clone()
}

fn diagnostic(app: &App, path: &DiagnosticPath) -> Option<f64> {
    app.world()
        .resource::<DiagnosticsStore>()
        .get(path)
        .and_then(|diagnostic| diagnostic.value())
}

#[test]
fn a_handle_fallback_shows_while_the_source_is_slow_then_the_real_media() {
    let gate = gate();
    let mut app = headless_app(gated(&gate));
    collect::<AnalyticsEvent>(&mut app);
    let card = blue_card(&mut app);
    let card_pixels = shown(&app, &card).unwrap().data;
    let request = AssetRequest::image()
        .prompt("a slow harbour")
        .fallback(Fallback::Image(card));
    let entity = app.world_mut().spawn(request).id();
    app.update();
    let handle = image_of(&app, entity);
    // From the first frame the handle shows the card, not the placeholder.
    let first = shown(&app, &handle).expect("something is behind the handle");
    assert_eq!(
        first.width(),
        4,
        "the card (4 wide), not the placeholder (32)"
    );
    assert!(first.data == card_pixels, "the card's pixels");
    still_on_the_fallback(&mut app, (entity, &handle), &card_pixels, 5);

    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(shown(&app, &handle).unwrap().width(), 8, "the real media");
    let event = completed(&app);
    assert_eq!(event.on_placeholder, Some(Duration::ZERO));
    assert!(event.on_fallback.unwrap() > Duration::ZERO, "{event:?}");
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(stats.waited, 1);
    assert_eq!(stats.time_on_placeholder, Duration::ZERO);
    assert!(stats.time_on_fallback > Duration::ZERO);
    assert!(stats.time_on_fallback >= event.on_fallback.unwrap());
    app.update();
    let p50 = AssetProviderDiagnostics::PLACEHOLDER_TIME_P50;
    assert_eq!(diagnostic(&app, &p50), Some(0.0));
    let fallback_p50 = diagnostic(&app, &AssetProviderDiagnostics::FALLBACK_TIME_P50).unwrap();
    assert!(fallback_p50 > 0.0);
}

#[test]
fn a_failed_request_keeps_its_fallback() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "the generator is down",
    )));
    let mut app = headless_app(plugin_with(source));
    let card = blue_card(&mut app);
    let card_pixels = shown(&app, &card).unwrap().data;
    let request = AssetRequest::image()
        .prompt("never made")
        .fallback(Fallback::Image(card));
    let entity = app.world_mut().spawn(request).id();
    until_status(&mut app, entity, TaskStatus::Failed);
    app.update();
    assert!(
        shown(&app, &image_of(&app, entity)).unwrap().data == card_pixels,
        "still the fallback"
    );
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(
        (stats.waited, stats.time_on_placeholder),
        (1, Duration::ZERO)
    );
}

#[test]
fn a_fallback_does_not_change_the_key_and_a_joining_request_brings_it_along() {
    let gate = gate();
    let mut app = headless_app(gated(&gate));
    let card = blue_card(&mut app);
    let card_pixels = shown(&app, &card).unwrap().data;
    let plain = AssetRequest::image()
        .scene("pier")
        .prompt("the pier at night");
    let with_card = plain.clone().fallback(Fallback::Image(card));
    let with_tags = plain.clone().fallback(Fallback::pre_made_tags(["loading"]));
    let session = PlaySession::default();
    assert_eq!(plain.fingerprint(&session), with_card.fingerprint(&session));
    assert_eq!(
        plain.canonical_json(&session),
        with_tags.canonical_json(&session)
    );

    // A prefetch without a fallback; the player's request joins it with one.
    let mut provider = app.world_mut().resource_mut::<AssetProvider>();
    let key = provider.prefetch(plain);
    let handle = provider.request_image(with_card);
    assert_eq!(provider.key_for(&with_tags), key);
    assert_eq!(provider.stats().joined, 1, "one job for both");
    update_until(&mut app, "the joined request shows the card", |app| {
        shown(app, &handle).is_some_and(|image| image.data == card_pixels)
    });
    gate.add_permits(1);
    update_until(&mut app, "the real media arrives", |app| {
        shown(app, &handle).is_some_and(|image| image.width() == 8)
    });
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(stats.prefetch_used, 1);
    assert_eq!(
        (stats.waited, stats.time_on_placeholder),
        (1, Duration::ZERO)
    );
}

/// An asset folder with a pre-made manifest listing one 13×5 picture tagged `loading`.
struct PreMadeFolder(TempDir);

impl PreMadeFolder {
    fn new() -> Self {
        let dir = TempDir::new("fallback-premade");
        std::fs::create_dir_all(dir.path().join("premade")).unwrap();
        let manifest = json!({"assets": [
            {"path": "premade/card.png", "kind": "image", "tags": ["loading", "role:card"]},
            {"path": "premade/harbor.png", "kind": "image", "tags": ["loc:harbor"]}
        ]});
        std::fs::write(
            dir.path().join("premade/manifest.json"),
            manifest.to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("premade/card.png"),
            png(13, 5, [230, 200, 0, 255]),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("premade/harbor.png"),
            png(7, 5, [0, 90, 200, 255]),
        )
        .unwrap();
        Self(dir)
    }

    /// An app whose asset folder is this one, with its manifest loaded, a gated generator
    /// after the pre-made source, and Bevy's image loader (the render plugins register it).
    fn app(&self, gate: &std::sync::Arc<tokio::sync::Semaphore>) -> App {
        let plugin = gated(gate).with_source(PreMadeSource::from_manifest("premade/manifest.json"));
        let mut app = App::new();
        app.add_plugins((
            MinimalPlugins,
            AssetPlugin {
                file_path: self.0.path().display().to_string(),
                ..default()
            },
        ))
        .init_asset::<Image>()
        .register_asset_loader(ImageLoader::new(CompressedImageFormats::NONE))
        .add_plugins(plugin);
        app.finish();
        app.cleanup();
        update_until(&mut app, "the manifest loads", |app| {
            app.world().resource::<Assets<PreMadeManifest>>().len() == 1
        });
        app.update();
        app
    }
}

#[test]
fn a_pre_made_picture_by_tags_shows_until_the_real_media() {
    let folder = PreMadeFolder::new();
    let gate = gate();
    let mut app = folder.app(&gate);
    collect::<AnalyticsEvent>(&mut app);
    let request = AssetRequest::image()
        .prompt("a storm at sea")
        .fallback(Fallback::pre_made_tags(["loading"]));
    let entity = app.world_mut().spawn(request).id();
    app.update();
    let handle = image_of(&app, entity);
    update_until(&mut app, "the pre-made card is behind the handle", |app| {
        shown(app, &handle).is_some_and(|image| image.width() == 13)
    });
    assert!(!task(&app, entity).status().is_terminal(), "still waiting");
    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(shown(&app, &handle).unwrap().width(), 8);
    let event = completed(&app);
    assert!(event.on_fallback.unwrap() > Duration::ZERO, "{event:?}");
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(stats.waited, 1);
    assert_eq!(stats.time_on_fallback, event.on_fallback.unwrap());
}

#[test]
fn tags_that_match_nothing_leave_the_bare_placeholder_and_count_as_placeholder_time() {
    let folder = PreMadeFolder::new();
    let gate = gate();
    let mut app = folder.app(&gate);
    collect::<AnalyticsEvent>(&mut app);
    let request = AssetRequest::image()
        .prompt("a storm at sea")
        .fallback(Fallback::pre_made_tags(["nothing:like:this"]));
    let entity = app.world_mut().spawn(request).id();
    for _ in 0..5 {
        app.update();
    }
    let handle = image_of(&app, entity);
    assert_eq!(shown(&app, &handle).unwrap().width(), 32, "the placeholder");
    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    let event = completed(&app);
    assert_eq!(event.on_fallback, Some(Duration::ZERO));
    assert!(event.on_placeholder.unwrap() > Duration::ZERO, "{event:?}");
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(stats.time_on_fallback, Duration::ZERO);
    assert!(stats.time_on_placeholder > Duration::ZERO);
}

/// harbor → pier, both pictures.
fn two_nodes() -> SceneGraph {
    let node = |id: &str| json!({"id": id, "type": "image", "label": id, "meta": {"prompt": format!("the {id}")}});
    let graph = json!({
        "id": "walk", "title": "Walk", "startNodeId": "harbor",
        "nodes": [node("harbor"), node("pier")],
        "edges": [{"id": "to_pier", "from": "harbor", "to": "pier", "label": "on"}],
    });
    SceneGraph::from_json(graph.to_string().as_bytes(), "walk.scene.json").unwrap()
}

/// The picture of the scene's node `node`.
fn node_picture(app: &mut App, node: &str) -> Option<(Entity, Handle<Image>)> {
    let mut query = app
        .world_mut()
        .query::<(Entity, &SceneMedia, &GenerationTask)>();
    query
        .iter(app.world())
        .find(|(_, media, _)| media.node == node)
        .map(|(entity, _, task)| (entity, task.handle().image().unwrap().clone()))
}

#[test]
fn the_scene_shows_the_previous_picture_on_the_next_node_while_it_waits() {
    let gate = gate();
    let mut app = headless_app(gated(&gate));
    app.insert_resource(SceneSettings::default().with_fallback(SceneFallback::PreviousPicture));
    let graph = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(two_nodes());
    app.world_mut().write_message(EnterNode {
        graph: graph.clone(),
        node: "harbor".into(),
    });
    update_until(&mut app, "the harbour is requested", |app| {
        node_picture(app, "harbor").is_some()
    });
    let (harbor, harbor_image) = node_picture(&mut app, "harbor").unwrap();
    assert_eq!(
        shown(&app, &harbor_image).unwrap().width(),
        32,
        "no picture before it"
    );
    gate.add_permits(1);
    until_status(&mut app, harbor, TaskStatus::Completed);
    let harbor_pixels = shown(&app, &harbor_image).unwrap().data;

    app.world_mut().write_message(MakeChoice {
        graph,
        from: "harbor".into(),
        edge: "to_pier".into(),
    });
    update_until(&mut app, "the pier is requested", |app| {
        node_picture(app, "pier").is_some()
    });
    let (pier, pier_image) = node_picture(&mut app, "pier").unwrap();
    update_until(&mut app, "the pier shows the harbour", |app| {
        shown(app, &pier_image).is_some_and(|image| image.data == harbor_pixels)
    });
    still_on_the_fallback(&mut app, (pier, &pier_image), &harbor_pixels, 3);
    gate.add_permits(1);
    until_status(&mut app, pier, TaskStatus::Completed);
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!(stats.waited, 2);
    assert!(stats.time_on_fallback > Duration::ZERO);
}
