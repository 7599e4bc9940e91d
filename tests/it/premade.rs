//! Pre-made assets through the whole plugin: the best-scoring file is served; without a match
//! and without generation the placeholder stays with a clear reason; a broken manifest is named.

use std::path::PathBuf;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::PreMadeSource;

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
