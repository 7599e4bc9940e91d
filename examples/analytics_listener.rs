//! An analytics listener: every step of every request as one JSON line on stdout — requested,
//! served from a cache tier or pre-made, generation started, completed, failed, cancelled,
//! played, and what prefetching used and wasted.
//!
//! ```sh
//! cargo run --example analytics_listener > events.jsonl
//! ```
//!
//! It plays the bundled story headless against an in-process dev backend, choosing the most
//! likely choice 1.5 s after each arrival, and reports the media it shows as played. Pipe the
//! lines to your analytics pipeline; here they go to stdout.

use std::time::{Duration, Instant};

use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::observe::{AnalyticsEvent, AssetPlayed};
use bevy_asset_provider::prelude::*;
use pixsim_dev::DevBackend;

const STORY: &str = "story/lighthouse.scene.json";
const READ_FOR: Duration = Duration::from_millis(1500);

/// The dev backend, alive as long as the app.
#[derive(Resource)]
struct Backend(#[allow(dead_code)] DevBackend);

#[derive(Resource)]
struct Player {
    graph: Handle<SceneGraph>,
    at: Option<String>,
    arrived: Instant,
}

fn main() -> AppExit {
    let dev = match DevBackend::builder()
        .job_delays(Duration::from_millis(100), Duration::from_millis(600))
        .spawn()
    {
        Ok(dev) => dev,
        Err(error) => {
            eprintln!("could not start the dev backend: {error}");
            return AppExit::from_code(1);
        }
    };
    let backend = match PixSimSource::builder(dev.base_url())
        .token(dev.token())
        .build()
    {
        Ok(backend) => backend,
        Err(error) => {
            eprintln!("{error}");
            return AppExit::from_code(1);
        }
    };
    App::new()
        .add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_millis(5))),
            AssetPlugin::default(),
        ))
        .init_asset::<Image>()
        .add_plugins(AssetProviderPlugins::from(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_backend(backend),
        ))
        .insert_resource(Backend(dev))
        // Observers see each event as it is triggered; a `MessageReader` works as well.
        .add_observer(|event: On<AnalyticsEvent>| {
            if let Ok(line) = serde_json::to_string(event.event()) {
                println!("{line}");
            }
        })
        .add_systems(
            Startup,
            |mut commands: Commands, server: Res<AssetServer>| {
                commands.insert_resource(Player {
                    graph: server.load(STORY),
                    at: None,
                    arrived: Instant::now(),
                });
            },
        )
        .add_systems(
            Update,
            (play, report_played).after(AssetProviderSystems::Predict),
        )
        .run()
}

/// Enters the story, then takes the most likely choice after reading each node for a while.
fn play(
    mut player: ResMut<Player>,
    graphs: Res<Assets<SceneGraph>>,
    mut enter: MessageWriter<EnterNode>,
    mut choose: MessageWriter<MakeChoice>,
    mut exit: MessageWriter<AppExit>,
) {
    let Some(graph) = graphs.get(&player.graph) else {
        return;
    };
    let Some(at) = player.at.clone() else {
        enter.write(EnterNode {
            graph: player.graph.clone(),
            node: graph.start_node_id.clone(),
        });
        player.at = Some(graph.start_node_id.clone());
        player.arrived = Instant::now();
        return;
    };
    if player.arrived.elapsed() < READ_FOR {
        return;
    }
    let likeliest = graph
        .choices(&at)
        .max_by(|a, b| a.weight.total_cmp(&b.weight))
        .cloned();
    match likeliest {
        Some(edge) => {
            choose.write(MakeChoice {
                graph: player.graph.clone(),
                from: at,
                edge: edge.id.clone(),
            });
            player.at = Some(edge.to.clone());
            player.arrived = Instant::now();
        }
        None => {
            exit.write(AppExit::Success);
        }
    }
}

/// Tells the provider which media reached the player.
fn report_played(mut ready: MessageReader<AssetReady>, mut played: MessageWriter<AssetPlayed>) {
    for message in ready.read().filter(|message| !message.prefetch) {
        played.write(AssetPlayed {
            key: message.key,
            kind: message.kind,
        });
    }
}
