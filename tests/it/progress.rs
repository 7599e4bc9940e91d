//! Loading states built with the crates Bevy games use (iyes_progress, bevy_asset_loader) wait
//! for the provider's critical requests through `ProviderProgressPlugin`.

use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_asset_loader::prelude::*;
use bevy_asset_provider::observe::ProviderProgressPlugin;
use bevy_asset_provider::observe::{CriticalAsset, LoadingProgress};
use bevy_asset_provider::prelude::*;
use iyes_progress::{ProgressPlugin, ProgressTracker};

use crate::common::*;

#[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Game {
    #[default]
    Loading,
    Playing,
    Broken,
}

fn app_with(source: std::sync::Arc<FakeGenerator>) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default(), StatesPlugin))
        .init_asset::<Image>()
        .add_plugins(plugin_with(source))
        .init_state::<Game>()
        .add_plugins(ProviderProgressPlugin::new(Game::Loading).on_failure(Game::Broken));
    app
}

/// Spawns the critical requests as a game does: when the loading state is entered (a loading
/// state with nothing to wait for ends at once).
fn spawn_critical_on_enter(app: &mut App, prompts: &'static [&'static str]) {
    app.add_systems(OnEnter(Game::Loading), move |mut commands: Commands| {
        for prompt in prompts {
            commands.spawn((AssetRequest::image().prompt(*prompt), CriticalAsset));
        }
    });
}

fn critical(app: &mut App) -> Vec<Entity> {
    app.world_mut()
        .query_filtered::<Entity, With<CriticalAsset>>()
        .iter(app.world())
        .collect()
}

fn state(app: &App) -> Game {
    *app.world().resource::<State<Game>>().get()
}

#[test]
fn iyes_progress_leaves_the_loading_state_when_the_critical_requests_are_ready() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 4,
        height: 4,
    });
    let mut app = app_with(source.clone());
    app.add_plugins(
        ProgressPlugin::<Game>::new().with_state_transition(Game::Loading, Game::Playing),
    );
    spawn_critical_on_enter(&mut app, &["title", "menu"]);
    app.finish();
    app.cleanup();
    app.update();
    let critical = critical(&mut app);
    assert_eq!(critical.len(), 2);
    update_until(&mut app, "both requests reach the source", |_| {
        source.calls() == 2
    });
    gate.add_permits(1);
    update_until(&mut app, "one request is ready", |app| {
        critical
            .iter()
            .filter(|entity| task(app, **entity).status() == TaskStatus::Completed)
            .count()
            == 1
    });
    app.update();
    assert_eq!(state(&app), Game::Loading, "one request is still open");
    let global = app
        .world()
        .resource::<ProgressTracker<Game>>()
        .get_global_progress();
    assert!(
        global.done >= 100 && global.done < global.total,
        "{global:?}"
    );
    assert_eq!(
        app.world().resource::<LoadingProgress>().ready,
        1,
        "the loading screen's figure follows"
    );
    gate.add_permits(1);
    update_until(&mut app, "the game plays", |app| {
        state(app) == Game::Playing
    });
}

#[test]
fn a_failed_critical_request_enters_the_failure_state() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "refused",
    )));
    let mut app = app_with(source);
    app.add_plugins(
        ProgressPlugin::<Game>::new().with_state_transition(Game::Loading, Game::Playing),
    );
    spawn_critical_on_enter(&mut app, &["refused"]);
    app.finish();
    app.cleanup();
    update_until(&mut app, "the failure state", |app| {
        state(app) == Game::Broken
    });
}

#[test]
fn a_bevy_asset_loader_loading_state_waits_for_the_critical_requests() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 4,
        height: 4,
    });
    let mut app = app_with(source.clone());
    // As bevy_asset_loader's progress tracking is meant to be used: its loading state reports
    // into iyes_progress, which makes the transition when every entry is done.
    app.add_plugins(
        ProgressPlugin::<Game>::new().with_state_transition(Game::Loading, Game::Playing),
    )
    .add_loading_state(LoadingState::new(Game::Loading).on_failure_continue_to_state(Game::Broken));
    spawn_critical_on_enter(&mut app, &["splash"]);
    app.finish();
    app.cleanup();
    update_until(&mut app, "the request reaches the source", |_| {
        source.calls() == 1
    });
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(state(&app), Game::Loading, "the request is still open");
    gate.add_permits(1);
    update_until(&mut app, "the game plays", |app| {
        state(app) == Game::Playing
    });
}
