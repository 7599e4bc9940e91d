//! Generated media through Bevy's `AssetServer`: `gen://` paths load through the same provider,
//! its dedup and caches, report their load state like any file, and fill a bevy_asset_loader
//! collection.

use std::sync::Arc;

use bevy::asset::{LoadState, UntypedAssetId};
use bevy::audio::AudioSource;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_asset_loader::prelude::*;
use bevy_asset_provider::asset_server::GeneratedAssetSourcePlugin;
use bevy_asset_provider::prelude::*;

use crate::common::*;

/// `MinimalPlugins` and the asset plugin with the `gen` source registered before it, as a game
/// adds it before `DefaultPlugins`; the provider serves from `source` only.
fn app_with(source: Arc<FakeGenerator>) -> App {
    let mut app = App::new();
    app.add_plugins(GeneratedAssetSourcePlugin)
        .add_plugins((MinimalPlugins, AssetPlugin::default()))
        .add_plugins(plugin_with(source));
    app
}

fn finished(mut app: App) -> App {
    app.finish();
    app.cleanup();
    app
}

fn load_state(app: &App, handle: impl Into<UntypedAssetId>) -> LoadState {
    app.world().resource::<AssetServer>().load_state(handle)
}

/// The load error's text, once the load failed.
fn failure(app: &mut App, handle: &Handle<Image>) -> String {
    update_until(app, "the load to fail", |app| {
        load_state(app, handle).is_failed()
    });
    match load_state(app, handle) {
        LoadState::Failed(error) => error.to_string(),
        other => unreachable!("checked above: {other:?}"),
    }
}

#[test]
fn a_gen_path_loads_through_the_asset_server_from_loading_to_loaded() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 6,
        height: 3,
    });
    let mut app = finished(app_with(source.clone()));
    let handle: Handle<Image> = app
        .world()
        .resource::<AssetServer>()
        .load("gen://harbor.image?scene=harbor&prompt=the%20harbor%20at%20dawn%2C%20100%25%20calm");
    update_until(&mut app, "the request to reach the source", |_| {
        source.calls() == 1
    });
    for _ in 0..3 {
        app.update();
    }
    assert!(
        matches!(load_state(&app, &handle), LoadState::Loading),
        "waiting for the generator: {:?}",
        load_state(&app, &handle)
    );
    assert!(
        app.world()
            .resource::<Assets<Image>>()
            .get(&handle)
            .is_none()
    );

    gate.add_permits(1);
    update_until(&mut app, "the image to be loaded", |app| {
        app.world()
            .resource::<AssetServer>()
            .is_loaded_with_dependencies(&handle)
    });
    assert!(matches!(load_state(&app, &handle), LoadState::Loaded));
    let images = app.world().resource::<Assets<Image>>();
    let image = images.get(&handle).expect("the generated image");
    assert_eq!(image.size(), UVec2::new(6, 3), "the generator's image");
    assert_eq!(source.calls(), 1);
}

