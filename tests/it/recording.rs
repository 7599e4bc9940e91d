//! Record and replay through the whole plugin: a scripted playthrough of the bundled story
//! against the dev backend is recorded, then played again from the recording with the backend
//! stopped, and prints the same lines (requests, sources, origins, sizes) as `scene_player
//! --headless` does. A request the recording lacks fails naming it; damaged media is not served.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use bevy_asset_provider::AssetRequested;
use bevy_asset_provider::DEFAULT_MANIFEST;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneGraph;
use bevy_asset_provider::scene::SceneMedia;
use bevy_asset_provider::source::PreMadeSource;
use bevy_asset_provider::source::{AssetSource, LocalGenerator, Recorder, Recording};
use pixsim_dev::DevBackend;
use serde_json::{Value, json};

use crate::common::*;

/// The scripted path through the bundled story, 1-based per node, as `scene_player --choices`.
const PATH: [usize; 3] = [1, 2, 1];

fn story() -> SceneGraph {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/story/lighthouse.scene.json");
    SceneGraph::from_json(&std::fs::read(path).unwrap(), "story/lighthouse.scene.json").unwrap()
}

/// The chain `AssetProviderPlugin::with_backend` builds, with the backend's two sources given.
fn plugin(backend_sources: Vec<Arc<dyn AssetSource>>) -> AssetProviderPlugin {
    let mut sources: Vec<Arc<dyn AssetSource>> =
        vec![Arc::new(PreMadeSource::from_manifest(DEFAULT_MANIFEST))];
    sources.extend(backend_sources);
    sources.push(Arc::new(LocalGenerator::new().latency(Duration::ZERO)));
    AssetProviderPlugin::new()
        .without_disk_cache()
        .with_default_timeout(Duration::from_secs(30))
        .with_sources(sources)
}

/// The lines the playthrough printed, as `scene_player --headless` prints them without its
/// timings, plus each media's size.
#[derive(Resource, Default)]
struct Lines {
    lines: Vec<Value>,
    /// Outcomes seen per node and the choice that led there.
    ended: HashMap<(String, Option<String>), usize>,
}

fn print_lines(
    mut requested: MessageReader<AssetRequested>,
    mut ready: MessageReader<AssetReady>,
    mut failed: MessageReader<AssetFailed>,
    media: Query<&SceneMedia>,
    images: Res<Assets<Image>>,
    sounds: Res<Assets<bevy::audio::AudioSource>>,
    mut out: ResMut<Lines>,
) {
    let context = |entity: Option<Entity>| {
        entity
            .and_then(|e| media.get(e).ok())
            .map(|m| (m.node.clone(), m.edge.clone()))
            .unwrap_or_default()
    };
    for message in requested.read() {
        let (node, choice) = context(message.entity);
        out.lines.push(
            json!({"event": if message.prefetch { "prefetch" } else { "requested" },
            "key": message.key.short(), "node": node, "choice": choice,
            "kind": message.kind.as_str(), "joined": message.joined}),
        );
    }
    for message in ready.read() {
        let (node, choice) = context(message.entity);
        let size = match (message.handle.image(), message.handle.audio()) {
            (Some(image), _) => images
                .get(image)
                .map(|image| json!([image.width(), image.height()])),
            (_, Some(sound)) => sounds.get(sound).map(|sound| json!(sound.bytes.len())),
            _ => None,
        };
        if !message.prefetch {
            *out.ended.entry((node.clone(), choice.clone())).or_default() += 1;
        }
        out.lines.push(
            json!({"event": if message.prefetch { "prefetch_ready" } else { "ready" },
            "key": message.key.short(), "node": node, "choice": choice,
            "kind": message.kind.as_str(), "source": message.source.as_str(),
            "origin": message.origin, "size": size}),
        );
    }
    for message in failed.read() {
        let (node, choice) = context(message.entity);
        if !message.prefetch {
            *out.ended.entry((node.clone(), choice.clone())).or_default() += 1;
        }
        out.lines.push(
            json!({"event": if message.prefetch { "prefetch_failed" } else { "failed" },
            "key": message.key.short(), "node": node, "choice": choice,
            "kind": message.kind.as_str(), "status": message.status.as_str(),
            "error": message.error.to_string()}),
        );
    }
}

