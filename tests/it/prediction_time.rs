//! The planner against time: it starts what would be late if it waited for the next choice,
//! as deep as that takes, defers the rest, learns how long jobs and reading take, keeps to the
//! spend rate, and ranks `once` media as cheaper.

use std::time::Duration;

use crate::common::*;
use crate::prediction::{app_with_graph as app_with, choose, enter, provider};
use bevy::prelude::*;
use bevy_asset_provider::prediction::{
    GenerationTime, Planner, PredictionSettings, PredictionState, PredictionTiming,
};
use bevy_asset_provider::prelude::*;
use serde_json::json;

/// start → a → b → c → d → e, one way on at every node.
fn corridor() -> SceneGraph {
    let ids = ["start", "a", "b", "c", "d", "e"];
    let nodes: Vec<_> = ids
        .iter()
        .map(|id| json!({"id": id, "type": "scene", "label": id, "meta": {"prompt": format!("the {id}"), "strategy": "per_player"}}))
        .collect();
    let edges: Vec<_> = ids
        .windows(2)
        .map(|pair| json!({"id": format!("to_{}", pair[1]), "from": pair[0], "to": pair[1], "label": pair[1], "weight": 1.0}))
        .collect();
    let graph = json!({"id": "corridor", "title": "Corridor", "startNodeId": "start", "nodes": nodes, "edges": edges});
    SceneGraph::from_json(graph.to_string().as_bytes(), "corridor.scene.json").unwrap()
}

/// start → shared (`once`) | own (`per_player`), equally likely.
fn fork() -> SceneGraph {
    let node = |id: &str, strategy: &str| json!({"id": id, "type": "scene", "label": id, "meta": {"prompt": format!("the {id}"), "strategy": strategy}});
    let edge = |to: &str| json!({"id": format!("to_{to}"), "from": "start", "to": to, "label": to, "weight": 1.0});
    let graph = json!({
        "id": "fork", "title": "Fork", "startNodeId": "start",
        "nodes": [node("start", "per_player"), node("own", "per_player"), node("shared", "once")],
        "edges": [edge("own"), edge("shared")],
    });
    SceneGraph::from_json(graph.to_string().as_bytes(), "fork.scene.json").unwrap()
}

/// Images take 10 s and players read 10 s (5 s when quick), as the settings assume.
fn slow_world() -> PredictionSettings {
    PredictionSettings::default()
        .planner(Planner::AgainstTime)
        .expect_reading(Duration::from_secs(10))
        .expect_generation(
            MediaKind::Image,
            GenerationTime::new(Duration::from_secs(10), Duration::from_secs(10)),
        )
}

fn state(app: &App) -> &PredictionState {
    app.world().resource::<PredictionState>()
}

#[test]
fn media_that_would_be_late_is_started_as_deep_as_it_takes_and_the_rest_waits() {
    let generator = FakeGenerator::new(Behaviour::Stall);
    let (mut app, graph) = app_with(generator.clone(), slow_world(), corridor());
    enter(&mut app, &graph, "start");
    update_until(&mut app, "the prefetches start", |app| {
        provider(app).prefetches_in_flight() == 3
    });
    // A quick reader needs a in 5 s, b in 10 s, c in 15 s, d in 20 s. A slow job (10 s, with a
    // margin 12.5 s) started at the next choice, 5 s from now at the earliest, would be late
    // for a, b and c, so they start now; d can wait for that choice.
    let planned = state(&app);
    for node in ["a", "b", "c"] {
        assert!(planned.is_target(node, &format!("to_{node}")), "{node}");
    }
    assert!(!planned.is_target("d", "to_d") && !planned.is_target("e", "to_e"));
    let expected = planned
        .expected_in("c", "to_c")
        .expect("c's arrival is expected");
    assert!(
        expected <= Duration::from_secs(10) && expected > Duration::from_secs(9),
        "{expected:?}"
    );

    // Next steps, for the same world, looks two choices ahead at most and never past them.
    let settings = slow_world().planner(Planner::NextSteps);
    let (mut app, graph) = app_with(FakeGenerator::new(Behaviour::Stall), settings, corridor());
    enter(&mut app, &graph, "start");
    update_until(&mut app, "the prefetches start", |app| {
        provider(app).prefetches_in_flight() == 2
    });
    assert!(state(&app).is_target("b", "to_b") && !state(&app).is_target("c", "to_c"));
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(provider(&app).prefetches_in_flight(), 2);
}

