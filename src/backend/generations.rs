//! Generations on the backend: create one for a request (taking the server's existing work only
//! when it provably is what was asked for), follow it to its end, and cancel it only when no job
//! of this client follows it any more, keeping what a lost cancel race still delivers.
//!
//! Why the checks: the real service answers a create from existing work by a dedup hash shared
//! by all users and by a cache key that has no prompt, no seed and no game player in it, so a
//! create can come back with another request's generation. Only the plugin's own request keys
//! know what belongs together.

use std::sync::Arc;
use std::time::Duration;

use bevy::log::{debug, warn};
use reqwest::{Method, StatusCode};

use crate::backend::api::{Auth, PixSimFailure, Retry};
use crate::backend::connection::{Connection, DownloadError};
use crate::backend::create::Creator;
use crate::backend::created::{created_check, new_nonce, reuse_check, tagged_name};
use crate::backend::follow::SocketHub;
use crate::backend::followers::Followers;
use crate::backend::watch::{JobError, JobTiming, Listening, follow, salvage};
use crate::backend::wire::{BackendId, CreateGeneration, GenerationResponse, GenerationStatus};
use crate::error::AssetError;
use crate::net::Failure;
use crate::request::MediaKind;
use crate::source::JobJournal;
use crate::source::{SourceRequest, SourcedMedia};

/// How often a request asks for new work when the server's answer cannot serve it (another
/// account's generation, or one cancelled by someone else).
const MAX_SUBMISSIONS: usize = 3;

/// A generation obtained for a request.
struct Submitted {
    generation: GenerationResponse,
    /// This client created it (so it may cancel it); `false` for the server's existing work.
    ours: bool,
}

/// The generations of one client: its creates, the jobs following each generation, and the
/// socket they listen on.
pub(super) struct Generations {
    connection: Arc<Connection>,
    creator: Creator,
    followers: Followers,
    hub: Arc<SocketHub>,
    timing: JobTiming,
    /// How long a cancel waits for creates of ours on their way (one request's timeout).
    settle: Duration,
}

/// A job following a generation. Dropped before the generation ended (the request was
/// cancelled or timed out), it leaves the generation to the client's other jobs, or cancels it
/// when none is left and this client created it, then keeps following it: a cancel that loses
/// the race ends in a paid result, which goes to the disk tier under the request's key.
struct FollowGuard {
    generations: Arc<Generations>,
    id: BackendId,
    ours: bool,
    ended: bool,
    journal: JobJournal,
    kind: MediaKind,
}

impl FollowGuard {
    /// A job of `generations` following generation `id`: one this client created (`ours`), or
    /// already `ended`.
    fn new(
        generations: Arc<Generations>,
        id: BackendId,
        (ours, ended): (bool, bool),
        journal: JobJournal,
        kind: MediaKind,
    ) -> Self {
        Self {
            generations,
            id,
            ours,
            ended,
            journal,
            kind,
        }
    }

    /// The generation ended while followed: nothing is left to leave or cancel.
    fn end(mut self) {
        self.ended = true;
    }
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        let last = self.generations.followers.leave(&self.id);
        if self.ended {
            return;
        }
        // Outside a runtime (the runtime itself is going away) there is nobody to send it; the
        // journal entry stays and the next start follows the job.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (generations, id, journal, kind) = (
            self.generations.clone(),
            self.id.clone(),
            self.journal.clone(),
            self.kind,
        );
        if last && self.ours {
            runtime.spawn(async move {
                generations.cancel_and_salvage(id, journal, kind).await;
            });
        } else {
            // Another job of ours follows it, or it is the server's shared work: not ours to end.
            runtime.spawn(async move { journal.ended(id.as_str()).await });
        }
    }
}

/// A create on its way. Dropped before its answer is handled (the request was cancelled or
/// timed out meanwhile), it looks for the generation the create may have made, by its tag, and
/// cancels it: nobody pays for work nobody waits for.
struct PendingCreate {
    generations: Arc<Generations>,
    nonce: String,
    kind: MediaKind,
    armed: bool,
}

impl Drop for PendingCreate {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (generations, nonce, kind) = (self.generations.clone(), self.nonce.clone(), self.kind);
        runtime.spawn(async move {
            // The create may still be on its way to the server: look a few times.
            let mut wait = Duration::from_millis(250);
            for _ in 0..4 {
                if let Some(generation) = generations.creator.find_created(&nonce).await {
                    if !generation.status.is_terminal()
                        && generations.followers.is_unfollowed(&generation.id)
                    {
                        generations
                            .cancel_and_salvage(generation.id, JobJournal::disabled(), kind)
                            .await;
                    }
                    return;
                }
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        });
    }
}

