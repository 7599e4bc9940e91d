//! A branching story whose pictures and sound cues come from the asset provider.
//!
//! ```sh
//! cargo run --example scene_player                      # in a window: click choices or press 1-9
//! cargo run --example scene_player -- --headless --choices 1,2,1
//! ```
//!
//! Each node's media is requested when the player arrives (`EnterNode`) or chooses (`MakeChoice`).
//! The picture shows a placeholder at once; the real image replaces it behind the same handle.
//! Nodes of type `video` (rowing out, the rocks, the light returning) get an H.264 clip instead:
//! its first frame shows when it arrives, then a `VideoPlayer` plays it on the stage. Badges and
//! bars show each request's status.
//!
//! By default the media comes from a generation backend: a loopback dev backend started in this
//! process, speaking the same HTTP API as a real PixSim7 (create, WebSocket, download). The
//! harbour, the cliff path and the lantern room are pre-made files under `assets/premade`; sound
//! cues come from the embedded generator, since the backend's API has no audio operation.
//!
//! `--headless` plays a scripted path without a window and prints one JSON object per line for
//! each event (with the kind of source and the source that served it), then a summary; it exits
//! non-zero if any request failed. Like a player, it watches each video node's clip to its end
//! (`VideoEnded`) before taking the next choice.
//!
//! Options:
//! - `--choices 1,2,1`: the path, 1-based per node (a window plays it by itself).
//! - `--backend URL --token T`: a real PixSim7 (settings from `PIXSIM_CONFIG` and `PIXSIM_*`
//!   apply too); `--backend local`: no backend, the embedded generator only; `--backend
//!   dev-real`: the dev backend behaving like the real service (its dedup and cache keys that
//!   ignore prompts and players, its rate limit, cancels that lose the race, its errors).
//! - `--scene ID`: play the backend's scene `ID` (`GET /api/v1/game/scenes/ID`) instead of the
//!   bundled story; the dev backend has the bundled story as `lighthouse`.
//! - `--provider ID`: the provider sent with creates (default `pixverse`).
//! - `--latency-ms N`: how long a generation takes on the dev backend or the embedded generator
//!   (default 1200).
//! - `--cache-dir DIR`: where results are kept between runs (default: the platform's cache
//!   directory for the game, `~/.cache/The Lighthouse Keeper` on Linux, or
//!   `BEVY_ASSET_PROVIDER_CACHE_DIR`); `--no-disk-cache` keeps them in memory only. A scripted
//!   run waits at each node for the prefetches of its next choices, as a reader would, so a
//!   second run of the same path is served from disk and creates nothing: the summary counts
//!   hits per tier and the backend's creates.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::prelude::*;
use bevy_asset_provider::DEFAULT_MANIFEST;
use bevy_asset_provider::backend::{PixSimConfig, PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{EnterNode, MakeChoice, SceneGraph, SceneMedia};
use bevy_asset_provider::source::LocalGenerator;
use bevy_asset_provider::source::PreMadeSource;
use pixsim_dev::DevBackend;
use serde_json::json;

const STORY: &str = "story/lighthouse.scene.json";

const USAGE: &str = "usage: scene_player [--headless] [--choices 1,2,1] \
    [--backend URL [--token T] | --backend local | --backend dev-real] [--scene ID] [--provider ID] [--latency-ms N] \
    [--cache-dir DIR | --no-disk-cache]";

/// Where generated media comes from.
#[derive(Clone, Debug, PartialEq)]
enum Backend {
    /// A dev backend on 127.0.0.1, started by this process.
    Dev,
    /// A dev backend that behaves like the real PixSim7 service (its dedup and cache keys, its
    /// rate limit, its errors and event shapes, cancels that lose the race).
    DevReal,
    /// The embedded generator; no backend.
    Local,
    /// A backend at this URL.
    Remote(String),
}

/// Command-line options.
#[derive(Resource, Clone, Debug)]
struct Options {
    headless: bool,
    /// In a window, take the `--choices` path by itself (when the option was given).
    autoplay: bool,
    choices: VecDeque<usize>,
    latency: Duration,
    backend: Backend,
    token: Option<String>,
    scene: Option<String>,
    provider: Option<String>,
    cache_dir: Option<std::path::PathBuf>,
    disk_cache: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        headless: false,
        autoplay: false,
        choices: VecDeque::from([1, 2, 1]),
        latency: Duration::from_millis(1200),
        backend: Backend::Dev,
        token: None,
        scene: None,
        provider: None,
        cache_dir: None,
        disk_cache: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--headless" => options.headless = true,
            "--choices" => {
                options.autoplay = true;
                options.choices = value("--choices")?
                    .split(',')
                    .map(|c| {
                        c.trim()
                            .parse::<usize>()
                            .ok()
                            .filter(|&n| n >= 1)
                            .ok_or(format!(
                                "--choices: {c:?} is not a choice number (1, 2, ...)"
                            ))
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--latency-ms" => {
                let ms = value("--latency-ms")?;
                options.latency = Duration::from_millis(
                    ms.parse()
                        .map_err(|_| format!("--latency-ms: {ms:?} is not a number"))?,
                );
            }
            "--backend" => {
                options.backend = match value("--backend")?.as_str() {
                    "local" => Backend::Local,
                    "dev" => Backend::Dev,
                    "dev-real" => Backend::DevReal,
                    url => Backend::Remote(url.to_owned()),
                };
            }
            "--token" => options.token = Some(value("--token")?),
            "--scene" => options.scene = Some(value("--scene")?),
            "--provider" => options.provider = Some(value("--provider")?),
            "--cache-dir" => options.cache_dir = Some(value("--cache-dir")?.into()),
            "--no-disk-cache" => options.disk_cache = false,
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if options.backend == Backend::Local && options.scene.is_some() {
        return Err(
            "--scene plays a backend's scene; it needs a backend, not --backend local".into(),
        );
    }
    if options.token.is_some() && !matches!(options.backend, Backend::Remote(_)) {
        return Err("--token goes with --backend URL".into());
    }
    Ok(options)
}

/// The media sources, and the dev backend when this process runs one (kept alive with the app).
fn provider_plugin(
    options: &Options,
) -> Result<
    (
        AssetProviderPlugin,
        Option<DevBackend>,
        Option<PixSimSourceBuilder>,
    ),
    String,
> {
    let plugin = AssetProviderPlugin::new()
        .with_game_name("The Lighthouse Keeper")
        .with_default_timeout(Duration::from_secs(60));
    let plugin = match (&options.cache_dir, options.disk_cache) {
        (_, false) => plugin.without_disk_cache(),
        (Some(dir), true) => plugin.with_disk_cache_dir(dir),
        (None, true) => plugin,
    };
    let (builder, dev) = match &options.backend {
        Backend::Local => {
            let plugin = plugin
                .with_source(PreMadeSource::from_manifest(DEFAULT_MANIFEST))
                .with_source(
                    LocalGenerator::new()
                        .latency(options.latency)
                        .video_size(480, 270),
                );
            return Ok((plugin, None, None));
        }
        Backend::Dev | Backend::DevReal => {
            let (dev, id) = if options.backend == Backend::DevReal {
                (DevBackend::like_real_service(), "pixsim-dev-real")
            } else {
                (DevBackend::builder(), "pixsim-dev")
            };
            let dev = dev
                .job_delays(options.latency / 4, options.latency * 3 / 4)
                .image_size(480, 270)
                .video_size(480, 270)
                .spawn()
                .map_err(|error| format!("could not start the dev backend: {error}"))?;
            // Each run starts its own server on a free port; the disk tier should know it as
            // the same backend, whose media it is.
            let builder = PixSimSource::builder(dev.base_url())
                .token(dev.token())
                .source_id(id);
            (builder, Some(dev))
        }
        Backend::Remote(url) => {
            let mut config = PixSimConfig::from_env().map_err(|error| error.to_string())?;
            config.url = Some(url.clone());
            if let Some(token) = &options.token {
                config = config.token(token.clone());
            }
            (config.builder().map_err(|error| error.to_string())?, None)
        }
    };
    let builder = match &options.provider {
        Some(provider) => builder.provider_id(provider.clone()),
        None => builder,
    };
    let backend = builder.clone().build().map_err(|error| error.to_string())?;
    Ok((plugin.with_backend(backend), dev, Some(builder)))
}

/// Fetches the backend's scene `id` before the game starts, on a runtime of its own.
fn fetch_scene(builder: PixSimSourceBuilder, id: &str) -> Result<SceneGraph, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("could not start a runtime to fetch the scene: {error}"))?;
    let backend = builder.build().map_err(|error| error.to_string())?;
    runtime
        .block_on(backend.scene(id))
        .map_err(|error| format!("scene {id:?}: {error}"))
}

/// A scene fetched from the backend, played instead of the bundled story.
#[derive(Resource)]
struct FetchedScene(SceneGraph);

fn main() -> AppExit {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return AppExit::from_code(2);
        }
    };
    let (provider, dev_backend, builder) = match provider_plugin(&options) {
        Ok(parts) => parts,
        Err(message) => {
            eprintln!("{message}");
            return AppExit::from_code(1);
        }
    };
    let fetched = match (&options.scene, builder) {
        (Some(id), Some(builder)) => match fetch_scene(builder, id) {
            Ok(graph) => Some(FetchedScene(graph)),
            Err(message) => {
                eprintln!("{message}");
                return AppExit::from_code(1);
            }
        },
        _ => None,
    };
    let backend = match (&options.backend, &dev_backend) {
        (Backend::Dev, Some(dev)) => format!("dev backend {}", dev.base_url()),
        (Backend::DevReal, Some(dev)) => {
            format!("dev backend like the real service {}", dev.base_url())
        }
        (Backend::Remote(url), _) => url.clone(),
        _ => "local generator".to_owned(),
    };
    if options.headless {
        println!(
            "{}",
            json!({"event": "start", "backend": backend, "scene": options.scene,
                   "choices": options.choices})
        );
    } else {
        info!("media from the {backend}");
    }

    let mut app = App::new();
    if options.headless {
        app.add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
                1.0 / 120.0,
            ))),
            AssetPlugin::default(),
        ))
        .init_asset::<Image>()
        .add_plugins(provider)
        .init_resource::<Journal>()
        .add_systems(Startup, load_story)
        .add_systems(
            Update,
            (start_story, print_events, print_video_ends, advance_script)
                .chain()
                .after(AssetProviderSystems::Request),
        );
    } else {
        // The crate's dev build has Bevy's web asset source for a benchmark; nothing here loads
        // from the web.
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title: "The Lighthouse Keeper — bevy_asset_provider".into(),
                        resolution: (1280, 720).into(),
                        ..default()
                    }),
                    ..default()
                })
                .disable::<bevy::asset::io::web::WebAssetPlugin>(),
        )
        .add_plugins(provider)
        .add_systems(Startup, (load_story, ui::setup))
        .add_systems(
            Update,
            (
                start_story,
                ui::show_node,
                ui::choose,
                ui::add_request_rows,
                ui::update_request_rows,
                ui::play_cues,
                ui::autoplay,
                ui::mark_choices,
                ui::show_diagnostics,
            )
                .chain(),
        );
    }
    if let Some(fetched) = fetched {
        app.insert_resource(fetched);
    }
    if let Some(dev) = dev_backend {
        app.insert_resource(InProcessBackend(dev));
    }
    app.insert_resource(options).run()
}

