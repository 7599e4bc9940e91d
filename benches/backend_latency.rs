//! How fast generated media reaches the game, against the loopback dev backend.
//!
//! 1. From a job's completion on the backend to the real media behind the game's handle, for
//!    100 jobs requested 20 ms apart: following over the WebSocket, and polling only (the
//!    client's default intervals, 2 s backing off to 30 s).
//! 2. One job at a time, request to media: the plugin beside a plain reqwest loop (create, poll
//!    every 5 ms, fetch the asset, download, check the SHA-256, decode the PNG) against the same
//!    backend in the same run; the plugin follows by polling at the same 5 ms and by socket.
//!
//! Run: `cargo bench --bench backend_latency`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::prelude::*;
use pixsim_dev::DevBackend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const JOBS: usize = 100;
const PENDING: Duration = Duration::from_millis(5);
const PROCESSING: Duration = Duration::from_millis(40);
const STAGGER: Duration = Duration::from_millis(20);

fn dev_backend() -> DevBackend {
    DevBackend::builder()
        .job_delays(PENDING, PROCESSING)
        .image_size(64, 36)
        .spawn()
        .expect("a loopback port")
}

fn app_with(source: PixSimSource) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(source)
                .with_max_concurrent_generations(JOBS)
                .with_default_timeout(Duration::from_secs(120)),
        );
    app.finish();
    app.cleanup();
    app
}

fn client(dev: &DevBackend, socket: bool, poll: Option<Duration>) -> PixSimSource {
    let mut builder = PixSimSource::builder(dev.base_url())
        .token(dev.token())
        .websocket(socket)
        .max_concurrent_creates(JOBS)
        .max_concurrent_downloads(16)
        // More jobs than a real service's budget of a minute: the client is measured, not it.
        .max_creates_per_minute(0);
    if let Some(poll) = poll {
        builder = builder.poll_interval(poll, poll);
    }
    builder.build().expect("a valid client")
}

/// The asset id at the end of a task's origin (`pixsim(...): asset 12`).
fn asset_id(origin: &str) -> Option<&str> {
    origin.rsplit_once("asset ").map(|(_, id)| id)
}

