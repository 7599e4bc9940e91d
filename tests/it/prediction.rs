//! Prediction, lanes and the loading state: ranking by weights and counts, the budget, abandoned
//! branches, foreground requests joining prefetches, and foreground priority.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_asset_provider::RequestKey;
use bevy_asset_provider::observe::{CriticalAsset, LoadingProgress, LoadingStatePlugin};
use bevy_asset_provider::prediction::{Planner, PredictionSettings, SceneFlags};
use bevy_asset_provider::prediction::{PredictionContext, Predictor, WeightedPredictor};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use pixsim_dev::DevBackend;
use serde_json::json;

/// start → left (weight 3) | right (weight 1) | locked (needs the key);
/// left → cave | shore; right → tower.
fn fixture() -> SceneGraph {
    let node = |id: &str| json!({"id": id, "type": "video", "label": id, "meta": {"prompt": format!("the {id}")}});
    let edge = |id: &str, from: &str, to: &str, weight: f32| json!({"id": id, "from": from, "to": to, "label": id, "weight": weight});
    let mut locked = edge("to_vault", "start", "vault", 10.0);
    locked["conditions"] = json!({"has_key": true});
    let nodes = ["start", "left", "right", "vault", "cave", "shore", "tower"].map(node);
    let graph = json!({
        "id": "fixture", "title": "Fixture", "startNodeId": "start",
        "nodes": nodes,
        "edges": [
            edge("to_left", "start", "left", 3.0),
            edge("to_right", "start", "right", 1.0),
            locked,
            edge("to_cave", "left", "cave", 1.0),
            edge("to_shore", "left", "shore", 1.0),
            edge("to_tower", "right", "tower", 1.0),
        ],
    });
    SceneGraph::from_json(graph.to_string().as_bytes(), "fixture.scene.json").unwrap()
}

fn rank(
    graph: &SceneGraph,
    flags: &SceneFlags,
    counts: &dyn Fn(&str) -> u64,
) -> Vec<(String, f32)> {
    let context = PredictionContext {
        graph,
        at: "start",
        flags,
        counts,
    };
    WeightedPredictor::default()
        .predict(&context)
        .into_iter()
        .map(|step| (step.via, step.probability))
        .collect()
}

#[test]
fn the_predictor_ranks_by_weight_then_by_what_players_chose() {
    let graph = fixture();
    let flags = SceneFlags::default();
    let ranked = rank(&graph, &flags, &|_| 0);
    let order: Vec<&str> = ranked.iter().map(|(via, _)| via.as_str()).collect();
    assert_eq!(
        order,
        ["to_left", "to_cave", "to_shore", "to_right", "to_tower"],
        "{ranked:?}"
    );
    assert!((ranked[0].1 - 0.75).abs() < 1e-6);
    assert!((ranked[1].1 - 0.375).abs() < 1e-6);
    // Players mostly went right: 40 choices outweigh the authored 3 : 1.
    let ranked = rank(&graph, &flags, &|edge| {
        if edge == "to_right" { 40 } else { 0 }
    });
    assert_eq!(ranked[0].0, "to_right", "{ranked:?}");
    // The vault is offered only with the key.
    assert!(!ranked.iter().any(|(via, _)| via == "to_vault"));
    let mut with_key = SceneFlags::default();
    with_key.set("has_key", true);
    let ranked = rank(&graph, &with_key, &|_| 0);
    assert_eq!(ranked[0].0, "to_vault", "{ranked:?}");
}

/// An app with `source` and prediction under `settings`, the fixture graph added.
fn app_with(source: Arc<FakeGenerator>, settings: PredictionSettings) -> (App, Handle<SceneGraph>) {
    app_with_graph(source, settings, fixture())
}

/// An app with `source` and prediction under `settings`, `graph` added.
pub(crate) fn app_with_graph(
    source: Arc<FakeGenerator>,
    settings: PredictionSettings,
    graph: SceneGraph,
) -> (App, Handle<SceneGraph>) {
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_shared_source(source)
        .with_max_concurrent_generations(8)
        .with_default_timeout(Duration::from_secs(10))
        .with_prediction(settings);
    let mut app = headless_app(plugin);
    let graph = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(graph);
    app.update();
    (app, graph)
}

pub(crate) fn enter(app: &mut App, graph: &Handle<SceneGraph>, node: &str) {
    app.world_mut().write_message(EnterNode {
        graph: graph.clone(),
        node: node.to_owned(),
    });
    app.update();
}