/// The dev backend this process runs, kept for as long as the app.
#[derive(Resource)]
struct InProcessBackend(DevBackend);

/// The story and where the player is in it.
#[derive(Resource)]
struct Story {
    graph: Handle<SceneGraph>,
    /// The node the player is at and the edge that led there.
    at: Option<(String, Option<String>)>,
    /// Set when the node changed and the screen has not caught up.
    moved: bool,
}

fn load_story(
    mut commands: Commands,
    server: Res<AssetServer>,
    fetched: Option<Res<FetchedScene>>,
    mut graphs: ResMut<Assets<SceneGraph>>,
) {
    let graph = match fetched {
        Some(fetched) => graphs.add(fetched.0.clone()),
        None => server.load(STORY),
    };
    commands.insert_resource(Story {
        graph,
        at: None,
        moved: false,
    });
}

/// Enters the start node once the story has loaded.
fn start_story(
    mut story: ResMut<Story>,
    graphs: Res<Assets<SceneGraph>>,
    server: Res<AssetServer>,
    mut enter: MessageWriter<EnterNode>,
    mut exit: MessageWriter<AppExit>,
) {
    if story.at.is_some() {
        return;
    }
    if let Some(graph) = graphs.get(&story.graph) {
        let start = graph.start_node_id.clone();
        enter.write(EnterNode {
            graph: story.graph.clone(),
            node: start.clone(),
        });
        story.at = Some((start, None));
        story.moved = true;
    } else if let Some(bevy::asset::LoadState::Failed(error)) = server.get_load_state(&story.graph)
    {
        eprintln!("the story {STORY} did not load: {error}");
        exit.write(AppExit::from_code(1));
    }
}

