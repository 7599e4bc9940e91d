//! What the PixSim client takes from the backend is checked against what was asked: the game
//! endpoint gets only requests it can express and serves only media of the kind asked; a
//! create's answer must be that create's own generation, made for the player who asked; a
//! corrupt download is fetched once more, and the generation is never made again.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::prelude::*;
use pixsim_dev::{DevBackend, DevBackendBuilder};
use serde_json::{Value, json};

use crate::common::hostile::{Reply, Script, always, asset_and_file, hostile};
use crate::common::*;

/// A fast dev backend: jobs done in a few milliseconds.
fn backend() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

/// An app of player `alice` whose only source is a client of `url`, polling and retrying fast.
fn app_for(url: &str, token: &str) -> App {
    let source = PixSimSource::builder(url)
        .token(token)
        .websocket(false)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .retries(3, Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .expect("a valid client");
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugin::new()
                .with_session(PlaySession::new("pt-alice", "alice"))
                .without_disk_cache()
                .with_source(source)
                .with_default_timeout(Duration::from_secs(15)),
        );
    app.finish();
    app.cleanup();
    app.update();
    app
}

fn dev_app(dev: &DevBackend) -> App {
    app_for(dev.base_url(), dev.token())
}

/// Requests `request` on an entity and steps until its task ends.
fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    task(app, entity)
}

fn pixels(app: &App, done: &GenerationTask) -> Option<Vec<u8>> {
    let handle = done.handle().image()?;
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .and_then(|image| image.data.clone())
}

fn cached(app: &App, request: &AssetRequest) -> bool {
    app.world()
        .resource::<AssetProvider>()
        .is_available(request)
}

// ---------------------------------------------------------------------------------------------
// The game endpoint
// ---------------------------------------------------------------------------------------------

#[test]
fn requests_differing_only_in_seed_never_share_a_game_endpoint_asset() {
    let dev = backend().spawn().unwrap();
    let mut app = dev_app(&dev);
    let seeded = |seed| {
        AssetRequest::image()
            .scene("harbor")
            .choice("arrive")
            .seed(seed)
    };
    let first = run(&mut app, seeded(1));
    let second = run(&mut app, seeded(2));
    let both_served =
        first.status() == TaskStatus::Completed && second.status() == TaskStatus::Completed;
    assert!(
        !(both_served && pixels(&app, &first) == pixels(&app, &second)),
        "seeds 1 and 2 were served one picture: {:?} and {:?}",
        first.origin(),
        second.origin()
    );
    // The endpoint has no seed: neither request goes there. The generation endpoints then need
    // a prompt for them, and say so.
    assert_eq!(dev.stats().game_requests, 0, "{:?}", dev.stats());
    for done in [&first, &second] {
        assert_eq!(done.status(), TaskStatus::Failed, "{:?}", done.origin());
        let error = done.error().unwrap();
        assert!(error.message().contains("config.prompt"), "{error}");
    }
    assert!(!cached(&app, &seeded(1)) && !cached(&app, &seeded(2)));
}

#[test]
fn a_video_request_answered_with_an_image_by_the_game_endpoint_is_not_served_it() {
    // The dev backend's game endpoint makes images only.
    let dev = backend().spawn().unwrap();
    let mut app = dev_app(&dev);
    let request = AssetRequest::video().scene("harbor").choice("arrive");
    let done = run(&mut app, request.clone());
    assert_eq!(
        done.status(),
        TaskStatus::Failed,
        "a video request was served {:?}",
        done.origin()
    );
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    for part in ["game endpoint", "image", "video"] {
        assert!(error.message().contains(part), "{error} should name {part}");
    }
    assert!(
        !cached(&app, &request),
        "the image is not kept as the video"
    );
    assert_eq!(dev.stats().game_requests, 1);
    assert_eq!(
        dev.stats().downloads,
        0,
        "nothing of the wrong kind is fetched"
    );
    // The same scene and choice as an image is what the endpoint serves.
    let image = AssetRequest::image().scene("harbor").choice("arrive");
    let done = run(&mut app, image.clone());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert!(done.origin().unwrap().contains("game endpoint"));
    assert!(cached(&app, &image));
}

// ---------------------------------------------------------------------------------------------
// Creates answered with another generation
// ---------------------------------------------------------------------------------------------

fn picture() -> Vec<u8> {
    png(6, 4, [200, 40, 40, 255])
}

/// A generation as the server answers it, made by `name`'s create for `player`.
fn generation(status: &str, name: &str, player: &str) -> Value {
    let mut value = json!({"id": 1, "status": status, "operation_type": "text_to_image",
        "name": name, "user": {"type": "user", "id": 1},
        "canonical_params": {"prompt": "the quay", "scene_context": {"from_scene": {"id": "quay"},
            "to_scene": null},
            "player_context": {"playthroughId": format!("pt-{player}"), "playerId": player}}});
    if status == "completed" {
        value["asset"] = json!({"type": "asset", "id": 1, "meta": null});
    }
    value
}