pub(crate) fn choose(app: &mut App, graph: &Handle<SceneGraph>, from: &str, edge: &str) {
    app.world_mut().write_message(MakeChoice {
        graph: graph.clone(),
        from: from.to_owned(),
        edge: edge.to_owned(),
    });
    app.update();
}

pub(crate) fn provider(app: &App) -> &AssetProvider {
    app.world().resource::<AssetProvider>()
}

fn key_of(app: &App, graph: &SceneGraph, node: &str, via: &str) -> RequestKey {
    let request = graph.node_media(node, graph.edge(via)).remove(0);
    provider(app).key_for(&request)
}

#[test]
fn the_budget_is_never_exceeded() {
    let generator = FakeGenerator::new(Behaviour::Stall);
    let settings = PredictionSettings::default()
        .max_in_flight(2)
        .max_steps_per_node(4)
        .max_per_session(3);
    let (mut app, graph) = app_with(generator.clone(), settings);
    enter(&mut app, &graph, "start");
    for _ in 0..20 {
        app.update();
        assert!(provider(&app).prefetches_in_flight() <= 2);
    }
    assert_eq!(provider(&app).stats().prefetched, 2);
    // Going elsewhere frees the slots; the session's cap of 3 still holds.
    choose(&mut app, &graph, "start", "to_right");
    for _ in 0..20 {
        app.update();
        assert!(provider(&app).prefetches_in_flight() <= 2);
    }
    assert_eq!(provider(&app).stats().prefetched, 3);
}

#[test]
fn abandoned_branches_are_cancelled_and_the_chosen_one_is_used() {
    let generator = FakeGenerator::new(Behaviour::Stall);
    let settings = PredictionSettings::default().planner(Planner::NextSteps);
    let (mut app, graph) = app_with(generator.clone(), settings);
    let fixture = fixture();
    enter(&mut app, &graph, "start");
    update_until(&mut app, "prefetches start", |app| {
        provider(app).prefetches_in_flight() == 4
    });
    // Every job (the start node's and the four prefetches) has reached the generator, so each
    // abandoned prefetch cost something.
    update_until(&mut app, "the prefetches reach the generator", |app| {
        generator.calls() as u64 == provider(app).stats().jobs
    });
    let left = key_of(&app, &fixture, "left", "to_left");
    let right = key_of(&app, &fixture, "right", "to_right");
    let cave = key_of(&app, &fixture, "cave", "to_cave");
    choose(&mut app, &graph, "start", "to_right");
    update_until(&mut app, "the abandoned prefetches are cancelled", |_| {
        generator.cancelled().len() >= 2
    });
    let cancelled = generator.cancelled();
    assert!(
        cancelled.contains(&left) && cancelled.contains(&cave),
        "{cancelled:?}"
    );
    assert!(!cancelled.contains(&right), "the chosen branch is kept");
    update_until(
        &mut app,
        "the abandoned prefetches count as wasted",
        |app| provider(app).stats().prefetch_wasted >= 2,
    );
    assert_eq!(provider(&app).stats().prefetch_used, 1);
}

#[test]
fn a_foreground_request_joins_a_prefetch_in_flight_with_one_create() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(400))
        .spawn()
        .unwrap();
    let source = client(&dev).build().unwrap();
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_source(source)
        .with_prediction(
            PredictionSettings::default()
                .planner(Planner::NextSteps)
                .max_steps_per_node(1),
        );
    let mut app = headless_app(plugin);
    let graph = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(fixture());
    app.update();
    enter(&mut app, &graph, "start");
    update_until(&mut app, "the prefetch is created", |_| {
        dev.stats().creates == 2
    });
    choose(&mut app, &graph, "start", "to_left");
    let fixture = fixture();
    let key = key_of(&app, &fixture, "left", "to_left");
    update_until(&mut app, "the chosen node's media is ready", |app| {
        provider(app).get(&key).is_some()
    });
    let stats = provider(&app).stats();
    assert_eq!(stats.prefetch_used, 1, "{stats:?}");
    assert!(stats.joined >= 1, "{stats:?}");
    // The start node's media and the prefetched node's: one create each.
    let creates_now = dev.stats().creates;
    assert_eq!(creates_now, dev.stats().new_generations);
    assert_eq!(
        dev.stats().creates,
        2 + (provider(&app).stats().prefetched - 1),
        "no create was made twice"
    );
}