impl Generations {
    /// The generations made through `connection` by `creator`, followed over `hub` (and by
    /// polling, as `timing` says); a cancel waits up to `settle` for creates on their way.
    pub(super) fn new(
        connection: Arc<Connection>,
        creator: Creator,
        hub: Arc<SocketHub>,
        timing: JobTiming,
        settle: Duration,
    ) -> Self {
        Self {
            connection,
            creator,
            followers: Followers::default(),
            hub,
            timing,
            settle,
        }
    }

    /// Makes `body` for `request`: creates a generation (or takes the server's existing work
    /// when it provably matches), journals it, follows it and downloads its media. A generation
    /// that cannot serve the request after all is asked for anew, a few times.
    pub(super) async fn make(
        self: &Arc<Self>,
        mut body: CreateGeneration,
        request: &SourceRequest,
    ) -> Result<SourcedMedia, AssetError> {
        let name = self.connection.name();
        self.hub.ensure_started();
        let mut last = None;
        for _ in 0..MAX_SUBMISSIONS {
            // Subscribe before creating: the job's events may come before the create's answer.
            let listening = Listening::on(&self.hub);
            let creating = self.followers.creating();
            let submitted = self.submit(&mut body, request).await?;
            let guard = self.follow_guard(request, &submitted);
            drop(creating);
            if !submitted.generation.status.is_terminal() {
                // Before anything else: a crash from here on must not pay for this job again.
                request
                    .journal
                    .submitted(
                        name,
                        submitted.generation.id.as_str(),
                        request.key,
                        &request.request,
                        &request.session,
                    )
                    .await;
            }
            match self.finish_job(request, submitted, guard, listening).await {
                Ok(media) => return Ok(media),
                Err(JobError::Failed(error) | JobError::Unreachable(error)) => return Err(error),
                Err(JobError::AskAgain(why)) => {
                    debug!("{name}: {why}; asking for new work");
                    body.force_new = true;
                    last = Some(why);
                }
            }
        }
        Err(AssetError::generation(format!(
            "{name}: no generation could serve the request: {}",
            last.unwrap_or_default()
        )))
    }

