//! The figures of one configuration over all its players, and the table they are printed in.

use std::collections::HashSet;
use std::time::Duration;

use bevy_asset_provider::RequestKey;
use bevy_asset_provider::observe::AnalyticsKind;

use crate::player::Player;
use crate::seen::Seen;

/// What all players of one configuration saw and cost.
#[derive(Default)]
pub struct Totals {
    /// Per kind (image, audio, video): media of chosen nodes, and real at the choice.
    at_choice: [(usize, usize); 3],
    /// World seconds on a placeholder, per media visit.
    waits: Vec<f64>,
    /// World seconds on placeholders, per playthrough.
    per_playthrough: Vec<f64>,
    nodes: usize,
    /// Generations each app started (prefetch or not).
    started: u64,
    used: u64,
    wasted: u64,
    speculative: HashSet<RequestKey>,
    chosen: HashSet<RequestKey>,
    /// The backend's new generations.
    pub new_generations: u64,
    /// Share of the backend's slots busy over the run's wall time (making apps included).
    pub busy: f64,
    /// Mean world seconds a job waited for a backend slot.
    pub slot_wait: f64,
    pub peak_running: u64,
    /// World seconds the provider counted on the bare placeholder and on a fallback, for
    /// foreground requests that waited, over all playthroughs.
    on_placeholder: f64,
    on_fallback: f64,
    playthroughs: usize,
    /// Mean real time of one loop over the live players.
    pub loop_period: Duration,
    pub wall: Duration,
}

impl Totals {
    /// Adds a finished player's figures; `scale` is real time per world second.
    pub fn add(&mut self, player: &Player) {
        let seeing = &player.seeing;
        for (total, seen) in self.at_choice.iter_mut().zip(seeing.at_choice) {
            total.0 += seen.0;
            total.1 += seen.1;
        }
        let waits: Vec<f64> = seeing.waits.iter().map(Duration::as_secs_f64).collect();
        self.per_playthrough.push(waits.iter().sum());
        self.waits.extend(waits);
        self.nodes += seeing.nodes;
        let stats = player
            .app
            .world()
            .resource::<bevy_asset_provider::prelude::AssetProvider>()
            .stats();
        self.used += stats.prefetch_used;
        self.on_placeholder += stats.time_on_placeholder.as_secs_f64() / player.scale();
        self.on_fallback += stats.time_on_fallback.as_secs_f64() / player.scale();
        self.playthroughs += 1;
        self.wasted += stats.prefetch_wasted;
        for event in &player.app.world().resource::<Seen>().0 {
            match event.kind {
                AnalyticsKind::GenerationStarted => {
                    self.started += 1;
                    if event.prefetch {
                        self.speculative.insert(event.key);
                    }
                }
                AnalyticsKind::Requested if !event.prefetch => {
                    self.chosen.insert(event.key);
                }
                _ => {}
            }
        }
    }

    /// Mean world seconds on placeholders per playthrough.
    pub fn placeholder_per_playthrough(&self) -> f64 {
        self.per_playthrough.iter().sum::<f64>() / self.per_playthrough.len().max(1) as f64
    }
}

/// The `q`-quantile of `values` (nearest rank); 0 when empty.
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn share((seen, real): (usize, usize)) -> String {
    if seen == 0 {
        "   n/a".to_owned()
    } else {
        format!("{:>5.1}%", 100.0 * real as f64 / seen as f64)
    }
}

fn per(value: f64, by: u64) -> String {
    if by == 0 {
        " n/a".to_owned()
    } else {
        format!("{:>4.2}", value / by as f64)
    }
}

/// The table's column names.
pub fn header() {
    println!(
        "  {:<30} {:>6} {:>6} {:>6} | {:>5} {:>5} {:>6} {:>6} | {:>5} | {:>5} {:>5} | {:>4} {:>4} \
         | {:>4} {:>6} {:>5}",
        "configuration",
        "img",
        "aud",
        "vid",
        "p50",
        "p95",
        "p95w",
        "total",
        "x orc",
        "gen/n",
        "new/n",
        "wpp",
        "wxp",
        "busy",
        "qwait",
        "loop",
    );
}

/// One configuration's line; `oracle` is the oracle's placeholder time per playthrough.
pub fn line(label: &str, totals: &Totals, oracle: Option<f64>) {
    let waited: Vec<f64> = totals.waits.iter().copied().filter(|w| *w > 0.0).collect();
    let total = totals.placeholder_per_playthrough();
    let ratio = match oracle {
        Some(oracle) if oracle > 0.0 => format!("{:>5.2}", total / oracle),
        _ => "  n/a".to_owned(),
    };
    let nodes = totals.nodes as u64;
    let never_chosen = totals.speculative.difference(&totals.chosen).count();
    println!(
        "  {label:<30} {} {} {} | {:>5.1} {:>5.1} {:>6.1} {:>6.1} | {ratio} | {} {} | {} {} \
         | {:>3.0}% {:>5.1}s {:>3.0}ms",
        share(totals.at_choice[0]),
        share(totals.at_choice[1]),
        share(totals.at_choice[2]),
        quantile(&totals.waits, 0.5),
        quantile(&totals.waits, 0.95),
        quantile(&waited, 0.95),
        total,
        per(totals.started as f64, nodes),
        per(totals.new_generations as f64, nodes),
        per(totals.wasted as f64, totals.used),
        per(never_chosen as f64, totals.used),
        100.0 * totals.busy,
        totals.slot_wait,
        totals.loop_period.as_secs_f64() * 1000.0,
    );
}

/// The provider's own split of the time its foreground requests waited, per playthrough.
pub fn split(totals: &Totals) -> String {
    let n = totals.playthroughs.max(1) as f64;
    format!(
        "provider's count per playthrough: {:.1} s on the bare placeholder, {:.1} s on a fallback",
        totals.on_placeholder / n,
        totals.on_fallback / n
    )
}

/// What the columns mean.
pub fn legend() {
    println!(
        "  img/aud/vid: media real at the moment of the choice that led to its node, per kind.\n  \
         p50/p95: world seconds on a placeholder per media visit, zeros (real on arrival) \
         included; p95w: p95 over the visits that waited; total: per playthrough, mean.\n  \
         x orc: total as a multiple of the oracle's. gen/n: generations the apps started \
         (prefetch or not) per node visited; new/n: the backend's new generations per node \
         visited (dedup across players included).\n  wpp: prefetches wasted per prefetch \
         used, per player; wxp: distinct prefetched media no player ever chose, per prefetch \
         used.\n  busy: backend slots busy over the run's wall time; qwait: mean world time a job waited \
         for a slot; loop: real time of one loop over the live players.\n  \
         fallback: scene pictures show the previous picture while theirs is on its way \
         (SceneFallback::PreviousPicture); the columns still count that as placeholder time, \
         the line under it splits the provider's own count."
    );
}