/// Takes the choice `edge` out of the current node.
fn take_choice(story: &mut Story, edge: &str, choice: &mut MessageWriter<MakeChoice>, to: &str) {
    let Some((from, _)) = story.at.clone() else {
        return;
    };
    choice.write(MakeChoice {
        graph: story.graph.clone(),
        from,
        edge: edge.to_owned(),
    });
    story.at = Some((to.to_owned(), Some(edge.to_owned())));
    story.moved = true;
}

/// What the headless run has seen, for its summary.
#[derive(Resource)]
struct Journal {
    started: Instant,
    requested: usize,
    ready: Vec<(String, String, &'static str, &'static str, u128)>,
    failed: usize,
    by_source: HashMap<&'static str, usize>,
    path: Vec<String>,
    /// Clips watched to their end: node, frames shown, clip time in ms.
    videos: Vec<(String, u64, u128)>,
    /// Outcomes (ready or failed) seen per node and the choice that led there, this visit.
    ended: HashMap<(String, Option<String>), usize>,
}

impl Default for Journal {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requested: 0,
            ready: Vec::new(),
            failed: 0,
            by_source: HashMap::new(),
            path: Vec::new(),
            videos: Vec::new(),
            ended: HashMap::new(),
        }
    }
}

fn print_events(
    mut requested: MessageReader<AssetRequested>,
    mut ready: MessageReader<AssetReady>,
    mut failed: MessageReader<AssetFailed>,
    media: Query<&SceneMedia>,
    graphs: Res<Assets<SceneGraph>>,
    story: Res<Story>,
    mut journal: ResMut<Journal>,
) {
    let scene = graphs.get(&story.graph).map(|g| g.id.clone());
    let context = |entity: Option<Entity>| {
        entity
            .and_then(|e| media.get(e).ok())
            .map(|m| (m.node.clone(), m.edge.clone()))
            .unwrap_or_default()
    };
    // Prefetches of the likely next choices get their own events; the journal counts what the
    // player asked for.
    for message in requested.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch", "key": message.key.short(), "scene": message.scene_id,
                       "choice": message.choice_id, "kind": message.kind.as_str(),
                       "status": "pending"})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        journal.requested += 1;
        println!(
            "{}",
            json!({"event": "requested", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": null,
                   "status": if message.joined { "joined" } else { "pending" }, "ms": 0})
        );
    }
    for message in ready.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch_ready", "key": message.key.short(),
                       "kind": message.kind.as_str(), "source": message.source.as_str(),
                       "origin": message.origin, "ms": message.elapsed.as_millis()})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        *journal
            .ended
            .entry((node.clone(), choice.clone()))
            .or_default() += 1;
        let ms = message.elapsed.as_millis();
        *journal
            .by_source
            .entry(message.source.as_str())
            .or_default() += 1;
        journal.ready.push((
            message.key.short(),
            node.clone(),
            message.kind.as_str(),
            message.source.as_str(),
            ms,
        ));
        println!(
            "{}",
            json!({"event": "ready", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": message.source.as_str(),
                   "origin": message.origin, "status": "completed", "ms": ms})
        );
    }
    for message in failed.read() {
        if message.prefetch {
            println!(
                "{}",
                json!({"event": "prefetch_failed", "key": message.key.short(),
                       "kind": message.kind.as_str(), "status": message.status.as_str(),
                       "error": message.error.to_string()})
            );
            continue;
        }
        let (node, choice) = context(message.entity);
        journal.failed += 1;
        *journal
            .ended
            .entry((node.clone(), choice.clone()))
            .or_default() += 1;
        println!(
            "{}",
            json!({"event": "failed", "key": message.key.short(), "scene": scene, "node": node,
                   "choice": choice, "kind": message.kind.as_str(), "source": null,
                   "status": message.status.as_str(), "error": message.error.to_string(),
                   "ms": message.elapsed.as_millis()})
        );
    }
}

