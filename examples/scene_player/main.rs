//! A branching story whose pictures and sound cues come from the asset provider.
//!
//! ```sh
//! cargo run --example scene_player                      # in a window: click choices or press 1-9
//! cargo run --example scene_player -- --headless --choices 1,2,1
//! ```
//!
//! Each node's media is requested when the player arrives (`EnterNode`) or chooses (`MakeChoice`).
//! The picture shows a placeholder at once; the real image replaces it behind the same handle.
//! Nodes of type `video` (rowing out, the rocks, the light returning) get an H.264 clip instead
//! with `--features video`: its first frame shows when it arrives, then a `VideoPlayer` plays it
//! on the stage (without the feature they show a still). Badges and bars show each request's
//! status.
//!
//! By default the media comes from a generation backend: a loopback dev backend started in this
//! process, speaking the same HTTP API as a real PixSim7 (create, WebSocket, download). The
//! harbour, the cliff path and the lantern room are pre-made files under `assets/premade`; sound
//! cues come from the embedded generator, since the backend's API has no audio operation.
//!
//! `--headless` plays a scripted path without a window and prints one JSON object per line for
//! each event (with the kind of source and the source that served it), then a summary; it exits
//! non-zero if any request failed. Like a player, it watches each video node's clip (if any) to
//! its end (`VideoEnded`) before taking the next choice.
//!
//! Options:
//! - `--choices 1,2,1`: the path, 1-based per node (a window plays it by itself).
//! - `--backend URL --token T`: a real PixSim7 (settings from `PIXSIM_CONFIG` and `PIXSIM_*`
//!   apply too); `--backend local`: no backend: the pre-made files, then the embedded generator; `--backend
//!   dev-real`: the dev backend behaving like the real service (its dedup and cache keys that
//!   ignore prompts and players, its rate limit, cancels that lose the race, its errors).
//! - `--scene ID`: play the backend's scene `ID` (`GET /api/v1/game/scenes/ID`) instead of the
//!   bundled story; the dev backend has the bundled story as `lighthouse`.
//! - `--provider ID`: the provider sent with creates (default `pixverse`).
//! - `--record DIR`: record every exchange with the backend (requests, answers, media) into
//!   `DIR`; `--replay DIR` answers as the recorded backend did, with no backend and no network.
//!   Both keep results in memory only, so every request reaches the recorded answers, and a
//!   replayed scripted run prints the recorded run's lines (timings aside).
//! - `--offline`: nothing generated, no backend: the caches and the pre-made files only (run
//!   `cargo run --example bake` first to bake the story into them); each request nothing has
//!   is named once in a warning and keeps its placeholder.
//! - `--latency-ms N`: how long a generation takes on the dev backend or the embedded generator
//!   (default 1200).
//! - `--latency hosted[:SCALE]`: the dev backend's jobs take as long as on a hosted service
//!   (pictures 8 s, video clips 60 s, sound cues 3 s at the median, with tails), scaled.
//! - `--cache-dir DIR`: where results are kept between runs (default: the platform's cache
//!   directory for the game, `~/.cache/The Lighthouse Keeper` on Linux, or
//!   `BEVY_ASSET_PROVIDER_CACHE_DIR`); `--no-disk-cache` keeps them in memory only. A scripted
//!   run waits at each node for the prefetches of its next choices, as a reader would, so a
//!   second run of the same path is served from disk and creates nothing: the summary counts
//!   hits per tier and the backend's creates.

mod cli;
mod clips;
mod script;
mod sources;
mod story;
mod ui;

use std::time::Duration;

use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use serde_json::json;

use cli::Backend;
use script::Journal;
use sources::{FetchedScene, InProcessBackend};
use story::{load_story, start_story};

fn main() -> AppExit {
    let options = match cli::options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return AppExit::from_code(2);
        }
    };
    let (provider, dev_backend, builder) = match sources::provider_plugin(&options) {
        Ok(parts) => parts,
        Err(message) => {
            eprintln!("{message}");
            return AppExit::from_code(1);
        }
    };
    let fetched = match (&options.scene, builder) {
        (Some(id), Some(builder)) => match sources::fetch_scene(builder, id) {
            Ok(graph) => Some(FetchedScene(graph)),
            Err(message) => {
                eprintln!("{message}");
                return AppExit::from_code(1);
            }
        },
        _ => None,
    };
    let backend = match (&options.backend, &dev_backend) {
        _ if let Some(dir) = &options.replay => format!("recording {}", dir.display()),
        (Backend::Dev, Some(dev)) => format!("dev backend {}", dev.base_url()),
        (Backend::DevReal, Some(dev)) => {
            format!("dev backend like the real service {}", dev.base_url())
        }
        (Backend::Remote(url), _) => url.clone(),
        _ if options.offline => "caches and pre-made files (offline)".to_owned(),
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
        .add_plugins(AssetProviderPlugins::from(provider))
        .init_resource::<Journal>()
        .add_systems(Startup, load_story)
        .add_systems(
            Update,
            (start_story, script::print_events, script::advance_script)
                .chain()
                .after(AssetProviderSystems::Request),
        );
        #[cfg(feature = "video")]
        app.add_systems(
            Update,
            script::print_video_ends
                .after(script::print_events)
                .before(script::advance_script),
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
        .add_plugins(AssetProviderPlugins::from(provider))
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
