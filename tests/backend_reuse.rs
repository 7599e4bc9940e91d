//! The request's key is the promise, whatever the backend's dedup and cache keys do: the server's
//! existing work serves a request only when it is what the request asks for, a generation shared
//! by two requests is not cancelled while one still needs it, and the disk tier serves media only
//! from the source the chain would ask.
#![cfg(feature = "dev-backend")]

mod common;

use std::time::Duration;

use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::dev_backend::{DevBackend, DevBackendBuilder};
use bevy_asset_provider::prelude::*;
use common::*;

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