/// Prints each clip that played to its end (or stopped on a decoding error).
fn print_video_ends(
    mut ended: MessageReader<VideoEnded>,
    players: Query<(&VideoPlayer, &SceneMedia)>,
    mut journal: ResMut<Journal>,
) {
    for message in ended.read() {
        let Ok((player, media)) = players.get(message.entity) else {
            continue;
        };
        let ms = player.position().as_millis();
        journal
            .videos
            .push((media.node.clone(), player.frames_shown(), ms));
        println!(
            "{}",
            json!({"event": "video_ended", "node": media.node, "choice": media.edge,
                   "frames": player.frames_shown(), "clip_ms": ms,
                   "error": message.error.as_ref().map(ToString::to_string),
                   "ms": journal.started.elapsed().as_millis()})
        );
    }
}

/// The story's request entities.
type SceneTasks<'w, 's> = Query<'w, 's, (Entity, &'static SceneMedia, &'static GenerationTask)>;

/// Whether the node's clips have played to their end: a video request whose clip arrived gets a
/// `VideoPlayer` on its entity, and the story waits for it (a still served for a video request
/// has nothing to wait for).
fn clips_watched(
    commands: &mut Commands,
    node: &str,
    via: &Option<String>,
    tasks: &SceneTasks,
    players: &Query<&VideoPlayer>,
    clips: &VideoClips,
) -> bool {
    let mut watched = true;
    for (entity, media, task) in tasks {
        if media.node != node || media.edge != *via || media.kind != MediaKind::Video {
            continue;
        }
        let Some(image) = task
            .handle()
            .image()
            .filter(|i| clips.get(i.id()).is_some())
        else {
            continue;
        };
        match players.get(entity) {
            Ok(player) if player.state().has_stopped() => {}
            Ok(_) => watched = false,
            Err(_) => {
                commands
                    .entity(entity)
                    .insert(VideoPlayer::new(image.clone()));
                watched = false;
            }
        }
    }
    watched
}

/// Waits until the outcome of every request of the current node has been printed and its clips
/// have played, then takes the next scripted choice, or prints the summary and exits.
fn advance_script(
    mut commands: Commands,
    (mut story, graphs): (ResMut<Story>, Res<Assets<SceneGraph>>),
    mut options: ResMut<Options>,
    (tasks, players, clips): (SceneTasks, Query<&VideoPlayer>, Res<VideoClips>),
    mut journal: ResMut<Journal>,
    (mut choice, mut exit): (MessageWriter<MakeChoice>, MessageWriter<AppExit>),
    // What the summary reports.
    (provider, dev): (Res<AssetProvider>, Option<Res<InProcessBackend>>),
) {
    let (Some(graph), Some((node, via))) = (graphs.get(&story.graph), story.at.clone()) else {
        return;
    };
    let expected = graph
        .node_media(&node, via.as_ref().and_then(|e| graph.edge(e)))
        .len();
    // Outcomes arrive as messages a frame after a task ends (at once for a memory hit): count
    // those, so that the journal has them all.
    let seen = journal
        .ended
        .get(&(node.clone(), via.clone()))
        .copied()
        .unwrap_or(0);
    if seen < expected || !clips_watched(&mut commands, &node, &via, &tasks, &players, &clips) {
        return;
    }
    // Like a player reading the scene, the script gives the prefetches of the next choices time
    // to finish: none is given up half-paid, and a second run finds them all on disk.
    if provider.prefetches_in_flight() > 0 {
        return;
    }
    if story.moved {
        story.moved = false;
        journal.path.push(node.clone());
    }
    let choices: Vec<_> = graph.choices(&node).collect();
    match options.choices.pop_front() {
        Some(n) if choices.is_empty() => {
            eprintln!(
                "node {node:?} is an ending; choice {n} and the rest of --choices are unused"
            );
            finish(&journal, &provider, dev.as_deref(), &mut exit);
        }
        Some(n) => {
            let Some(edge) = choices.get(n - 1) else {
                eprintln!(
                    "--choices: node {node:?} has {} choices, not {n}",
                    choices.len()
                );
                exit.write(AppExit::from_code(2));
                return;
            };
            println!(
                "{}",
                json!({"event": "choice", "scene": graph.id, "node": node, "choice": edge.id,
                       "label": edge.label, "to": edge.to, "key": null, "source": null,
                       "status": null, "ms": journal.started.elapsed().as_millis()})
            );
            let (edge, to) = (edge.id.clone(), edge.to.clone());
            // A node visited again by the same way counts its outcomes afresh.
            journal.ended.remove(&(to.clone(), Some(edge.clone())));
            take_choice(&mut story, &edge, &mut choice, &to);
        }
        None => finish(&journal, &provider, dev.as_deref(), &mut exit),
    }
}

