//! The request desk: where a request is served from memory, joined to a job in flight, or started
//! as a new job on the runtime; and where jobs end, are released and are given up. The
//! [`AssetProvider`](crate::AssetProvider) owns one and hands it the session and the counters.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;

use crate::error::{AssetError, AssetErrorKind};
use crate::provider::analytics::AnalyticsKind;
use crate::provider::fallback::FallbackBoard;
use crate::provider::jobs::{Holder, Job, JobTable, Outcome, Subject};
use crate::provider::memory::MemoryTier;
use crate::provider::outbox::Outbox;
use crate::provider::prefetch::PrefetchLedger;
use crate::provider::slots::MediaSlots;
use crate::provider::stats::{MediaTimes, ProviderStats, RecentWaits};
use crate::provider::task::{GenerationTask, MediaHandle, TaskStatus};
use crate::provider::waiters::{WaiterLeft, WaiterSlot};
use crate::request::{AssetRequest, Fallback, LONGEST_WAIT, MediaKind, PlaySession, RequestKey};
use crate::runtime::spend::SpendLedger;
use crate::runtime::{CommandSender, JobId, JobSpec, RuntimeCommand};
use crate::source::LaneFlag;

/// One request as asked: by whom, for what, and whether it is a prefetch.
pub(crate) struct Ask {
    pub entity: Option<Entity>,
    /// A future holding the request, when it is one.
    pub waiter: Option<WaiterSlot>,
    pub request: AssetRequest,
    pub prefetch: bool,
}

impl Ask {
    /// A request of `entity` (or a direct caller), not a prefetch and not awaited.
    pub fn by(entity: Option<Entity>, request: AssetRequest) -> Self {
        Self {
            entity,
            waiter: None,
            request,
            prefetch: false,
        }
    }
}

/// What the provider needs to take requests and end jobs.
pub(crate) struct RequestDesk {
    // Declared first: dropping it lets the runtime's dispatcher end.
    pub commands: CommandSender,
    pub jobs: JobTable,
    pub memory: MemoryTier,
    pub prefetches: PrefetchLedger,
    pub outbox: Outbox,
    pub slots: MediaSlots,
    pub media_times: MediaTimes,
    /// How recent foreground requests' waits were spent: placeholder, fallback.
    pub waits: RecentWaits,
    pub fallbacks: FallbackBoard,
    /// What the player's requests spent of the spend cap; the runtime's jobs spend it.
    pub spend: Arc<SpendLedger>,
    pub default_timeout: Duration,
}

impl RequestDesk {
    /// Serves `ask` from memory, joins it to its job in flight or starts a new job.
    pub fn start(
        &mut self,
        stats: &mut ProviderStats,
        session: &PlaySession,
        ask: Ask,
    ) -> GenerationTask {
        if !ask.prefetch {
            stats.requests += 1;
        }
        let key = ask.request.fingerprint(session);
        let subject = Subject::of(key, &ask.request);
        let by = (ask.entity, ask.prefetch);
        let task = GenerationTask::pending(key, subject.kind);
        self.outbox
            .analytics(subject.event(AnalyticsKind::Requested, ask.prefetch));
        let cacheable = ask.request.is_cacheable();
        if cacheable && let Some(handle) = self.memory.touch(&key) {
            stats.memory_hits += 1;
            self.use_prefetch(stats, key, subject.kind);
            self.outbox.memory_hit(&subject, by, handle.clone());
            return task.served_from_memory(handle);
        }
        let holder = Holder::new(ask.entity, ask.prefetch, ask.waiter);
        let holder = match self.jobs.joinable(&key).filter(|_| cacheable) {
            Some(job) => match self.join(stats, job, &subject, holder, &ask.request.fallback) {
                Ok(handle) => {
                    return GenerationTask {
                        handle,
                        job: Some(job),
                        ..task
                    };
                }
                Err(holder) => holder,
            },
            None => holder,
        };
        self.start_job(stats, session, task, (subject, holder), ask.request)
    }