/// Plays `PATH` as `scene_player --headless` does: waits at each node for its media's
/// outcomes and for the prefetches of its next choices, then chooses. Returns the lines, sorted
/// (outcomes of one node may arrive in either order).
fn play(plugin: AssetProviderPlugin) -> Vec<String> {
    let mut app = headless_app(plugin);
    app.init_resource::<Lines>().add_systems(Last, print_lines);
    let graph = story();
    let handle = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(graph.clone());
    let mut at = (graph.start_node_id.clone(), None::<String>);
    app.world_mut().write_message(EnterNode {
        graph: handle.clone(),
        node: at.0.clone(),
    });
    let mut choices = PATH.iter();
    loop {
        let expected = graph
            .node_media(&at.0, at.1.as_deref().and_then(|e| graph.edge(e)))
            .len();
        update_until(&mut app, &format!("the media of {at:?}"), |app| {
            let seen = app.world().resource::<Lines>().ended.get(&at).copied();
            seen.unwrap_or(0) >= expected
                && app
                    .world()
                    .resource::<AssetProvider>()
                    .prefetches_in_flight()
                    == 0
        });
        let Some(&n) = choices.next() else { break };
        let edge = graph
            .choices(&at.0)
            .nth(n - 1)
            .expect("the path's choice exists");
        let mut lines = app.world_mut().resource_mut::<Lines>();
        lines
            .lines
            .push(json!({"event": "choice", "node": at.0, "choice": edge.id}));
        app.world_mut().write_message(MakeChoice {
            graph: handle.clone(),
            from: at.0.clone(),
            edge: edge.id.clone(),
        });
        at = (edge.to.clone(), Some(edge.id.clone()));
    }
    let mut lines: Vec<String> = app
        .world()
        .resource::<Lines>()
        .lines
        .iter()
        .map(Value::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_recorded_playthrough_replays_the_same_with_the_backend_stopped() {
    let dir = TempDir::new("recording");
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .image_size(160, 90)
        .video_size(160, 90)
        .spawn()
        .unwrap();
    let backend = client(&dev).source_id("pixsim-dev").build().unwrap();
    let recorder = Recorder::create(dir.path()).unwrap();
    let recorded_run = play(plugin(vec![
        Arc::new(recorder.wrap(backend.library()).unwrap()),
        Arc::new(recorder.wrap(backend).unwrap()),
    ]));
    let creates = dev.stats().creates;
    drop(dev);

    assert_eq!(recorder.failures(), 0);
    assert!(creates > 0, "the backend generated some of the story");
    let generated = recorded_run
        .iter()
        .filter(|line| line.contains(r#""source":"generated""#))
        .count();
    assert!(generated > 0, "{recorded_run:#?}");
    assert!(
        !recorded_run.iter().any(|line| line.contains("failed")),
        "{recorded_run:#?}"
    );

    let recording = Recording::open(dir.path()).unwrap();
    assert_eq!(
        recording.source_names().collect::<Vec<_>>(),
        ["pixsim-dev library", "pixsim-dev"]
    );
    assert_eq!(recording.exchanges() as u64, recorder.recorded());
    let replayed_run = play(plugin(
        recording
            .sources()
            .into_iter()
            .map(|source| Arc::new(source) as Arc<dyn AssetSource>)
            .collect(),
    ));
    assert_eq!(replayed_run, recorded_run);
}

#[test]
fn an_unrecorded_request_fails_naming_it_and_damaged_media_is_not_served() {
    let dir = TempDir::new("recording-damaged");
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .image_size(160, 90)
        .spawn()
        .unwrap();
    let recorder = Recorder::create(dir.path()).unwrap();
    let backend = client(&dev).source_id("pixsim-dev").build().unwrap();
    let recorded = AssetRequest::image()
        .scene("harbor_night")
        .prompt("a harbour under the stars");
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(recorder.wrap(backend).unwrap()),
    );
    let entity = app.world_mut().spawn(recorded.clone()).id();
    until_status(&mut app, entity, TaskStatus::Completed);
    drop(app);
    drop(dev);

    let replay_app = || {
        let recording = Recording::open(dir.path()).unwrap();
        headless_app(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(recording.source("pixsim-dev").unwrap()),
        )
    };
    let mut app = replay_app();
    let served = app.world_mut().spawn(recorded.clone()).id();
    let unrecorded = app
        .world_mut()
        .spawn(
            AssetRequest::image()
                .scene("harbor_night")
                .choice("sail")
                .prompt("a boat leaving"),
        )
        .id();
    until_status(&mut app, served, TaskStatus::Completed);
    until_status(&mut app, unrecorded, TaskStatus::Failed);
    let error = task(&app, unrecorded).error().unwrap().clone();
    assert_eq!(error.kind(), AssetErrorKind::NotFound);
    for part in [
        "scene \"harbor_night\"",
        "choice \"sail\"",
        "prompt \"a boat leaving\"",
    ] {
        assert!(error.message().contains(part), "{part:?} in {error}");
    }
    drop(app);

    // Every recorded media file damaged: the replay fails the request and the placeholder stays.
    for file in std::fs::read_dir(dir.path().join("media"))
        .unwrap()
        .flatten()
    {
        let mut bytes = std::fs::read(file.path()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x55;
        std::fs::write(file.path(), bytes).unwrap();
    }
    let mut app = replay_app();
    let damaged = app.world_mut().spawn(recorded).id();
    until_status(&mut app, damaged, TaskStatus::Failed);
    let task = task(&app, damaged);
    let error = task.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    assert!(error.message().contains("SHA-256"), "{error}");
    let width = app
        .world()
        .resource::<Assets<Image>>()
        .get(task.handle().image().unwrap())
        .map(|image| image.width());
    assert_eq!(width, Some(32), "the placeholder stays");
}
