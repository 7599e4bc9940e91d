//! [`PredictionState`]: where the player is, as prediction sees it, and what it prefetched.

use std::collections::HashMap;
use std::time::Duration;

use bevy::platform::time::Instant;
use bevy::prelude::*;

use super::timing::PredictionTiming;
use crate::request::{AssetRequest, PlaySession, RequestKey};
use crate::scene::{MakeChoice, SceneGraph};

/// A prefetched step's media, and when it was expected.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Target {
    pub node: String,
    pub via: String,
    /// How long after starting the planner expected it to arrive, when it planned for time.
    pub arrives_in: Option<Duration>,
}

/// A prefetch started, kept until its job ends: to learn how long jobs take and how far off
/// the planner's expectation was.
#[derive(Clone, Debug)]
pub(crate) struct Started {
    pub node: String,
    pub via: String,
    pub at: Instant,
    /// Our prefetches in flight when it started.
    pub ahead: usize,
    pub arrives_in: Option<Duration>,
}

impl Target {
    pub fn new(node: &str, via: &str) -> Self {
        Self {
            node: node.to_owned(),
            via: via.to_owned(),
            arrives_in: None,
        }
    }
}

/// A prefetch the planner wants, waiting for the budget.
pub(crate) type Wanted = (RequestKey, AssetRequest, Target);

/// Where the player went, before its graph is known to have loaded.
#[derive(Clone, Debug)]
pub(crate) enum Position {
    Node(String),
    Edge(String),
}

/// Where the player is, as the predictor sees it, and what it prefetched.
// Reflected for inspectors: where prediction stands; its bookkeeping is private.
#[derive(Resource, Default, Reflect)]
#[reflect(Resource, Default)]
pub struct PredictionState {
    pub(crate) graph: Option<Handle<SceneGraph>>,
    pub(crate) at: Option<String>,
    /// When the player reached `at`.
    #[reflect(ignore)]
    pub(crate) arrived: Option<Instant>,
    /// Nodes the player has reached this session: the spend rate's base.
    pub(crate) visited: u64,
    #[reflect(ignore)]
    pub(crate) targets: HashMap<RequestKey, Target>,
    /// Prefetches started whose jobs have not ended.
    #[reflect(ignore)]
    pub(crate) started: HashMap<RequestKey, Started>,
    /// Predicted requests the budget held back, tried again as slots free up.
    #[reflect(ignore)]
    pub(crate) waiting: Vec<Wanted>,
    pub(crate) started_this_session: u64,
    /// The provider's session `started_this_session` counts for.
    #[reflect(ignore)]
    pub(crate) session: Option<PlaySession>,
    #[reflect(ignore)]
    pub(crate) pending: Option<(Handle<SceneGraph>, Position)>,
    /// When the planner against time looks again while the player stays.
    #[reflect(ignore)]
    pub(crate) replan_at: Option<Instant>,
}

impl PredictionState {
    /// The node the player is at, once its graph has loaded.
    pub fn at(&self) -> Option<&str> {
        self.at.as_deref()
    }

    /// Whether media of the step `via` into `node` is being prefetched (or was, and is ready).
    pub fn is_target(&self, node: &str, via: &str) -> bool {
        self.targets
            .values()
            .any(|target| target.node == node && target.via == via)
    }

    /// When the media of the step `via` into `node` is expected, counted from now: the latest
    /// of its prefetches' expected arrivals (zero once it is due). `None` when none of it is
    /// being prefetched.
    pub fn expected_in(&self, node: &str, via: &str) -> Option<Duration> {
        let now = Instant::now();
        self.started
            .values()
            .filter(|started| started.node == node && started.via == via)
            .filter_map(|started| {
                let due = started.at + started.arrives_in?;
                Some(due.saturating_duration_since(now))
            })
            .max()
    }

    /// Prefetch jobs this session has started.
    pub fn started_this_session(&self) -> u64 {
        self.started_this_session
    }

    /// Nodes the player has reached this session.
    pub fn visited_this_session(&self) -> u64 {
        self.visited
    }

    /// The player took `choice`: times their reading of the node they leave.
    pub(crate) fn chose(
        &mut self,
        choice: &MakeChoice,
        timing: &mut PredictionTiming,
        now: Instant,
    ) {
        if let (Some(at), Some(arrived)) = (&self.at, self.arrived) {
            timing.read(at, now.saturating_duration_since(arrived));
        }
        self.pending = Some((choice.graph.clone(), Position::Edge(choice.edge.clone())));
    }

    /// Moves to where the player went, once its graph has loaded; whether the player moved.
    pub(crate) fn arrive(&mut self, graphs: &Assets<SceneGraph>, now: Instant) -> bool {
        let Some((handle, position)) = self.pending.take() else {
            return false;
        };
        let Some(graph) = graphs.get(&handle) else {
            // The graph is still loading: look again next frame.
            self.pending = Some((handle, position));
            return false;
        };
        self.at = match position {
            Position::Node(node) => Some(node),
            Position::Edge(edge) => graph.edge(&edge).map(|edge| edge.to.clone()),
        };
        self.graph = Some(handle);
        self.arrived = Some(now);
        self.visited += 1;
        true
    }
}