fn finish(
    journal: &Journal,
    provider: &AssetProvider,
    dev: Option<&InProcessBackend>,
    exit: &mut MessageWriter<AppExit>,
) {
    let mut times: Vec<u128> = journal
        .ready
        .iter()
        .filter(|r| r.3 != "cached")
        .map(|r| r.4)
        .collect();
    times.sort_unstable();
    let percentile = |p: f64| {
        times
            .get(((times.len() as f64 - 1.0) * p).round() as usize)
            .copied()
    };
    let stats = provider.stats();
    let disk_stats = provider.disk_stats();
    let tiers = json!({"memory": stats.memory_hits,
                       "disk": disk_stats.map(|disk| disk.hits),
                       "pre_made": stats.pre_made, "generated": stats.generated});
    let disk = disk_stats.map(|disk| {
        json!({"entries": disk.entries, "bytes": disk.bytes, "hits": disk.hits,
               "misses": disk.misses, "evictions": disk.evictions})
    });
    let backend = dev.map(|dev| {
        let stats = dev.0.stats();
        // Prefetches are sent in the background lane, at a lower priority than the player's own.
        let prefetch_creates = dev
            .0
            .create_priorities()
            .iter()
            .filter(|&&priority| priority <= 1)
            .count();
        json!({"creates": stats.creates,
               "player_creates": stats.creates.saturating_sub(prefetch_creates as u64),
               "prefetch_creates": prefetch_creates,
               "new_generations": stats.new_generations, "downloads": stats.downloads})
    });
    let videos: Vec<_> = journal
        .videos
        .iter()
        .map(|(node, frames, ms)| json!({"node": node, "frames": frames, "clip_ms": ms}))
        .collect();
    let requests: Vec<_> = journal
        .ready
        .iter()
        .map(|(key, node, kind, source, ms)| {
            json!({"key": key, "node": node, "kind": kind, "source": source, "ms": ms})
        })
        .collect();
    println!(
        "{}",
        json!({"event": "summary", "key": null, "scene": null, "node": journal.path.last(),
               "choice": null, "source": null,
               "status": if journal.failed == 0 { "ok" } else { "failed" },
               "ms": journal.started.elapsed().as_millis(),
               "path": journal.path, "requested": journal.requested,
               "ready": journal.ready.len(), "failed": journal.failed,
               "by_source": journal.by_source,
               "time_to_real_media_ms": {"p50": percentile(0.5), "max": times.last()},
               "tiers": tiers, "disk": disk, "backend": backend,
               "resumed_jobs": provider.resumed_jobs(),
               "prefetch": {"started": stats.prefetched, "used": stats.prefetch_used,
                            "wasted": stats.prefetch_wasted},
               "videos": videos, "requests": requests})
    );
    exit.write(if journal.failed == 0 {
        AppExit::Success
    } else {
        AppExit::from_code(1)
    });
}

/// The windowed player's screen.
mod ui {
    use super::*;

    const BADGE_PENDING: Color = Color::srgb(0.55, 0.57, 0.62);
    const BADGE_PROCESSING: Color = Color::srgb(0.95, 0.72, 0.25);
    const BADGE_COMPLETED: Color = Color::srgb(0.35, 0.78, 0.45);
    const BADGE_FAILED: Color = Color::srgb(0.9, 0.32, 0.3);
    const MAX_ROWS: usize = 7;

    #[derive(Component)]
    pub struct Stage;

    #[derive(Component)]
    pub struct Caption;

    #[derive(Component)]
    pub struct ChoiceList;

    #[derive(Component)]
    pub struct ChoiceButton {
        edge: String,
        to: String,
    }

    /// Under a choice: whether its media is prefetched already.
    #[derive(Component)]
    pub struct ChoiceStatus {
        edge: String,
        to: String,
    }

    /// The diagnostics overlay.
    #[derive(Component)]
    pub struct Overlay;

    #[derive(Component)]
    pub struct RequestList;

    /// One row of the request panel, following the task on `task`.
    #[derive(Component)]
    pub struct RequestRow {
        task: Entity,
        created: Instant,
    }

    #[derive(Component)]
    pub struct Badge;

    #[derive(Component)]
    pub struct Bar;

    #[derive(Component)]
    pub struct Elapsed;

