//! The fallback board: which jobs show a [`Fallback`] behind their handle, and which wait for
//! theirs to load. The frame puts a fallback behind a handle when its job gets it (if it is
//! loaded) or when its image loads (an asset event), never by scanning waiting jobs.

use std::collections::HashMap;
use std::time::Instant;

use bevy::prelude::*;

use crate::provider::jobs::Job;
use crate::request::{Fallback, MediaKind};
use crate::runtime::JobId;
use crate::source::PreMadeStills;

/// Jobs given a fallback since the frame last looked, and those whose fallback is not loaded.
#[derive(Default)]
pub(crate) struct FallbackBoard {
    /// Pre-made pictures by tags, as far as the frame sees them.
    stills: PreMadeStills,
    /// Jobs given a fallback since the last step, with when the holder that brought it got the
    /// handle.
    fresh: Vec<(JobId, Instant)>,
    /// A fallback image not loaded yet → the jobs in flight that wait for it.
    waiting: HashMap<AssetId<Image>, Vec<JobId>>,
}

impl FallbackBoard {
    pub fn new(stills: PreMadeStills) -> Self {
        Self {
            stills,
            ..Self::default()
        }
    }

    /// Gives job `id` the image `fallback` names, if the job shows images and has no fallback
    /// yet; `at` is when the holder that brings it got the handle.
    pub fn attach(&mut self, id: JobId, job: &mut Job, fallback: &Fallback, at: Instant) {
        if job.subject.kind == MediaKind::Audio || job.fallback.is_some() {
            return;
        }
        let image = match fallback {
            Fallback::Image(handle) => Some(handle.clone()),
            Fallback::PreMadeTags(tags) => self.stills.find(tags),
        };
        if let Some(image) = image {
            job.fallback = Some(image);
            self.fresh.push((id, at));
        }
    }

    /// Whether a job got a fallback since the last step.
    pub fn has_fresh(&self) -> bool {
        !self.fresh.is_empty()
    }

    /// The jobs given a fallback since the last call.
    pub fn take_fresh(&mut self) -> Vec<(JobId, Instant)> {
        std::mem::take(&mut self.fresh)
    }

    /// Whether a job in flight waits for its fallback to load.
    pub fn is_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// The jobs that waited for `image`, which has just loaded or changed.
    pub fn loaded(&mut self, image: AssetId<Image>) -> Option<Vec<JobId>> {
        self.waiting.remove(&image)
    }

    /// Job `id` ended: it waits for nothing any more.
    pub fn forget(&mut self, id: JobId, job: &Job) {
        let Some(image) = job.fallback.as_ref().map(Handle::id) else {
            return;
        };
        if let Some(jobs) = self.waiting.get_mut(&image) {
            jobs.retain(|waiting| *waiting != id);
            if jobs.is_empty() {
                self.waiting.remove(&image);
            }
        }
    }

    /// Puts the fallback of job `id` behind its handle when its image is loaded (with its
    /// pixels in the main world), noting it shown from `shown_at`; else the job waits for it.
    /// Whether it went behind the handle.
    pub fn show(
        &mut self,
        id: JobId,
        job: &mut Job,
        images: &mut Assets<Image>,
        shown_at: Instant,
    ) -> bool {
        let (Some(fallback), Some(target)) = (&job.fallback, job.handle.image()) else {
            return false;
        };
        if job.fallback_at.is_some() {
            return false;
        }
        let copy = images
            .get(fallback)
            .filter(|image| image.data.is_some())
            .cloned();
        match copy {
            // Err: every holder dropped the handle; nobody is looking.
            Some(copy) => {
                let shown = images.insert(target.id(), copy).is_ok();
                if shown {
                    job.fallback_at = Some(shown_at);
                }
                shown
            }
            None => {
                self.waiting.entry(fallback.id()).or_default().push(id);
                false
            }
        }
    }
}
