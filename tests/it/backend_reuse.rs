//! The request's key is the promise, whatever the backend's dedup and cache keys do: the server's
//! existing work serves a request only when it is what the request asks for, a generation shared
//! by two requests is not cancelled while one still needs it, and the disk tier serves media only
//! from the source the chain would ask.

use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::cache::DiskCacheConfig;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::{LocalGenerator, SourceKind};
use pixsim_dev::{DevBackend, DevBackendBuilder};

fn backend() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(40))
}

fn fast(dev: &DevBackend) -> PixSimSource {
    client(dev)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap()
}

fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task finishes", |app| {
        task(app, entity).status().is_terminal()
    });
    task(app, entity)
}

fn pixels(app: &App, task: &GenerationTask) -> Vec<u8> {
    let handle = task.handle().image().unwrap();
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .and_then(|image| image.data.clone())
        .expect("an image behind the handle")
}

#[test]
fn two_prompts_for_one_transition_get_two_pictures_though_the_server_key_ignores_prompts() {
    let dev = backend().spawn().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    let transition = || AssetRequest::image().scene("5").to_scene("6");
    let first = run(&mut app, transition().prompt("a quiet harbour"));
    let second = run(&mut app, transition().prompt("a burning lighthouse"));
    assert_eq!(first.status(), TaskStatus::Completed, "{:?}", first.error());
    assert_eq!(
        second.status(),
        TaskStatus::Completed,
        "{:?}",
        second.error()
    );
    assert_ne!(pixels(&app, &first), pixels(&app, &second));
    let stats = dev.stats();
    // The server answered the second create with the first's generation; that was refused and
    // new work asked for.
    assert_eq!(stats.new_generations, 2, "{stats:?}");
    assert_eq!(stats.creates, 3, "{stats:?}");
}

#[test]
fn the_same_request_again_is_shared_by_the_server_and_costs_nothing() {
    let dev = backend().spawn().unwrap();
    let request = AssetRequest::image()
        .scene("5")
        .to_scene("6")
        .prompt("a quiet harbour");
    for _ in 0..2 {
        // Two games (no memory or disk tier between them), as two players would be.
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(fast(&dev)),
        );
        app.update();
        let done = run(&mut app, request.clone());
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    }
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.new_generations), (2, 1), "{stats:?}");
}

#[test]
fn a_prefetch_given_up_does_not_cancel_the_generation_a_player_request_shares() {
    let dev = backend()
        .job_delays(Duration::from_millis(5), Duration::from_millis(600))
        .spawn()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    // Different keys (a tag the server never sees), one body: the server gives both the same
    // generation.
    let request = AssetRequest::image()
        .scene("harbor")
        .to_scene("boat")
        .prompt("rowing out")
        .seed(5);
    let prefetched = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .prefetch(request.clone().tag("prefetched"));
    update_until(&mut app, "the prefetch's create", |_| {
        dev.stats().creates == 1
    });
    let player = app.world_mut().spawn(request.tag("shown")).id();
    update_until(&mut app, "the player's create", |_| {
        dev.stats().creates == 2
    });
    assert_eq!(dev.stats().new_generations, 1);
    let cancelled = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .cancel_prefetch(&prefetched, 1.0);
    assert!(cancelled, "the prefetch's job was given up");
    until_status(&mut app, player, TaskStatus::Completed);
    assert_eq!(dev.stats().cancels, 0, "{:?}", dev.stats());
}

#[test]
fn a_prefetch_given_up_alone_cancels_its_generation() {
    let dev = backend()
        .job_delays(Duration::from_millis(5), Duration::from_secs(5))
        .spawn()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    let key = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .prefetch(AssetRequest::image().scene("cave").prompt("a dark cave"));
    update_until(&mut app, "the prefetch's create", |_| {
        dev.stats().creates == 1
    });
    app.world_mut()
        .resource_mut::<AssetProvider>()
        .cancel_prefetch(&key, 1.0);
    update_until(&mut app, "the cancel", |_| dev.stats().cancels == 1);
}