    /// Adds `holder` to `job`, in flight for `subject`, with the fallback it brings (the first
    /// fallback a job gets is the one it shows); the job's handle, or the holder back when the
    /// job is gone.
    fn join(
        &mut self,
        stats: &mut ProviderStats,
        job: JobId,
        subject: &Subject,
        holder: Holder,
        fallback: &Option<Fallback>,
    ) -> Result<MediaHandle, Holder> {
        let by = (holder.entity, holder.prefetch);
        let since = holder.since;
        let (handle, promoted) = self.jobs.join(job, holder).inspect_err(|_| {
            warn!(
                "job {job:?} of {:?} is joinable but gone; starting anew",
                subject.key
            );
        })?;
        stats.joined += 1;
        if let (Some(fallback), Some(entry)) = (fallback, self.jobs.get_mut(job)) {
            self.fallbacks.attach(job, entry, fallback, since);
        }
        if promoted {
            let _ = self.commands.send(RuntimeCommand::LanesChanged);
        }
        self.outbox.requested(subject, by, handle.clone(), true);
        if !by.1 {
            self.use_prefetch(stats, subject.key, subject.kind);
        }
        Ok(handle)
    }

    /// Starts a new job for `request`, held by `holder`.
    fn start_job(
        &mut self,
        stats: &mut ProviderStats,
        session: &PlaySession,
        mut task: GenerationTask,
        (subject, holder): (Subject, Holder),
        mut request: AssetRequest,
    ) -> GenerationTask {
        let job = self.jobs.next_id();
        let handle = self.slots.reserve(subject.kind);
        task.handle = handle.clone();
        let by = (holder.entity, holder.prefetch);
        self.outbox.requested(&subject, by, handle.clone(), false);
        let lane = LaneFlag::new(!holder.prefetch);
        let joinable = request.is_cacheable();
        // Not needed on the runtime: the frame shows it.
        let fallback = request.fallback.take();
        let timeout = request.max_wait.unwrap_or(self.default_timeout);
        let spec = JobSpec {
            spend: self.spend.clone(),
            job,
            key: subject.key,
            request,
            session: session.clone(),
            timeout: timeout.min(LONGEST_WAIT),
            lane: lane.clone(),
        };
        stats.jobs += 1;
        if self
            .commands
            .send(RuntimeCommand::Resolve(Box::new(spec)))
            .is_err()
        {
            // The runtime is gone (the app is shutting down): fail instead of waiting forever.
            task.status = TaskStatus::Failed;
            task.error = Some(AssetError::new(
                AssetErrorKind::Shutdown,
                "the asset provider's runtime has stopped",
            ));
            return task;
        }
        let since = holder.since;
        let mut job_entry = Job::new(subject, handle, joinable, holder, lane);
        if let Some(fallback) = &fallback {
            self.fallbacks.attach(job, &mut job_entry, fallback, since);
        }
        self.jobs.insert(job, job_entry);
        task.job = Some(job);
        task
    }

    /// Starts fetching `request` in the background lane unless it is in memory, in flight or
    /// prefetched already, or never joined (`always`). Returns its key.
    pub fn prefetch(
        &mut self,
        stats: &mut ProviderStats,
        session: &PlaySession,
        request: AssetRequest,
    ) -> RequestKey {
        let key = request.fingerprint(session);
        if !request.is_cacheable()
            || self.memory.contains(&key)
            || self.jobs.joinable(&key).is_some()
            || !self.prefetches.begin(key)
        {
            return key;
        }
        stats.prefetched += 1;
        let ask = Ask {
            prefetch: true,
            ..Ask::by(None, request)
        };
        self.start(stats, session, ask);
        key
    }

    /// Gives up the prefetch of `key` (see `AssetProvider::cancel_prefetch`).
    pub fn cancel_prefetch(
        &mut self,
        stats: &mut ProviderStats,
        key: &RequestKey,
        keep_if_progress: f32,
    ) -> bool {
        let Some(reached_generator) = self.prefetches.end(key) else {
            return false;
        };
        let job_id = self.jobs.joinable(key);
        let kind = job_id
            .and_then(|id| self.jobs.get(id))
            .map_or(MediaKind::Image, |job| job.subject.kind);
        let released = job_id.and_then(|id| {
            let job = self.jobs.release_prefetch(id, keep_if_progress)?;
            Some((id, job))
        });
        let cancelled = released.is_some();
        if let Some((id, job)) = released {
            self.cancelled(stats, id, job, None);
        }
        if reached_generator {
            stats.prefetch_wasted += 1;
            self.outbox.prefetch_wasted(*key, kind);
        }
        cancelled
    }

    /// Counts `key` as used if it was prefetched.
    fn use_prefetch(&mut self, stats: &mut ProviderStats, key: RequestKey, kind: MediaKind) {
        if self.prefetches.end(&key).is_some() {
            stats.prefetch_used += 1;
            self.outbox.prefetch_used(key, kind);
        }
    }

