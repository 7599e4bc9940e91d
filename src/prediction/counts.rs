//! [`ChoiceCounts`]: what players chose, this run and (with the disk tier) every run before.
//! Prediction keeps them itself: it reads the earlier runs' counts from the disk tier at start
//! and records each choice there.

use std::collections::HashMap;

use bevy::prelude::*;
use crossbeam_channel::Receiver;

use crate::cache::tier::DiskCommand;
use crate::provider::{AssetProvider, DiskStartTasks};

/// How often players took each choice of each scene graph: this run's choices and, with the
/// disk tier, every run's before. The [`WeightedPredictor`](super::WeightedPredictor) blends
/// them with edge weights.
#[derive(Resource, Clone, Debug, Default, Reflect)]
#[reflect(Resource, Debug, Default)]
pub struct ChoiceCounts(HashMap<(String, String), u64>);

impl ChoiceCounts {
    /// How often players took choice `edge` of scene graph `graph`.
    pub fn get(&self, graph: &str, edge: &str) -> u64 {
        self.0
            .get(&(graph.to_owned(), edge.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    fn add(&mut self, graph: String, edge: String, count: u64) {
        *self.0.entry((graph, edge)).or_default() += count;
    }

    /// Counts a choice the player just made, and keeps it on disk for later runs.
    pub(crate) fn record(&mut self, provider: &AssetProvider, graph: &str, edge: &str) {
        self.add(graph.to_owned(), edge.to_owned(), 1);
        provider
            .disk()
            .send(DiskCommand::RecordChoice(graph.to_owned(), edge.to_owned()));
    }
}

/// Earlier runs' counts, read from the disk tier at start (never, without one).
#[derive(Resource)]
pub(crate) struct CountsFromDisk(Receiver<Vec<(String, String, u64)>>);

impl CountsFromDisk {
    /// Asks the disk tier for the kept counts once it is open; they arrive here.
    #[must_use]
    pub fn load(app: &mut App) -> Self {
        let (sender, receiver) = crossbeam_channel::bounded(1);
        app.world_mut()
            .get_resource_or_init::<DiskStartTasks>()
            .push(Box::new(move |disk| {
                Box::pin(async move {
                    let _ = sender.send(disk.choice_counts().await);
                })
            }));
        Self(receiver)
    }

    pub fn has_arrived(&self) -> bool {
        !self.0.is_empty()
    }

    /// Adds the earlier runs' counts to `counts`, once they have arrived.
    pub fn add_to(&self, counts: &mut ChoiceCounts) {
        for earlier in self.0.try_iter() {
            for (graph, edge, count) in earlier {
                counts.add(graph, edge, count);
            }
        }
    }
}
