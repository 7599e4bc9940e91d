//! Scene graphs: the bundled story, the JSON shape's quirks (numeric ids, `null`s, defaults),
//! errors that name file and field, and the scene messages, headless through the AssetServer.

use bevy::asset::{AssetLoadError, AssetPlugin, LoadState};
use bevy::prelude::*;
use bevy_asset_provider::scene::{
    EnterNode, MakeChoice, SceneGraph, SceneGraphError, SceneMedia, ScenePlugin,
};
use bevy_asset_provider::{AssetRequest, MediaKind};

/// Upper bound on frames for anything asynchronous; loads of tiny files take a handful.
const MAX_UPDATES: usize = 100_000;

fn fixture(path: &str) -> (Vec<u8>, String) {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    (
        std::fs::read(&full).expect("fixture exists"),
        path.to_owned(),
    )
}

fn parse_fixture(path: &str) -> Result<SceneGraph, SceneGraphError> {
    let (bytes, name) = fixture(path);
    SceneGraph::from_json(&bytes, &name)
}

/// A headless app whose asset root is `root` (relative to the crate), with the scene graph part
/// of the plugin.
fn app(root: &str) -> App {
    let mut app = App::new();
    app.add_plugins((
        MinimalPlugins,
        AssetPlugin {
            file_path: format!("{}/{root}", env!("CARGO_MANIFEST_DIR")),
            ..default()
        },
    ))
    .add_plugins(ScenePlugin);
    app
}

/// Steps `app` until `done` holds, at most [`MAX_UPDATES`] frames.
fn update_until(app: &mut App, what: &str, mut done: impl FnMut(&mut App) -> bool) {
    for _ in 0..MAX_UPDATES {
        app.update();
        if done(app) {
            return;
        }
        // Lets the IO pool's threads run on a busy machine; not a sleep.
        std::thread::yield_now();
    }
    panic!("{what} did not happen within {MAX_UPDATES} updates");
}

fn load_state(app: &App, handle: &Handle<SceneGraph>) -> LoadState {
    app.world().resource::<AssetServer>().load_state(handle)
}

/// Every `(SceneMedia, AssetRequest)` spawned so far, sorted by edge, node, then picture first
/// (entity ids say nothing about spawn order).
fn scene_media(app: &mut App) -> Vec<(SceneMedia, AssetRequest)> {
    let mut query = app.world_mut().query::<(&SceneMedia, &AssetRequest)>();
    let mut rows: Vec<_> = query
        .iter(app.world())
        .map(|(media, request)| (media.clone(), request.clone()))
        .collect();
    rows.sort_by_key(|(media, _)| {
        (
            media.edge.clone(),
            media.node.clone(),
            media.kind == MediaKind::Audio,
        )
    });
    rows
}

