//! Per-frame cost of the plugin's systems with 0, 1,000 and 10,000 requests waiting, beside a
//! naive baseline measured in the same run: one `Task` component per entity, polled every frame
//! (the usual Bevy async-compute pattern). Measured twice: with Bevy's multi-threaded executor
//! (whose thread wake-ups swing an empty app's frame on small machines) and with the
//! single-threaded one, which shows the systems' own cost.
//!
//! Run: `cargo bench --bench frame_cost`

#[path = "common/executor.rs"]
mod executor;
use executor::{Executor, use_executor};
use std::future::pending;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, Task, block_on, futures_lite::future};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};

const FRAMES: u32 = 500;
const ROUNDS: u32 = 7;
const WAITING: [usize; 3] = [0, 1_000, 10_000];

/// A backend whose jobs never finish: every request stays waiting.
struct NeverDone;

#[async_trait]
impl AssetSource for NeverDone {
    fn name(&self) -> &str {
        "never_done"
    }
    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }
    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        pending().await
    }
}

fn base_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>();
    app
}

/// Mean wall time of one `app.update()` over `FRAMES` frames.
fn frame_time(app: &mut App) -> Duration {
    let start = Instant::now();
    for _ in 0..FRAMES {
        app.update();
    }
    start.elapsed() / FRAMES
}

/// The fastest of `ROUNDS` rounds for each app, the rounds interleaved across apps, so a burst of
/// other load on the machine touches every configuration alike and the minimum filters it out.
fn fastest_frame_times(apps: &mut [App]) -> Vec<Duration> {
    for app in apps.iter_mut() {
        for _ in 0..100 {
            app.update();
        }
    }
    let mut best = vec![Duration::MAX; apps.len()];
    for _ in 0..ROUNDS {
        for (app, best) in apps.iter_mut().zip(&mut best) {
            *best = (*best).min(frame_time(app));
        }
    }
    best
}

fn plugin_app(waiting: usize) -> App {
    let mut app = base_app();
    app.add_plugins(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_shared_source(Arc::new(NeverDone))
            .with_default_timeout(Duration::from_secs(3600)),
    );
    app.finish();
    app.cleanup();
    app.update();
    for i in 0..waiting {
        app.world_mut()
            .spawn(AssetRequest::image().prompt(format!("request {i}")));
    }
    app
}

#[derive(Component)]
struct NaiveTask(Task<Image>);

fn poll_naive_tasks(mut commands: Commands, mut tasks: Query<(Entity, &mut NaiveTask)>) {
    for (entity, mut task) in &mut tasks {
        if let Some(image) = block_on(future::poll_once(&mut task.0)) {
            let _ = image;
            commands.entity(entity).remove::<NaiveTask>();
        }
    }
}

fn naive_app(waiting: usize) -> App {
    let mut app = base_app();
    app.add_systems(Update, poll_naive_tasks);
    app.update();
    let pool = AsyncComputeTaskPool::get();
    for _ in 0..waiting {
        let task = pool.spawn(async { pending::<Image>().await });
        app.world_mut().spawn(NaiveTask(task));
    }
    app
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn measure(kind: Executor, name: &str) {
    let mut apps = vec![base_app()];
    for waiting in WAITING {
        apps.push(plugin_app(waiting));
        apps.push(naive_app(waiting));
    }
    for app in &mut apps {
        use_executor(app, kind);
    }
    let times = fastest_frame_times(&mut apps);
    let empty = times[0];
    println!(
        "{name} executor: frame cost with requests waiting (fastest of {ROUNDS} rounds of \
         {FRAMES} frames; empty app {:.1} µs/frame)",
        micros(empty)
    );
    println!(
        "{:>8}  {:>22}  {:>22}",
        "waiting", "bevy_asset_provider µs", "naive task polling µs"
    );
    let idle = times[1].saturating_sub(empty);
    for (i, waiting) in WAITING.into_iter().enumerate() {
        let plugin = times[1 + 2 * i].saturating_sub(empty);
        let naive = times[2 + 2 * i].saturating_sub(empty);
        println!(
            "{waiting:>8}  {:>22.2}  {:>22.2}   (plugin growth over 0 waiting: {:+.2} µs)",
            micros(plugin),
            micros(naive),
            micros(plugin) - micros(idle)
        );
    }
}

fn main() {
    measure(Executor::Single, "single-threaded");
    measure(Executor::Multi, "multi-threaded");
    println!(
        "cost above the empty app, which includes Bevy's upkeep of the plugin's message and asset \
         types; goal: flat as requests wait, growing with completions only"
    );
}
