//! The bake against the in-process dev backend: the bundled story's `once` media generated
//! once each (counted on the backend), then the whole story played offline from the baked files;
//! a second bake makes nothing, a changed prompt re-bakes exactly its node, a dry run makes
//! nothing.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::bake::{Bake, BakeOutcome, BakeReason, BakeStep, BakeTargets};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{SceneEdge, SceneMedia};
use bevy_asset_provider::source::{PreMadeManifest, PreMadeSource};
use pixsim_dev::DevBackend;

/// The boat node is a video node: a clip with `video`, a still without.
const BOAT_KIND: &str = if cfg!(feature = "video") {
    "video"
} else {
    "image"
};

const STORY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/story/lighthouse.scene.json"
);
const PREMADE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/assets/premade");

fn story() -> SceneGraph {
    let bytes = std::fs::read(STORY).unwrap();
    SceneGraph::from_json(&bytes, STORY).unwrap()
}

/// An asset root holding the bundled hand-made files and manifest.
fn asset_root() -> TempDir {
    let root = TempDir::new("bake");
    let premade = root.path().join("premade");
    std::fs::create_dir_all(&premade).unwrap();
    for file in std::fs::read_dir(PREMADE).unwrap() {
        let file = file.unwrap().path();
        if file.is_file() {
            std::fs::copy(&file, premade.join(file.file_name().unwrap())).unwrap();
        }
    }
    root
}

