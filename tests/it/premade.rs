//! Pre-made assets through the whole plugin: the best-scoring file is served; without a match
//! and without generation the placeholder stays with a clear reason; a broken manifest is named.

use std::path::PathBuf;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::PreMadeSource;
use bevy_asset_provider::source::SourceKind;

/// A temporary asset root with a manifest and PNGs whose widths tell them apart.
struct Fixture(PathBuf);

impl Fixture {
    fn new(name: &str, manifest: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("bevy_asset_provider-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("premade")).unwrap();
        std::fs::write(dir.join("premade/manifest.json"), manifest).unwrap();
        for (file, width) in [
            ("park_bg.png", 11),
            ("park_anne.png", 22),
            ("harbor.png", 33),
        ] {
            std::fs::write(
                dir.join("premade").join(file),
                png(width, 5, [0, 90, 200, 255]),
            )
            .unwrap();
        }
        Self(dir)
    }

    fn app(&self, with_generator: bool) -> App {
        let mut plugin = AssetProviderPlugin::new().without_disk_cache().with_source(
            PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&self.0),
        );
        if with_generator {
            plugin = plugin.with_shared_source(FakeGenerator::new(Behaviour::Serve {
                width: 99,
                height: 5,
            }));
        }
        let mut app = headless_app(plugin);
        app.update();
        app
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MANIFEST: &str = r#"{"assets": [
    {"path": "premade/park_bg.png", "kind": "image", "tags": ["loc:park", "role:bg"]},
    {"path": "premade/park_anne.png", "kind": "image", "tags": ["loc:park", "npc:anne", "role:char:npc"]},
    {"id": "harbor_dawn", "path": "premade/harbor.png", "kind": "image", "tags": ["loc:harbor", "role:bg"]}
]}"#;

fn served_width(app: &mut App, request: AssetRequest) -> (GenerationTask, Option<u32>) {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the request ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let task = task(app, entity);
    let width = app
        .world()
        .resource::<Assets<Image>>()
        .get(task.handle().image().unwrap())
        .map(|image| image.width());
    (task, width)
}

#[test]
fn the_best_scoring_pre_made_file_is_served() {
    let fixture = Fixture::new("best", MANIFEST);
    let mut app = fixture.app(true);

    let (task, width) = served_width(
        &mut app,
        AssetRequest::image().location("park").character("anne"),
    );
    assert_eq!(task.source(), Some(SourceKind::PreMade));
    assert_eq!(
        width,
        Some(22),
        "location + character beats location + role"
    );

    let (_, width) = served_width(
        &mut app,
        AssetRequest::image().location("park").tag("role:bg"),
    );
    assert_eq!(width, Some(11));

    let (task, width) = served_width(&mut app, AssetRequest::image().asset_id("harbor_dawn"));
    assert_eq!(width, Some(33));
    assert_eq!(task.origin(), Some("pre_made:premade/harbor.png"));

    // Nothing matches: the generator serves it.
    let (task, width) = served_width(&mut app, AssetRequest::image().location("moon"));
    assert_eq!(task.source(), Some(SourceKind::Generated));
    assert_eq!(width, Some(99));
}

#[test]
fn no_match_and_no_generation_keeps_the_placeholder_with_a_clear_reason() {
    let fixture = Fixture::new("nomatch", MANIFEST);
    let mut app = fixture.app(true);
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image()
            .location("moon")
            .allow_generation(false),
    );
    assert_eq!(task.status(), TaskStatus::Failed);
    let error = task.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::NoSource);
    assert!(
        error.message().contains("generation is not allowed"),
        "{error}"
    );
    assert_eq!(width, Some(32), "the placeholder stays");
}

#[test]
fn a_malformed_manifest_names_the_file_and_the_field_and_the_app_goes_on() {
    let fixture = Fixture::new(
        "malformed",
        r#"{"assets": [{"path": "premade/park_bg.png", "kind": "imgae", "tags": []}]}"#,
    );
    let mut app = fixture.app(true);
    let (task, _) = served_width(
        &mut app,
        AssetRequest::image()
            .location("park")
            .allow_generation(false),
    );
    let error = task.error().unwrap().clone();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    assert!(error.message().contains("manifest.json"), "{error}");
    assert!(error.message().contains("assets[0].kind"), "{error}");
    // The generator still serves requests that may generate.
    let (task, width) = served_width(&mut app, AssetRequest::image().location("park"));
    assert_eq!(task.source(), Some(SourceKind::Generated));
    assert_eq!(width, Some(99));
}

