//! The bake against the in-process dev backend: the bundled story's `once` media generated
//! once each (counted on the backend), then the whole story played offline from the baked files;
//! a second bake makes nothing, a changed prompt re-bakes exactly its node, a dry run makes
//! nothing.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::bake::{
    Bake, BakeOutcome, BakeReason, BakeReport, BakeStep, BakeTargets, Retouch, RetouchedFile,
};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{SceneEdge, SceneMedia};
use bevy_asset_provider::source::{LocalGenerator, SourceKind};
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

/// A small story: a start node and three choices out of it, pictures only.
const TINY_STORY: &str = r#"{"id": "t", "startNodeId": "a", "nodes": [
    {"id": "a", "label": "A", "meta": {"prompt": "a quiet pier"}},
    {"id": "b", "label": "B", "meta": {"prompt": "a red boat"}},
    {"id": "c", "label": "C", "meta": {"prompt": "a grey gull"}},
    {"id": "d", "label": "D", "meta": {"prompt": "a dark cave"}}],
  "edges": [{"id": "ab", "from": "a", "to": "b"}, {"id": "ac", "from": "a", "to": "c"},
            {"id": "ad", "from": "a", "to": "d"}]}"#;

const SLOT_A: &str = "t/a/image";
const SLOT_B: &str = "t/b/via/ab/image";
const SLOT_C: &str = "t/c/via/ac/image";
const SLOT_D: &str = "t/d/via/ad/image";

fn tiny_story() -> SceneGraph {
    SceneGraph::from_json(TINY_STORY.as_bytes(), "t.scene.json").unwrap()
}

/// The story with node `c`'s prompt changed and node `d` (and the choice to it) removed.
fn tiny_story_changed() -> SceneGraph {
    let mut graph = tiny_story();
    let c = graph.nodes.iter_mut().find(|n| n.id == "c").unwrap();
    c.meta
        .insert("prompt".into(), "a white gull, wings spread".into());
    graph.nodes.retain(|n| n.id != "d");
    graph.edges.retain(|e| e.id != "ad");
    graph
}

/// A bake of the tiny story into `root` through a generator that counts its calls.
fn tiny_bake(root: &Path) -> (Bake, std::sync::Arc<FakeGenerator>) {
    let generator = FakeGenerator::new(Behaviour::Serve {
        width: 32,
        height: 18,
    });
    let bake = Bake::new(&plugin_with(generator.clone()))
        .asset_root(root)
        .contact_sheet(root.join("sheet.png"));
    (bake, generator)
}

