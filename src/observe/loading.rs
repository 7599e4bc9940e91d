//! A loading state: stay in it until the requests the game marked [`CriticalAsset`] have real
//! media, showing their progress, then move on (or to a failure state).
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::observe::{CriticalAsset, LoadingProgress, LoadingStatePlugin};
//!
//! #[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
//! enum Game {
//!     #[default]
//!     Loading,
//!     Playing,
//!     Broken,
//! }
//!
//! fn main() {
//!     App::new()
//!         .add_plugins((DefaultPlugins, AssetProviderPlugin::default()))
//!         .init_state::<Game>()
//!         .add_plugins(LoadingStatePlugin::new(Game::Loading, Game::Playing).on_failure(Game::Broken))
//!         .add_systems(OnEnter(Game::Loading), |mut commands: Commands| {
//!             commands.spawn((AssetRequest::image().prompt("the title screen"), CriticalAsset));
//!         })
//!         .add_systems(Update, show_progress.run_if(in_state(Game::Loading)))
//!         .run();
//! }
//!
//! fn show_progress(progress: Res<LoadingProgress>) {
//!     info!("loading: {:.0}%", progress.fraction() * 100.0);
//! }
//! ```

use bevy::prelude::*;
use bevy::state::state::FreelyMutableState;

use crate::AssetProviderSystems;
use crate::provider::{GenerationTask, TaskStatus};
use crate::request::AssetRequest;

/// Marks a request entity (one with an [`AssetRequest`](crate::request::AssetRequest)) whose
/// media the current loading state waits for.
#[derive(Component, Clone, Copy, Debug, Default, Reflect)]
#[reflect(Component, Debug, Default)]
pub struct CriticalAsset;

/// How far the critical requests have got. Updated each frame of a loading state.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Reflect)]
#[reflect(Resource, Debug, Default)]
pub struct LoadingProgress {
    /// Critical requests with real media.
    pub ready: usize,
    /// Critical requests that ended without media.
    pub failed: usize,
    /// Critical requests in all.
    pub total: usize,
    /// The mean progress of the critical requests still in flight, 0 to 1.
    in_flight_progress: f32,
}

impl LoadingProgress {
    /// Where the critical requests stand now.
    pub(crate) fn of(critical: &Query<&GenerationTask, With<CriticalAsset>>) -> Self {
        let mut now = Self::default();
        let mut in_flight = 0.0;
        for task in critical {
            now.total += 1;
            match task.status() {
                TaskStatus::Completed => now.ready += 1,
                status if status.is_terminal() => now.failed += 1,
                _ => in_flight += task.progress(),
            }
        }
        let open = now.open();
        if open > 0 {
            now.in_flight_progress = in_flight / open as f32;
        }
        now
    }

    /// Critical requests still in flight.
    pub fn open(&self) -> usize {
        self.total - self.ready - self.failed
    }

    /// The mean progress of the critical requests still in flight, 0 to 1.
    pub fn in_flight_progress(&self) -> f32 {
        self.in_flight_progress
    }

    /// How much is done, 0 to 1, counting the progress of requests in flight.
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            return 1.0;
        }
        let done = (self.ready + self.failed) as f32 + self.open() as f32 * self.in_flight_progress;
        (done / self.total as f32).clamp(0.0, 1.0)
    }
}

/// Keeps the game in `loading` until every [`CriticalAsset`] request has real media, then sets
/// `next`. A critical request that fails (or times out) sets the failure state, when there is
/// one; without one the game goes on to `next` with the placeholder showing.
///
/// Entering `loading` again (say from the failure state, when the player picks "Retry") asks
/// again for the critical requests that ended without media, and waits for them again. Add one
/// plugin per loading state; several may share a [`States`] type:
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::observe::LoadingStatePlugin;
/// # #[derive(States, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
/// # enum Game { #[default] Loading, Menu, LevelLoading, Playing, Broken }
/// App::new().add_plugins((
///     LoadingStatePlugin::new(Game::Loading, Game::Menu).on_failure(Game::Broken),
///     LoadingStatePlugin::new(Game::LevelLoading, Game::Playing).on_failure(Game::Broken),
/// ));
/// ```
///
/// Every critical request that exists counts, whichever loading state it was made for: remove
/// [`CriticalAsset`] (or the entity) from requests a later loading state should not wait for.
pub struct LoadingStatePlugin<S: FreelyMutableState> {
    loading: S,
    next: S,
    failure: Option<S>,
}

impl<S: FreelyMutableState> LoadingStatePlugin<S> {
    /// Waits in `loading`, then moves to `next`.
    #[must_use]
    pub fn new(loading: S, next: S) -> Self {
        Self {
            loading,
            next,
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

impl<S: FreelyMutableState> Plugin for LoadingStatePlugin<S> {
    fn build(&self, app: &mut App) {
        // Each plugin's targets live in its own system: a resource per `States` type would
        // let the last plugin of a type decide for all of them.
        let (next, failure) = (self.next.clone(), self.failure.clone());
        app.init_resource::<LoadingProgress>()
            .add_systems(
                OnEnter(self.loading.clone()),
                (
                    |mut progress: ResMut<LoadingProgress>| *progress = LoadingProgress::default(),
                    retry_unfinished,
                ),
            )
            .add_systems(
                Update,
                (move |critical: Query<&GenerationTask, With<CriticalAsset>>,
                       mut progress: ResMut<LoadingProgress>,
                       mut state: ResMut<NextState<S>>| {
                    if let Some(target) = track_loading(&critical, &mut progress, &next, &failure) {
                        state.set(target.clone());
                    }
                })
                .run_if(in_state(self.loading.clone()))
                .after(AssetProviderSystems::Predict),
            );
    }

    // One per loading state, several per `States` type.
    fn is_unique(&self) -> bool {
        false
    }
}

/// Asks again for the critical requests that ended without media (a loading state entered
/// again after a failure), so the state waits for them instead of failing at once.
fn retry_unfinished(
    critical: Query<(Entity, &AssetRequest, &GenerationTask), With<CriticalAsset>>,
    mut commands: Commands,
) {
    for (entity, request, task) in &critical {
        let status = task.status();
        if status.is_terminal() && status != TaskStatus::Completed {
            // Inserted again, the request starts anew (see `on_request_inserted`).
            commands.entity(entity).insert(request.clone());
        }
    }
}

/// Updates the progress; returns the state to move to, if the critical requests are done.
fn track_loading<'s, S>(
    critical: &Query<&GenerationTask, With<CriticalAsset>>,
    progress: &mut ResMut<LoadingProgress>,
    next: &'s S,
    failure: &'s Option<S>,
) -> Option<&'s S> {
    let now = LoadingProgress::of(critical);
    // Marked changed only when it did change, for loading screens that redraw on change.
    progress.set_if_neq(now);
    if now.failed > 0
        && let Some(failure) = failure
    {
        Some(failure)
    } else if now.open() == 0 {
        Some(next)
    } else {
        None
    }
}