#[test]
fn a_foreground_request_starts_while_prefetches_fill_the_slots() {
    let gate = gate();
    let generator = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 2,
        height: 2,
    });
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .without_prediction()
        .with_shared_source(generator.clone())
        .with_max_concurrent_generations(3);
    let mut app = headless_app(plugin);
    for n in 0..6 {
        let _ = app
            .world_mut()
            .resource_mut::<AssetProvider>()
            .prefetch(AssetRequest::image().prompt(format!("maybe {n}")));
    }
    update_until(&mut app, "background work takes its slots", |_| {
        generator.calls() == 2
    });
    for _ in 0..20 {
        app.update();
    }
    assert_eq!(
        generator.calls(),
        2,
        "one slot stays free for the foreground"
    );
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("now"))
        .id();
    update_until(
        &mut app,
        "the foreground request reaches the generator",
        |_| generator.calls() == 3,
    );
    gate.add_permits(100);
    until_status(&mut app, entity, TaskStatus::Completed);
}

#[test]
fn the_backend_hears_a_low_priority_for_prefetches() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    let source = client(&dev).build().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .prefetch(AssetRequest::image().scene("later").prompt("later, maybe"));
    // Another scene: the server's cache key ignores prompts, and one create each is counted.
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().scene("now").prompt("right now"))
        .id();
    until_status(&mut app, entity, TaskStatus::Completed);
    update_until(&mut app, "the prefetch completes", |app| {
        provider(app).prefetches_in_flight() == 0
    });
    let priorities = dev.create_priorities();
    assert_eq!(priorities.len(), 2, "{priorities:?}");
    assert!(
        priorities.contains(&1) && priorities.contains(&5),
        "{priorities:?}"
    );
}

#[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Game {
    #[default]
    Loading,
    Menu,
    LevelLoading,
    Playing,
    Broken,
}

fn loading_app(source: Arc<FakeGenerator>) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), StatesPlugin))
        .init_asset::<Image>()
        .add_plugins(plugin_with(source))
        .init_state::<Game>()
        .add_plugins(
            LoadingStatePlugin::new(Game::Loading, Game::Playing).on_failure(Game::Broken),
        );
    app.finish();
    app.cleanup();
    app
}

fn state(app: &App) -> Game {
    *app.world().resource::<State<Game>>().get()
}

#[test]
fn the_loading_state_waits_for_critical_requests_then_moves_on() {
    let gate = gate();
    let generator = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 2,
        height: 2,
    });
    let mut app = loading_app(generator);
    for n in 0..2 {
        app.world_mut().spawn((
            AssetRequest::image().prompt(format!("title {n}")),
            CriticalAsset,
        ));
    }
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(state(&app), Game::Loading);
    assert_eq!(app.world().resource::<LoadingProgress>().total, 2);
    gate.add_permits(1);
    update_until(&mut app, "one critical request is ready", |app| {
        app.world().resource::<LoadingProgress>().ready == 1
    });
    assert!((app.world().resource::<LoadingProgress>().fraction() - 0.5).abs() < 0.26);
    assert_eq!(state(&app), Game::Loading);
    gate.add_permits(1);
    update_until(&mut app, "the game moves on", |app| {
        state(app) == Game::Playing
    });
}

#[test]
fn a_failed_critical_request_moves_to_the_failure_state() {
    let generator = FakeGenerator::new(Behaviour::Fail(AssetError::generation("no")));
    let mut app = loading_app(generator);
    app.world_mut()
        .spawn((AssetRequest::image().prompt("title"), CriticalAsset));
    update_until(&mut app, "the game gives up", |app| {
        state(app) == Game::Broken
    });
}

