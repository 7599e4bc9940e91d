//! The job table: every job on the runtime, who holds it, and which key it answers; when a job
//! ends, each holder's share of the result. Plain data, so its rules (joining, releasing, the
//! background count) are tested without an `App`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bevy::prelude::{Entity, Handle, Image};

use crate::error::AssetError;
use crate::provider::analytics::{AnalyticsEvent, AnalyticsKind};
use crate::provider::task::MediaHandle;
use crate::provider::wait::WaitSplit;
use crate::provider::waiters::WaiterSlot;
use crate::request::{AssetRequest, MediaKind, RequestKey};
use crate::runtime::JobId;
use crate::source::{LaneFlag, SourceKind};

/// How a job ended: which kind of source served it and from where, or why not.
pub(crate) type Outcome = Result<(SourceKind, String), AssetError>;

/// One holder's share of a job's end: its entity, how long it waited, whether it prefetched.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HolderEnd {
    pub entity: Option<Entity>,
    pub elapsed: Duration,
    pub prefetch: bool,
}

/// What analytics events and messages about a request say it is.
#[derive(Clone, Debug)]
pub(crate) struct Subject {
    pub key: RequestKey,
    pub kind: MediaKind,
    pub scene_id: Option<String>,
    pub choice_id: Option<String>,
}

impl Subject {
    /// What `request`, keyed `key`, is.
    pub fn of(key: RequestKey, request: &AssetRequest) -> Self {
        Self {
            key,
            kind: request.kind,
            scene_id: request.scene_id.clone(),
            choice_id: request.choice_id.clone(),
        }
    }

    /// An event of `what` about this request.
    pub fn event(&self, what: AnalyticsKind, prefetch: bool) -> AnalyticsEvent {
        let mut event = AnalyticsEvent::new(what, self.key, self.kind);
        event.scene_id = self.scene_id.clone();
        event.choice_id = self.choice_id.clone();
        event.prefetch = prefetch;
        event
    }
}

/// One holder of a job: an entity's task, a caller of `AssetProvider::request`, a prefetch, or
/// a [`MediaReady`](crate::provider::MediaReady) future.
#[derive(Debug)]
pub(crate) struct Holder {
    pub entity: Option<Entity>,
    pub since: Instant,
    pub prefetch: bool,
    /// Where a future waiting for the job is told how it ended.
    pub waiter: Option<WaiterSlot>,
}

/// A job on the runtime and everybody waiting for it.
pub(crate) struct Job {
    pub subject: Subject,
    pub handle: MediaHandle,
    /// Whether an identical request may join it (not for `always` or fresh-only requests).
    pub joinable: bool,
    pub holders: Vec<Holder>,
    pub lane: LaneFlag,
    pub progress: f32,
    pub started: Instant,
    /// The image shown behind the handle while it waits, instead of the placeholder.
    pub fallback: Option<Handle<Image>>,
    /// When the fallback went behind the handle (as the game sees it).
    pub fallback_at: Option<Instant>,
}

impl Holder {
    /// A holder from now on.
    pub fn new(entity: Option<Entity>, prefetch: bool, waiter: Option<WaiterSlot>) -> Self {
        Self {
            entity,
            since: Instant::now(),
            prefetch,
            waiter,
        }
    }
}

impl Job {
    /// A job starting now for `subject`, behind `handle`, held by `holder`.
    pub fn new(
        subject: Subject,
        handle: MediaHandle,
        joinable: bool,
        holder: Holder,
        lane: LaneFlag,
    ) -> Self {
        Self {
            subject,
            handle,
            joinable,
            holders: vec![holder],
            lane,
            progress: 0.0,
            started: Instant::now(),
            fallback: None,
            fallback_at: None,
        }
    }

    /// Tells each waiting future how the job ended and returns every holder's share, for the
    /// messages and tasks.
    pub fn fan_out(&mut self, outcome: &Outcome, now: Instant) -> Vec<HolderEnd> {
        let mut ends = Vec::with_capacity(self.holders.len());
        for holder in std::mem::take(&mut self.holders) {
            if let Some(waiter) = holder.waiter {
                // Err: the future was dropped on its way here; its release will find no job.
                let _ = waiter.sender.send(match outcome {
                    Ok(_) => Ok(self.handle.clone()),
                    Err(error) => Err(error.clone()),
                });
            }
            ends.push(HolderEnd {
                entity: holder.entity,
                elapsed: now.duration_since(holder.since),
                prefetch: holder.prefetch,
            });
        }
        ends
    }