fn bake_with(dev: &DevBackend, root: &Path) -> Bake {
    // More creates a minute than a real service's 20: the story has more pictures than that.
    let backend = client(dev)
        .source_id("pixsim-dev")
        .max_creates_per_minute(600)
        .build()
        .unwrap();
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_backend(backend)
        .with_default_timeout(Duration::from_secs(30));
    Bake::new(&plugin)
        .asset_root(root)
        .contact_sheet(root.join("contact_sheet.png"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A walk from the start to every edge: the shortest way to its `from`, then the edge.
fn walks(graph: &SceneGraph) -> Vec<Vec<SceneEdge>> {
    let mut way: HashMap<String, Vec<SceneEdge>> = HashMap::new();
    way.insert(graph.start_node_id.clone(), Vec::new());
    let mut queue = VecDeque::from([graph.start_node_id.clone()]);
    let mut walks = Vec::new();
    while let Some(node) = queue.pop_front() {
        let to_here = way[&node].clone();
        for edge in graph.choices(&node) {
            let mut walk = to_here.clone();
            walk.push(edge.clone());
            walks.push(walk.clone());
            if !way.contains_key(&edge.to) {
                way.insert(edge.to.clone(), walk);
                queue.push_back(edge.to.clone());
            }
        }
    }
    walks
}

/// Plays every walk offline; the requests shown with real media and those left with the
/// placeholder, as (node, kind, strategy) of each request the scene plugin made.
fn play_offline(dev: &DevBackend, root: &Path, graph: &SceneGraph) -> (usize, Vec<String>) {
    // The backend is in the chain: offline, it must not be reached.
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .without_prediction()
        .with_memory_capacity(0)
        .with_offline(true)
        .with_source(PreMadeSource::from_manifest("premade/manifest.json").with_asset_root(root))
        .with_source(client(dev).build().unwrap().library())
        .with_source(client(dev).build().unwrap())
        .with_source(LocalGenerator::new());
    let mut app = headless_app(plugin);
    let handle = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(graph.clone());
    let mut real = 0;
    let mut placeholders = Vec::new();
    let walks = walks(graph);
    assert_eq!(walks.len(), graph.edges.len(), "every edge is reachable");
    for walk in walks {
        app.world_mut().write_message(EnterNode {
            graph: handle.clone(),
            node: graph.start_node_id.clone(),
        });
        let steps = std::iter::once(None).chain(walk.iter().map(Some));
        for (i, edge) in steps.enumerate() {
            if let Some(edge) = edge {
                app.world_mut().write_message(MakeChoice {
                    graph: handle.clone(),
                    from: edge.from.clone(),
                    edge: edge.id.clone(),
                });
            }
            let node = edge.map_or(graph.start_node_id.clone(), |e| e.to.clone());
            let wanted = graph.node_media(&node, edge).len();
            let mut ended = Vec::new();
            update_until(&mut app, &format!("step {i} to {node} ends"), |app| {
                let world = app.world_mut();
                let mut query =
                    world.query::<(Entity, &SceneMedia, &GenerationTask, &AssetRequest)>();
                ended = query
                    .iter(world)
                    .filter(|(_, media, task, _)| {
                        media.node == node
                            && media.edge == edge.map(|e| e.id.clone())
                            && task.status().is_terminal()
                    })
                    .map(|(entity, _, task, request)| (entity, task.clone(), request.clone()))
                    .collect();
                ended.len() == wanted
            });
            for (entity, task, request) in ended.drain(..) {
                // Every `once` request is served from the baked (or hand-made) files.
                if request.strategy == CachingStrategy::Once {
                    assert_eq!(
                        task.status(),
                        TaskStatus::Completed,
                        "{node}: {:?}",
                        task.error()
                    );
                    assert_eq!(task.source(), Some(SourceKind::PreMade), "{node}");
                    real += 1;
                } else {
                    assert_eq!(
                        task.error().map(AssetError::kind),
                        Some(AssetErrorKind::NoSource),
                        "{node}: {:?}",
                        task.error()
                    );
                    placeholders.push(format!(
                        "{node} {} {}",
                        request.kind.as_str(),
                        request.strategy.as_str()
                    ));
                }
                app.world_mut().despawn(entity);
            }
        }
    }
    (real, placeholders)
}

#[test]
fn the_bundled_story_bakes_once_and_plays_offline_whole() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .image_size(64, 36)
        .video_size(64, 36)
        .spawn()
        .unwrap();
    let root = asset_root();
    let graph = story();
    let targets = BakeTargets::new().with_scene(&graph);
    let bake = bake_with(&dev, root.path());
    let runtime = runtime();

    // A dry run lists the work and asks nothing of the backend.
    let plan = bake.plan(&targets, &|_| {}).unwrap();
    let pictures = plan
        .to_make()
        .filter(|item| item.request.kind != MediaKind::Audio)
        .count();
    assert!(pictures > 10, "{plan}");
    assert_eq!(
        plan.pre_made(),
        3,
        "harbour, cliff path and lantern room are hand-made"
    );
    assert_eq!(plan.run_time(), 4, "the two endings are per playthrough");
    assert_eq!(dev.stats().creates, 0);

    let report = runtime.block_on(bake.run(&plan, &|_| {})).unwrap();
    assert_eq!(report.failed(), 0, "{report}");
    assert_eq!(report.generated(), plan.generations(), "{report}");
    let stats = dev.stats();
    // Each reachable `once` picture generated exactly once (a create the server answered with
    // another request's work is asked again as new work, and so counts once); sounds come from
    // the embedded generator.
    assert_eq!(stats.new_generations, pictures as u64, "{stats:?}");
    assert_eq!(
        stats.creates,
        stats.new_generations + stats.reused,
        "{stats:?}"
    );
    assert!(report.bytes_written() > 0);
    let sheet = std::fs::read(report.contact_sheet.as_ref().unwrap()).unwrap();
    assert_eq!(&sheet[..4], b"\x89PNG");

    // Every baked entry is found by its request's key and carries its provenance.
    let manifest_bytes = std::fs::read(bake.manifest_path()).unwrap();
    let manifest = PreMadeManifest::parse(&manifest_bytes, "manifest.json").unwrap();
    for item in plan.to_make() {
        let entry = manifest.find(&item.request).unwrap();
        assert_eq!(entry.key.as_deref(), Some(item.key.to_hex().as_str()));
    }
    let raw: serde_json::Value = serde_json::from_slice(&manifest_bytes).unwrap();
    let boat = raw["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["baked"]["slot"] == format!("lighthouse/boat/via/row_out/{BOAT_KIND}"))
        .unwrap();
    assert_eq!(boat["kind"], BOAT_KIND);
    assert_eq!(boat["baked"]["source"], "pixsim-dev");
    assert!(boat["baked"]["generation_id"].is_string(), "{boat}");
    assert!(boat["baked"]["asset_id"].is_string(), "{boat}");
    assert_eq!(boat["baked"]["sha256"].as_str().unwrap().len(), 64);
    assert!(
        boat["baked"]["prompt"]
            .as_str()
            .unwrap()
            .contains("rowboat")
    );
    let tags: Vec<&str> = boat["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for tag in [
        "loc:sea",
        "scene:boat",
        "choice:row_out",
        "scene:lighthouse",
    ] {
        assert!(tags.contains(&tag), "{tags:?}");
    }

    // The whole story offline: every `once` request real, only the endings' per-playthrough
    // media left with the placeholder; the backend is never reached.
    let before = dev.stats();
    let (real, placeholders) = play_offline(&dev, root.path(), &graph);
    let after = dev.stats();
    assert_eq!(
        (after.creates, after.searches, after.downloads, after.polls),
        (
            before.creates,
            before.searches,
            before.downloads,
            before.polls
        ),
        "offline reached the backend"
    );
    let once: usize = walks(&graph)
        .iter()
        .map(|walk| {
            let start = graph.node_media(&graph.start_node_id, None);
            let steps = walk
                .iter()
                .flat_map(|edge| graph.node_media(&edge.to, Some(edge)));
            start
                .into_iter()
                .chain(steps)
                .filter(|request| request.strategy == CachingStrategy::Once)
                .count()
        })
        .sum();
    assert_eq!(real, once, "every once request shows real media");
    println!(
        "offline: {real} real media shown, {} placeholders",
        placeholders.len()
    );
    assert!(!placeholders.is_empty());
    for missing in &placeholders {
        assert!(missing.ends_with("per_playthrough"), "{missing}");
    }

    // A second bake makes nothing.
    let again = bake.plan(&targets, &|_| {}).unwrap();
    assert_eq!(again.generations(), 0, "{again}");
    let report = runtime.block_on(bake.run(&again, &|_| {})).unwrap();
    assert_eq!((report.generated(), report.kept()), (0, plan.generations()));
    assert_eq!(dev.stats().creates, stats.creates);

    // A changed prompt: exactly that node is made again, its old entry and file replaced.
    let mut changed = graph.clone();
    let quarters = changed.nodes.iter_mut().find(|n| n.id == "12").unwrap();
    quarters
        .meta
        .insert("prompt".into(), "the keeper's room, lamp lit".into());
    let changed_targets = BakeTargets::new().with_scene(&changed);
    let dry = bake.plan(&changed_targets, &|_| {}).unwrap();
    let remade: Vec<_> = dry
        .to_make()
        .map(|item| (item.slot.as_str(), &item.step))
        .collect();
    assert_eq!(
        remade,
        [(
            "lighthouse/12/via/104/image",
            &BakeStep::Make(BakeReason::Changed)
        )]
    );
    assert_eq!(
        dev.stats().creates,
        stats.creates,
        "a dry run makes nothing"
    );
    let report = runtime.block_on(bake.run(&dry, &|_| {})).unwrap();
    assert_eq!(report.generated(), 1, "{report}");
    assert_eq!(report.removed_files.len(), 1, "{report}");
    assert!(!root.path().join(&report.removed_files[0]).exists());
    assert_eq!(dev.stats().new_generations, stats.new_generations + 1);
    let old_key = plan
        .items
        .iter()
        .find(|item| item.slot == "lighthouse/12/via/104/image")
        .unwrap()
        .key
        .to_hex();
    let manifest = std::fs::read_to_string(bake.manifest_path()).unwrap();
    assert!(!manifest.contains(&old_key), "the old entry is gone");
    let written = report
        .items
        .iter()
        .find_map(|item| match &item.outcome {
            BakeOutcome::Written { path, .. } => Some(path.clone()),
            _ => None,
        })
        .unwrap();
    assert!(root.path().join(written).is_file());
    // The hand-written entries are still there, as written.
    for file in ["harbor_dawn.png", "lantern_room.png", "cliffs.png"] {
        assert!(manifest.contains(&format!("premade/{file}")), "{file}");
    }
}