#[test]
fn bundled_story_parses_and_validates() {
    let path = format!(
        "{}/assets/story/lighthouse.scene.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap();
    let graph = SceneGraph::from_json(&bytes, "story/lighthouse.scene.json").unwrap();

    assert_eq!(graph.title, "The Lighthouse Keeper");
    assert!((10..=12).contains(&graph.nodes.len()));
    assert_eq!(graph.start_node().asset_id.as_deref(), Some("harbor_dawn"));
    assert_eq!(
        graph.node("lantern_room").unwrap().asset_id.as_deref(),
        Some("lantern_room")
    );

    let endings: Vec<_> = graph
        .nodes
        .iter()
        .filter(|node| graph.choices(&node.id).next().is_none())
        .map(|node| node.id.as_str())
        .collect();
    assert_eq!(endings, ["ending_light", "ending_dark"]);

    let branching = graph
        .nodes
        .iter()
        .filter(|node| (2..=3).contains(&graph.choices(&node.id).count()))
        .count();
    assert!(branching * 2 > graph.nodes.len(), "most nodes branch");
    for node in &graph.nodes {
        let total: f32 = graph.choices(&node.id).map(|edge| edge.weight).sum();
        assert!(
            total == 0.0 || (total - 1.0).abs() < 1e-4,
            "weights out of {} sum to {total}",
            node.id
        );
        assert!(node.prompt().is_some(), "node {} has a prompt", node.id);
        let location = node.meta_str("location").unwrap();
        assert!(["harbor", "lighthouse", "cliffs", "cave", "village", "sea"].contains(&location));
    }
    // Exercises the parser's quirks: numeric ids, `isDefault: null`, a missing weight.
    assert_eq!(graph.edge("101").unwrap().to, "boat");
    assert_eq!(graph.edge("101").unwrap().is_default, None);
    assert_eq!(graph.edge("hidden_stair").unwrap().weight, 1.0);
}

#[test]
fn bundled_story_loads_through_the_asset_server() {
    let mut app = app("assets");
    let handle: Handle<SceneGraph> = app
        .world()
        .resource::<AssetServer>()
        .load("story/lighthouse.scene.json");
    update_until(&mut app, "the story loading", |app| {
        !matches!(
            load_state(app, &handle),
            LoadState::Loading | LoadState::NotLoaded
        )
    });
    let graphs = app.world().resource::<Assets<SceneGraph>>();
    assert_eq!(graphs.get(&handle).unwrap().id, "lighthouse");
}

#[test]
fn ids_may_be_strings_or_numbers() {
    let graph = parse_fixture("scenes/park.scene.json").unwrap();
    assert_eq!(graph.id, "1");
    assert_eq!(graph.start_node_id, "10");
    assert_eq!(
        graph
            .nodes
            .iter()
            .map(|n| n.id.as_str())
            .collect::<Vec<_>>(),
        ["10", "11", "12"]
    );
    let bench = graph.node("10").unwrap();
    assert_eq!(bench.asset_id.as_deref(), Some("456"));
    assert_eq!(bench.media_url.as_deref(), Some("/api/v1/assets/456/file"));
    assert_eq!(bench.node_type, "video");
    assert_eq!(graph.node("11").unwrap().asset_id, None, "null assetId");
    assert!(graph.node("12").unwrap().meta.is_empty(), "null meta");

    let walk = graph.edge("7").unwrap();
    assert_eq!((walk.from.as_str(), walk.to.as_str()), ("10", "11"));
    let gate = graph.edge("8").unwrap();
    assert_eq!((gate.from.as_str(), gate.to.as_str()), ("10", "12"));
    assert_eq!(
        graph
            .choices("10")
            .map(|e| e.id.as_str())
            .collect::<Vec<_>>(),
        ["7", "8"]
    );
}

#[test]
fn is_default_may_be_null_and_weight_defaults_to_one() {
    let graph = parse_fixture("scenes/park.scene.json").unwrap();
    let walk = graph.edge("7").unwrap();
    assert_eq!(walk.is_default, None);
    assert_eq!(walk.weight, 1.0, "absent weight");
    let gate = graph.edge("8").unwrap();
    assert_eq!(gate.is_default, Some(false));
    assert_eq!(gate.weight, 0.25);
    assert_eq!(gate.conditions, serde_json::json!({ "flag": "evening" }));
    let path = graph.edge("9").unwrap();
    assert_eq!(path.is_default, Some(true));
    assert_eq!(path.weight, 1.0, "null weight");
}

#[test]
fn a_bad_edge_target_names_the_field() {
    let error = parse_fixture("scenes/dangling.scene.json").unwrap_err();
    assert!(
        matches!(error, SceneGraphError::Invalid { .. }),
        "{error:?}"
    );
    assert_eq!(error.path(), "scenes/dangling.scene.json");
    assert_eq!(error.field(), Some("edges[1].to"));
    assert_eq!(
        error.to_string(),
        r#"scene file scenes/dangling.scene.json: edges[1].to: no node "99""#
    );
}

#[test]
fn a_type_error_names_the_field_line_and_column() {
    let error = parse_fixture("scenes/malformed.scene.json").unwrap_err();
    assert!(matches!(error, SceneGraphError::Parse { .. }), "{error:?}");
    assert_eq!(error.field(), Some("nodes[1].label"));
    let message = error.to_string();
    assert!(
        message.starts_with("scene file scenes/malformed.scene.json: nodes[1].label: invalid type"),
        "{message}"
    );
    assert!(message.contains("line 10 column"), "{message}");
}

#[test]
fn a_malformed_scene_fails_its_load_and_the_app_keeps_running() {
    let mut app = app("tests/fixtures");
    let server = app.world().resource::<AssetServer>().clone();
    let broken: Handle<SceneGraph> = server.load("scenes/malformed.scene.json");
    // Sent before the load fails: it waits, then is dropped with a warning.
    app.world_mut().write_message(EnterNode {
        graph: broken.clone(),
        node: "a".into(),
    });
    update_until(&mut app, "the malformed scene failing", |app| {
        load_state(app, &broken).is_failed()
    });

    let LoadState::Failed(error) = load_state(&app, &broken) else {
        unreachable!()
    };
    let message = error.to_string();
    assert!(message.contains("scenes/malformed.scene.json"), "{message}");
    assert!(message.contains("nodes[1].label"), "{message}");
    let AssetLoadError::AssetLoaderError(loader_error) = error.as_ref() else {
        panic!("not a loader error: {error}");
    };
    let scene_error = loader_error
        .error()
        .downcast_ref::<SceneGraphError>()
        .expect("the loader's own error");
    assert_eq!(scene_error.path(), "scenes/malformed.scene.json");
    assert_eq!(scene_error.field(), Some("nodes[1].label"));

    // The app keeps updating; the message for the failed graph is gone, and a good graph loaded
    // afterwards still works.
    app.world_mut().write_message(EnterNode {
        graph: broken.clone(),
        node: "a".into(),
    });
    let park: Handle<SceneGraph> = server.load("scenes/park.scene.json");
    app.world_mut().write_message(EnterNode {
        graph: park.clone(),
        node: "10".into(),
    });
    update_until(&mut app, "the park's media being requested", |app| {
        !scene_media(app).is_empty()
    });
    for _ in 0..10 {
        app.update();
    }
    let spawned = scene_media(&mut app);
    assert_eq!(spawned.len(), 1, "{spawned:?}");
    assert_eq!(spawned[0].0.graph, park);
}

#[test]
fn scene_messages_wait_for_the_graph_then_spawn_requests() {
    let mut app = app("tests/fixtures");
    let graph: Handle<SceneGraph> = app
        .world()
        .resource::<AssetServer>()
        .load("scenes/park.scene.json");
    // Not loaded yet: both wait, in order. The player ends at the fountain, whose media is all
    // that stays: the bench's entity was despawned when the choice was made.
    app.world_mut().write_message(EnterNode {
        graph: graph.clone(),
        node: "10".into(),
    });
    app.world_mut().write_message(MakeChoice {
        graph: graph.clone(),
        from: "10".into(),
        edge: "7".into(),
    });
    update_until(&mut app, "the scene requests", |app| {
        scene_media(app).len() >= 2
    });

    let spawned = scene_media(&mut app);
    let summary: Vec<_> = spawned
        .iter()
        .map(|(media, _)| (media.node.as_str(), media.edge.as_deref(), media.kind))
        .collect();
    // The park's nodes are `"video"`: clips with the `video` feature, stills without it.
    let shown = if cfg!(feature = "video") {
        MediaKind::Video
    } else {
        MediaKind::Image
    };
    assert_eq!(
        summary,
        [
            ("11", Some("7"), shown),
            ("11", Some("7"), MediaKind::Audio),
        ]
    );

    // The entered node is pre-made (assetId 456); the chosen one is keyed on the transition.
    let loaded = app.world().resource::<Assets<SceneGraph>>().get(&graph);
    let loaded = loaded.unwrap().clone();
    let bench = &loaded.node_media("10", None)[0];
    assert_eq!(bench.asset_id.as_deref(), Some("456"));
    assert_eq!(bench.scene_id.as_deref(), Some("10"));
    assert_eq!(bench.prompt.as_deref(), Some("Bench"));
    assert!(bench.tags.contains(&"scene:1".to_owned()));
    let fountain = &spawned[0].1;
    assert_eq!(fountain.scene_id.as_deref(), Some("10"));
    assert_eq!(fountain.choice_id.as_deref(), Some("7"));
    assert_eq!(fountain.to_scene_id.as_deref(), Some("11"));
    assert_eq!(fountain.location_id.as_deref(), Some("park"));
    assert_eq!(fountain.prompt.as_deref(), Some("a stone fountain at dusk"));
    let splash = &spawned[1].1;
    assert_eq!(splash.prompt.as_deref(), Some("water splashing"));
    assert_eq!(splash.choice_id.as_deref(), Some("7"));

    // The system's requests are exactly what a predictor would build.
    let edge = loaded.edge("7").unwrap();
    let predicted = loaded.node_media("11", Some(edge));
    assert_eq!(predicted, [fountain.clone(), splash.clone()]);

    // Unknown ids, and a choice from the wrong node, are ignored without a panic.
    for message in [
        MakeChoice {
            graph: graph.clone(),
            from: "10".into(),
            edge: "nope".into(),
        },
        MakeChoice {
            graph: graph.clone(),
            from: "12".into(),
            edge: "7".into(),
        },
    ] {
        app.world_mut().write_message(message);
    }
    app.world_mut().write_message(EnterNode {
        graph: graph.clone(),
        node: "404".into(),
    });
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(
        scene_media(&mut app).len(),
        2,
        "ignored messages change nothing"
    );
}

/// Scene media through the whole plugin: what the player leaves is cleaned up.
mod cleanup {
    use super::*;
    use crate::common::{Behaviour, FakeGenerator, collect, collected, headless_app, plugin_with};
    use bevy_asset_provider::prelude::*;
    use bevy_asset_provider::{AssetCancelled, RequestKey};

    /// A ring of four generated stills, a → b → c → d → a; `c` has a sound as well.
    const RING: &str = r#"{
        "id": "ring", "title": "Ring", "startNodeId": "a",
        "nodes": [
            { "id": "a", "type": "image", "label": "A", "meta": { "prompt": "a quay" } },
            { "id": "b", "type": "image", "label": "B", "meta": { "prompt": "a boat" } },
            { "id": "c", "type": "image", "label": "C",
              "meta": { "prompt": "a storm", "cue": "thunder" } },
            { "id": "d", "type": "image", "label": "D", "meta": { "prompt": "a beach" } }
        ],
        "edges": [
            { "id": "ab", "from": "a", "to": "b", "label": "Sail" },
            { "id": "bc", "from": "b", "to": "c", "label": "On" },
            { "id": "cd", "from": "c", "to": "d", "label": "Land" },
            { "id": "da", "from": "d", "to": "a", "label": "Home" }
        ]
    }"#;

    fn ring(app: &mut App) -> (Handle<SceneGraph>, SceneGraph) {
        let graph = SceneGraph::from_json(RING.as_bytes(), "ring.scene.json").unwrap();
        let handle = app
            .world_mut()
            .resource_mut::<Assets<SceneGraph>>()
            .add(graph.clone());
        (handle, graph)
    }

    /// The plugin's scene request entities: (entity, node, edge).
    fn scene_entities(app: &mut App) -> Vec<(Entity, String, Option<String>)> {
        let mut query = app
            .world_mut()
            .query_filtered::<(Entity, &SceneMedia), With<AssetRequest>>();
        query
            .iter(app.world())
            .map(|(entity, media)| (entity, media.node.clone(), media.edge.clone()))
            .collect()
    }

    /// The keys of the requests of `node` entered through `via`, as the provider keys them.
    fn keys(app: &App, graph: &SceneGraph, node: &str, via: Option<&str>) -> Vec<RequestKey> {
        let provider = app.world().resource::<AssetProvider>();
        graph
            .node_media(node, via.and_then(|edge| graph.edge(edge)))
            .iter()
            .map(|request| provider.key_for(request))
            .collect()
    }

    #[test]
    fn walking_ten_nodes_keeps_only_the_current_nodes_media() {
        let generator = FakeGenerator::new(Behaviour::Serve {
            width: 8,
            height: 8,
        });
        let mut app = headless_app(plugin_with(generator).without_prediction());
        let (handle, graph) = ring(&mut app);
        app.world_mut().write_message(EnterNode {
            graph: handle.clone(),
            node: "a".into(),
        });
        let mut at = "a".to_owned();
        let mut via: Option<String> = None;
        let mut kept_handles = Vec::new();
        for step in 0..=10 {
            if step > 0 {
                let edge = graph.choices(&at).next().unwrap().clone();
                app.world_mut().write_message(MakeChoice {
                    graph: handle.clone(),
                    from: at.clone(),
                    edge: edge.id.clone(),
                });
                at = edge.to.clone();
                via = Some(edge.id.clone());
            }
            let wanted = graph
                .node_media(&at, via.as_deref().and_then(|e| graph.edge(e)))
                .len();
            crate::common::update_until(&mut app, "the node's media is served", |app| {
                let here: Vec<Entity> = scene_entities(app)
                    .into_iter()
                    .filter(|(_, node, edge)| *node == at && *edge == via)
                    .map(|(entity, ..)| entity)
                    .collect();
                here.len() == wanted
                    && here.iter().all(|entity| {
                        app.world()
                            .get::<GenerationTask>(*entity)
                            .is_some_and(|task| task.status() == TaskStatus::Completed)
                    })
            });
            let spawned = scene_entities(&mut app);
            assert!(
                spawned
                    .iter()
                    .all(|(_, node, edge)| *node == at && *edge == via),
                "step {step}, at {at} via {via:?}: {} scene request entities, for {:?}",
                spawned.len(),
                spawned
                    .iter()
                    .map(|(_, node, edge)| (node.as_str(), edge.as_deref()))
                    .collect::<Vec<_>>()
            );
            assert_eq!(spawned.len(), wanted, "step {step}");
            // What a game keeps from a node: a clone of its picture's handle.
            let picture = spawned
                .iter()
                .filter_map(|(entity, ..)| app.world().get::<GenerationTask>(*entity))
                .find_map(|task| task.handle().image().cloned())
                .expect("every node has a picture");
            kept_handles.push(picture);
        }
        // Handles kept from nodes long left still show their media.
        let images = app.world().resource::<Assets<Image>>();
        for handle in &kept_handles {
            let image = images.get(handle).expect("kept media");
            assert_eq!(image.width(), 8);
        }
    }

    #[test]
    fn a_node_left_before_its_media_arrives_has_its_job_cancelled_unless_prefetched() {
        // Without prediction: the job of the node left is cancelled.
        let mut app =
            headless_app(plugin_with(FakeGenerator::new(Behaviour::Stall)).without_prediction());
        collect::<AssetCancelled>(&mut app);
        let (handle, graph) = ring(&mut app);
        let quay = keys(&app, &graph, "a", None);
        app.world_mut().write_message(EnterNode {
            graph: handle.clone(),
            node: "a".into(),
        });
        crate::common::update_until(&mut app, "the quay is being made", |app| {
            app.world().resource::<AssetProvider>().status(&quay[0]) == Some(TaskStatus::Pending)
        });
        app.world_mut().write_message(MakeChoice {
            graph: handle.clone(),
            from: "a".into(),
            edge: "ab".into(),
        });
        crate::common::update_until(&mut app, "the quay's job is cancelled", |app| {
            app.world()
                .resource::<AssetProvider>()
                .status(&quay[0])
                .is_none()
                && collected::<AssetCancelled>(app)
                    .iter()
                    .any(|cancelled| cancelled.key == quay[0])
        });

        // With prediction: the boat is prefetched from the quay; the player goes to the boat
        // and on before it is made. The prefetch still holds its job: not cancelled.
        let mut app = headless_app(plugin_with(FakeGenerator::new(Behaviour::Stall)));
        collect::<AssetCancelled>(&mut app);
        let (handle, graph) = ring(&mut app);
        let boat = keys(&app, &graph, "b", Some("ab"));
        let storm = keys(&app, &graph, "c", Some("bc"));
        app.world_mut().write_message(EnterNode {
            graph: handle.clone(),
            node: "a".into(),
        });
        crate::common::update_until(&mut app, "the boat is prefetched", |app| {
            app.world().resource::<AssetProvider>().status(&boat[0]) == Some(TaskStatus::Pending)
        });
        for (from, edge) in [("a", "ab"), ("b", "bc")] {
            app.world_mut().write_message(MakeChoice {
                graph: handle.clone(),
                from: from.into(),
                edge: edge.into(),
            });
            app.update();
        }
        crate::common::update_until(&mut app, "the storm's requests run", |app| {
            let provider = app.world().resource::<AssetProvider>();
            storm
                .iter()
                .all(|key| provider.status(key) == Some(TaskStatus::Pending))
                && scene_entities(app).iter().all(|(_, node, _)| node == "c")
        });
        assert_eq!(
            app.world().resource::<AssetProvider>().status(&boat[0]),
            Some(TaskStatus::Pending),
            "the prefetch keeps the boat's job"
        );
        assert!(
            !collected::<AssetCancelled>(&app)
                .iter()
                .any(|cancelled| cancelled.key == boat[0])
        );
    }
}