    /// How each foreground holder's wait was spent, if it stops waiting `now`.
    pub fn waits(&self, now: Instant) -> impl Iterator<Item = WaitSplit> + '_ {
        self.holders
            .iter()
            .filter(|holder| !holder.prefetch)
            .map(move |holder| WaitSplit::of(holder.since, self.fallback_at, now))
    }

    /// The wait of the foreground holder that waited longest, if it stops waiting `now`.
    pub fn longest_wait(&self, now: Instant) -> Option<WaitSplit> {
        let since = self
            .holders
            .iter()
            .filter(|holder| !holder.prefetch)
            .map(|holder| holder.since)
            .min()?;
        Some(WaitSplit::of(since, self.fallback_at, now))
    }

    /// Whether the job is a prefetch no foreground request holds yet.
    pub fn is_background(&self) -> bool {
        !self.lane.is_foreground()
    }

    /// An event of `what` about the job, timed from its start.
    pub fn event(&self, what: AnalyticsKind, now: Instant) -> AnalyticsEvent {
        let mut event = self.subject.event(what, self.is_background());
        event.elapsed = Some(now.duration_since(self.started));
        event
    }
}

/// The jobs in flight, by id, with the joinable ones also by key.
#[derive(Default)]
pub(crate) struct JobTable {
    next: u64,
    jobs: HashMap<JobId, Job>,
    joinable: HashMap<RequestKey, JobId>,
    /// Background jobs, counted as they change so the frame never scans jobs.
    background: usize,
}

impl JobTable {
    /// A new id for a job about to start.
    pub fn next_id(&mut self) -> JobId {
        let id = JobId(self.next);
        self.next += 1;
        id
    }

    pub fn insert(&mut self, id: JobId, job: Job) {
        if job.joinable {
            self.joinable.insert(job.subject.key, id);
        }
        if job.is_background() {
            self.background += 1;
        }
        self.jobs.insert(id, job);
    }

    /// The joinable job in flight for `key`.
    pub fn joinable(&self, key: &RequestKey) -> Option<JobId> {
        self.joinable.get(key).copied()
    }

    pub fn get(&self, id: JobId) -> Option<&Job> {
        self.jobs.get(&id)
    }

    pub fn get_mut(&mut self, id: JobId) -> Option<&mut Job> {
        self.jobs.get_mut(&id)
    }

    /// Adds `holder` to job `id`; a foreground holder brings a background job to the
    /// foreground. Returns the job's handle and whether it was promoted, or the holder back when
    /// there is no such job.
    pub fn join(&mut self, id: JobId, holder: Holder) -> Result<(MediaHandle, bool), Holder> {
        let Some(job) = self.jobs.get_mut(&id) else {
            return Err(holder);
        };
        let promoted = !holder.prefetch && job.is_background();
        if promoted {
            // The player wants it now: it stops waiting behind the foreground.
            job.lane.promote();
            self.background -= 1;
        }
        job.holders.push(holder);
        Ok((job.handle.clone(), promoted))
    }

    /// Drops the holds of `entity` (`None`: the direct callers') on job `id`; the job, taken out
    /// of the table, when nobody holds it any more. Waiting futures keep their holds. Each
    /// foreground holder leaving hands its wait to `left`.
    pub fn release(
        &mut self,
        id: JobId,
        entity: Option<Entity>,
        left: impl FnMut(WaitSplit),
    ) -> Option<Job> {
        let leaves = |holder: &Holder| holder.entity == entity && holder.waiter.is_none();
        self.release_where(id, leaves, left)
    }

    /// Drops the hold of the future `waiter` on job `id`, like [`release`](Self::release).
    pub fn release_waiter(
        &mut self,
        id: JobId,
        waiter: u64,
        left: impl FnMut(WaitSplit),
    ) -> Option<Job> {
        let leaves = |holder: &Holder| holder.waiter.as_ref().is_some_and(|slot| slot.id == waiter);
        self.release_where(id, leaves, left)
    }

    fn release_where(
        &mut self,
        id: JobId,
        leaves: impl Fn(&Holder) -> bool,
        mut left: impl FnMut(WaitSplit),
    ) -> Option<Job> {
        let job = self.jobs.get_mut(&id)?;
        let (now, fallback_at) = (Instant::now(), job.fallback_at);
        job.holders.retain(|holder| {
            let leaving = leaves(holder);
            if leaving && !holder.prefetch {
                left(WaitSplit::of(holder.since, fallback_at, now));
            }
            !leaving
        });
        if job.holders.is_empty() {
            self.remove(id)
        } else {
            None
        }
    }