    pub fn setup(mut commands: Commands) {
        commands.spawn(Camera2d);
        commands
            .spawn((
                Node {
                    width: percent(100),
                    height: percent(100),
                    flex_direction: FlexDirection::Column,
                    padding: UiRect::all(px(20)),
                    row_gap: px(12),
                    ..default()
                },
                BackgroundColor(Color::srgb(0.07, 0.08, 0.1)),
            ))
            .with_children(|root| {
                root.spawn((
                    Text::new("The Lighthouse Keeper"),
                    TextFont::from_font_size(28.0),
                    TextColor(Color::srgb(0.93, 0.9, 0.82)),
                ));
                root.spawn(Node {
                    flex_direction: FlexDirection::Row,
                    column_gap: px(20),
                    ..default()
                })
                .with_children(|row| {
                    row.spawn((
                        Stage,
                        ImageNode::default(),
                        Node {
                            width: px(800),
                            height: px(450),
                            ..default()
                        },
                        BorderColor::all(Color::srgb(0.25, 0.27, 0.32)),
                    ));
                    row.spawn(Node {
                        flex_direction: FlexDirection::Column,
                        row_gap: px(10),
                        width: px(400),
                        ..default()
                    })
                    .with_children(|column| {
                        column.spawn((
                            Caption,
                            Text::new(""),
                            TextFont::from_font_size(22.0),
                            TextColor(Color::srgb(0.85, 0.86, 0.9)),
                        ));
                        column.spawn((
                            ChoiceList,
                            Node {
                                flex_direction: FlexDirection::Column,
                                row_gap: px(8),
                                ..default()
                            },
                        ));
                    });
                });
                // Bottom right: clear of the caption and the choices.
                root.spawn((
                    Overlay,
                    Text::new(""),
                    TextFont::from_font_size(13.0),
                    TextColor(Color::srgb(0.7, 0.74, 0.8)),
                    Node {
                        position_type: PositionType::Absolute,
                        bottom: px(20),
                        right: px(20),
                        ..default()
                    },
                ));
                root.spawn((
                    RequestList,
                    Node {
                        flex_direction: FlexDirection::Column,
                        row_gap: px(4),
                        ..default()
                    },
                ));
            });
    }

    /// When the player moves: the node's picture on the stage (a video node's clip plays there),
    /// its label, its choices.
    pub fn show_node(
        mut commands: Commands,
        mut story: ResMut<Story>,
        (options, graphs): (Res<Options>, Res<Assets<SceneGraph>>),
        tasks: Query<(&SceneMedia, &GenerationTask)>,
        mut stage: Single<(Entity, &mut ImageNode), With<Stage>>,
        mut caption: Single<&mut Text, With<Caption>>,
        list: Single<Entity, With<ChoiceList>>,
    ) {
        let (Some(graph), Some((node_id, via))) = (graphs.get(&story.graph), story.at.clone())
        else {
            return;
        };
        // The node's picture request is spawned a frame after the move; wait for it.
        let Some((image, kind)) = tasks.iter().find_map(|(media, task)| {
            (media.node == node_id && media.edge == via && media.kind != MediaKind::Audio)
                .then(|| {
                    task.handle()
                        .image()
                        .cloned()
                        .map(|image| (image, media.kind))
                })
                .flatten()
        }) else {
            return;
        };
        if !story.moved {
            return;
        }
        story.moved = false;
        let (stage_entity, stage_image) = &mut *stage;
        stage_image.image = image.clone();
        // The placeholder, then the clip's first frame, then the clip: looping while the player
        // reads, once when the story plays itself.
        if kind == MediaKind::Video {
            commands
                .entity(*stage_entity)
                .insert(VideoPlayer::new(image).looping(!options.autoplay));
        } else {
            commands.entity(*stage_entity).remove::<VideoPlayer>();
        }
        let node = graph
            .node(&node_id)
            .expect("validated graphs name their nodes");
        caption.0 = node.label.clone();
        commands.entity(*list).despawn_related::<Children>();
        let choices: Vec<_> = graph.choices(&node_id).collect();
        commands.entity(*list).with_children(|list| {
            for (i, edge) in choices.iter().enumerate() {
                list.spawn((
                    Button,
                    ChoiceButton {
                        edge: edge.id.clone(),
                        to: edge.to.clone(),
                    },
                    Node {
                        padding: UiRect::axes(px(14), px(10)),
                        flex_direction: FlexDirection::Column,
                        row_gap: px(2),
                        ..default()
                    },
                    BackgroundColor(Color::srgb(0.16, 0.18, 0.23)),
                ))
                .with_children(|button| {
                    button.spawn((
                        Text::new(format!("{}. {}", i + 1, edge.label)),
                        TextFont::from_font_size(18.0),
                        TextColor(Color::srgb(0.92, 0.92, 0.95)),
                    ));
                    button.spawn((
                        ChoiceStatus {
                            edge: edge.id.clone(),
                            to: edge.to.clone(),
                        },
                        Text::new(""),
                        TextFont::from_font_size(12.0),
                        TextColor(BADGE_PENDING),
                    ));
                });
            }
            if choices.is_empty() {
                list.spawn((
                    Text::new("The end. Press R to start again."),
                    TextFont::from_font_size(18.0),
                    TextColor(Color::srgb(0.7, 0.7, 0.75)),
                ));
            }
        });
    }

    /// Marks the choices whose media is prefetched: ready, or on its way.
    pub fn mark_choices(
        story: Res<Story>,
        graphs: Res<Assets<SceneGraph>>,
        provider: Res<AssetProvider>,
        mut marks: Query<(&ChoiceStatus, &mut Text, &mut TextColor)>,
    ) {
        let Some(graph) = graphs.get(&story.graph) else {
            return;
        };
        for (status, mut text, mut color) in &mut marks {
            let Some(edge) = graph.edge(&status.edge) else {
                continue;
            };
            let keys: Vec<RequestKey> = graph
                .node_media(&status.to, Some(edge))
                .iter()
                .map(|request| provider.key_for(request))
                .collect();
            let (label, tint) = if keys.iter().all(|key| provider.get(key).is_some()) {
                ("prefetched: ready", BADGE_COMPLETED)
            } else if keys.iter().any(|key| provider.status(key).is_some()) {
                ("prefetching", BADGE_PROCESSING)
            } else {
                ("", BADGE_PENDING)
            };
            if text.0 != label {
                text.0 = label.to_owned();
                color.0 = tint;
            }
        }
    }