/// Requests `JOBS` distinct images, a new one every `STAGGER` as a game would, and steps the
/// app until all are ready; for each, the time from the backend completing its job to the frame
/// that saw it ready.
fn completion_to_swap(dev: &DevBackend, source: PixSimSource, tag: &str) -> Vec<Duration> {
    let mut app = app_with(source);
    app.update();
    let mut entities: Vec<Entity> = Vec::with_capacity(JOBS);
    let mut seen: HashMap<Entity, Instant> = HashMap::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    while seen.len() < JOBS {
        while entities.len() < JOBS && started.elapsed() >= STAGGER * entities.len() as u32 {
            let n = entities.len();
            // A scene each: the server's cache key is per scene, and these must be new jobs.
            let request = AssetRequest::image()
                .scene(format!("{tag}-{n}"))
                .prompt(format!("{tag} job {n}"));
            entities.push(app.world_mut().spawn(request).id());
        }
        app.update();
        let now = Instant::now();
        for entity in &entities {
            if seen.contains_key(entity) {
                continue;
            }
            let task = app.world().get::<GenerationTask>(*entity).expect("a task");
            match task.status() {
                TaskStatus::Completed => {
                    seen.insert(*entity, now);
                }
                status if status.is_terminal() => {
                    panic!("{tag}: a job ended {status:?}: {:?}", task.error())
                }
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "{tag}: jobs did not finish");
    }
    entities
        .iter()
        .map(|entity| {
            let task = app.world().get::<GenerationTask>(*entity).expect("a task");
            let id = task.origin().and_then(asset_id).expect("an asset origin");
            let completed = dev.completed_at(id).expect("the backend completed it");
            seen[entity].saturating_duration_since(completed)
        })
        .collect()
}

/// One job at a time through the plugin: request to ready, per job.
fn plugin_sequential(source: PixSimSource, tag: &str) -> Vec<Duration> {
    let mut app = app_with(source);
    app.update();
    (0..JOBS)
        .map(|n| {
            let start = Instant::now();
            let entity = app
                .world_mut()
                .spawn(
                    AssetRequest::image()
                        .scene(format!("{tag}-one-{n}"))
                        .prompt(format!("{tag} one {n}")),
                )
                .id();
            loop {
                app.update();
                let task = app.world().get::<GenerationTask>(entity).expect("a task");
                if task.status() == TaskStatus::Completed {
                    break;
                }
                assert!(!task.status().is_terminal(), "{:?}", task.error());
            }
            start.elapsed()
        })
        .collect()
}

/// One job at a time with plain reqwest: create, poll, fetch the asset, download, verify,
/// decode.
fn plain_sequential(dev: &DevBackend, poll: Duration, tag: &str) -> Vec<Duration> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let http = reqwest::Client::new();
    let base = dev.base_url().to_owned();
    let token = dev.token().to_owned();
    runtime.block_on(async move {
        let mut times = Vec::with_capacity(JOBS);
        for n in 0..JOBS {
            let start = Instant::now();
            let body = json!({
                "provider_id": "pixverse",
                "config": {"generationType": "text_to_image", "purpose": "gap_fill",
                           "strategy": "once", "prompt": format!("{tag} plain {n}"),
                           "style": {"pixverse": {"seed": n}}, "duration": {},
                           "constraints": {}, "version": 1},
                "from_scene": {"id": format!("{tag}-plain-{n}")},
                "priority": 5, "force_new": false,
            });
            let created: Value = http
                .post(format!("{base}/api/v1/generations"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .expect("create")
                .json()
                .await
                .expect("create JSON");
            let id = created["id"].clone();
            let id = id
                .as_u64()
                .map(|n| n.to_string())
                .or(id.as_str().map(str::to_owned));
            let id = id.expect("a generation id");
            let mut generation = created;
            while generation["status"] != "completed" {
                tokio::time::sleep(poll).await;
                generation = http
                    .get(format!("{base}/api/v1/generations/{id}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .expect("poll")
                    .json()
                    .await
                    .expect("poll JSON");
            }
            let asset_id = generation["asset"]["id"].to_string().replace('"', "");
            let asset: Value = http
                .get(format!("{base}/api/v1/assets/{asset_id}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("asset")
                .json()
                .await
                .expect("asset JSON");
            let url = asset["file_url"].as_str().expect("a file_url");
            let bytes = http
                .get(format!("{base}{url}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("download")
                .bytes()
                .await
                .expect("download body");
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                asset["sha256"].as_str().unwrap_or_default()
            );
            let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut reader = decoder.read_info().expect("a PNG");
            let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
            reader.next_frame(&mut pixels).expect("PNG pixels");
            times.push(start.elapsed());
        }
        times
    })
}

fn summary(times: &mut [Duration]) -> String {
    times.sort_unstable();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    format!(
        "mean {:>8.2} ms  p50 {:>8.2} ms  p95 {:>8.2} ms  max {:>8.2} ms",
        mean.as_secs_f64() * 1e3,
        at(0.5).as_secs_f64() * 1e3,
        at(0.95).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    )
}

fn main() {
    // `cargo test` runs benches once as a smoke test; only a real run measures.
    if std::env::args().any(|arg| arg == "--bench") {
        measure();
    } else {
        println!("backend_latency: run with `cargo bench --bench backend_latency`");
    }
}

fn measure() {
    println!(
        "dev backend jobs: {} ms pending + {} ms processing; {JOBS} jobs each\n",
        PENDING.as_millis(),
        PROCESSING.as_millis()
    );

    println!(
        "completion on the backend -> media behind the handle, {JOBS} jobs {} ms apart:",
        STAGGER.as_millis()
    );
    let dev = dev_backend();
    // Each run its own backend: its jobs must all be new.
    let mut socket = completion_to_swap(&dev, client(&dev, true, None), "socket");
    println!("  WebSocket              {}", summary(&mut socket));
    let dev = dev_backend();
    let mut polling = completion_to_swap(&dev, client(&dev, false, None), "polling");
    println!("  polling (2 s -> 30 s)  {}", summary(&mut polling));

    println!("\none job at a time, request -> decoded media:");
    let poll = Duration::from_millis(5);
    let dev = dev_backend();
    let mut plain = plain_sequential(&dev, poll, "plain");
    println!("  plain reqwest loop (poll 5 ms)  {}", summary(&mut plain));
    let mut plugin_poll = plugin_sequential(client(&dev, false, Some(poll)), "poll");
    println!(
        "  plugin, polling 5 ms            {}",
        summary(&mut plugin_poll)
    );
    let mut plugin_socket = plugin_sequential(client(&dev, true, None), "socket");
    println!(
        "  plugin, WebSocket               {}",
        summary(&mut plugin_socket)
    );
    let mean =
        |times: &[Duration]| times.iter().sum::<Duration>().as_secs_f64() / times.len() as f64;
    println!(
        "  plugin overhead over the plain loop (means): polling {:+.2} ms, WebSocket {:+.2} ms",
        (mean(&plugin_poll) - mean(&plain)) * 1e3,
        (mean(&plugin_socket) - mean(&plain)) * 1e3,
    );
}