#[test]
fn one_generation_serves_a_path_loaded_twice_and_the_same_request_made_directly() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 4,
        height: 4,
    });
    let mut app = finished(app_with(source.clone()));
    let direct = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(
            AssetRequest::image()
                .scene("park")
                .prompt("a quiet park. dusk")
                .strategy(CachingStrategy::PerPlaythrough),
        );
    let path =
        "gen://park.image?prompt=a%20quiet%20park.%20dusk&scene=park&strategy=per_playthrough";
    let first: Handle<Image> = app.world().resource::<AssetServer>().load(path);
    app.update();
    let second: Handle<Image> = app.world().resource::<AssetServer>().load(path);
    // The same request with its fields in another order is another path, and the same media.
    let reordered: Handle<Image> = app
        .world()
        .resource::<AssetServer>()
        .load("gen://other-name.image?strategy=per_playthrough&scene=park&prompt=a%20quiet%20park.%20dusk");
    for _ in 0..5 {
        app.update();
    }
    gate.add_permits(1);
    update_until(&mut app, "every handle to be loaded", |app| {
        let server = app.world().resource::<AssetServer>();
        server.is_loaded_with_dependencies(&first)
            && server.is_loaded_with_dependencies(&second)
            && server.is_loaded_with_dependencies(&reordered)
            && app
                .world()
                .resource::<AssetProvider>()
                .status(
                    &app.world().resource::<AssetProvider>().key_for(
                        &AssetRequest::image()
                            .scene("park")
                            .prompt("a quiet park. dusk")
                            .strategy(CachingStrategy::PerPlaythrough),
                    ),
                )
                .is_some_and(|status| status == TaskStatus::Completed)
    });
    assert_eq!(first, second, "the asset server keeps one handle per path");
    assert_eq!(source.calls(), 1, "one generation for all of them");
    let images = app.world().resource::<Assets<Image>>();
    let made = images
        .get(&direct)
        .expect("the direct request's image")
        .size();
    assert_eq!(images.get(&first).map(Image::size), Some(made));
    assert_eq!(images.get(&reordered).map(Image::size), Some(made));
}

#[test]
fn a_malformed_path_fails_naming_the_field() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = finished(app_with(source.clone()));
    let server = app.world().resource::<AssetServer>().clone();
    let bad_seed: Handle<Image> = server.load("gen://bad.image?prompt=x&seed=twelve");
    let unknown: Handle<Image> = server.load("gen://typo.image?promt=x");
    let bad_strategy: Handle<Image> = server.load("gen://bad2.image?strategy=forever");

    let error = failure(&mut app, &bad_seed);
    assert!(
        error.contains("gen://bad.image?prompt=x&seed=twelve"),
        "{error}"
    );
    assert!(
        error.contains("`seed`") && error.contains("twelve"),
        "{error}"
    );
    let error = failure(&mut app, &unknown);
    assert!(error.contains("`promt`"), "{error}");
    let error = failure(&mut app, &bad_strategy);
    assert!(
        error.contains("`strategy`") && error.contains("forever"),
        "{error}"
    );
    assert_eq!(source.calls(), 0, "nothing was asked for a malformed path");
}

#[test]
fn a_failing_source_fails_the_load_with_its_error() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "content_prompt_rejected: no dragons here",
    )));
    let mut app = finished(app_with(source.clone()));
    let handle: Handle<Image> = app
        .world()
        .resource::<AssetServer>()
        .load("gen://dragon.image?prompt=a%20dragon");
    let error = failure(&mut app, &handle);
    assert!(
        error.contains("gen://dragon.image?prompt=a%20dragon"),
        "{error}"
    );
    assert!(error.contains("no dragons here"), "{error}");
    assert!(error.contains("rejected"), "{error}");
    assert_eq!(source.calls(), 1);
}

#[test]
fn a_sound_loads_from_a_gen_audio_path() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = finished(app_with(source.clone()));
    let handle: Handle<AudioSource> = app
        .world()
        .resource::<AssetServer>()
        .load("gen://bell.audio?prompt=a%20soft%20harbour%20bell&duration=1.5");
    update_until(&mut app, "the sound to be loaded", |app| {
        app.world()
            .resource::<AssetServer>()
            .is_loaded_with_dependencies(&handle)
    });
    let sounds = app.world().resource::<Assets<AudioSource>>();
    let sound = sounds.get(&handle).expect("the generated sound");
    assert!(sound.bytes.starts_with(b"RIFF"), "a WAV");
}

#[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Game {
    #[default]
    Loading,
    Playing,
    Broken,
}

#[derive(AssetCollection, Resource)]
struct Media {
    #[asset(path = "gen://title.image?scene=title&prompt=the%20title%20card")]
    title: Handle<Image>,
    #[asset(path = "gen://theme.audio?prompt=the%20title%20theme&strategy=once")]
    theme: Handle<AudioSource>,
}