    /// A future joins the request with `key` in flight; `None` when there is no such job.
    pub fn join_waiter(
        &mut self,
        stats: &mut ProviderStats,
        key: &RequestKey,
        slot: WaiterSlot,
    ) -> Option<JobId> {
        let job = self.jobs.joinable(key)?;
        let (_, promoted) = self
            .jobs
            .join(job, Holder::new(None, false, Some(slot)))
            .ok()?;
        if promoted {
            let _ = self.commands.send(RuntimeCommand::LanesChanged);
        }
        let kind = self
            .jobs
            .get(job)
            .map_or(MediaKind::Image, |job| job.subject.kind);
        self.use_prefetch(stats, *key, kind);
        Some(job)
    }

    /// A generator was asked for `job`: counted, and analytics told.
    pub fn generation_started(
        &mut self,
        stats: &mut ProviderStats,
        (job_id, key, kind): (JobId, RequestKey, MediaKind),
        background: bool,
    ) {
        stats.generations_started += 1;
        let Some(job) = self.jobs.get(job_id) else {
            if background {
                // A prefetch given up before this frame heard it had reached a generator: it
                // was wasted all the same.
                stats.prefetch_wasted += 1;
                self.outbox.prefetch_wasted(key, kind);
            }
            return;
        };
        self.prefetches.reached_generator(&job.subject.key);
        let event = job.event(AnalyticsKind::GenerationStarted, Instant::now());
        self.outbox.analytics(event);
    }

    /// Drops `entity`'s hold on `job` (`None`: the direct callers' holds). Cancels the job when
    /// nobody holds it any more.
    pub fn release(
        &mut self,
        stats: &mut ProviderStats,
        job_id: JobId,
        entity: Option<Entity>,
    ) -> bool {
        let waits = &mut self.waits;
        let left = |wait| {
            stats.count_wait(wait);
            waits.push(wait);
        };
        match self.jobs.release(job_id, entity, left) {
            Some(job) => {
                self.cancelled(stats, job_id, job, entity);
                true
            }
            None => false,
        }
    }

    /// Drops the hold of a future that went away.
    pub fn release_waiter(&mut self, stats: &mut ProviderStats, left: WaiterLeft) {
        let waits = &mut self.waits;
        let gone = |wait| {
            stats.count_wait(wait);
            waits.push(wait);
        };
        if let Some(job) = self.jobs.release_waiter(left.job, left.waiter, gone) {
            self.cancelled(stats, left.job, job, None);
        }
    }

    /// Tells the runtime and the game that `job`, which nobody holds any more, is cancelled.
    fn cancelled(
        &mut self,
        stats: &mut ProviderStats,
        job_id: JobId,
        job: Job,
        entity: Option<Entity>,
    ) {
        let _ = self.commands.send(RuntimeCommand::Cancel {
            job: job_id,
            key: job.subject.key,
        });
        stats.cancelled += 1;
        self.fallbacks.forget(job_id, &job);
        self.outbox.cancelled(&job, entity);
    }

    /// Ends `job_id`: counts the result, remembers completed media, and queues a message for
    /// each holder. Returns the job's handle and its holders' entities with their wait, or `None`
    /// if nobody wanted it any more.
    pub fn finish(
        &mut self,
        stats: &mut ProviderStats,
        job_id: JobId,
        outcome: &Outcome,
    ) -> Option<(MediaHandle, Vec<(Entity, Duration)>)> {
        let mut job = self.jobs.remove(job_id)?;
        let now = Instant::now();
        stats.count_outcome(outcome);
        if outcome.is_ok() && !job.is_background() {
            self.media_times.push(now.duration_since(job.started));
        }
        for wait in job.waits(now) {
            stats.count_wait(wait);
            self.waits.push(wait);
        }
        self.fallbacks.forget(job_id, &job);
        self.outbox.job_ended(&job, outcome, now);
        if outcome.is_ok() {
            if job.joinable {
                self.memory.remember(job.subject.key, job.handle.clone());
            }
            self.slots.swapped(&job.handle);
        }
        let mut entities = Vec::new();
        for end in job.fan_out(outcome, now) {
            if let Some(entity) = end.entity {
                entities.push((entity, end.elapsed));
            }
            self.outbox
                .result(&job.subject, job.handle.clone(), end, outcome);
        }
        Some((job.handle, entities))
    }

    /// Where the request with `key` stands: in flight, completed (in memory), or unknown.
    pub fn status(&self, key: &RequestKey) -> Option<TaskStatus> {
        if self.jobs.joinable(key).is_some() {
            Some(TaskStatus::Pending)
        } else if self.memory.contains(key) {
            Some(TaskStatus::Completed)
        } else {
            None
        }
    }
}
