//! A loading screen built with the crates Bevy games already use: `bevy_asset_loader` loads a
//! collection of files, the provider makes the title art, and one progress bar (from
//! `iyes_progress`) counts both. The game leaves the loading state when all of it is ready, or
//! shows an error screen when a critical request fails.
//!
//! ```sh
//! cargo run --example loading_screen --features progress
//! cargo run --example loading_screen --features progress -- --headless
//! cargo run --example loading_screen --features progress -- --headless --fail
//! ```
//!
//! `--headless` runs without a window, prints the progress each time it changes and exits when
//! the game leaves the loading state (non-zero on the error screen). `--fail` asks for title art
//! that no source can make, to show the failure state.

use std::time::Duration;

use argh::FromArgs;
use bevy::app::{AppExit, ScheduleRunnerPlugin};
use bevy::image::{CompressedImageFormats, ImageLoader};
use bevy::prelude::*;
use bevy::state::app::StatesPlugin;
use bevy_asset_loader::prelude::*;
use bevy_asset_provider::observe::CriticalAsset;
use bevy_asset_provider::observe::ProviderProgressPlugin;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::LocalGenerator;
use iyes_progress::{ProgressPlugin, ProgressTracker};

/// A loading screen that waits for files and generated art alike.
#[derive(FromArgs)]
struct Options {
    /// no window: print the progress, exit when loading ends
    #[argh(switch)]
    headless: bool,
    /// ask for art no source can make, to show the failure state
    #[argh(switch)]
    fail: bool,
}

#[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
enum Game {
    #[default]
    Loading,
    Playing,
    Broken,
}

/// Files every run needs, loaded by `bevy_asset_loader`.
#[derive(AssetCollection, Resource)]
struct Backdrops {
    #[asset(path = "premade/harbor_dawn.png")]
    harbor: Handle<Image>,
    #[asset(path = "premade/cliffs.png")]
    cliffs: Handle<Image>,
}

/// The generated title art, kept to show once loading ends.
#[derive(Resource)]
struct TitleArt(Handle<Image>);

/// The progress bar's fill.
#[derive(Component)]
struct ProgressFill;

fn main() -> AppExit {
    let options: Options = argh::from_env();
    let mut app = App::new();
    if options.headless {
        app.add_plugins((
            MinimalPlugins.set(ScheduleRunnerPlugin::run_loop(Duration::from_millis(5))),
            AssetPlugin::default(),
            StatesPlugin,
        ))
        .init_asset::<Image>()
        // Without a renderer, ImagePlugin registers no PNG loader.
        .register_asset_loader(ImageLoader::new(CompressedImageFormats::NONE))
        .add_systems(Update, print_progress.run_if(in_state(Game::Loading)))
        .add_systems(OnEnter(Game::Playing), exit_with(AppExit::Success))
        .add_systems(OnEnter(Game::Broken), exit_with(AppExit::from_code(1)));
    } else {
        app.add_plugins(DefaultPlugins.set(WindowPlugin {
            primary_window: Some(Window {
                title: "Loading screen".into(),
                resolution: (720, 405).into(),
                ..default()
            }),
            ..default()
        }))
        .add_systems(OnEnter(Game::Loading), spawn_loading_screen)
        .add_systems(Update, fill_bar.run_if(in_state(Game::Loading)))
        .add_systems(OnExit(Game::Loading), despawn_screen)
        .add_systems(OnEnter(Game::Playing), show_title)
        .add_systems(OnEnter(Game::Broken), show_error)
        .add_systems(Update, quit_on_escape.run_if(in_state(Game::Broken)));
    }
    let generator = LocalGenerator::new().latency(Duration::from_millis(1500));
    let provider = if options.fail {
        // No source at all: the request fails at once.
        AssetProviderPlugin::new()
    } else {
        AssetProviderPlugin::new().with_source(generator)
    };
    let fail = options.fail;
    app.add_plugins(AssetProviderPlugins::from(provider.without_disk_cache()))
        .init_state::<Game>()
        // iyes_progress leaves the loading state when every entry is done: bevy_asset_loader's
        // files are one, the provider's critical requests another.
        .add_plugins((
            ProgressPlugin::<Game>::new().with_state_transition(Game::Loading, Game::Playing),
            ProviderProgressPlugin::new(Game::Loading).on_failure(Game::Broken),
        ))
        .add_loading_state(
            LoadingState::new(Game::Loading)
                .on_failure_continue_to_state(Game::Broken)
                .load_collection::<Backdrops>(),
        )
        .add_systems(
            OnEnter(Game::Loading),
            move |mut commands: Commands, mut provider: ResMut<AssetProvider>| {
                let request = AssetRequest::image()
                    .scene("title")
                    .prompt("a lighthouse on a cliff at dusk, title art")
                    .max_wait(Duration::from_secs(30));
                let art = provider.request_image(request.clone());
                commands.insert_resource(TitleArt(art));
                // The entity makes it critical; it shares the job of the request above.
                let critical = if fail {
                    request.prompt("art nobody can make")
                } else {
                    request
                };
                commands.spawn((critical, CriticalAsset));
            },
        );
    app.run()
}