#[test]
fn media_the_embedded_generator_cached_is_not_served_once_a_backend_is_configured() {
    let dir = TempDir::new("provenance");
    let picture = AssetRequest::image()
        .scene("open-sea")
        .prompt("waves at dawn");
    let cue = AssetRequest::audio().prompt("a bell");
    {
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .with_source(LocalGenerator::new().latency(Duration::ZERO))
                .with_disk_cache_dir(dir.path()),
        );
        app.update();
        for request in [picture.clone(), cue.clone()] {
            let done = run(&mut app, request);
            assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
            assert_eq!(done.source(), Some(SourceKind::Generated));
        }
    }
    let dev = backend().spawn().unwrap();
    {
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .with_backend(fast(&dev))
                .with_disk_cache_dir(dir.path()),
        );
        app.update();
        let done = run(&mut app, picture.clone());
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
        assert!(
            done.origin().unwrap().starts_with("pixsim("),
            "the backend made it: {:?}",
            done.origin()
        );
        assert_eq!(dev.stats().new_generations, 1);
        // The backend makes no sound: the cue the embedded generator cached is still its own.
        let done = run(&mut app, cue.clone());
        assert_eq!(
            done.source(),
            Some(SourceKind::Cached),
            "{:?}",
            done.origin()
        );
    }
    // A game may choose to keep serving what another source made.
    let other = backend().spawn().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .with_backend(fast(&other))
            .with_disk_cache(DiskCacheConfig::new(dir.path()).serve_retired_sources(true)),
    );
    app.update();
    let done = run(&mut app, picture);
    assert_eq!(
        done.source(),
        Some(SourceKind::Cached),
        "{:?}",
        done.origin()
    );
    assert_eq!(other.stats().creates, 0);
}

/// A backend like the real service, with short jobs.
fn real() -> DevBackendBuilder {
    DevBackend::like_real_service().job_delays(Duration::from_millis(5), Duration::from_millis(40))
}

/// A game of `player` in `playthrough`, keeping results in `dir`.
fn game(dev: &DevBackend, dir: &std::path::Path, playthrough: &str, player: &str) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugin::new()
                .with_session(PlaySession::new(playthrough, player))
                .with_source(fast(dev))
                .with_disk_cache_dir(dir),
        );
    app.finish();
    app.cleanup();
    app.update();
    app
}

/// The scopes the disk tier keeps entries under, read by asking it as each session would.
fn disk_hits(app: &App) -> u64 {
    app.world()
        .resource::<AssetProvider>()
        .disk()
        .stats()
        .map_or(0, |stats| stats.hits)
}

#[test]
fn two_players_of_one_account_each_see_their_own_per_player_media() {
    let dev = real().spawn().unwrap();
    let room = AssetRequest::image()
        .scene("room")
        .prompt("the player's room")
        .seed(3)
        .strategy(CachingStrategy::PerPlayer);
    let (alice_dir, bob_dir) = (TempDir::new("alice"), TempDir::new("bob"));
    let mut alice = game(&dev, alice_dir.path(), "pt-a", "alice");
    let mut bob = game(&dev, bob_dir.path(), "pt-b", "bob");
    let theirs = run(&mut alice, room.clone());
    let mine = run(&mut bob, room.clone());
    assert_eq!(
        theirs.status(),
        TaskStatus::Completed,
        "{:?}",
        theirs.error()
    );
    assert_eq!(mine.status(), TaskStatus::Completed, "{:?}", mine.error());
    // The server would have given bob alice's generation (its key is the account); he gets
    // his own.
    assert_eq!(dev.stats().new_generations, 2, "{:?}", dev.stats());
    assert_ne!(theirs.key(), mine.key());
    // Each is kept under its own player: asked again after a restart, each gets it from disk.
    drop((alice, bob));
    let mut alice = game(&dev, alice_dir.path(), "pt-a2", "alice");
    let again = run(&mut alice, room.clone());
    assert_eq!(
        again.source(),
        Some(SourceKind::Cached),
        "{:?}",
        again.origin()
    );
    assert_eq!(disk_hits(&alice), 1);
    let mut bob = game(&dev, bob_dir.path(), "pt-b2", "bob");
    let again = run(&mut bob, room);
    assert_eq!(
        again.source(),
        Some(SourceKind::Cached),
        "{:?}",
        again.origin()
    );
    assert_eq!(dev.stats().new_generations, 2);
}

#[test]
fn two_playthroughs_each_see_their_own_per_playthrough_media() {
    let dev = real().spawn().unwrap();
    let dir = TempDir::new("playthroughs");
    let ending = AssetRequest::image()
        .scene("ending")
        .prompt("how this playthrough ends")
        .seed(8)
        .strategy(CachingStrategy::PerPlaythrough);
    let first = {
        let mut app = game(&dev, dir.path(), "first", "alice");
        let done = run(&mut app, ending.clone());
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
        pixels(&app, &done)
    };
    let mut app = game(&dev, dir.path(), "second", "alice");
    let done = run(&mut app, ending);
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    // The server keys every playthrough as `pt:unknown`; the second still gets its own.
    assert_eq!(
        done.source(),
        Some(SourceKind::Generated),
        "{:?}",
        done.origin()
    );
    assert_eq!(dev.stats().new_generations, 2);
    let _ = first;
}

