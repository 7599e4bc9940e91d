//! The PixSim client against the loopback dev backend, over real HTTP on 127.0.0.1.
#![cfg(feature = "dev-backend")]

mod common;

use std::time::Duration;

use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::dev_backend::{DevBackend, DevBackendBuilder, Endpoint};
use bevy_asset_provider::prelude::*;
use common::*;

/// A fast dev backend: jobs done in a few milliseconds.
fn backend() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

/// A plugin whose only source is a client of `backend`, polling and retrying quickly.
fn plugin(backend: &DevBackend) -> AssetProviderPlugin {
    let source = PixSimSource::builder(backend.base_url())
        .token(backend.token())
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(4, Duration::from_millis(10), Duration::from_secs(2))
        .build()
        .expect("a valid client");
    AssetProviderPlugin::new()
        .with_source(source)
        .with_default_timeout(Duration::from_secs(15))
}

fn image_size(app: &App, handle: &Handle<Image>) -> Option<UVec2> {
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .map(Image::size)
}

/// Requests `request` as an entity and steps until its task is terminal.
fn run(app: &mut App, request: AssetRequest) -> (Entity, GenerationTask) {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task finishes", |app| {
        task(app, entity).status().is_terminal()
    });
    (entity, task(app, entity))
}

#[test]
fn a_request_is_generated_by_the_backend_and_swapped_in() {
    let dev = backend().image_size(48, 30).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(
        &mut app,
        AssetRequest::image().scene("park").prompt("a park at dusk"),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(done.source(), Some(SourceKind::Generated));
    let handle = done.handle().image().unwrap();
    assert_eq!(image_size(&app, handle), Some(UVec2::new(48, 30)));
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.downloads), (1, 1));
}

#[test]
fn a_thousand_identical_requests_make_one_create_and_one_download() {
    let dev = backend().spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let request = AssetRequest::image()
        .scene("harbor")
        .prompt("boats at dawn");
    let entities: Vec<Entity> = (0..1000)
        .map(|_| app.world_mut().spawn(request.clone()).id())
        .collect();
    update_until(&mut app, "all thousand tasks complete", |app| {
        entities
            .iter()
            .all(|e| task(app, *e).status() == TaskStatus::Completed)
    });
    let stats = dev.stats();
    assert_eq!(stats.creates, 1);
    assert_eq!(stats.new_generations, 1);
    assert_eq!(stats.downloads, 1);
}

#[test]
fn a_create_that_answers_completed_is_not_polled() {
    let dev = backend().spawn().unwrap();
    let request = AssetRequest::image()
        .scene("cliffs")
        .prompt("cliffs in fog");
    {
        let mut first = headless_app(plugin(&dev));
        first.update();
        let (_, done) = run(&mut first, request.clone());
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    }
    let polls_before = dev.stats().polls;
    // A second game (no memory cache) asks again: the server dedups to the completed job.
    let mut second = headless_app(plugin(&dev));
    second.update();
    let (_, done) = run(&mut second, request);
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert_eq!(stats.creates, 2);
    assert_eq!(stats.new_generations, 1);
    assert_eq!(
        stats.polls, polls_before,
        "a completed create needs no poll"
    );
}

#[test]
fn a_dropped_socket_falls_back_to_polling() {
    let dev = backend().drop_sockets_after(0).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("a lantern room"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert!(stats.polls >= 1, "polling completed the job: {stats:?}");
    assert!(
        stats.socket_connections >= 1,
        "the socket was tried: {stats:?}"
    );
}

#[test]
fn a_corrupted_download_is_an_error_and_nothing_is_served() {
    let dev = backend().corrupt_downloads(true).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("a storm"));
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().expect("an error on the task");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(error.message().contains("SHA-256"), "{error}");
    // The placeholder stays behind the handle.
    let handle = done.handle().image().unwrap();
    assert_eq!(image_size(&app, handle), Some(UVec2::new(32, 18)));
    assert!(
        !app.world()
            .resource::<AssetProvider>()
            .is_available(&AssetRequest::image().prompt("a storm"))
    );
}

#[test]
fn a_truncated_download_is_an_error() {
    let dev = backend().truncate_downloads(true).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("half a picture"));
    assert_eq!(done.status(), TaskStatus::Failed);
    assert_eq!(done.error().unwrap().kind(), AssetErrorKind::Decode);
}

#[test]
fn a_rate_limited_create_is_retried_after_retry_after() {
    let dev = backend()
        .rate_limit_next(Endpoint::CreateGeneration, 1, Some(1))
        .spawn()
        .unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("a busy harbor"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert_eq!(stats.faults, 1);
    assert_eq!(stats.creates, 1);
}

#[test]
fn server_errors_and_malformed_answers_are_retried() {
    let dev = backend()
        .fail_next(Endpoint::CreateGeneration, 2)
        .malformed_next(Endpoint::Asset, 1)
        .fail_next(Endpoint::Download, 1)
        .spawn()
        .unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("a flaky day"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(dev.stats().faults, 4);
}

#[test]
fn a_rejected_prompt_is_a_rejected_error_and_the_placeholder_stays() {
    let dev = backend()
        .reject_prompts_containing("forbidden")
        .spawn()
        .unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("a forbidden scene"));
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Rejected);
    assert!(
        error.message().contains("content_prompt_rejected"),
        "{error}"
    );
    let handle = done.handle().image().unwrap();
    assert_eq!(image_size(&app, handle), Some(UVec2::new(32, 18)));
}

#[test]
fn a_wrong_token_is_a_final_error_naming_the_status() {
    let dev = backend().spawn().unwrap();
    let source = PixSimSource::builder(dev.base_url())
        .token("not-the-token")
        .build()
        .unwrap();
    let mut app = headless_app(AssetProviderPlugin::new().with_source(source));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("anything"));
    let error = done.error().unwrap();
    assert!(error.message().contains("401"), "{error}");
    assert!(!error.message().contains("not-the-token"), "{error}");
    assert_eq!(dev.stats().unauthorized, 1, "a 401 is not retried");
}

#[test]
fn login_gets_a_token() {
    use bevy_asset_provider::dev_backend::{DEV_EMAIL, DEV_PASSWORD};
    let dev = backend().spawn().unwrap();
    let source = PixSimSource::builder(dev.base_url())
        .login(DEV_EMAIL, DEV_PASSWORD)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut app = headless_app(AssetProviderPlugin::new().with_source(source));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("after login"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(dev.stats().logins, 1);
}

#[test]
fn the_token_goes_to_the_backend_and_not_to_a_foreign_host() {
    // Relative file URLs: the backend's own files need the token.
    let dev = backend().spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("at home"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(dev.stats().downloads_with_token, 1);

    // Absolute file URLs on another port of 127.0.0.1 play a CDN: no token is sent there.
    let cdn_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = backend()
        .media_base_url(format!("http://127.0.0.1:{cdn_port}"))
        .spawn()
        .unwrap();
    let cdn = DevBackend::builder()
        .port(cdn_port)
        .cdn_for(&origin)
        .spawn()
        .unwrap();
    let mut app = headless_app(plugin(&origin));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("far away"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let (origin_stats, cdn_stats) = (origin.stats(), cdn.stats());
    assert_eq!(origin_stats.downloads, 0);
    assert_eq!(cdn_stats.downloads, 1);
    assert_eq!(
        cdn_stats.downloads_with_token, 0,
        "the CDN never sees the token"
    );
}
