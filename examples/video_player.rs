//! A generated video clip playing on a sprite, with playback controls.
//!
//! ```sh
//! cargo run --example video_player --features video               # in a window
//! cargo run --example video_player --features video -- --headless # plays the clip once, prints how it went
//! ```
//!
//! The clip comes from the embedded generator (an H.264 High-profile mp4 with B-frames, made on
//! the plugin's runtime). The sprite shows the placeholder at once, the clip's first frame when it
//! arrives, then the clip, played by a [`VideoPlayer`] on the clip's own timestamps.
//!
//! Keys: Space pauses and plays, Home (or R) goes back to the start, L turns looping on and off,
//! Up and Down change the speed.

use std::time::Duration;

use argh::FromArgs;
use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::LocalGenerator;
use bevy_asset_provider::video::{VideoEnded, VideoPlayer, VideoState};

fn provider() -> AssetProviderPlugin {
    AssetProviderPlugin::new().without_disk_cache().with_source(
        LocalGenerator::new()
            .latency(Duration::from_millis(600))
            .video_size(640, 360),
    )
}

/// The clip every run asks for.
fn clip_request() -> AssetRequest {
    AssetRequest::video()
        .scene("harbor")
        .prompt("waves rolling into a stone harbor at dawn, a lantern drifting past")
        .duration_secs(3.0)
}

/// A generated video clip playing on a sprite, with playback controls.
#[derive(FromArgs)]
struct Args {
    /// play the clip once without a window and print how it ended
    #[argh(switch)]
    headless: bool,
}

fn main() -> AppExit {
    let Args { headless } = argh::from_env();
    let mut app = App::new();
    if headless {
        app.add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_secs_f64(
                1.0 / 60.0,
            ))),
            AssetPlugin::default(),
        ))
        .init_asset::<Image>()
        .add_plugins(AssetProviderPlugins::from(provider()))
        .add_systems(Startup, spawn_player)
        .add_systems(Update, report_headless);
    } else {
        // The crate's dev build has Bevy's web asset source for a benchmark; nothing here loads
        // from the web.
        app.add_plugins(
            DefaultPlugins
                .set(WindowPlugin {
                    primary_window: Some(Window {
                        title: "Video — bevy_asset_provider".into(),
                        resolution: (960, 600).into(),
                        ..default()
                    }),
                    ..default()
                })
                .disable::<bevy::asset::io::web::WebAssetPlugin>(),
        )
        .add_plugins(AssetProviderPlugins::from(provider()))
        .add_systems(Startup, (spawn_camera_and_help, spawn_player))
        .add_systems(Update, (control, show_status));
    }
    app.run()
}

/// The request's handle goes to the sprite and the player alike: the sprite shows whatever the
/// player writes into the image.
fn spawn_player(mut commands: Commands, mut provider: ResMut<AssetProvider>) {
    let frames = provider.request_image(clip_request());
    commands.spawn((
        Sprite {
            image: frames.clone(),
            // A fixed size: the placeholder and the clip differ in pixels, not on screen.
            custom_size: Some(Vec2::new(800.0, 450.0)),
            ..default()
        },
        VideoPlayer::new(frames).looping(true),
    ));
}

fn spawn_camera_and_help(mut commands: Commands) {
    commands.spawn(Camera2d);
    commands.spawn((
        Text::new(""),
        TextFont::from_font_size(16.0),
        Node {
            position_type: PositionType::Absolute,
            left: px(16),
            bottom: px(12),
            ..default()
        },
    ));
}

fn control(keys: Res<ButtonInput<KeyCode>>, mut players: Query<&mut VideoPlayer>) {
    for mut player in &mut players {
        if keys.just_pressed(KeyCode::Space) {
            if player.is_paused() || player.state() == VideoState::Ended {
                player.play();
            } else {
                player.pause();
            }
        }
        if keys.any_just_pressed([KeyCode::Home, KeyCode::KeyR]) {
            player.seek_to_start();
        }
        if keys.just_pressed(KeyCode::KeyL) {
            let looping = !player.is_looping();
            player.set_looping(looping);
        }
        if keys.just_pressed(KeyCode::ArrowUp) {
            let speed = (player.speed() * 2.0).min(8.0);
            player.set_speed(speed);
        }
        if keys.just_pressed(KeyCode::ArrowDown) {
            let speed = (player.speed() / 2.0).max(0.125);
            player.set_speed(speed);
        }
    }
}

fn show_status(
    players: Query<&VideoPlayer>,
    provider: Res<AssetProvider>,
    mut text: Single<&mut Text>,
) {
    let Some(player) = players.iter().next() else {
        return;
    };
    let status = provider
        .status(&provider.key_for(&clip_request()))
        .map_or("not requested", TaskStatus::as_str);
    text.0 = format!(
        "request {status} | {:?} | {:.2} s | {} frames | speed {}x | loop {} | loops {}{}\n\
         Space play/pause | Home restart | L loop | Up/Down speed",
        player.state(),
        player.position().as_secs_f32(),
        player.frames_shown(),
        player.speed(),
        if player.is_looping() { "on" } else { "off" },
        player.loops(),
        player
            .error()
            .map(|error| format!(" | {error}"))
            .unwrap_or_default(),
    );
}

/// Headless: plays the clip once through, then reports and exits (non-zero if it failed).
fn report_headless(
    mut players: Query<&mut VideoPlayer>,
    mut ended: MessageReader<VideoEnded>,
    mut failed: MessageReader<AssetFailed>,
    mut exit: MessageWriter<AppExit>,
) {
    for message in failed.read() {
        eprintln!("the clip failed: {}", message.error);
        exit.write(AppExit::from_code(1));
    }
    for mut player in &mut players {
        // Once is enough here.
        if player.is_looping() {
            player.set_looping(false);
        }
        // A clip that cannot start sends no `VideoEnded`.
        if player.state() == VideoState::Failed {
            eprintln!(
                "the clip cannot play: {}",
                player.error().unwrap_or("unknown error")
            );
            exit.write(AppExit::from_code(1));
        }
    }
    for message in ended.read() {
        let Ok(player) = players.get(message.entity) else {
            continue;
        };
        match &message.error {
            Some(error) => {
                eprintln!("the clip stopped: {error}");
                exit.write(AppExit::from_code(1));
            }
            None => {
                println!(
                    "ended at {:.2} s after {} frames shown",
                    player.position().as_secs_f32(),
                    player.frames_shown()
                );
                exit.write(AppExit::Success);
            }
        }
    }
}
