//! Following at start the jobs an interrupted run journalled, so they are not paid for again:
//! the disk tier lists them, the source that submitted each follows it to its end, and what it
//! delivers is kept on disk as that request's result.

use std::sync::Arc;
use std::time::Duration;

use bevy::log::{info, warn};

use super::SourceChain;
use crate::cache::tier::DiskTier;
use crate::source::{AssetSource, JournalRecord, SourceRequest};

impl SourceChain {
    /// Follows the jobs an interrupted run journalled to their end, in the background; requests
    /// for their keys wait for them. Offline they wait for a start online, as following them
    /// would reach the network.
    pub async fn recover(&self) {
        let Some(disk) = &self.disk else { return };
        if self.config.offline {
            disk.mark_recovered();
            return;
        }
        // Requests wait for the flag: it must flip even if reading the journal panics.
        struct Recovered<'a>(&'a DiskTier);
        impl Drop for Recovered<'_> {
            fn drop(&mut self) {
                self.0.mark_recovered();
            }
        }
        let _recovered = Recovered(disk);
        for (key, record) in disk.journalled_jobs().await {
            let source = record.as_ref().and_then(|record| {
                self.sources
                    .iter()
                    .zip(&self.ids)
                    .find(|(_, id)| **id == record.source)
                    .map(|(source, _)| source.clone())
            });
            let (Some(record), Some(source)) = (record, source) else {
                // Nothing here can follow it: a request for it will be made anew.
                disk.forget_job(key).await;
                continue;
            };
            info!(
                "following journalled job {} of {} again",
                record.generation_id, record.source
            );
            let done = disk.begin_resume(key);
            let (disk, deadline) = (disk.clone(), self.config.default_timeout);
            tokio::spawn(async move {
                follow(&disk, source, record, deadline).await;
                disk.end_resume(key, done);
            });
        }
    }
}

/// Asks `source` to follow `record`'s job within `deadline`, keeps what it delivers, and
/// forgets the entry unless how the job ended is unknown.
async fn follow(
    disk: &Arc<DiskTier>,
    source: Arc<dyn AssetSource>,
    record: JournalRecord,
    deadline: Duration,
) {
    let request = SourceRequest::new(record.key, record.request, record.session);
    let resumed = tokio::time::timeout(deadline, source.resume(&request, &record.generation_id));
    let Ok(resumed) = resumed.await else {
        // A stuck job must not hold requests for its key all session; the entry stays, and
        // the next start asks again.
        warn!(
            "journalled job {} of {} did not end within {deadline:?}; requests for it go on \
             without it",
            record.generation_id, record.source
        );
        return;
    };
    match resumed {
        Ok(Some(media)) => {
            let source = source.id().into_owned();
            if let Err(error) = disk.keep_resumed(&request, media, source).await {
                warn!("resumed job {}: {error}", record.generation_id);
            }
        }
        Ok(None) => {}
        Err(error) => {
            // Not known how it ended (a short outage at start): a paid job is not forgotten.
            warn!(
                "journalled job {} of {} could not be followed, kept for the next start: \
                 {error}",
                record.generation_id, record.source
            );
            return;
        }
    }
    disk.finish_job(request.key, record.generation_id).await;
}