/// An app whose asset folder is `root`, with `source` as its only source.
fn app_with_asset_folder(root: &std::path::Path, source: std::sync::Arc<PreMadeSource>) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: root.display().to_string(),
            ..default()
        },
    ))
    .init_asset::<Image>()
    .add_plugins(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_shared_source(source),
    );
    app.finish();
    app.cleanup();
    app
}

/// The ids of the manifest `source` serves from now.
fn served_ids(source: &PreMadeSource) -> Vec<Option<String>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(source.manifest())
        .map(|manifest| manifest.entries().iter().map(|e| e.id.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn an_edited_manifest_is_read_again_and_a_malformed_edit_keeps_the_previous_one() {
    use bevy::asset::LoadState;
    use bevy_asset_provider::source::PreMadeManifest;

    const PATH: &str = "premade/manifest.json";
    let fixture = Fixture::new("reload", MANIFEST);
    let source =
        std::sync::Arc::new(PreMadeSource::from_manifest(PATH).with_asset_root(&fixture.0));
    let mut app = app_with_asset_folder(&fixture.0, source.clone());
    let load_state = |app: &App| {
        let server = app.world().resource::<AssetServer>();
        server
            .get_handle::<PreMadeManifest>(PATH)
            .and_then(|handle| server.get_load_state(&handle))
    };
    update_until(&mut app, "the manifest loads as an asset", |app| {
        matches!(load_state(app), Some(LoadState::Loaded))
    });
    let (task, width) = served_width(&mut app, AssetRequest::image().location("harbor"));
    assert_eq!(task.origin(), Some("pre_made:premade/harbor.png"));
    assert_eq!(width, Some(33));
    let (task, _) = served_width(&mut app, AssetRequest::image().location("cove"));
    assert_eq!(task.status(), TaskStatus::Failed, "no cove yet");

    // An edit adds a cove and points the harbour at another file.
    let edited = r#"{"assets": [
        {"id": "cove", "path": "premade/park_bg.png", "kind": "image", "tags": ["loc:cove"]},
        {"id": "harbor_dawn", "path": "premade/park_anne.png", "kind": "image", "tags": ["loc:harbor", "role:bg"]}
    ]}"#;
    std::fs::write(fixture.0.join(PATH), edited).unwrap();
    app.world().resource::<AssetServer>().reload(PATH);
    update_until(&mut app, "the source serves the edited manifest", |_| {
        served_ids(&source) == [Some("cove".to_owned()), Some("harbor_dawn".to_owned())]
    });
    let (task, width) = served_width(&mut app, AssetRequest::image().location("cove"));
    assert_eq!(task.origin(), Some("pre_made:premade/park_bg.png"));
    assert_eq!(width, Some(11));
    // A request the memory tier has not seen gets the harbour's new file.
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image().location("harbor").tag("role:bg"),
    );
    assert_eq!(task.origin(), Some("pre_made:premade/park_anne.png"));
    assert_eq!(width, Some(22));

    // A malformed edit fails its load, naming the file and the field; the previous good
    // version is still served.
    std::fs::write(
        fixture.0.join(PATH),
        r#"{"assets": [{"path": "premade/park_bg.png", "kind": "vidoe"}]}"#,
    )
    .unwrap();
    app.world().resource::<AssetServer>().reload(PATH);
    update_until(&mut app, "the malformed edit fails to load", |app| {
        matches!(load_state(app), Some(LoadState::Failed(_)))
    });
    let Some(LoadState::Failed(error)) = load_state(&app) else {
        unreachable!()
    };
    let message = error.to_string();
    let file = fixture.0.join(PATH).display().to_string();
    assert!(message.contains(&file), "{message}");
    assert!(message.contains("assets[0].kind"), "{message}");
    // Give a wrongly applied edit the frames it would need to show.
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(
        served_ids(&source),
        [Some("cove".to_owned()), Some("harbor_dawn".to_owned())]
    );
    let (task, width) = served_width(&mut app, AssetRequest::image().location("cove").tag("x"));
    assert_eq!(task.origin(), Some("pre_made:premade/park_bg.png"));
    assert_eq!(width, Some(11));

    // Fixed again: the new version replaces the kept one.
    std::fs::write(fixture.0.join(PATH), MANIFEST).unwrap();
    app.world().resource::<AssetServer>().reload(PATH);
    update_until(&mut app, "the fixed manifest is served", |_| {
        served_ids(&source).len() == 3
    });
}

