//! Does prediction have the next node's media ready when the player chooses, and what does it
//! waste?
//!
//! 200 scripted playthroughs of the example's story (`assets/story/lighthouse.scene.json`),
//! choices drawn at random by the edges' weights, against one loopback dev backend shared by all
//! players, as a real backend is. Each playthrough is a new player: a fresh app with its own
//! session and an empty memory tier, no disk tier. A job takes 2 s on the backend and the player
//! chooses 3 s after arriving; both are scaled down 10× so the run is short (200 ms, 300 ms).
//! Twenty players play at once, starting 50 ms apart.
//!
//! For prediction off and on it prints the fraction of choices whose media (picture and cue) was
//! behind the handles the moment the player chose, and waste two ways:
//! - per player: prefetches that reached a generator and were abandoned unused in that
//!   playthrough (the provider's `prefetch_wasted`), per prefetch used;
//! - across players: distinct media fetched speculatively that no player ever chose, per
//!   prefetch used; a `once` picture one player skipped is another player's next scene.
//!
//! Run: `cargo bench --bench prediction`

#[path = "common/seen.rs"]
mod seen;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_asset_provider::RequestKey;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::observe::AnalyticsKind;
use bevy_asset_provider::prediction::{Planner, PredictionSettings};
use bevy_asset_provider::prelude::*;
use pixsim_dev::DevBackend;
use seen::{Seen, record_analytics};

const PLAYTHROUGHS: usize = 200;

/// Playthroughs stepped side by side.
const AT_ONCE: usize = 20;
const SCALE: u32 = 10;
const JOB_TIME: Duration = Duration::from_secs(2);
const CHOOSE_AFTER: Duration = Duration::from_secs(3);
const STAGGER: Duration = Duration::from_millis(50);

struct Playthrough {
    app: App,
    graph: Handle<SceneGraph>,
    at: Option<String>,
    arrived: Instant,
    rng: u64,
    choices: usize,
    ready: usize,
    done: bool,
    /// Players of a batch arrive a little apart, as players do.
    starts_at: Instant,
}

impl Playthrough {
    fn new(
        dev: &DevBackend,
        story: &SceneGraph,
        prediction: &PredictionSettings,
        n: usize,
    ) -> Self {
        let source = PixSimSource::builder(dev.base_url())
            .token(dev.token())
            // Hundreds of playthroughs share one loopback backend with no budget of its own.
            .max_creates_per_minute(0)
            .build()
            .expect("a client");
        let mut app = App::new();
        app.add_plugins((MinimalPlugins, AssetPlugin::default()))
            .init_asset::<Image>()
            .add_plugins(
                AssetProviderPlugin::new()
                    .with_session(PlaySession::new(format!("pt-{n}"), format!("player-{n}")))
                    .without_disk_cache()
                    .with_backend(source)
                    .with_prediction(prediction.clone()),
            );
        record_analytics(&mut app);
        app.finish();
        app.cleanup();
        let graph = app
            .world_mut()
            .resource_mut::<Assets<SceneGraph>>()
            .add(story.clone());
        Self {
            app,
            graph,
            at: None,
            arrived: Instant::now(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
            choices: 0,
            ready: 0,
            done: false,
            starts_at: Instant::now() + STAGGER * (n % AT_ONCE) as u32,
        }
    }

    fn random(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 24) as f32
    }

    /// One frame; enters the start, or chooses when the player has read long enough.
    fn step(&mut self, story: &SceneGraph) {
        if self.at.is_none() && Instant::now() < self.starts_at {
            self.app.update();
            return;
        }
        if self.at.is_none() {
            self.app.world_mut().write_message(EnterNode {
                graph: self.graph.clone(),
                node: story.start_node_id.clone(),
            });
            self.at = Some(story.start_node_id.clone());
            self.arrived = Instant::now();
        } else if self.arrived.elapsed() >= CHOOSE_AFTER / SCALE {
            let at = self.at.clone().expect("a node");
            let edges: Vec<_> = story.choices(&at).cloned().collect();
            if edges.is_empty() {
                self.done = true;
                return;
            }
            let total: f32 = edges.iter().map(|edge| edge.weight).sum();
            let mut pick = self.random() * total;
            let edge = edges
                .iter()
                .find(|edge| {
                    pick -= edge.weight;
                    pick < 0.0
                })
                .unwrap_or(&edges[edges.len() - 1])
                .clone();
            let provider = self.app.world().resource::<AssetProvider>();
            let ready = story
                .node_media(&edge.to, Some(&edge))
                .iter()
                .all(|request| provider.get(&provider.key_for(request)).is_some());
            self.choices += 1;
            self.ready += usize::from(ready);
            self.app.world_mut().write_message(MakeChoice {
                graph: self.graph.clone(),
                from: at,
                edge: edge.id.clone(),
            });
            self.at = Some(edge.to.clone());
            self.arrived = Instant::now();
        }
        self.app.update();
    }
}