/// The baked entries of the manifest: slot to (path, key).
fn baked_entries(bake: &Bake) -> HashMap<String, (String, String)> {
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bake.manifest_path()).unwrap()).unwrap();
    raw["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry.get("baked").is_some())
        .map(|entry| {
            (
                entry["baked"]["slot"].as_str().unwrap().to_owned(),
                (
                    entry["path"].as_str().unwrap().to_owned(),
                    entry["key"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

/// An artist's retouch of the baked file `path`: other bytes (a blue picture), returned.
fn retouch(root: &Path, path: &str) -> Vec<u8> {
    let bytes = png(32, 18, [20, 40, 220, 255]);
    std::fs::write(root.join(path), &bytes).unwrap();
    bytes
}

/// Asserts that the file `path` still holds `bytes`, saying what became of it.
fn assert_kept(root: &Path, path: &str, bytes: &[u8], report: &dyn std::fmt::Display) {
    let now = match std::fs::read(root.join(path)) {
        Ok(now) if now == bytes => return,
        Ok(_) => "was overwritten",
        Err(_) => "was removed",
    };
    panic!("the retouched file {path} {now}; the report:\n{report}");
}

fn bake_all(bake: &Bake, graph: &SceneGraph, runtime: &tokio::runtime::Runtime) -> BakeReport {
    let plan = bake
        .plan(&BakeTargets::new().with_scene(graph), &|_| {})
        .unwrap();
    let report = runtime.block_on(bake.run(&plan, &|_| {})).unwrap();
    assert_eq!(report.failed(), 0, "{report}");
    report
}

fn retouched(slot: &str, path: &str, retouch: Retouch) -> RetouchedFile {
    RetouchedFile {
        slot: slot.into(),
        path: path.into(),
        retouch,
    }
}

fn outcome<'a>(report: &'a BakeReport, slot: &str) -> &'a BakeOutcome {
    &report
        .items
        .iter()
        .find(|item| item.slot == slot)
        .unwrap()
        .outcome
}

#[test]
fn a_retouched_file_survives_a_rebake_that_changes_and_removes_nodes() {
    let root = TempDir::new("bake-retouch");
    let (bake, generator) = tiny_bake(root.path());
    let runtime = runtime();
    bake_all(&bake, &tiny_story(), &runtime);
    assert_eq!(generator.calls(), 4);
    let first = baked_entries(&bake);
    let (path_a, path_b, path_c, path_d) = (
        &first[SLOT_A].0,
        &first[SLOT_B].0,
        &first[SLOT_C].0,
        &first[SLOT_D].0,
    );
    let bytes_a = std::fs::read(root.path().join(path_a)).unwrap();
    // The artist retouches b (whose node stays as it is) and d (whose node is then removed).
    let retouched_b = retouch(root.path(), path_b);
    let retouched_d = retouch(root.path(), path_d);

    let plan = bake
        .plan(
            &BakeTargets::new().with_scene(&tiny_story_changed()),
            &|_| {},
        )
        .unwrap();
    let b = plan.items.iter().find(|item| item.slot == SLOT_B).unwrap();
    assert_eq!(
        b.step,
        BakeStep::Retouched {
            path: path_b.clone(),
            request_changed: false
        }
    );
    assert_eq!(
        plan.retouched_elsewhere,
        [retouched(SLOT_D, path_d, Retouch::NotBaked)]
    );
    let report = runtime.block_on(bake.run(&plan, &|_| {})).unwrap();
    assert_kept(root.path(), path_b, &retouched_b, &report);
    assert_kept(root.path(), path_d, &retouched_d, &report);
    assert_eq!(
        report.retouched,
        [
            retouched(SLOT_D, path_d, Retouch::NotBaked),
            retouched(SLOT_B, path_b, Retouch::Served)
        ],
        "{report}"
    );
    let text = report.to_string();
    for path in [path_b, path_d] {
        assert!(
            text.contains(path.as_str()),
            "the report names {path}:\n{text}"
        );
    }
    assert_eq!(report.kept_retouched(), 1, "{report}");
    // Untouched files behave as before: c's old file is replaced (and removed), a's is kept,
    // and only c is made again.
    assert_eq!(generator.calls(), 5, "{report}");
    assert!(!root.path().join(path_c).exists(), "{report}");
    assert_eq!(
        report.removed_files,
        std::slice::from_ref(path_c),
        "{report}"
    );
    let second = baked_entries(&bake);
    assert_ne!(&second[SLOT_C].0, path_c);
    assert!(root.path().join(&second[SLOT_C].0).is_file());
    assert_eq!(std::fs::read(root.path().join(path_a)).unwrap(), bytes_a);
    // The retouched files' entries still point at them.
    assert_eq!(&second[SLOT_B], &first[SLOT_B]);
    assert_eq!(&second[SLOT_D], &first[SLOT_D]);
}

#[test]
fn a_retouched_file_whose_request_changed_is_kept_with_its_entry() {
    let root = TempDir::new("bake-retouch-changed");
    let (bake, generator) = tiny_bake(root.path());
    let runtime = runtime();
    bake_all(&bake, &tiny_story(), &runtime);
    let first = baked_entries(&bake);
    let path_c = &first[SLOT_C].0;
    let retouched_c = retouch(root.path(), path_c);

    // c's prompt changes: its slot's request is a new one.
    let report = bake_all(&bake, &tiny_story_changed(), &runtime);
    assert_kept(root.path(), path_c, &retouched_c, &report);
    assert!(report.to_string().contains(path_c.as_str()), "{report}");
    assert_eq!(
        report.retouched,
        [retouched(SLOT_C, path_c, Retouch::RequestChanged)],
        "{report}"
    );
    assert_eq!(
        outcome(&report, SLOT_C),
        &BakeOutcome::Retouched {
            path: path_c.clone(),
            request_changed: true
        }
    );
    // The artist's version wins: its entry stays, nothing is made in its place.
    assert_eq!(baked_entries(&bake)[SLOT_C], first[SLOT_C], "{report}");
    assert_eq!(generator.calls(), 4, "{report}");
    // Once the file is moved away, the next bake makes the new request.
    std::fs::remove_file(root.path().join(path_c)).unwrap();
    let report = bake_all(&bake, &tiny_story_changed(), &runtime);
    assert_eq!(generator.calls(), 5, "{report}");
    assert_ne!(baked_entries(&bake)[SLOT_C], first[SLOT_C], "{report}");
}

#[test]
fn files_changed_after_the_plan_are_not_overwritten_or_removed() {
    let root = TempDir::new("bake-retouch-late");
    let (bake, generator) = tiny_bake(root.path());
    let runtime = runtime();
    bake_all(&bake, &tiny_story(), &runtime);
    let first = baked_entries(&bake);
    let (path_b, path_c) = (&first[SLOT_B].0, &first[SLOT_C].0);
    // b's file is gone and c's request changed: the plan makes both again...
    std::fs::remove_file(root.path().join(path_b)).unwrap();
    let plan = bake
        .plan(
            &BakeTargets::new().with_scene(&tiny_story_changed()),
            &|_| {},
        )
        .unwrap();
    assert_eq!(plan.generations(), 2, "{plan}");
    // ...but before it runs, an artist puts b's file back retouched and retouches c's.
    let retouched_b = retouch(root.path(), path_b);
    let retouched_c = retouch(root.path(), path_c);
    let report = runtime.block_on(bake.run(&plan, &|_| {})).unwrap();
    let text = report.to_string();
    assert_kept(root.path(), path_b, &retouched_b, &text);
    assert_kept(root.path(), path_c, &retouched_c, &text);
    for path in [path_b, path_c] {
        assert!(
            text.contains(path.as_str()),
            "the report names {path}:\n{text}"
        );
    }
    // Both were resolved (the plan asked for them) but neither was written.
    assert_eq!(generator.calls(), 6, "{text}");
    for file in [
        retouched(SLOT_B, path_b, Retouch::Served),
        retouched(SLOT_C, path_c, Retouch::RequestChanged),
    ] {
        assert!(report.retouched.contains(&file), "{file:?}\n{text}");
    }
    assert_eq!(report.retouched.len(), 2, "{text}");
    assert_eq!(baked_entries(&bake)[SLOT_B], first[SLOT_B], "{text}");
    assert_eq!(baked_entries(&bake)[SLOT_C], first[SLOT_C], "{text}");
    assert_eq!((report.generated(), report.failed()), (0, 0), "{text}");
}

#[test]
fn a_file_no_entry_records_is_not_overwritten() {
    let root = TempDir::new("bake-unrecorded");
    let (bake, _generator) = tiny_bake(root.path());
    let runtime = runtime();
    bake_all(&bake, &tiny_story(), &runtime);
    let path_b = baked_entries(&bake)[SLOT_B].0.clone();
    // The manifest is lost (an interrupted bake, a reset), and b's file was edited since.
    std::fs::remove_file(bake.manifest_path()).unwrap();
    let edited = retouch(root.path(), &path_b);
    let plan = bake
        .plan(&BakeTargets::new().with_scene(&tiny_story()), &|_| {})
        .unwrap();
    let report = runtime.block_on(bake.run(&plan, &|_| {})).unwrap();
    assert_kept(root.path(), &path_b, &edited, &report);
    assert_eq!(report.failed(), 1, "{report}");
    match outcome(&report, SLOT_B) {
        BakeOutcome::Failed(error) => assert!(error.message().contains(&path_b), "{error}"),
        other => panic!("{other:?}"),
    }
    // The others, whose files are what the bake would write, are baked again.
    let entries = baked_entries(&bake);
    for slot in [SLOT_A, SLOT_C, SLOT_D] {
        assert!(entries.contains_key(slot), "{report}");
    }
}