#[test]
fn a_source_reading_another_folder_is_not_followed_by_the_asset_server() {
    let fixture = Fixture::new("elsewhere", MANIFEST);
    let other = TempDir::new("premade-elsewhere");
    let source = std::sync::Arc::new(
        PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(&fixture.0),
    );
    let mut app = app_with_asset_folder(other.path(), source);
    app.update();
    let server = app.world().resource::<AssetServer>();
    assert!(
        server
            .get_handle::<bevy_asset_provider::source::PreMadeManifest>("premade/manifest.json")
            .is_none(),
        "the app's asset folder has no manifest and none is loaded from it"
    );
    let (task, width) = served_width(&mut app, AssetRequest::image().location("harbor"));
    assert_eq!(task.origin(), Some("pre_made:premade/harbor.png"));
    assert_eq!(width, Some(33));
}

#[test]
fn with_the_file_watcher_on_an_edit_on_disk_is_served_without_being_asked() {
    use bevy::asset::LoadState;
    use bevy_asset_provider::source::PreMadeManifest;

    const PATH: &str = "premade/manifest.json";
    let fixture = Fixture::new("watch", MANIFEST);
    let source =
        std::sync::Arc::new(PreMadeSource::from_manifest(PATH).with_asset_root(&fixture.0));
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: fixture.0.display().to_string(),
            watch_for_changes_override: Some(true),
            ..default()
        },
    ))
    .init_asset::<Image>()
    .add_plugins(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_shared_source(source.clone()),
    );
    app.finish();
    app.cleanup();
    update_until(&mut app, "the manifest loads as an asset", |app| {
        let server = app.world().resource::<AssetServer>();
        server
            .get_handle::<PreMadeManifest>(PATH)
            .and_then(|handle| server.get_load_state(&handle))
            .is_some_and(|state| matches!(state, LoadState::Loaded))
    });
    assert_eq!(served_ids(&source).len(), 3);

    // Saved over the old file; nobody calls reload.
    let edited = r#"{"assets": [
        {"id": "cove", "path": "premade/park_bg.png", "kind": "image", "tags": ["loc:cove"]}
    ]}"#;
    std::fs::write(fixture.0.join(PATH), edited).unwrap();
    update_until(&mut app, "the watcher's reload is served", |_| {
        served_ids(&source) == [Some("cove".to_owned())]
    });
    let (task, width) = served_width(&mut app, AssetRequest::image().location("cove"));
    assert_eq!(task.origin(), Some("pre_made:premade/park_bg.png"));
    assert_eq!(width, Some(11));
}

/// An app whose default asset source is `folder` (not `./assets`), with `plugin`.
fn app_reading(folder: &std::path::Path, plugin: AssetProviderPlugin) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: folder.display().to_string(),
            ..default()
        },
    ))
    .init_asset::<Image>()
    .add_plugins(plugin);
    app.finish();
    app.cleanup();
    app
}

#[test]
fn the_default_plugin_reads_the_manifest_of_the_apps_asset_folder() {
    let fixture = Fixture::new("file-path", MANIFEST);
    let mut app = app_reading(
        &fixture.0,
        AssetProviderPlugin::default().without_disk_cache(),
    );
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image()
            .location("park")
            .character("anne")
            .allow_generation(false),
    );
    assert_eq!(
        task.origin(),
        Some("pre_made:premade/park_anne.png"),
        "{:?}",
        task.error()
    );
    assert_eq!(width, Some(22));
    // A source naming only the manifest reads the same folder.
    let mut app = app_reading(
        &fixture.0,
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(PreMadeSource::from_manifest("premade/manifest.json")),
    );
    let (task, width) = served_width(&mut app, AssetRequest::image().asset_id("harbor_dawn"));
    assert_eq!(
        task.origin(),
        Some("pre_made:premade/harbor.png"),
        "{:?}",
        task.error()
    );
    assert_eq!(width, Some(33));
}

