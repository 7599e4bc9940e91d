//! The PixSim client against the loopback dev backend, over real HTTP on 127.0.0.1.

use std::time::Duration;

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneGraph;
use bevy_asset_provider::source::SourceKind;
use pixsim_dev::{DevBackend, DevBackendBuilder, Endpoint};

/// A fast dev backend: jobs done in a few milliseconds.
fn backend() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

/// A plugin whose only source is a client of `backend`, polling and retrying quickly.
fn plugin(backend: &DevBackend) -> AssetProviderPlugin {
    let source = client(backend)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(4, Duration::from_millis(10), Duration::from_secs(2))
        .build()
        .expect("a valid client");
    AssetProviderPlugin::new()
        .without_disk_cache()
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
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("anything"));
    let error = done.error().unwrap();
    assert!(error.message().contains("401"), "{error}");
    assert!(!error.message().contains("not-the-token"), "{error}");
    assert_eq!(dev.stats().unauthorized, 1, "a 401 is not retried");
}

#[test]
fn login_gets_a_token() {
    use pixsim_dev::{DEV_EMAIL, DEV_PASSWORD};
    let dev = backend().spawn().unwrap();
    let source = PixSimSource::builder(dev.base_url())
        .login(DEV_EMAIL, DEV_PASSWORD)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
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

#[test]
fn random_server_errors_are_retried_until_the_job_completes() {
    // Polling only, so every status check goes through the faulty endpoint.
    let dev = backend()
        .error_rate(Endpoint::GetGeneration, 0.5)
        .error_rate(Endpoint::Asset, 0.3)
        .spawn()
        .unwrap();
    let source = client(&dev)
        .websocket(false)
        .poll_interval(Duration::from_millis(10), Duration::from_millis(50))
        .retries(8, Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
    app.update();
    let entities: Vec<Entity> = (0..6)
        .map(|n| {
            let request = AssetRequest::image().prompt(format!("flaky {n}"));
            app.world_mut().spawn(request).id()
        })
        .collect();
    update_until(&mut app, "every flaky job ends", |app| {
        entities
            .iter()
            .all(|e| task(app, *e).status().is_terminal())
    });
    for entity in &entities {
        let done = task(&app, *entity);
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    }
    assert!(dev.stats().faults > 0, "faults were injected");
}

#[test]
fn an_endpoint_that_always_fails_ends_in_an_error_after_bounded_tries() {
    let dev = backend()
        .error_rate(Endpoint::CreateGeneration, 1.0)
        .spawn()
        .unwrap();
    let source = client(&dev)
        .retries(3, Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("never"));
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert!(error.message().contains("after 3 tries"), "{error}");
    assert!(
        error.message().contains("POST /api/v1/generations"),
        "{error}"
    );
    assert_eq!(dev.stats().faults, 3);
    let handle = done.handle().image().unwrap();
    assert_eq!(image_size(&app, handle), Some(UVec2::new(32, 18)));
}

#[test]
fn added_latency_delays_but_does_not_break_a_job() {
    let latency = Duration::from_millis(150);
    let dev = backend().latency(latency).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(&mut app, AssetRequest::image().prompt("slow link"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    // Create, asset and download each wait at least `latency`.
    let took = done.finished_after().unwrap() - done.requested_at();
    assert!(took >= latency * 3, "took {took:?}");
}

#[test]
fn a_stalled_job_times_out_keeps_the_placeholder_and_is_cancelled_on_the_backend() {
    let dev = backend().stall_jobs(true).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(
        &mut app,
        AssetRequest::image()
            .prompt("stuck")
            .max_wait(Duration::from_millis(300)),
    );
    assert_eq!(done.status(), TaskStatus::TimedOut);
    assert_eq!(done.error().unwrap().kind(), AssetErrorKind::TimedOut);
    let handle = done.handle().image().unwrap();
    assert_eq!(image_size(&app, handle), Some(UVec2::new(32, 18)));
    update_until(&mut app, "the backend job is cancelled", |_| {
        dev.stats().cancels == 1
    });
}

#[test]
fn a_cancelled_request_cancels_its_backend_job_once_no_holder_is_left() {
    let dev = backend().stall_jobs(true).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let request = AssetRequest::image().prompt("never mind");
    let first = app.world_mut().spawn(request.clone()).id();
    let second = app.world_mut().spawn(request).id();
    update_until(&mut app, "the job is created", |_| dev.stats().creates == 1);
    app.world_mut().despawn(first);
    // The other holder still wants it: nothing is cancelled.
    for _ in 0..20 {
        app.update();
    }
    assert_eq!(dev.stats().cancels, 0);
    assert_eq!(task(&app, second).status(), TaskStatus::Processing);
    app.world_mut().despawn(second);
    update_until(&mut app, "the backend job is cancelled", |_| {
        dev.stats().cancels == 1
    });
}

#[test]
fn the_game_endpoint_serves_context_only_requests() {
    let dev = backend().spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    let (_, done) = run(
        &mut app,
        AssetRequest::image().scene("harbor").choice("arrive"),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(
        done.origin().unwrap().contains("game endpoint"),
        "{:?}",
        done.origin()
    );
    let stats = dev.stats();
    assert_eq!((stats.game_requests, stats.creates), (1, 0));
    // A prompt cannot go through it: that request is created as a generation.
    let (_, done) = run(
        &mut app,
        AssetRequest::image().scene("harbor").prompt("boats"),
    );
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    // The server's cache key ignores the prompt, so its first answer is the endpoint's own
    // generation of the scene; that is not "boats", and new work is made for it.
    assert_eq!((stats.game_requests, stats.new_generations), (1, 2));
    assert!(
        done.origin().unwrap().starts_with("pixsim("),
        "{:?}",
        done.origin()
    );
}

#[test]
fn a_backend_without_the_game_endpoint_is_asked_once() {
    let dev = backend().game_endpoint(false).spawn().unwrap();
    let mut app = headless_app(plugin(&dev));
    app.update();
    for scene in ["harbor", "cliffs", "cave"] {
        let (_, done) = run(&mut app, AssetRequest::image().scene(scene));
        // The generation endpoints get it next; without a prompt the backend refuses it, and
        // its reason reaches the task.
        assert_eq!(done.status(), TaskStatus::Failed);
        let error = done.error().unwrap();
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert!(error.message().contains("config.prompt"), "{error}");
    }
    let stats = dev.stats();
    assert_eq!(stats.unknown_paths, 1, "the 404 is remembered");
}

#[test]
fn the_library_pages_through_search_results_and_scores_them() {
    let mut builder = backend();
    for _ in 0..100 {
        builder = builder.premade_asset(MediaKind::Image, ["scene:x", "choice:a", "role:bg"]);
    }
    // Fewer tags in common, so the server lists it last (page 3), but the location wins.
    let dev = builder
        .premade_asset(MediaKind::Image, ["loc:cave", "role:bg"])
        .spawn()
        .unwrap();
    let request = AssetRequest::image()
        .scene("x")
        .choice("a")
        .location("cave")
        .tag("role:bg")
        .allow_generation(false);
    for (pages, searches, asset) in [(4, 3, "asset 101"), (1, 1, "asset 1")] {
        let library = client(&dev).search_pages(pages).build().unwrap().library();
        let mut app = headless_app(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(library),
        );
        app.update();
        let before = dev.stats().searches;
        let (_, done) = run(&mut app, request.clone());
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
        assert_eq!(done.source(), Some(SourceKind::PreMade));
        let origin = done.origin().unwrap();
        assert!(origin.ends_with(asset), "{pages} pages: {origin}");
        assert_eq!(dev.stats().searches - before, searches);
    }
    assert_eq!(dev.stats().creates, 0);
}

#[test]
fn with_backend_makes_audio_locally_and_never_hides_a_failed_generation() {
    let dev = backend()
        .reject_prompts_containing("forbidden")
        .spawn()
        .unwrap();
    let source = client(&dev).build().unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_backend(source),
    );
    app.update();
    let (_, cue) = run(&mut app, AssetRequest::audio().prompt("a bell"));
    assert_eq!(cue.status(), TaskStatus::Completed, "{:?}", cue.error());
    assert_eq!(cue.origin(), Some("local_generator"));
    let (_, refused) = run(&mut app, AssetRequest::image().prompt("a forbidden door"));
    assert_eq!(refused.status(), TaskStatus::Failed);
    assert_eq!(refused.error().unwrap().kind(), AssetErrorKind::Rejected);
    let (_, made) = run(&mut app, AssetRequest::image().prompt("an open door"));
    assert_eq!(made.status(), TaskStatus::Completed, "{:?}", made.error());
    assert_eq!(made.source(), Some(SourceKind::Generated));
    assert!(made.origin().unwrap().starts_with("pixsim("));
}

#[test]
fn a_backend_scene_is_fetched_as_a_scene_graph() {
    let dev = backend().spawn().unwrap();
    let source = client(&dev).build().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let graph = runtime
        .block_on(SceneGraph::from_backend(&source, "lighthouse"))
        .unwrap();
    assert_eq!(graph.id, "lighthouse");
    assert!(graph.nodes.len() >= 10);
    let error = runtime
        .block_on(SceneGraph::from_backend(&source, "missing"))
        .unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::NotFound);
    assert!(error.message().contains("missing"), "{error}");
}

#[test]
fn tests_only_reach_loopback_and_no_backend_is_configured_by_default() {
    let dev = backend().spawn().unwrap();
    let url = reqwest::Url::parse(dev.base_url()).unwrap();
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    // Without settings there is no URL to reach at all.
    let error = bevy_asset_provider::backend::PixSimConfig::default()
        .builder()
        .unwrap_err();
    assert!(error.message().contains("no backend URL"), "{error}");
}

#[test]
fn a_burst_of_requests_never_has_more_creates_or_downloads_in_flight_than_allowed() {
    let dev = backend()
        .latency(Duration::from_millis(40))
        .spawn()
        .unwrap();
    let source = client(&dev)
        .max_concurrent_creates(2)
        .max_concurrent_downloads(3)
        // More creates than the default budget of a minute: this test is about concurrency.
        .max_creates_per_minute(0)
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_max_concurrent_generations(32),
    );
    app.update();
    let entities: Vec<Entity> = (0..24)
        .map(|n| {
            let request = AssetRequest::image()
                .scene(format!("burst-{n}"))
                .prompt(format!("burst {n}"));
            app.world_mut().spawn(request).id()
        })
        .collect();
    update_until(&mut app, "the burst completes", |app| {
        entities
            .iter()
            .all(|e| task(app, *e).status() == TaskStatus::Completed)
    });
    let stats = dev.stats();
    assert_eq!(stats.creates, 24);
    assert_eq!(stats.peak_concurrent_creates, 2, "{stats:?}");
    assert!(
        (1..=3).contains(&stats.peak_concurrent_downloads),
        "{stats:?}"
    );
}

#[test]
fn jobs_created_before_the_socket_connects_still_follow_its_events() {
    let dev = backend().spawn().unwrap();
    // Polling so slow that only the socket can finish the job in time.
    let source = client(&dev)
        .poll_interval(Duration::from_secs(60), Duration::from_secs(60))
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source),
    );
    // The first request of a fresh client: its create races the socket's connect.
    let (_, done) = run(&mut app, AssetRequest::image().prompt("first light"));
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(dev.stats().polls <= 1, "{:?}", dev.stats());
}
