//! One simulated player: a fresh app with its own session, playing a drawn script against the
//! shared backend, measured from the outside.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::observe::AnalyticsEvent;
use bevy_asset_provider::prediction::PredictionSettings;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::{MediaKind, RequestKey};
use pixsim_dev::DevBackend;

use crate::oracle;
use crate::script::Step;

/// Generations one app runs at once: enough that the backend's limit, not the client's, is
/// what media waits for (the oracle prefetches a whole path at once).
const APP_GENERATIONS: usize = 16;

/// Every analytics event an app sent.
#[derive(Resource, Default)]
pub struct Seen(pub Vec<AnalyticsEvent>);

/// What one player saw.
#[derive(Default)]
pub struct Seeing {
    /// Per kind (image, audio, video): media of the node chosen, and how many were real at the
    /// moment of the choice.
    pub at_choice: [(usize, usize); 3],
    /// Per media visit: the world time on a placeholder (zero when real on arrival).
    pub waits: Vec<Duration>,
    pub nodes: usize,
}

/// A media request of the node the player is at, and when it turned real.
struct Shown {
    key: RequestKey,
    real_after: Option<Duration>,
}

pub struct Player {
    pub app: App,
    graph: Handle<SceneGraph>,
    script: Vec<Step>,
    /// The script's step the player is at; `None` before the start.
    at: Option<usize>,
    arrived: Instant,
    shown: Vec<Shown>,
    starts_at: Instant,
    oracle: bool,
    /// Real time per world second.
    scale: f64,
    pub done: bool,
    pub seeing: Seeing,
}

impl Player {
    /// Player `n`, a fresh app against `dev`, playing `script` from `starts_at`.
    pub fn new(dev: &DevBackend, story: &SceneGraph, play: Play, n: usize) -> Self {
        let source = PixSimSource::builder(dev.base_url())
            .token(dev.token())
            // Hundreds of players share one loopback backend with no budget of its own.
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
                    .with_max_concurrent_generations(APP_GENERATIONS)
                    .with_backend(source)
                    .with_prediction(play.prediction.clone()),
            )
            .init_resource::<Seen>()
            .add_systems(
                Last,
                |mut events: MessageReader<AnalyticsEvent>, mut seen: ResMut<Seen>| {
                    seen.0.extend(events.read().cloned());
                },
            );
        app.finish();
        app.cleanup();
        let graph = app
            .world_mut()
            .resource_mut::<Assets<SceneGraph>>()
            .add(story.clone());
        Self {
            app,
            graph,
            script: play.script,
            at: None,
            arrived: Instant::now(),
            shown: Vec::new(),
            starts_at: play.starts_at,
            oracle: play.oracle,
            scale: play.scale,
            done: false,
            seeing: Seeing::default(),
        }
    }

    /// Moves the player's start to `at`.
    pub fn start_at(&mut self, at: Instant) {
        self.starts_at = at;
    }

    /// One frame: starts, notes media turning real, and chooses once the player has read.
    pub fn step(&mut self, story: &SceneGraph, now: Instant) {
        match self.at {
            None if now >= self.starts_at => self.start(story, now),
            None => {}
            Some(at) => {
                self.observe(now);
                let read = self.script[at].reading.mul_f64(self.scale);
                if now.duration_since(self.arrived) >= read {
                    self.leave(now);
                    if at + 1 < self.script.len() {
                        self.choose(story, at + 1, now);
                    } else {
                        self.done = true;
                    }
                }
            }
        }
        self.app.update();
    }

    fn start(&mut self, story: &SceneGraph, now: Instant) {
        if self.oracle {
            oracle::prefetch_path(&mut self.app, story, &self.script);
        }
        self.app.world_mut().write_message(EnterNode {
            graph: self.graph.clone(),
            node: self.script[0].node.clone(),
        });
        self.arrive(story, 0, now);
    }

    /// Takes the script's choice to step `next`, noting which of its media are real now.
    fn choose(&mut self, story: &SceneGraph, next: usize, now: Instant) {
        let step = &self.script[next];
        let edge = step.edge.clone().expect("a step after the start has its choice");
        let provider = self.app.world().resource::<AssetProvider>();
        for request in story.node_media(&step.node, Some(&edge)) {
            let real = provider.get(&provider.key_for(&request)).is_some();
            let tally = &mut self.seeing.at_choice[kind_index(request.kind)];
            tally.0 += 1;
            tally.1 += usize::from(real);
        }
        self.app.world_mut().write_message(MakeChoice {
            graph: self.graph.clone(),
            from: edge.from.clone(),
            edge: edge.id.clone(),
        });
        self.arrive(story, next, now);
    }

    fn arrive(&mut self, story: &SceneGraph, at: usize, now: Instant) {
        let step = &self.script[at];
        let provider = self.app.world().resource::<AssetProvider>();
        self.shown = story
            .node_media(&step.node, step.edge.as_ref())
            .iter()
            .map(|request| Shown {
                key: provider.key_for(request),
                real_after: None,
            })
            .collect();
        self.at = Some(at);
        self.arrived = now;
        self.seeing.nodes += 1;
        self.observe(now);
    }

    /// Notes the media of this node that are real now.
    fn observe(&mut self, now: Instant) {
        let provider = self.app.world().resource::<AssetProvider>();
        for shown in self.shown.iter_mut().filter(|s| s.real_after.is_none()) {
            if provider.get(&shown.key).is_some() {
                shown.real_after = Some(now.duration_since(self.arrived));
            }
        }
    }

    /// Counts this node's placeholder time: until real, or all of it if never real here.
    fn leave(&mut self, now: Instant) {
        let stayed = now.duration_since(self.arrived);
        for shown in self.shown.drain(..) {
            let real = shown.real_after.unwrap_or(stayed);
            self.seeing.waits.push(real.div_f64(self.scale));
        }
    }
}

/// How a player plays: the script, when, and with what prediction.
pub struct Play {
    pub script: Vec<Step>,
    pub starts_at: Instant,
    pub prediction: PredictionSettings,
    pub oracle: bool,
    /// Real time per world second.
    pub scale: f64,
}

/// Where a kind's figures sit in per-kind arrays.
pub fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Image => 0,
        MediaKind::Audio => 1,
        MediaKind::Video => 2,
    }
}