    /// The provider's diagnostics, as `LogDiagnosticsPlugin` would print them.
    pub fn show_diagnostics(
        diagnostics: Res<bevy::diagnostic::DiagnosticsStore>,
        mut overlay: Single<&mut Text, With<Overlay>>,
    ) {
        let value = |path| {
            diagnostics
                .get(path)
                .and_then(|diagnostic| diagnostic.value())
        };
        let percent = |path| value(path).map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
        let millis = |path| value(path).map_or("-".to_owned(), |v| format!("{v:.0} ms"));
        let count = |path| value(path).map_or("-".to_owned(), |v| format!("{v:.0}"));
        let text = format!(
            "in flight {} (prefetch {})\ncache hit rate {}\ntime to media p50 {} p95 {}\n\
             prefetch hit rate {}\nwasted generations {}",
            count(&AssetProviderDiagnostics::IN_FLIGHT),
            count(&AssetProviderDiagnostics::PREFETCHES_IN_FLIGHT),
            percent(&AssetProviderDiagnostics::CACHE_HIT_RATE),
            millis(&AssetProviderDiagnostics::TIME_TO_MEDIA_P50),
            millis(&AssetProviderDiagnostics::TIME_TO_MEDIA_P95),
            percent(&AssetProviderDiagnostics::PREFETCH_HIT_RATE),
            count(&AssetProviderDiagnostics::WASTED_GENERATIONS),
        );
        if overlay.0 != text {
            overlay.0 = text;
        }
    }

    /// Buttons and number keys take a choice; R restarts at an ending.
    pub fn choose(
        mut story: ResMut<Story>,
        keys: Res<ButtonInput<KeyCode>>,
        pressed: Query<(&Interaction, &ChoiceButton), Changed<Interaction>>,
        buttons: Query<&ChoiceButton>,
        mut choice: MessageWriter<MakeChoice>,
        mut enter: MessageWriter<EnterNode>,
        graphs: Res<Assets<SceneGraph>>,
    ) {
        if story.moved {
            return;
        }
        let mut picked = pressed
            .iter()
            .find(|(interaction, _)| **interaction == Interaction::Pressed)
            .map(|(_, button)| (button.edge.clone(), button.to.clone()));
        const DIGITS: [KeyCode; 9] = [
            KeyCode::Digit1,
            KeyCode::Digit2,
            KeyCode::Digit3,
            KeyCode::Digit4,
            KeyCode::Digit5,
            KeyCode::Digit6,
            KeyCode::Digit7,
            KeyCode::Digit8,
            KeyCode::Digit9,
        ];
        if let Some(n) = DIGITS.iter().position(|key| keys.just_pressed(*key)) {
            picked = buttons
                .iter()
                .nth(n)
                .map(|button| (button.edge.clone(), button.to.clone()));
        }
        if let Some((edge, to)) = picked {
            take_choice(&mut story, &edge, &mut choice, &to);
        } else if keys.just_pressed(KeyCode::KeyR)
            && buttons.is_empty()
            && let Some(graph) = graphs.get(&story.graph)
        {
            let start = graph.start_node_id.clone();
            enter.write(EnterNode {
                graph: story.graph.clone(),
                node: start.clone(),
            });
            story.at = Some((start, None));
            story.moved = true;
        }
    }

    /// A row per new request: badge, kind and node, progress bar, elapsed time.
    pub fn add_request_rows(
        mut commands: Commands,
        mut requested: MessageReader<AssetRequested>,
        media: Query<&SceneMedia>,
        list: Single<Entity, With<RequestList>>,
        rows: Query<(Entity, &RequestRow)>,
    ) {
        let mut added = 0;
        for message in requested.read() {
            let Some(entity) = message.entity else {
                continue;
            };
            let label = media.get(entity).map_or_else(
                |_| message.kind.as_str().to_owned(),
                |m| format!("{} / {}", m.node, m.kind.as_str()),
            );
            added += 1;
            commands.entity(*list).with_children(|list| {
                list.spawn((
                    RequestRow {
                        task: entity,
                        created: Instant::now(),
                    },
                    Node {
                        flex_direction: FlexDirection::Row,
                        column_gap: px(10),
                        align_items: AlignItems::Center,
                        ..default()
                    },
                ))
                .with_children(|row| {
                    row.spawn((
                        Badge,
                        Text::new("PENDING"),
                        TextFont::from_font_size(13.0),
                        TextColor(Color::srgb(0.08, 0.08, 0.1)),
                        Node {
                            width: px(110),
                            padding: UiRect::axes(px(6), px(2)),
                            ..default()
                        },
                        BackgroundColor(BADGE_PENDING),
                    ));
                    row.spawn((
                        Text::new(label),
                        TextFont::from_font_size(14.0),
                        TextColor(Color::srgb(0.8, 0.82, 0.86)),
                        TextLayout::linebreak(LineBreak::NoWrap),
                        Node {
                            width: px(260),
                            ..default()
                        },
                    ));
                    row.spawn((
                        Node {
                            width: px(300),
                            height: px(8),
                            ..default()
                        },
                        BackgroundColor(Color::srgb(0.18, 0.2, 0.24)),
                    ))
                    .with_child((
                        Bar,
                        Node {
                            width: percent(0),
                            height: percent(100),
                            ..default()
                        },
                        BackgroundColor(BADGE_PROCESSING),
                    ));
                    row.spawn((
                        Elapsed,
                        Text::new("0 ms"),
                        TextFont::from_font_size(13.0),
                        TextColor(Color::srgb(0.6, 0.62, 0.68)),
                    ));
                });
            });
        }
        // Keep the newest rows only.
        let mut existing: Vec<_> = rows.iter().collect();
        let excess = (existing.len() + added).saturating_sub(MAX_ROWS);
        existing.sort_by_key(|(_, row)| row.created);
        for (entity, _) in existing.into_iter().take(excess) {
            commands.entity(entity).despawn();
        }
    }

