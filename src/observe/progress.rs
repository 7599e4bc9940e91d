//! The bridge to [`iyes_progress`]: the critical requests count in a loading state's
//! [`ProgressTracker`](iyes_progress::ProgressTracker), so `iyes_progress`'s transition waits for
//! them next to the game's other loading work, `bevy_asset_loader`'s collections included (with
//! its `progress_tracking` feature, leave the transition to `iyes_progress` rather than
//! `continue_to_state`, as that crate documents). Needs the `progress` feature.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::observe::{CriticalAsset, ProviderProgressPlugin};
//! use iyes_progress::ProgressPlugin;
//!
//! #[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
//! enum Game {
//!     #[default]
//!     Loading,
//!     Playing,
//!     Broken,
//! }
//!
//! App::new()
//!     .add_plugins((DefaultPlugins, AssetProviderPlugin::default()))
//!     .init_state::<Game>()
//!     // iyes_progress moves on when every tracked entry is done ...
//!     .add_plugins(ProgressPlugin::<Game>::new().with_state_transition(Game::Loading, Game::Playing))
//!     // ... and the critical requests are entries.
//!     .add_plugins(ProviderProgressPlugin::new(Game::Loading).on_failure(Game::Broken))
//!     .add_systems(OnEnter(Game::Loading), |mut commands: Commands| {
//!         commands.spawn((AssetRequest::image().prompt("the title screen"), CriticalAsset));
//!     })
//!     .run();
//! ```

use bevy::prelude::*;
use bevy::state::state::FreelyMutableState;
use iyes_progress::{Progress, ProgressReturningSystem};

use crate::AssetProviderSystems;
use crate::observe::{CriticalAsset, LoadingProgress};
use crate::provider::GenerationTask;

/// Progress units of one critical request: in-flight progress shows as a fraction of them.
const UNITS: u32 = 100;

/// While the game is in `loading`, reports the [`CriticalAsset`] requests to `iyes_progress`'s
/// tracker of state `S` (one entry; each request counts 100 units, its in-flight progress
/// included), and keeps [`LoadingProgress`] up to date for loading screens.
///
/// `iyes_progress` (or `bevy_asset_loader`) makes the transition when everything it tracks is
/// done. A critical request that fails (or times out) moves the game to the
/// [failure state](Self::on_failure), when there is one; without one it counts as done and the
/// game goes on with the placeholder showing.
pub struct ProviderProgressPlugin<S: FreelyMutableState> {
    loading: S,
    failure: Option<S>,
}

impl<S: FreelyMutableState> ProviderProgressPlugin<S> {
    /// Reports while the game is in `loading`.
    #[must_use]
    pub fn new(loading: S) -> Self {
        Self {
            loading,
            failure: None,
        }
    }

    /// Moves to `failure` when a critical request fails.
    #[must_use]
    pub fn on_failure(mut self, failure: S) -> Self {
        self.failure = Some(failure);
        self
    }
}

/// Where a failed critical request sends the game.
#[derive(Resource)]
struct ProgressFailure<S: FreelyMutableState>(Option<S>);

impl<S: FreelyMutableState> Plugin for ProviderProgressPlugin<S> {
    fn build(&self, app: &mut App) {
        app.init_resource::<LoadingProgress>()
            .insert_resource(ProgressFailure(self.failure.clone()))
            .add_systems(
                Update,
                critical_progress::<S>
                    .track_progress::<S>()
                    .run_if(in_state(self.loading.clone()))
                    .after(AssetProviderSystems::Predict),
            );
    }
}

fn critical_progress<S: FreelyMutableState>(
    critical: Query<&GenerationTask, With<CriticalAsset>>,
    failure: Res<ProgressFailure<S>>,
    mut progress: ResMut<LoadingProgress>,
    mut next: ResMut<NextState<S>>,
) -> Progress {
    let now = LoadingProgress::of(&critical);
    // Marked changed only when it did change, for loading screens that redraw on change.
    progress.set_if_neq(now);
    let failed_done = match &failure.0 {
        Some(state) if now.failed > 0 => {
            next.set(state.clone());
            0
        }
        Some(_) => 0,
        None => now.failed as u32,
    };
    // An open request never reaches its full units: only "ready" finishes it.
    let in_flight = (now.in_flight_progress() * UNITS as f32).clamp(0.0, (UNITS - 1) as f32);
    Progress {
        done: (now.ready as u32 + failed_done) * UNITS + (now.open() as f32 * in_flight) as u32,
        total: now.total as u32 * UNITS,
    }
}
