//! What the plugin tells the game. Every outgoing message, trigger and analytics event is built
//! here, queued while the frame runs, and sent by [`ProviderMessages`] at the plugin's next step.

use std::time::{Duration, Instant};

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use crate::provider::analytics::{AnalyticsEvent, AnalyticsKind, CacheTier};
use crate::provider::jobs::{HolderEnd, Job, Outcome, Subject};
use crate::provider::messages::HolderResult;
use crate::provider::messages::{AssetCancelled, AssetFailed, AssetReady, AssetRequested};
use crate::provider::task::{MediaHandle, TaskStatus, status_of};
use crate::request::{MediaKind, RequestKey};
use crate::source::SourceKind;

/// Something to tell the game at the next flush.
pub(crate) enum Notice {
    Requested(AssetRequested),
    Ready(AssetReady),
    Failed(AssetFailed),
    Cancelled(AssetCancelled),
    Analytics(AnalyticsEvent),
}

/// The notices queued since the last flush.
#[derive(Default)]
pub(crate) struct Outbox(Vec<Notice>);

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn take(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.0)
    }

    pub fn analytics(&mut self, event: AnalyticsEvent) {
        self.0.push(Notice::Analytics(event));
    }

    /// A request was made by `entity` (or a direct caller) and has `handle`.
    pub fn requested(
        &mut self,
        subject: &Subject,
        (entity, prefetch): (Option<Entity>, bool),
        handle: MediaHandle,
        joined: bool,
    ) {
        self.0.push(Notice::Requested(AssetRequested {
            entity,
            key: subject.key,
            kind: subject.kind,
            scene_id: subject.scene_id.clone(),
            choice_id: subject.choice_id.clone(),
            handle,
            joined,
            prefetch,
        }));
    }

    /// A request the memory tier answered at once with `handle`.
    pub fn memory_hit(
        &mut self,
        subject: &Subject,
        (entity, prefetch): (Option<Entity>, bool),
        handle: MediaHandle,
    ) {
        let mut served = subject.event(AnalyticsKind::ServedFromCache, prefetch);
        served.tier = Some(CacheTier::Memory);
        served.source = Some(SourceKind::Cached);
        served.elapsed = Some(Duration::ZERO);
        self.analytics(served);
        self.requested(subject, (entity, prefetch), handle.clone(), true);
        let end = HolderEnd {
            entity,
            elapsed: Duration::ZERO,
            prefetch,
        };
        self.result(
            subject,
            handle,
            end,
            &Ok((SourceKind::Cached, "memory".into())),
        );
    }

    /// The result of `subject` for one holder: ready or failed.
    pub fn result(
        &mut self,
        subject: &Subject,
        handle: MediaHandle,
        end: HolderEnd,
        outcome: &Outcome,
    ) {
        let (key, kind) = (subject.key, subject.kind);
        let HolderEnd {
            entity,
            elapsed,
            prefetch,
        } = end;
        self.0.push(match outcome {
            Ok((source, origin)) => Notice::Ready(AssetReady {
                entity,
                key,
                kind,
                source: *source,
                origin: origin.clone(),
                handle,
                elapsed,
                prefetch,
            }),
            Err(error) => Notice::Failed(AssetFailed {
                entity,
                key,
                kind,
                status: status_of(error),
                error: error.clone(),
                elapsed,
                prefetch,
            }),
        });
    }

    /// `job`, which nobody holds any more, was cancelled; `entity` was its last holder.
    pub fn cancelled(&mut self, job: &Job, entity: Option<Entity>) {
        self.analytics(job.event(AnalyticsKind::Cancelled, Instant::now()));
        self.0.push(Notice::Cancelled(AssetCancelled {
            entity,
            key: job.subject.key,
            kind: job.subject.kind,
        }));
    }

    /// The analytics of a job's end.
    pub fn job_ended(&mut self, job: &Job, outcome: &Outcome, now: Instant) {
        match outcome {
            Ok((source, origin)) => {
                let served = match source {
                    SourceKind::Cached => {
                        let mut served = job.event(AnalyticsKind::ServedFromCache, now);
                        served.tier = Some(if origin.starts_with("disk cache") {
                            CacheTier::Disk
                        } else {
                            CacheTier::Backend
                        });
                        Some(served)
                    }
                    SourceKind::PreMade => Some(job.event(AnalyticsKind::ServedPreMade, now)),
                    _ => None,
                };
                if let Some(mut served) = served {
                    served.source = Some(*source);
                    self.analytics(served);
                }
                let mut completed = job.event(AnalyticsKind::Completed, now);
                completed.source = Some(*source);
                self.analytics(with_wait(completed, job, now));
            }
            Err(error) => {
                let mut failed = job.event(
                    match status_of(error) {
                        TaskStatus::TimedOut => AnalyticsKind::TimedOut,
                        TaskStatus::Cancelled => AnalyticsKind::Cancelled,
                        _ => AnalyticsKind::Failed,
                    },
                    now,
                );
                failed.error = Some(error.to_string());
                self.analytics(with_wait(failed, job, now));
            }
        }
    }

    /// A foreground request found `key` prefetched.
    pub fn prefetch_used(&mut self, key: RequestKey, kind: MediaKind) {
        self.analytics(AnalyticsEvent::new(AnalyticsKind::PrefetchUsed, key, kind));
    }

    /// A prefetch that reached a generator was given up unused.
    pub fn prefetch_wasted(&mut self, key: RequestKey, kind: MediaKind) {
        let mut event = AnalyticsEvent::new(AnalyticsKind::PrefetchWasted, key, kind);
        event.prefetch = true;
        self.analytics(event);
    }
}

/// `event` with how the longest wait for `job`, ending `now`, was spent.
fn with_wait(mut event: AnalyticsEvent, job: &Job, now: Instant) -> AnalyticsEvent {
    if let Some(wait) = job.longest_wait(now) {
        event.on_placeholder = Some(wait.placeholder);
        event.on_fallback = Some(wait.fallback);
    }
    event
}

/// The plugin's outgoing messages.
#[derive(SystemParam)]
pub(crate) struct ProviderMessages<'w, 's> {
    requested: MessageWriter<'w, AssetRequested>,
    ready: MessageWriter<'w, AssetReady>,
    failed: MessageWriter<'w, AssetFailed>,
    cancelled: MessageWriter<'w, AssetCancelled>,
    analytics: MessageWriter<'w, AnalyticsEvent>,
    commands: Commands<'w, 's>,
}

impl ProviderMessages<'_, '_> {
    /// Sends each notice: the one place the plugin's messages and events go out.
    pub fn send(&mut self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Requested(message) => {
                    self.requested.write(message);
                }
                Notice::Ready(message) => {
                    holder_result(&mut self.ready, &mut self.commands, message);
                }
                Notice::Failed(message) => {
                    holder_result(&mut self.failed, &mut self.commands, message);
                }
                Notice::Cancelled(message) => {
                    holder_result(&mut self.cancelled, &mut self.commands, message);
                }
                Notice::Analytics(event) => {
                    self.analytics.write(event);
                }
            }
        }
    }
}

/// A holder's result: triggered on its entity (when it has one) for that entity's observers,
/// then for global observers, then written as a message.
fn holder_result<M: HolderResult>(
    messages: &mut MessageWriter<M>,
    commands: &mut Commands,
    message: M,
) {
    if let Some(on_entity) = message.on_entity() {
        commands.trigger(on_entity);
    }
    commands.trigger(message.clone());
    messages.write(message);
}