    /// Follows the journalled generation `generation_id` for `request` to its media; `Ok(None)`
    /// when it is gone, not this account's, or ended without usable media.
    pub(super) async fn resume(
        self: &Arc<Self>,
        request: &SourceRequest,
        generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        let id = BackendId(generation_id.to_owned());
        self.hub.ensure_started();
        let listening = Listening::on(&self.hub);
        let generation = match self.connection.generation(&id).await {
            Ok(generation) => generation,
            // Gone from the backend, or not this account's: the request is made anew.
            Err(error) if error.is_not_found() || error.is_not_yours() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if generation.status == GenerationStatus::Cancelled {
            return Ok(None);
        }
        // A resumed job is followed, never cancelled: nobody holds it but the disk tier.
        let submitted = Submitted {
            generation,
            ours: false,
        };
        let guard = self.follow_guard(request, &submitted);
        match self.finish_job(request, submitted, guard, listening).await {
            Ok(media) => Ok(Some(media)),
            Err(JobError::AskAgain(_)) => Ok(None),
            // It ended without usable media: nothing to follow any more.
            Err(JobError::Failed(error)) => {
                debug!("{}: journalled job {id}: {error}", self.connection.name());
                Ok(None)
            }
            // How it ended is not known: the journal keeps it for the next start.
            Err(JobError::Unreachable(error)) => Err(error),
        }
    }

    /// A generation for `body`: created, or the server's existing work when it provably matches.
    /// A mismatch turns `body` into a request for new work (`force_new`).
    async fn submit(
        self: &Arc<Self>,
        body: &mut CreateGeneration,
        request: &SourceRequest,
    ) -> Result<Submitted, AssetError> {
        loop {
            let nonce = new_nonce();
            let mut sent = body.clone();
            sent.name = Some(tagged_name(body.name.as_deref(), &nonce));
            let mut pending = PendingCreate {
                generations: self.clone(),
                nonce: nonce.clone(),
                kind: request.kind(),
                armed: true,
            };
            let generation = self.creator.create(&sent, &request.lane, &nonce).await;
            pending.armed = false;
            let generation = generation?;
            let tagged = generation
                .name
                .as_deref()
                .is_some_and(|name| name.contains(&nonce));
            if sent.force_new || tagged {
                if let Err(why) = created_check(&sent, &nonce, &generation) {
                    // Not followed, fetched, kept or journalled. The create may still have made
                    // a generation of its own that nobody waits for: dropping `pending` looks
                    // for it by its tag and cancels it.
                    pending.armed = true;
                    return Err(AssetError::invalid_data(format!(
                        "{}: the backend answered this request's create with generation {}, \
                         but {why}: it is not the generation this create made, so it is not \
                         used",
                        self.connection.name(),
                        generation.id
                    )));
                }
                return Ok(Submitted {
                    generation,
                    ours: true,
                });
            }
            match reuse_check(&sent, &generation) {
                Ok(()) => {
                    return Ok(Submitted {
                        generation,
                        ours: false,
                    });
                }
                Err(why) => {
                    debug!(
                        "{}: the server answered with generation {}, but {why}; asking for new work",
                        self.connection.name(),
                        generation.id
                    );
                    body.force_new = true;
                }
            }
        }
    }

    /// Counts the request as following `submitted` until the returned guard drops; made as
    /// soon as the create is answered, before anything else can be awaited, so a request
    /// dropped from then on leaves (or cancels) the generation.
    fn follow_guard(
        self: &Arc<Self>,
        request: &SourceRequest,
        submitted: &Submitted,
    ) -> FollowGuard {
        self.followers.enter(&submitted.generation.id);
        FollowGuard::new(
            self.clone(),
            submitted.generation.id.clone(),
            (submitted.ours, submitted.generation.status.is_terminal()),
            request.journal.clone(),
            request.kind(),
        )
    }

    /// Follows `submitted` to its end, fetches its asset and downloads the file.
    async fn finish_job(
        self: &Arc<Self>,
        request: &SourceRequest,
        submitted: Submitted,
        guard: FollowGuard,
        listening: Listening,
    ) -> Result<SourcedMedia, JobError> {
        let generation = submitted.generation;
        let id = generation.id.clone();
        request.progress.report(0.1);
        let asset_id = follow(
            &self.connection,
            &generation,
            listening,
            self.timing,
            request,
        )
        .await;
        guard.end();
        let asset_id = asset_id?;
        request.progress.report(0.8);
        let asset = self.connection.asset(&asset_id).await?;
        let media = self
            .connection
            .download(&asset_id, &asset, request.kind())
            .await
            .map_err(|error| match error {
                DownloadError::NotYours(why) => JobError::AskAgain(why),
                DownloadError::Failed(error) => JobError::Failed(error),
            })?;
        Ok(media.with_backend_ids(Some(id.0), Some(asset_id.0)))
    }

    /// Cancels generation `id` (every job of ours has left it) and follows it for a while: if
    /// the provider finished first, the result is paid for, so it goes to the disk tier.
    async fn cancel_and_salvage(
        self: Arc<Self>,
        id: BackendId,
        journal: JobJournal,
        kind: MediaKind,
    ) {
        // A create of ours on its way may be answered with this very generation: let it land.
        self.followers.settle(self.settle).await;
        if !self.followers.is_unfollowed(&id) {
            journal.ended(id.as_str()).await;
            return;
        }
        let Some(generation) = self.cancel(&id).await else {
            return;
        };
        if journal.is_enabled() {
            salvage(&self.connection, generation, journal, kind, self.timing).await;
        }
    }

    /// Cancels generation `id`: where it stands after the cancel, or `None` when that is not
    /// known (the journal entry stays, and the next start asks the backend how it ended).
    async fn cancel(&self, id: &BackendId) -> Option<GenerationResponse> {
        let answer = self
            .connection
            .api()
            .json::<GenerationResponse, ()>(
                Method::POST,
                &format!("api/v1/generations/{id}/cancel"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await;
        match answer {
            Ok(generation) => Some(generation),
            // 409: it completed before the cancel arrived.
            Err(error)
                if matches!(&error.failure, Failure::Status { status, .. }
                    if *status == StatusCode::CONFLICT) =>
            {
                match self.connection.generation(id).await {
                    Ok(generation) => Some(generation),
                    Err(error) => {
                        debug!("generation {id}: {:?}", error);
                        None
                    }
                }
            }
            Err(error) => {
                warn!(
                    "cancelling generation {id} failed: {}",
                    error.to_asset_error()
                );
                None
            }
        }
    }
}