#[test]
fn without_a_manifest_in_the_apps_folder_the_default_plugin_has_no_pre_made_media() {
    let empty = TempDir::new("premade-none");
    let mut app = app_reading(
        empty.path(),
        AssetProviderPlugin::default().without_disk_cache(),
    );
    // The crate's own assets/premade has a harbor_dawn; this app's folder has nothing.
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image()
            .asset_id("harbor_dawn")
            .allow_generation(false),
    );
    assert_eq!(task.status(), TaskStatus::Failed, "{:?}", task.origin());
    let error = task.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::NoSource, "{error}");
    assert!(!error.message().contains("manifest"), "{error}");
    assert_eq!(width, Some(32), "the placeholder stays");
    // Requests that may generate are served as before.
    let (task, _) = served_width(&mut app, AssetRequest::image().location("park"));
    assert_eq!(
        task.source(),
        Some(SourceKind::Generated),
        "{:?}",
        task.error()
    );
}

#[test]
fn a_missing_file_listed_in_the_manifest_fails_naming_the_file() {
    let fixture = Fixture::new(
        "gone",
        r#"{"assets": [{"path": "premade/gone.png", "kind": "image", "tags": ["loc:park"]}]}"#,
    );
    let mut app = app_reading(
        &fixture.0,
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(PreMadeSource::from_manifest("premade/manifest.json")),
    );
    let (task, _) = served_width(&mut app, AssetRequest::image().location("park"));
    assert_eq!(task.status(), TaskStatus::Failed);
    let error = task.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Io, "{error}");
    assert!(error.message().contains("premade/gone.png"), "{error}");
}

/// The fixture's manifest and PNGs, as (path, bytes).
fn fixture_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("premade/manifest.json", MANIFEST.as_bytes().to_vec()),
        ("premade/park_bg.png", png(11, 5, [0, 90, 200, 255])),
        ("premade/park_anne.png", png(22, 5, [0, 90, 200, 255])),
        ("premade/harbor.png", png(33, 5, [0, 90, 200, 255])),
    ]
}

#[test]
fn a_manifest_in_a_registered_in_memory_asset_source_is_served() {
    use bevy::asset::io::AssetSourceBuilder;
    use bevy::asset::io::memory::{Dir, MemoryAssetReader};

    let dir = Dir::default();
    for (path, bytes) in fixture_files() {
        dir.insert_asset(std::path::Path::new(path), bytes);
    }
    let mut app = App::new();
    let reader_dir = dir.clone();
    app.register_asset_source(
        "mem",
        AssetSourceBuilder::new(move || {
            Box::new(MemoryAssetReader {
                root: reader_dir.clone(),
            })
        }),
    )
    .add_plugins((MinimalPlugins, AssetPlugin::default()))
    .init_asset::<Image>()
    .add_plugins(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(PreMadeSource::from_manifest("mem://premade/manifest.json")),
    );
    app.finish();
    app.cleanup();
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image()
            .location("park")
            .character("anne")
            .allow_generation(false),
    );
    assert_eq!(
        task.origin(),
        Some("pre_made:premade/park_anne.png"),
        "{:?}",
        task.error()
    );
    assert_eq!(width, Some(22));
}

#[test]
fn an_embedded_manifest_is_served() {
    use bevy::asset::io::embedded::EmbeddedAssetRegistry;

    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>();
    // What `embedded_asset!` does for files built into the binary.
    let registry = app.world().resource::<EmbeddedAssetRegistry>();
    for (path, bytes) in fixture_files() {
        let path = std::path::Path::new(path);
        registry.insert_asset(path.to_owned(), path, bytes);
    }
    app.add_plugins(AssetProviderPlugin::new().without_disk_cache().with_source(
        PreMadeSource::from_manifest("embedded://premade/manifest.json"),
    ));
    app.finish();
    app.cleanup();
    let (task, width) = served_width(
        &mut app,
        AssetRequest::image()
            .asset_id("harbor_dawn")
            .allow_generation(false),
    );
    assert_eq!(
        task.origin(),
        Some("pre_made:premade/harbor.png"),
        "{:?}",
        task.error()
    );
    assert_eq!(width, Some(33));
}
