//! How long do players look at placeholders when generation is as slow as on a hosted service,
//! for each planner and spend budget, against an oracle?
//!
//! Two worlds: the bundled story (`assets/story/lighthouse.scene.json`) and a generated one
//! (61 nodes in 13 layers, 2–3 choices a node, pictures, video clips and pictures with a sound
//! cue, `once` / `per_player` / `per_playthrough` media). In each, 200 players, each a fresh
//! app with its own session and player id and no disk tier, play a path and reading times
//! (6–25 s a node) drawn in advance from their own seed, so every configuration sees the same
//! players. Job times are the dev backend's hosted profile (pictures p50 8 s / p95 20 s, clips
//! 60 s / 150 s, cues 3 s / 6 s), on one backend shared by all players of a configuration
//! with a limit of jobs at once, so jobs queue; every configuration gets a fresh backend.
//! World time is scaled down `SCALE` times.
//!
//! The oracle knows each player's path and prefetches exactly its media once, as the player
//! starts. Every other figure is measured from outside the planners: whether a node's media
//! was real at the moment of the choice that led there, and how long the player looked at a
//! placeholder on it. With the `video` feature video nodes ask for clips; without it they ask
//! for stills and the video column is empty.
//!
//! Run: `cargo bench --bench prediction_latency --features video` (`-- --players N` for a
//! shorter run).

mod oracle;
mod player;
mod report;
mod rng;
mod script;
#[path = "../common/seen.rs"]
mod seen;
mod story;

use std::time::{Duration, Instant};

use bevy_asset_provider::MediaKind;
use bevy_asset_provider::prediction::{GenerationTime, Planner, PredictionSettings};
use bevy_asset_provider::prelude::*;
use pixsim_dev::{DevBackend, LatencyProfile};

use crate::player::{Play, Player};
use crate::report::Totals;
use crate::script::Step;

/// World seconds per real second.
const SCALE: f64 = 50.0;
const PLAYERS: usize = 200;
/// Players stepped side by side; their starts are spread over `STAGGER` of world time.
const AT_ONCE: usize = 40;
const STAGGER: Duration = Duration::from_secs(100);
/// Jobs the shared backend runs at once, per world: about what keeps it half busy when the
/// oracle plays.
const BACKEND_JOBS: [usize; 2] = [28, 72];
/// The spend rates tried: prefetch jobs per node the player has reached.
const BUDGETS: [f32; 2] = [1.5, 3.0];
/// The mean of the players' reading time (uniform 6–25 s).
const MEAN_READING: Duration = Duration::from_millis(15_500);
const GENERATED_SEED: u64 = 0x5EED_0021;

/// One way of playing.
struct Configuration {
    label: String,
    prediction: PredictionSettings,
    oracle: bool,
    /// Scene pictures show the previous picture until theirs arrives.
    fallback: bool,
}

/// A world duration as real time.
fn real(world: Duration) -> Duration {
    world.div_f64(SCALE)
}

/// The planner against time, with its priors the world's (scaled) times.
fn against_time() -> PredictionSettings {
    let hosted = LatencyProfile::hosted();
    let mut settings = PredictionSettings::default()
        .planner(Planner::AgainstTime)
        .min_probability(0.02)
        .expect_reading(real(MEAN_READING));
    for kind in [MediaKind::Image, MediaKind::Audio, MediaKind::Video] {
        let time = hosted.get(kind).expect("a hosted time");
        settings =
            settings.expect_generation(kind, GenerationTime::new(real(time.p50), real(time.p95)));
    }
    settings
}

fn configurations() -> Vec<Configuration> {
    let play = |label: String, prediction| Configuration {
        label,
        prediction,
        oracle: false,
        fallback: false,
    };
    let next_steps = PredictionSettings::default().planner(Planner::NextSteps);
    let mut all = vec![
        Configuration {
            label: "oracle".into(),
            prediction: PredictionSettings::off(),
            oracle: true,
            fallback: false,
        },
        play("no prediction".into(), PredictionSettings::off()),
        play("next steps".into(), next_steps.clone()),
        play("against time".into(), against_time()),
    ];
    for budget in BUDGETS {
        all.push(play(
            format!("next steps, {budget}/node"),
            next_steps.clone().max_per_visited_node(budget),
        ));
        all.push(play(
            format!("against time, {budget}/node"),
            against_time().max_per_visited_node(budget),
        ));
    }
    let budget = BUDGETS[BUDGETS.len() - 1];
    all.push(Configuration {
        label: format!("against time, {budget}/node, fallback"),
        prediction: against_time().max_per_visited_node(budget),
        oracle: false,
        fallback: true,
    });
    all
}