#[test]
fn another_accounts_generation_is_not_an_error_but_a_reason_to_make_our_own() {
    let dev = real().extra_account("token-two").spawn().unwrap();
    let shared = AssetRequest::image()
        .scene("5")
        .to_scene("6")
        .prompt("the harbour")
        .seed(11);
    let mut first = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    first.update();
    let done = run(&mut first, shared.clone());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let other = PixSimSource::builder(dev.base_url())
        .token("token-two")
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut second = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(other),
    );
    second.update();
    let done = run(&mut second, shared);
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert!(stats.foreign_refused >= 1, "{stats:?}");
    assert_eq!(stats.new_generations, 2, "{stats:?}");
}

#[test]
fn a_failure_the_server_retries_by_itself_is_waited_out() {
    let dev = real()
        .moderate_prompts_containing("stormy", 1)
        .server_retry_delay(Duration::from_millis(200))
        .spawn()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    let done = run(
        &mut app,
        AssetRequest::image().scene("sea").prompt("a stormy sea"),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert_eq!(
        (stats.server_retries, stats.new_generations),
        (1, 1),
        "{stats:?}"
    );
}

#[test]
fn a_final_failure_is_reported_with_the_servers_code_and_message() {
    let dev = real().spawn().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    let done = run(
        &mut app,
        AssetRequest::image()
            .scene("gate")
            .prompt("a forbidden gate"),
    );
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Rejected, "{error}");
    assert!(
        error.message().contains("content_prompt_rejected"),
        "{error}"
    );
}

#[test]
fn a_create_the_server_refuses_with_a_500_fails_at_once_with_its_message() {
    let dev = real().spawn().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    // No prompt: the real service answers 500 "requires a non-empty 'prompt'".
    let done = run(&mut app, AssetRequest::image().scene("blank"));
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    assert!(error.message().contains("non-empty 'prompt'"), "{error}");
    assert!(!error.message().contains("tries"), "not retried: {error}");
}

#[test]
fn numeric_looking_scene_ids_are_sent_as_strings() {
    let dev = real().spawn().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(fast(&dev)),
    );
    app.update();
    let done = run(
        &mut app,
        AssetRequest::image()
            .scene("5")
            .to_scene("6")
            .prompt("the quay"),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[test]
fn a_cancel_that_loses_the_race_is_paid_for_and_kept_on_disk() {
    let dev = real()
        .job_delays(Duration::from_millis(5), Duration::from_millis(400))
        .spawn()
        .unwrap();
    let dir = TempDir::new("lost-race");
    let request = AssetRequest::image()
        .scene("tower")
        .prompt("the tower at night")
        .strategy(CachingStrategy::PerPlayer);
    let mut app = game(&dev, dir.path(), "pt", "alice");
    let entity = app.world_mut().spawn(request.clone()).id();
    update_until(&mut app, "the generation runs", |_| {
        dev.generation("1")
            .is_some_and(|generation| generation.status.as_str() == "processing")
    });
    app.world_mut().despawn(entity);
    update_until(&mut app, "the cancel", |_| dev.stats().cancels == 1);
    update_until(&mut app, "the late result is kept", |app| {
        app.world()
            .resource::<AssetProvider>()
            .disk()
            .stats()
            .is_some_and(|stats| stats.entries == 1)
    });
    assert_eq!(dev.stats().cancels_lost, 1);
    let done = run(&mut app, request);
    assert_eq!(
        done.source(),
        Some(SourceKind::Cached),
        "{:?}",
        done.origin()
    );
    assert_eq!(dev.stats().new_generations, 1);
}

#[test]
fn a_burst_of_prefetches_never_gets_the_players_request_refused() {
    // A budget of 4 creates a minute on both sides: prefetches may take 3 of them.
    let dev = real().create_rate_limit(4, false).spawn().unwrap();
    let source = client(&dev)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .max_creates_per_minute(4)
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_max_concurrent_generations(8),
    );
    app.update();
    for n in 0..6 {
        let _ = app.world_mut().resource_mut::<AssetProvider>().prefetch(
            AssetRequest::image()
                .scene(format!("next-{n}"))
                .prompt("maybe"),
        );
    }
    update_until(&mut app, "the prefetches' creates", |_| {
        dev.stats().creates == 3
    });
    let player = app
        .world_mut()
        .spawn(
            AssetRequest::image()
                .scene("now")
                .prompt("what the player sees"),
        )
        .id();
    until_status(&mut app, player, TaskStatus::Completed);
    let stats = dev.stats();
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
    assert_eq!(
        stats.creates, 4,
        "the rest wait for the next minute: {stats:?}"
    );
}