#[test]
fn a_choice_brings_the_next_late_media_in_and_the_spend_rate_holds() {
    let generator = FakeGenerator::new(Behaviour::Stall);
    let settings = slow_world().max_per_visited_node(1.0);
    let (mut app, graph) = app_with(generator.clone(), settings, corridor());
    enter(&mut app, &graph, "start");
    update_until(&mut app, "a prefetch starts", |app| {
        provider(app).stats().prefetched == 1
    });
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(
        provider(&app).stats().prefetched,
        1,
        "one node visited, one prefetch"
    );
    assert!(state(&app).is_target("a", "to_a"), "the nearest first");
    choose(&mut app, &graph, "start", "to_a");
    update_until(&mut app, "the next prefetch starts", |app| {
        state(app).is_target("b", "to_b")
    });
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(provider(&app).stats().prefetched, 2, "two nodes visited");
}

#[test]
fn once_media_is_ranked_as_cheaper_than_media_for_one_player() {
    let generator = FakeGenerator::new(Behaviour::Stall);
    let settings = slow_world().max_per_visited_node(1.0);
    let (mut app, graph) = app_with(generator.clone(), settings, fork());
    enter(&mut app, &graph, "start");
    update_until(&mut app, "a prefetch starts", |app| {
        provider(app).stats().prefetched == 1
    });
    assert!(state(&app).is_target("shared", "to_shared"));
    assert!(!state(&app).is_target("own", "to_own"));
}

#[test]
fn generation_and_reading_times_are_learned_from_what_happens() {
    let generator = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let (mut app, graph) = app_with(generator, slow_world(), corridor());
    let settings = app.world().resource::<PredictionSettings>().clone();
    enter(&mut app, &graph, "start");
    for (from, to) in [("start", "a"), ("a", "b"), ("b", "c"), ("c", "d")] {
        update_until(&mut app, "the node's media arrives", |app| {
            let graph = corridor();
            let request = graph
                .node_media(to, graph.edge(&format!("to_{to}")))
                .remove(0);
            let provider = provider(app);
            provider.get(&provider.key_for(&request)).is_some()
        });
        choose(&mut app, &graph, from, &format!("to_{to}"));
    }
    let timing = app.world().resource::<PredictionTiming>();
    let images = timing.generation(MediaKind::Image, &settings);
    assert!(images.p50 < Duration::from_secs(10), "{images:?}");
    let (reading, _) = timing.reading("e", &settings);
    assert!(reading < Duration::from_secs(10), "{reading:?}");
}

#[test]
fn against_a_backend_as_slow_as_a_hosted_one_the_planner_learns_which_kinds_take_longer() {
    // The hosted profile at a twentieth of its times: cues 150 ms, pictures 400 ms at the median.
    let dev = pixsim_dev::DevBackend::builder()
        .latency_profile(pixsim_dev::LatencyProfile::hosted().scaled(1.0 / 20.0))
        .spawn()
        .unwrap();
    let backend = client(&dev)
        .audio_operation(bevy_asset_provider::backend::wire::GenerationType::TextToAudio)
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_max_concurrent_generations(8)
            .with_source(backend)
            .with_prediction(slow_world()),
    );
    let held: Vec<_> = (0..4)
        .flat_map(|n| {
            [
                AssetRequest::image().prompt(format!("picture {n}")),
                AssetRequest::audio().prompt(format!("cue {n}")),
            ]
        })
        .map(|request| {
            let mut provider = app.world_mut().resource_mut::<AssetProvider>();
            let handle = provider.request(request.clone());
            (provider.key_for(&request), handle)
        })
        .collect();
    update_until(&mut app, "every picture and cue arrives", |app| {
        held.iter().all(|(key, _)| provider(app).get(key).is_some())
    });
    app.update();
    let settings = app.world().resource::<PredictionSettings>().clone();
    let timing = app.world().resource::<PredictionTiming>();
    let (pictures, cues) = (
        timing.generation(MediaKind::Image, &settings),
        timing.generation(MediaKind::Audio, &settings),
    );
    // Measured, not the settings' 10 s, and in the backend's order.
    assert!(pictures.p50 < Duration::from_secs(5), "{pictures:?}");
    assert!(
        cues.p50 < pictures.p50,
        "cues {cues:?}, pictures {pictures:?}"
    );
}
