//! The executor a benchmark runs an app's schedules on, shared by the benchmarks that measure
//! frames.

use bevy::ecs::schedule::{MultiThreadedExecutor, Schedules, SingleThreadedExecutor};
use bevy::prelude::*;

/// Which executor runs the schedules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Executor {
    /// One thread, as the plugin's frame cost is measured: the game's frame on one core.
    Single,
    /// Bevy's default: the frame's systems on the task pool's threads.
    Multi,
}

/// Runs every schedule of `app` on `executor`.
pub fn use_executor(app: &mut App, executor: Executor) {
    for (_, schedule) in app.world_mut().resource_mut::<Schedules>().iter_mut() {
        match executor {
            Executor::Single => schedule.set_executor(SingleThreadedExecutor::new()),
            Executor::Multi => schedule.set_executor(MultiThreadedExecutor::new()),
        };
    }
}