#[derive(Default)]
struct Report {
    choices: usize,
    ready: usize,
    used: u64,
    wasted: u64,
    speculative: HashSet<RequestKey>,
    chosen: HashSet<RequestKey>,
    creates: u64,
    new_generations: u64,
}

fn run(story: &SceneGraph, prediction: PredictionSettings) -> Report {
    let dev = DevBackend::builder()
        .job_delays(JOB_TIME / SCALE / 10, JOB_TIME / SCALE * 9 / 10)
        .image_size(64, 36)
        .spawn()
        .expect("a loopback port");
    let mut report = Report::default();
    for batch in 0..PLAYTHROUGHS / AT_ONCE {
        let mut players: Vec<Playthrough> = (0..AT_ONCE)
            .map(|i| Playthrough::new(&dev, story, &prediction, batch * AT_ONCE + i))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(120);
        while players.iter().any(|player| !player.done) {
            for player in players.iter_mut().filter(|player| !player.done) {
                player.step(story);
            }
            assert!(Instant::now() < deadline, "playthroughs did not finish");
        }
        for mut player in players {
            // Let the last node's prefetches be given up, as leaving the story would.
            player.app.update();
            let stats = player
                .app
                .world()
                .resource::<AssetProvider>()
                .stats()
                .clone();
            report.choices += player.choices;
            report.ready += player.ready;
            report.used += stats.prefetch_used;
            report.wasted += stats.prefetch_wasted;
            for event in &player.app.world().resource::<Seen>().0 {
                match event.kind {
                    AnalyticsKind::GenerationStarted if event.prefetch => {
                        report.speculative.insert(event.key);
                    }
                    AnalyticsKind::Requested if !event.prefetch => {
                        report.chosen.insert(event.key);
                    }
                    _ => {}
                }
            }
        }
    }
    let stats = dev.stats();
    report.creates = stats.creates;
    report.new_generations = stats.new_generations;
    report
}

fn print(label: &str, report: &Report) {
    let never_chosen = report.speculative.difference(&report.chosen).count();
    let per_used = |wasted: f64| {
        if report.used == 0 {
            "n/a".to_owned()
        } else {
            format!("{:.2}", wasted / report.used as f64)
        }
    };
    println!(
        "  {label:<34} ready {:>5.1}% ({}/{})  prefetches used {:>4}  wasted per used: \
         per player {:>4} ({}), across players {:>4} ({})  backend creates {} (new {})",
        100.0 * report.ready as f64 / report.choices.max(1) as f64,
        report.ready,
        report.choices,
        report.used,
        per_used(report.wasted as f64),
        report.wasted,
        per_used(never_chosen as f64),
        never_chosen,
        report.creates,
        report.new_generations,
    );
}

fn main() {
    // `cargo test` runs benches once as a smoke test; only a real run measures.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("prediction: run with `cargo bench --bench prediction`");
        return;
    }
    let story = SceneGraph::from_json(
        include_bytes!("../assets/story/lighthouse.scene.json"),
        "lighthouse.scene.json",
    )
    .expect("the bundled story");
    println!(
        "{PLAYTHROUGHS} playthroughs of \"{}\", job {:?} and choice after {:?}, scaled 1/{SCALE}:",
        story.title, JOB_TIME, CHOOSE_AFTER
    );
    print("prediction off", &run(&story, PredictionSettings::off()));
    print(
        "prediction on (defaults)",
        &run(&story, PredictionSettings::default()),
    );
    print(
        "prediction on, planner against time",
        &run(
            &story,
            PredictionSettings::default().planner(Planner::AgainstTime),
        ),
    );
    print(
        "prediction on, next choice only",
        &run(
            &story,
            PredictionSettings::default()
                .max_steps_per_node(1)
                .min_probability(0.5),
        ),
    );
}