/// Fails its first request; serves the others once its gate lets each through.
struct FailsFirst {
    calls: std::sync::atomic::AtomicUsize,
    gate: Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl bevy_asset_provider::source::AssetSource for FailsFirst {
    fn name(&self) -> &str {
        "fails_first"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(
        &self,
        _: &bevy_asset_provider::source::SourceRequest,
    ) -> Result<Option<bevy_asset_provider::source::SourcedMedia>, AssetError> {
        if self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            return Err(AssetError::generation("the backend hiccuped"));
        }
        self.gate.acquire().await.expect("open").forget();
        Ok(Some(bevy_asset_provider::source::SourcedMedia::new(
            png(2, 2, [9, 9, 9, 255]),
            "image/png",
            "fails_first",
        )))
    }
}

#[test]
fn a_loading_state_entered_again_after_a_failure_waits_again_and_moves_on() {
    let gate = gate();
    let source = Arc::new(FailsFirst {
        calls: Default::default(),
        gate: gate.clone(),
    });
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), StatesPlugin))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_shared_source(source.clone())
                .with_default_timeout(Duration::from_secs(10)),
        )
        .init_state::<Game>()
        .add_plugins(
            LoadingStatePlugin::new(Game::Loading, Game::Playing).on_failure(Game::Broken),
        );
    app.finish();
    app.cleanup();
    let title = app
        .world_mut()
        .spawn((AssetRequest::image().prompt("title"), CriticalAsset))
        .id();
    update_until(&mut app, "the first try fails", |app| {
        state(app) == Game::Broken
    });
    // The player picks "Retry".
    app.world_mut()
        .resource_mut::<NextState<Game>>()
        .set(Game::Loading);
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(
        state(&app),
        Game::Loading,
        "it waits for the retried request"
    );
    // Asked again: in flight (how far the runtime got depends on the machine's load).
    assert!(!task(&app, title).status().is_terminal());
    assert_eq!(app.world().resource::<LoadingProgress>().open(), 1);
    gate.add_permits(1);
    update_until(&mut app, "the game moves on", |app| {
        state(app) == Game::Playing
    });
    assert_eq!(task(&app, title).status(), TaskStatus::Completed);
    assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[test]
fn two_loading_states_of_one_states_type_each_wait_and_move_to_their_own_next() {
    let gate = gate();
    let generator = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 2,
        height: 2,
    });
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), StatesPlugin))
        .init_asset::<Image>()
        .add_plugins(plugin_with(generator))
        .init_state::<Game>()
        .add_plugins((
            LoadingStatePlugin::new(Game::Loading, Game::Menu).on_failure(Game::Broken),
            LoadingStatePlugin::new(Game::LevelLoading, Game::Playing).on_failure(Game::Broken),
        ))
        .add_systems(OnEnter(Game::LevelLoading), |mut commands: Commands| {
            commands.spawn((AssetRequest::image().prompt("level one"), CriticalAsset));
        });
    app.finish();
    app.cleanup();
    app.world_mut()
        .spawn((AssetRequest::image().prompt("menu"), CriticalAsset));
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(state(&app), Game::Loading);
    gate.add_permits(1);
    update_until(&mut app, "the menu", |app| state(app) == Game::Menu);
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(
        state(&app),
        Game::Menu,
        "the menu stays until the player starts"
    );
    app.world_mut()
        .resource_mut::<NextState<Game>>()
        .set(Game::LevelLoading);
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(state(&app), Game::LevelLoading, "it waits for the level");
    gate.add_permits(1);
    update_until(&mut app, "the level plays", |app| {
        state(app) == Game::Playing
    });
}

#[test]
fn choices_kept_on_disk_count_at_the_next_start() {
    let dir = TempDir::new("choice_counts");
    let run = |dir: &std::path::Path| {
        let plugin = AssetProviderPlugin::new()
            .with_disk_cache_dir(dir)
            .with_shared_source(FakeGenerator::new(Behaviour::Serve {
                width: 2,
                height: 2,
            }))
            .with_default_timeout(Duration::from_secs(10));
        let mut app = headless_app(plugin);
        let graph = app
            .world_mut()
            .resource_mut::<Assets<SceneGraph>>()
            .add(fixture());
        app.update();
        (app, graph)
    };
    let counts = |app: &App| {
        app.world()
            .resource::<bevy_asset_provider::prediction::ChoiceCounts>()
            .get("fixture", "to_right")
    };
    {
        let (mut app, graph) = run(dir.path());
        enter(&mut app, &graph, "start");
        choose(&mut app, &graph, "start", "to_right");
        assert_eq!(counts(&app), 1);
        // The choice is on disk once the disk tier has done what it was sent.
        update_until(&mut app, "the disk tier to open", |app| {
            provider(app).disk().stats().is_some()
        });
    }
    let (mut app, _graph) = run(dir.path());
    update_until(&mut app, "the earlier run's count", |app| counts(app) == 1);
}