    /// Drops the prefetch holds on job `id` unless it is at least `keep_if_progress` done; the
    /// job, taken out of the table, when nobody holds it any more.
    pub fn release_prefetch(&mut self, id: JobId, keep_if_progress: f32) -> Option<Job> {
        let job = self.jobs.get_mut(&id)?;
        if job.progress >= keep_if_progress {
            return None;
        }
        job.holders.retain(|holder| !holder.prefetch);
        if job.holders.is_empty() {
            self.remove(id)
        } else {
            None
        }
    }

    /// Takes job `id` out of the table (it ended).
    pub fn remove(&mut self, id: JobId) -> Option<Job> {
        let job = self.jobs.remove(&id)?;
        if job.joinable && self.joinable.get(&job.subject.key) == Some(&id) {
            self.joinable.remove(&job.subject.key);
        }
        if job.is_background() {
            self.background -= 1;
        }
        Some(job)
    }

    pub fn set_progress(&mut self, id: JobId, fraction: f32) {
        if let Some(job) = self.jobs.get_mut(&id) {
            job.progress = fraction;
        }
    }

    /// The wait of each entity holding job `id`.
    pub fn holder_waits(&self, id: JobId, now: Instant) -> Vec<(Entity, Duration)> {
        self.jobs
            .get(&id)
            .map(|job| {
                job.holders
                    .iter()
                    .filter_map(|h| h.entity.map(|e| (e, now.duration_since(h.since))))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `entity` holds job `id`, which is still in flight.
    pub fn is_held_by(&self, id: JobId, entity: Entity) -> bool {
        self.jobs.get(&id).is_some_and(|job| {
            job.holders
                .iter()
                .any(|holder| holder.entity == Some(entity))
        })
    }

    /// Jobs in flight.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Prefetch jobs in flight that no foreground request holds yet.
    pub fn background(&self) -> usize {
        self.background
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bevy::prelude::Handle;

    fn job(key: u8, holders: Vec<Holder>, foreground: bool) -> Job {
        Job {
            subject: Subject {
                key: RequestKey([key; 32]),
                kind: MediaKind::Image,
                scene_id: None,
                choice_id: None,
            },
            handle: MediaHandle::Image(Handle::default()),
            joinable: true,
            holders,
            lane: LaneFlag::new(foreground),
            progress: 0.0,
            started: Instant::now(),
            fallback: None,
            fallback_at: None,
        }
    }

    fn holder(entity: Option<Entity>, prefetch: bool) -> Holder {
        Holder {
            entity,
            since: Instant::now(),
            prefetch,
            waiter: None,
        }
    }

    #[test]
    fn a_job_ends_when_its_last_holder_leaves() {
        let mut table = JobTable::default();
        let (a, b) = (
            Entity::from_raw_u32(1).unwrap(),
            Entity::from_raw_u32(2).unwrap(),
        );
        let id = table.next_id();
        table.insert(id, job(1, vec![holder(Some(a), false)], true));
        assert_eq!(table.joinable(&RequestKey([1; 32])), Some(id));
        assert!(table.join(id, holder(Some(b), false)).is_ok());
        assert!(
            table.release(id, Some(a), |_| {}).is_none(),
            "b still holds it"
        );
        assert!(table.is_held_by(id, b) && !table.is_held_by(id, a));
        assert!(table.release(id, Some(b), |_| {}).is_some());
        assert_eq!(
            (table.len(), table.joinable(&RequestKey([1; 32]))),
            (0, None)
        );
    }

    #[test]
    fn a_foreground_holder_promotes_a_prefetch_and_the_count_follows() {
        let mut table = JobTable::default();
        let id = table.next_id();
        table.insert(id, job(2, vec![holder(None, true)], false));
        assert_eq!(table.background(), 1);
        let (_, promoted) = table.join(id, holder(None, true)).unwrap();
        assert!(!promoted, "another prefetch does not promote it");
        let (_, promoted) = table
            .join(id, holder(Some(Entity::PLACEHOLDER), false))
            .unwrap();
        assert!(promoted);
        assert_eq!(table.background(), 0);
        // Giving up the prefetch leaves the player's hold.
        assert!(table.release_prefetch(id, 1.0).is_none());
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_prefetch_far_enough_along_is_kept_when_given_up() {
        let mut table = JobTable::default();
        let id = table.next_id();
        table.insert(id, job(3, vec![holder(None, true)], false));
        table.set_progress(id, 0.95);
        assert!(table.release_prefetch(id, 0.9).is_none());
        assert_eq!(table.len(), 1);
        assert!(table.release_prefetch(id, 1.0).is_some());
        assert_eq!((table.len(), table.background()), (0, 0));
    }
}
