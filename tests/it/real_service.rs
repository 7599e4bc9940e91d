//! The plugin against a running PixSim7 (not the dev backend): the behaviours the real service
//! is known to differ in. Ignored unless asked for, since they need the service:
//!
//! ```sh
//! PIXSIM_URL=http://127.0.0.1:8000 PIXSIM_TOKEN=… \
//!   cargo test --test it real_service -- --ignored --test-threads 1
//! ```
//!
//! Every run uses fresh prompts, so the service's earlier work does not answer them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::backend::{PixSimConfig, PixSimSource};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;

fn backend() -> PixSimSource {
    PixSimConfig::from_env()
        .and_then(PixSimConfig::builder)
        .expect("PIXSIM_URL and PIXSIM_TOKEN (or PIXSIM_EMAIL and PIXSIM_PASSWORD)")
        .poll_interval(Duration::from_millis(500), Duration::from_secs(3))
        .build()
        .unwrap()
}

/// A word no earlier run used.
fn fresh() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}")
}

fn game(session: PlaySession, dir: Option<&std::path::Path>) -> App {
    let plugin = AssetProviderPlugin::new()
        .with_session(session)
        .with_source(backend())
        .with_default_timeout(Duration::from_secs(120));
    let plugin = match dir {
        Some(dir) => plugin.with_disk_cache_dir(dir),
        None => plugin.without_disk_cache(),
    };
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(plugin);
    app.finish();
    app.cleanup();
    app.update();
    app
}

fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        app.update();
        let task = task(app, entity);
        if task.status().is_terminal() {
            return task;
        }
        assert!(std::time::Instant::now() < deadline, "no end for {task:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The backend's asset id in a task's origin (`…: asset 17`).
fn asset_of(task: &GenerationTask) -> String {
    task.origin()
        .and_then(|origin| origin.rsplit("asset ").next())
        .unwrap_or_default()
        .to_owned()
}

#[test]
#[ignore = "needs a running PixSim7: PIXSIM_URL and PIXSIM_TOKEN"]
fn once_requests_with_other_prompts_for_one_transition_get_their_own_pictures() {
    let word = fresh();
    let mut app = game(PlaySession::default(), None);
    let transition = || {
        AssetRequest::image()
            .scene(format!("5{word}"))
            .to_scene("6")
    };
    let first = run(
        &mut app,
        transition().prompt(format!("a quiet harbour {word}")),
    );
    let second = run(
        &mut app,
        transition().prompt(format!("a burning tower {word}")),
    );
    assert_eq!(first.status(), TaskStatus::Completed, "{:?}", first.error());
    assert_eq!(
        second.status(),
        TaskStatus::Completed,
        "{:?}",
        second.error()
    );
    assert_ne!(asset_of(&first), asset_of(&second));
}

#[test]
#[ignore = "needs a running PixSim7: PIXSIM_URL and PIXSIM_TOKEN"]
fn per_player_and_per_playthrough_media_stay_apart() {
    let word = fresh();
    for strategy in [CachingStrategy::PerPlayer, CachingStrategy::PerPlaythrough] {
        let request = AssetRequest::image()
            .scene(format!("room{word}"))
            .prompt(format!("the room {word}"))
            .strategy(strategy);
        let mut alice = game(PlaySession::new("pt-a", "alice"), None);
        let mut bob = game(PlaySession::new("pt-b", "bob"), None);
        let a = run(&mut alice, request.clone());
        let b = run(&mut bob, request);
        assert_eq!(a.status(), TaskStatus::Completed, "{:?}", a.error());
        assert_eq!(b.status(), TaskStatus::Completed, "{:?}", b.error());
        assert_ne!(asset_of(&a), asset_of(&b), "{strategy:?}");
    }
}

#[test]
#[ignore = "needs a running PixSim7: PIXSIM_URL and PIXSIM_TOKEN"]
fn numeric_scene_ids_and_a_refused_prompt() {
    let word = fresh();
    let mut app = game(PlaySession::default(), None);
    let done = run(
        &mut app,
        AssetRequest::image()
            .scene("5")
            .to_scene("6")
            .prompt(format!("the quay {word}")),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let refused = run(
        &mut app,
        AssetRequest::image()
            .scene("gate")
            .prompt(format!("a forbidden gate {word}")),
    );
    assert_eq!(refused.status(), TaskStatus::Failed);
    assert_eq!(refused.error().unwrap().kind(), AssetErrorKind::Rejected);
}

#[test]
#[ignore = "needs a running PixSim7: PIXSIM_URL and PIXSIM_TOKEN"]
fn a_cancelled_job_that_finishes_anyway_is_kept_on_disk() {
    let word = fresh();
    let dir = TempDir::new("real-lost-race");
    let request = AssetRequest::image()
        .scene(format!("tower{word}"))
        .prompt(format!("the tower at night {word}"))
        .strategy(CachingStrategy::PerPlayer);
    let mut app = game(PlaySession::new("pt", "alice"), Some(dir.path()));
    let entity = app.world_mut().spawn(request.clone()).id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // Cancelled once it runs at the provider.
    while task(&app, entity).status() != TaskStatus::Processing
        || task(&app, entity).progress() < 0.5
    {
        app.update();
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    app.world_mut().despawn(entity);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while app
        .world()
        .resource::<AssetProvider>()
        .disk()
        .stats()
        .is_none_or(|stats| stats.entries == 0)
    {
        app.update();
        assert!(
            std::time::Instant::now() < deadline,
            "the late result never reached the disk tier"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = run(&mut app, request);
    assert_eq!(
        done.source(),
        Some(SourceKind::Cached),
        "{:?}",
        done.origin()
    );
}