    type BadgeCells<'w, 's> = Query<
        'w,
        's,
        (&'static mut Text, &'static mut BackgroundColor),
        (With<Badge>, Without<Bar>),
    >;
    type BarCells<'w, 's> = Query<
        'w,
        's,
        (&'static mut Node, &'static mut BackgroundColor),
        (With<Bar>, Without<Badge>),
    >;

    /// Badges, bars and timers follow their tasks.
    pub fn update_request_rows(
        rows: Query<(&RequestRow, &Children)>,
        tasks: Query<&GenerationTask>,
        children: Query<&Children>,
        mut badges: BadgeCells,
        mut bars: BarCells,
        mut timers: Query<&mut Text, (With<Elapsed>, Without<Badge>)>,
    ) {
        for (row, cells) in &rows {
            let Ok(task) = tasks.get(row.task) else {
                continue;
            };
            let (label, color, fill) = match task.status() {
                TaskStatus::Pending => ("PENDING", BADGE_PENDING, 0.0),
                TaskStatus::Processing => ("PROCESSING", BADGE_PROCESSING, task.progress()),
                TaskStatus::Completed => ("COMPLETED", BADGE_COMPLETED, 1.0),
                TaskStatus::Failed => ("FAILED", BADGE_FAILED, 1.0),
                TaskStatus::TimedOut => ("TIMED OUT", BADGE_FAILED, 1.0),
                TaskStatus::Cancelled => ("CANCELLED", BADGE_PENDING, 0.0),
            };
            let elapsed = task
                .finished_after()
                .unwrap_or_else(|| row.created.elapsed());
            for cell in cells.iter() {
                if let Ok((mut text, mut background)) = badges.get_mut(cell) {
                    if text.0 != label {
                        text.0 = label.to_owned();
                        background.0 = color;
                    }
                } else if let Ok(mut timer) = timers.get_mut(cell) {
                    let source = task.source().map_or("", |s| s.as_str());
                    timer.0 = format!("{} ms {source}", elapsed.as_millis());
                } else if let Ok(bar_cells) = children.get(cell) {
                    for bar in bar_cells.iter() {
                        if let Ok((mut node, mut background)) = bars.get_mut(bar) {
                            node.width = percent(fill * 100.0);
                            background.0 = color;
                        }
                    }
                }
            }
        }
    }

    /// With `--choices` in a window: takes the next scripted choice a moment after the node's
    /// media has arrived and its clip (if any) has played, so the story plays itself (for demos
    /// and screenshots).
    pub fn autoplay(
        mut story: ResMut<Story>,
        mut options: ResMut<Options>,
        graphs: Res<Assets<SceneGraph>>,
        tasks: Query<(&SceneMedia, &GenerationTask)>,
        (stage, clips): (Single<Option<&VideoPlayer>, With<Stage>>, Res<VideoClips>),
        mut choice: MessageWriter<MakeChoice>,
        mut settled_since: Local<Option<Instant>>,
    ) {
        let (true, false, Some(graph), Some((node, via))) = (
            options.autoplay,
            story.moved,
            graphs.get(&story.graph),
            story.at.clone(),
        ) else {
            return;
        };
        let mut mine = tasks
            .iter()
            .filter(|(media, _)| media.node == node && media.edge == via)
            .peekable();
        // A clip that arrived plays to its end first; a still served for it has no end.
        let playing = stage.is_some_and(|player| {
            clips.get(player.image().id()).is_some() && !player.state().has_stopped()
        });
        if mine.peek().is_none() || mine.any(|(_, task)| !task.status().is_terminal()) || playing {
            *settled_since = None;
            return;
        }
        let since = *settled_since.get_or_insert_with(Instant::now);
        if since.elapsed() < Duration::from_millis(1500) {
            return;
        }
        *settled_since = None;
        let Some(n) = options.choices.pop_front() else {
            options.autoplay = false;
            return;
        };
        if let Some(edge) = graph.choices(&node).nth(n - 1) {
            let (edge, to) = (edge.id.clone(), edge.to.clone());
            take_choice(&mut story, &edge, &mut choice, &to);
        }
    }

    /// A node's sound cue plays when it arrives: the player holds the empty handle and starts
    /// when the real sound is inserted behind it.
    pub fn play_cues(
        mut commands: Commands,
        mut requested: MessageReader<AssetRequested>,
        media: Query<&SceneMedia>,
    ) {
        for message in requested.read() {
            if let (Some(MediaHandle::Audio(handle)), true) = (
                Some(&message.handle),
                message.entity.is_some_and(|e| media.contains(e)),
            ) {
                commands.spawn((AudioPlayer(handle.clone()), PlaybackSettings::DESPAWN));
            }
        }
    }
}