/// The error screen's way out.
fn quit_on_escape(keys: Res<ButtonInput<KeyCode>>, mut exit: MessageWriter<AppExit>) {
    if keys.just_pressed(KeyCode::Escape) {
        exit.write(AppExit::from_code(1));
    }
}

fn exit_with(code: AppExit) -> impl FnMut(MessageWriter<AppExit>) {
    move |mut exit: MessageWriter<AppExit>| {
        exit.write(code.clone());
    }
}

fn print_progress(tracker: Res<ProgressTracker<Game>>, mut last: Local<Option<(u32, u32)>>) {
    let progress = tracker.get_global_progress();
    if progress.total > 0 && *last != Some((progress.done, progress.total)) {
        *last = Some((progress.done, progress.total));
        println!(
            "{{\"loading\": {:.2}, \"done\": {}, \"total\": {}}}",
            fraction(tracker.get_global_progress()),
            progress.done,
            progress.total
        );
    }
}

/// 0 to 1; nothing tracked yet counts as nothing done.
fn fraction(progress: iyes_progress::Progress) -> f32 {
    if progress.total == 0 {
        0.0
    } else {
        f32::from(progress).min(1.0)
    }
}

/// Marks everything of the loading screen.
#[derive(Component)]
struct LoadingScreen;

fn spawn_loading_screen(mut commands: Commands) {
    commands.spawn(Camera2d);
    commands
        .spawn((
            LoadingScreen,
            Node {
                width: percent(100),
                height: percent(100),
                flex_direction: FlexDirection::Column,
                align_items: AlignItems::Center,
                justify_content: JustifyContent::Center,
                row_gap: px(16),
                ..default()
            },
        ))
        .with_children(|screen| {
            screen.spawn(Text::new("Loading the lighthouse..."));
            screen
                .spawn((
                    Node {
                        width: px(420),
                        height: px(22),
                        border: UiRect::all(px(2)),
                        ..default()
                    },
                    BorderColor::all(Color::WHITE),
                ))
                .with_child((
                    ProgressFill,
                    Node {
                        width: percent(0),
                        height: percent(100),
                        ..default()
                    },
                    BackgroundColor(Color::srgb(0.95, 0.75, 0.3)),
                ));
        });
}

fn fill_bar(tracker: Res<ProgressTracker<Game>>, mut fill: Query<&mut Node, With<ProgressFill>>) {
    let done = fraction(tracker.get_global_progress());
    for mut node in &mut fill {
        node.width = percent(done * 100.0);
    }
}

fn despawn_screen(mut commands: Commands, screen: Query<Entity, With<LoadingScreen>>) {
    for entity in &screen {
        commands.entity(entity).despawn();
    }
}

fn show_title(mut commands: Commands, art: Res<TitleArt>, backdrops: Res<Backdrops>) {
    commands.spawn((
        Text::new("generated title art (provider) · two files (bevy_asset_loader)"),
        TextFont::from_font_size(14.0),
        Node {
            position_type: PositionType::Absolute,
            bottom: px(8),
            left: px(12),
            ..default()
        },
    ));
    commands.spawn((
        Sprite {
            image: backdrops.harbor.clone(),
            custom_size: Some(Vec2::new(240.0, 135.0)),
            ..default()
        },
        Transform::from_xyz(-240.0, -120.0, 0.0),
    ));
    commands.spawn((
        Sprite {
            image: backdrops.cliffs.clone(),
            custom_size: Some(Vec2::new(240.0, 135.0)),
            ..default()
        },
        Transform::from_xyz(240.0, -120.0, 0.0),
    ));
    commands.spawn((
        Sprite {
            image: art.0.clone(),
            custom_size: Some(Vec2::new(384.0, 216.0)),
            ..default()
        },
        Transform::from_xyz(0.0, 60.0, 1.0),
    ));
}

fn show_error(mut commands: Commands) {
    commands.spawn(Text::new(
        "The title art could not be made: see the log. Press Esc to quit.",
    ));
}