fn name_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|body| body["name"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A server whose creates are answered by `create`; generation 1 is completed (for `player`)
/// and its asset is a picture.
fn server_answering(create: Script, player: &'static str) -> crate::common::hostile::Hostile {
    let mut routes = vec![
        ("POST /api/v1/generations", create),
        (
            "GET /api/v1/generations/1",
            always(Reply::Json(
                StatusCode::OK,
                generation("completed", "quay [bap-00000000000000aa]", player),
            )),
        ),
    ];
    routes.extend(asset_and_file(picture()));
    hostile(routes, None)
}

fn per_player() -> AssetRequest {
    AssetRequest::image()
        .scene("quay")
        .prompt("the quay")
        .strategy(CachingStrategy::PerPlayer)
}

/// Checks `done` failed naming a create answered with another generation, and that nothing of
/// that generation was followed, fetched or kept.
fn refused(app: &App, server: &crate::common::hostile::Hostile, done: &GenerationTask) -> String {
    assert_eq!(
        done.status(),
        TaskStatus::Failed,
        "another generation was served: {:?}",
        done.origin()
    );
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData, "{error}");
    assert!(
        error.message().contains("generation 1"),
        "{error} should name the generation"
    );
    assert_eq!(server.calls("POST /api/v1/generations"), 1, "sent once");
    assert_eq!(server.calls("GET /api/v1/generations/1"), 0, "not followed");
    assert_eq!(
        server.calls("GET /api/v1/assets/1"),
        0,
        "its asset not fetched"
    );
    assert_eq!(server.calls("GET /file"), 0, "its file not downloaded");
    assert!(!cached(app, &per_player()));
    error.message().to_owned()
}

#[test]
fn a_force_new_create_answered_with_another_creates_generation_is_refused() {
    // Bob's running generation, made by another create, comes back for Alice's new work.
    let server = server_answering(
        always(Reply::Json(
            StatusCode::CREATED,
            generation("processing", "quay [bap-00000000000000aa]", "bob"),
        )),
        "bob",
    );
    let mut app = app_for(&server.url, "test-token");
    let done = run(&mut app, per_player());
    let message = refused(&app, &server, &done);
    assert!(message.contains("bap-00000000000000aa"), "{message}");
}

#[test]
fn a_create_answered_with_its_own_tag_but_for_another_player_is_refused() {
    // The answer carries the create's tag, yet says it was made for Bob.
    let create: Script = Arc::new(|_, body| {
        Reply::Json(
            StatusCode::CREATED,
            generation("completed", &name_of(body), "bob"),
        )
    });
    let server = server_answering(create, "bob");
    let mut app = app_for(&server.url, "test-token");
    let done = run(&mut app, per_player());
    let message = refused(&app, &server, &done);
    assert!(message.contains("player"), "{message}");
}

#[test]
fn a_create_answered_with_its_own_generation_is_served() {
    let create: Script = Arc::new(|_, body| {
        Reply::Json(
            StatusCode::CREATED,
            generation("completed", &name_of(body), "alice"),
        )
    });
    let server = server_answering(create, "alice");
    let mut app = app_for(&server.url, "test-token");
    let done = run(&mut app, per_player());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(server.calls("GET /file"), 1);
    assert!(cached(&app, &per_player()));
}

// ---------------------------------------------------------------------------------------------
// Corrupt downloads
// ---------------------------------------------------------------------------------------------

#[test]
fn a_download_corrupted_once_is_fetched_again_and_served() {
    let dev = backend().corrupt_next_downloads(1).spawn().unwrap();
    let mut app = dev_app(&dev);
    let request = AssetRequest::image().prompt("a storm at sea");
    let done = run(&mut app, request.clone());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert_eq!(
        (stats.downloads, stats.creates, stats.new_generations),
        (2, 1, 1),
        "{stats:?}"
    );
    assert!(cached(&app, &request));
}

#[test]
fn a_download_always_corrupt_fails_after_two_downloads_and_one_create() {
    let dev = backend().corrupt_downloads(true).spawn().unwrap();
    let mut app = dev_app(&dev);
    let request = AssetRequest::image().prompt("a storm at sea");
    let done = run(&mut app, request.clone());
    assert_eq!(done.status(), TaskStatus::Failed);
    let error = done.error().unwrap();
    assert_eq!(error.kind(), AssetErrorKind::Decode, "{error}");
    assert!(error.message().contains("SHA-256"), "{error}");
    let stats = dev.stats();
    assert_eq!(
        (stats.downloads, stats.creates, stats.new_generations),
        (2, 1, 1),
        "{stats:?}"
    );
    assert!(!cached(&app, &request));
}