/// Plays every script of `story` in `configuration` against a fresh backend.
fn run(
    story: &SceneGraph,
    scripts: &[Vec<Step>],
    configuration: &Configuration,
    jobs: usize,
) -> Totals {
    let dev = DevBackend::builder()
        .latency_profile(LatencyProfile::hosted().scaled(1.0 / SCALE))
        .max_running_jobs(jobs)
        .image_size(32, 18)
        .video_size(32, 18)
        .spawn()
        .expect("a loopback port");
    let started = Instant::now();
    let mut totals = Totals::default();
    let (mut loops, mut looping) = (0u32, Duration::ZERO);
    for (batch, scripts) in scripts.chunks(AT_ONCE).enumerate() {
        let mut players: Vec<Player> = scripts
            .iter()
            .enumerate()
            .map(|(i, script)| {
                let play = Play {
                    script: script.clone(),
                    starts_at: Instant::now(),
                    prediction: configuration.prediction.clone(),
                    oracle: configuration.oracle,
                    fallback: configuration.fallback,
                    scale: 1.0 / SCALE,
                };
                Player::new(&dev, story, play, batch * AT_ONCE + i)
            })
            .collect();
        let (batch_loops, batch_looping) = play(story, &mut players);
        loops += batch_loops;
        looping += batch_looping;
        for mut player in players {
            // The last node's prefetches are given up, as leaving the story would.
            player.app.update();
            totals.add(&player);
        }
    }
    let stats = dev.stats();
    totals.wall = started.elapsed();
    totals.new_generations = stats.new_generations;
    totals.busy = stats.processing_time.as_secs_f64() / (jobs as f64 * totals.wall.as_secs_f64());
    totals.slot_wait = stats.slot_wait.as_secs_f64() * SCALE / stats.new_generations.max(1) as f64;
    totals.peak_running = stats.peak_running_jobs;
    totals.loop_period = looping / loops.max(1);
    totals
}

/// Plays a batch of `players` to their ends, their starts spread over `STAGGER`; answers the
/// loops over the live players, and the time they took.
fn play(story: &SceneGraph, players: &mut [Player]) -> (u32, Duration) {
    let begin = Instant::now();
    let count = players.len() as u32;
    for (i, player) in players.iter_mut().enumerate() {
        player.start_at(begin + real(STAGGER) * i as u32 / count);
    }
    let deadline = begin + Duration::from_secs(600);
    let (mut loops, mut looping) = (0, Duration::ZERO);
    while players.iter().any(|player| !player.done) {
        let loop_start = Instant::now();
        for player in players.iter_mut().filter(|player| !player.done) {
            player.step(story, Instant::now());
        }
        loops += 1;
        looping += loop_start.elapsed();
        assert!(Instant::now() < deadline, "players did not finish");
    }
    (loops, looping)
}

/// Plays `story` in every configuration and prints its table.
fn world(name: &str, story: &SceneGraph, players: usize, jobs: usize) {
    let scripts: Vec<Vec<Step>> = (0..players).map(|n| script::draw(story, n)).collect();
    let visits: usize = scripts.iter().map(Vec::len).sum();
    println!(
        "\n{name} (\"{}\", {} nodes): {players} players, {:.1} nodes a playthrough, {AT_ONCE} at \
         once; time scaled 1/{SCALE}; backend runs {jobs} jobs at once",
        story.title,
        story.nodes.len(),
        visits as f64 / players as f64,
    );
    report::header();
    let mut oracle = None;
    for configuration in configurations() {
        let totals = run(story, &scripts, &configuration, jobs);
        if configuration.oracle {
            oracle = Some(totals.placeholder_per_playthrough());
        }
        report::line(&configuration.label, &totals, oracle);
        if configuration.fallback {
            println!("    ({})", report::split(&totals));
        }
        eprintln!(
            "    ({} in {:.1} s, peak {} jobs running)",
            configuration.label,
            totals.wall.as_secs_f64(),
            totals.peak_running
        );
    }
}

fn main() {
    // `cargo test` runs benches once as a smoke test; only a real run measures.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|arg| arg == "--bench") {
        println!("prediction_latency: run with `cargo bench --bench prediction_latency`");
        return;
    }
    let players = args
        .iter()
        .position(|arg| arg == "--players")
        .and_then(|at| args.get(at + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(PLAYERS);
    let started = Instant::now();
    let hosted = LatencyProfile::hosted();
    let shortest = hosted.get(MediaKind::Audio).expect("cues").p50;
    println!(
        "Placeholder time at hosted generation latencies, time scaled 1/{SCALE} (a {:?} cue \
         takes {:?} at the median).",
        shortest,
        real(shortest)
    );
    if !cfg!(feature = "video") {
        println!("Built without `video`: video nodes ask for stills, timed as pictures.");
    }
    report::legend();
    let lighthouse = SceneGraph::from_json(
        include_bytes!("../../assets/story/lighthouse.scene.json"),
        "lighthouse.scene.json",
    )
    .expect("the bundled story");
    world("bundled story", &lighthouse, players, BACKEND_JOBS[0]);
    let generated = SceneGraph::from_json(&story::generated(GENERATED_SEED), "generated")
        .expect("the generated story");
    world("generated story", &generated, players, BACKEND_JOBS[1]);
    println!("\nran in {:.0} s", started.elapsed().as_secs_f64());
}
