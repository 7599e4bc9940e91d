//! Learning from jobs as they end: how long generations took (for
//! [`PredictionTiming`](super::PredictionTiming)) and how far the planner's expected arrivals
//! were off, shown as [`PredictionDiagnostics`].

use std::collections::VecDeque;
use std::time::Duration;

use bevy::diagnostic::{Diagnostic, DiagnosticPath, Diagnostics, RegisterDiagnostic};
use bevy::platform::time::Instant;
use bevy::prelude::*;

use super::state::PredictionState;
use super::timing::PredictionTiming;
use crate::provider::{AnalyticsEvent, AnalyticsKind};
use crate::source::SourceKind;

/// The paths of the diagnostics prediction registers.
pub struct PredictionDiagnostics;

impl PredictionDiagnostics {
    /// How much later than the planner expected its prefetches arrived, median over recent
    /// ones, in milliseconds (negative: earlier).
    pub const ARRIVAL_ERROR_P50: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/prediction/arrival_error_p50_ms");
    /// The same, 95th percentile: how late the late ones were.
    pub const ARRIVAL_ERROR_P95: DiagnosticPath =
        DiagnosticPath::const_new("asset_provider/prediction/arrival_error_p95_ms");
}

/// Recent differences between when prefetches arrived and when the planner expected them, in
/// milliseconds.
#[derive(Resource, Default)]
pub(crate) struct ArrivalErrors(VecDeque<f64>);

/// How many recent arrivals the figures cover.
const KEPT: usize = 64;

/// Started prefetches are forgotten after this long without news of their job.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl ArrivalErrors {
    pub fn push(&mut self, late_by_ms: f64) {
        if self.0.len() == KEPT {
            self.0.pop_front();
        }
        self.0.push_back(late_by_ms);
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        let mut sorted: Vec<f64> = self.0.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = ((sorted.len().checked_sub(1)?) as f64 * q).round() as usize;
        sorted.get(rank).copied()
    }
}

/// Learns from the jobs that ended: a generator's time for each kind; returns how much later
/// than expected the planner's own prefetches arrived, in milliseconds.
pub(crate) fn learn(
    events: &mut MessageReader<AnalyticsEvent>,
    state: &mut PredictionState,
    timing: &mut PredictionTiming,
    now: Instant,
) -> Vec<f64> {
    let mut late_by = Vec::new();
    for event in events.read() {
        let ended = matches!(
            event.kind,
            AnalyticsKind::Completed
                | AnalyticsKind::Failed
                | AnalyticsKind::TimedOut
                | AnalyticsKind::Cancelled
        );
        if !ended {
            continue;
        }
        let started = state.started.remove(&event.key);
        if event.kind != AnalyticsKind::Completed || event.source != Some(SourceKind::Generated) {
            continue;
        }
        match started {
            Some(started) => {
                let took = now.saturating_duration_since(started.at);
                timing.generated(event.media, took, Some(started.ahead));
                if let Some(expected) = started.arrives_in {
                    late_by.push((took.as_secs_f64() - expected.as_secs_f64()) * 1000.0);
                }
            }
            None => {
                if let Some(took) = event.elapsed {
                    timing.generated(event.media, took, None);
                }
            }
        }
    }
    if state.started.len() > 256 {
        state
            .started
            .retain(|_, started| now.saturating_duration_since(started.at) < FORGET_AFTER);
    }
    late_by
}

pub(crate) fn register(app: &mut App) {
    app.register_diagnostic(Diagnostic::new(PredictionDiagnostics::ARRIVAL_ERROR_P50))
        .register_diagnostic(Diagnostic::new(PredictionDiagnostics::ARRIVAL_ERROR_P95))
        .add_systems(
            PostUpdate,
            measure.run_if(resource_changed::<ArrivalErrors>),
        );
}

fn measure(errors: Res<ArrivalErrors>, mut diagnostics: Diagnostics) {
    for (path, q) in [
        (PredictionDiagnostics::ARRIVAL_ERROR_P50, 0.5),
        (PredictionDiagnostics::ARRIVAL_ERROR_P95, 0.95),
    ] {
        if let Some(value) = errors.quantile(q) {
            diagnostics.add_measurement(&path, || value);
        }
    }
}