#[test]
fn a_bevy_asset_loader_collection_of_gen_paths_reaches_its_next_state() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 5,
        height: 5,
    });
    let mut app = app_with(source.clone());
    app.add_plugins(StatesPlugin)
        .init_state::<Game>()
        .add_loading_state(
            LoadingState::new(Game::Loading)
                .continue_to_state(Game::Playing)
                .on_failure_continue_to_state(Game::Broken)
                .load_collection::<Media>(),
        );
    let mut app = finished(app);
    update_until(&mut app, "both requests to reach the source", |_| {
        source.calls() == 2
    });
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(
        *app.world().resource::<State<Game>>().get(),
        Game::Loading,
        "the collection waits for the generated media"
    );
    gate.add_permits(2);
    update_until(&mut app, "the game to play", |app| {
        *app.world().resource::<State<Game>>().get() != Game::Loading
    });
    assert_eq!(*app.world().resource::<State<Game>>().get(), Game::Playing);
    let media = app.world().resource::<Media>();
    let image = app.world().resource::<Assets<Image>>().get(&media.title);
    assert_eq!(image.map(Image::size), Some(UVec2::new(5, 5)));
    assert!(
        app.world()
            .resource::<Assets<AudioSource>>()
            .get(&media.theme)
            .is_some()
    );
}

/// `MinimalPlugins` and the asset plugin reading `folder`, with no `gen` source: settings files
/// need only the provider's plugin.
fn app_reading(folder: &TempDir, source: Arc<FakeGenerator>) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: folder.path().to_string_lossy().into_owned(),
            ..default()
        },
    ))
    .add_plugins(plugin_with(source));
    finished(app)
}

#[test]
fn a_settings_file_loads_the_request_it_describes() {
    let folder = TempDir::new("gen-settings");
    std::fs::write(
        folder.path().join("mira.image.json"),
        r#"{"character": "mira", "prompt": "Mira at the lamp", "tags": ["portrait"]}"#,
    )
    .unwrap();
    std::fs::write(
        folder.path().join("broken.image.json"),
        r#"{"prompt": "x", "priority": 99}"#,
    )
    .unwrap();
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 3,
        height: 2,
    });
    let mut app = app_reading(&folder, source.clone());
    let server = app.world().resource::<AssetServer>().clone();
    let mira: Handle<Image> = server.load("mira.image.json");
    let broken: Handle<Image> = server.load("broken.image.json");
    update_until(&mut app, "the portrait to be loaded", |app| {
        app.world()
            .resource::<AssetServer>()
            .is_loaded_with_dependencies(&mira)
    });
    let image = app.world().resource::<Assets<Image>>().get(&mira);
    assert_eq!(image.map(Image::size), Some(UVec2::new(3, 2)));
    // The same request made directly is served from the memory tier: nothing new is made.
    let key = app.world().resource::<AssetProvider>().key_for(
        &AssetRequest::image()
            .character("mira")
            .prompt("Mira at the lamp")
            .tag("portrait"),
    );
    assert_eq!(
        app.world().resource::<AssetProvider>().status(&key),
        Some(TaskStatus::Completed)
    );
    let error = failure(&mut app, &broken);
    assert!(
        error.contains("broken.image.json") && error.contains("`priority`"),
        "{error}"
    );
    assert_eq!(source.calls(), 1);
}

#[test]
fn dropping_the_last_handle_while_loading_gives_up_the_job() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = finished(app_with(source.clone()));
    let handle: Handle<Image> = app
        .world()
        .resource::<AssetServer>()
        .load("gen://unwanted.image?prompt=nobody%20waits");
    update_until(&mut app, "the request to reach the source", |_| {
        source.calls() == 1
    });
    drop(handle);
    update_until(&mut app, "the job to be cancelled", |app| {
        app.world().resource::<AssetProvider>().in_flight() == 0 && source.cancelled().len() == 1
    });
}
