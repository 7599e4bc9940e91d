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
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::backend::answers::is_bad_input;
use crate::backend::api::{ApiError, Auth, PixSimFailure, Retry};
use crate::backend::client::Inner;
use crate::backend::created::{created_check, new_nonce, reuse_check, tagged_name};
use crate::backend::follow::SocketState;
use crate::backend::wire::{
    AssetResponse, BackendId, CreateGeneration, GenerationList, GenerationResponse,
    GenerationStatus, SocketEvent,
};
use crate::error::{AssetError, AssetErrorKind};
use crate::net::Failure;
use crate::request::MediaKind;
use crate::source::JobJournal;
use crate::source::LaneFlag;
use crate::source::{SourceRequest, SourcedMedia};

/// The error code of a job the provider refused for its content (final).
const CONTENT_REJECTED: &str = "content_prompt_rejected";

/// Failure codes after which the real service retries the job itself (its
/// `RETRYABLE_ERROR_CODES`): a `failed` generation with one of them may turn `pending` again.
const SERVER_RETRIES: &[&str] = &[
    "content_output_rejected",
    "content_image_rejected",
    "content_filtered",
    "content_render_moderated",
    "provider_quota",
    "provider_concurrent_limit",
    "provider_rate_limit",
    "provider_unavailable",
    "provider_timeout",
    "provider_generic",
];

/// How long a cancelled generation of ours is followed for what it may still deliver.
const SALVAGE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// A generation obtained for a request.
pub(super) struct Submitted {
    pub generation: GenerationResponse,
    /// This client created it (so it may cancel it); `false` for the server's existing work.
    pub ours: bool,
}

/// How following a generation ended, when it did not end with media.
pub(super) enum JobError {
    /// The generation cannot serve this request after all (another account's, or cancelled by
    /// someone else): ask for new work.
    AskAgain(String),
    /// The backend could not be reached (or answered nonsense) often enough: how the job ended
    /// is not known.
    Unreachable(AssetError),
    /// The job ended without media, or its media is unusable.
    Failed(AssetError),
}

impl From<AssetError> for JobError {
    fn from(error: AssetError) -> Self {
        Self::Failed(error)
    }
}

impl From<ApiError> for JobError {
    fn from(error: ApiError) -> Self {
        if error.is_not_yours() {
            Self::AskAgain(format!(
                "{} refused: the generation belongs to another account",
                error.what
            ))
        } else if error.is_not_found() || !error.may_have_reached() && !error.is_transport() {
            Self::Failed(error.into())
        } else {
            Self::Unreachable(error.into())
        }
    }
}

/// Polls in a row whose retries all failed before a job is given up as unreachable.
const TOLERATED_FAILED_POLLS: u32 = 3;

/// Where a running generation stands for the job following it.
#[derive(Debug)]
enum Outcome {
    Running,
    Done(BackendId),
    /// Failed with a code the server retries by itself: wait a while before believing it.
    MaybeRetried(AssetError),
    Failed(AssetError),
    /// Cancelled by someone else: this client cancels only what nobody of its own follows.
    Cancelled(BackendId),
}

/// What a generation's status means for the job following it.
fn outcome(generation: &GenerationResponse) -> Outcome {
    let id = &generation.id;
    match generation.status {
        GenerationStatus::Completed => match &generation.asset {
            Some(asset) => Outcome::Done(asset.id.clone()),
            None => Outcome::Failed(AssetError::invalid_data(format!(
                "generation {id} is completed but names no asset"
            ))),
        },
        GenerationStatus::Failed => {
            let code = generation.error_code.as_deref().unwrap_or("unknown");
            // The server's words, from a successful answer: bounded and scrubbed all the same.
            let message = crate::net::server_text(
                generation
                    .error_message
                    .as_deref()
                    .unwrap_or("no message from the backend"),
            );
            let kind = if code == CONTENT_REJECTED {
                AssetErrorKind::Rejected
            } else {
                AssetErrorKind::Generation
            };
            let error = AssetError::new(
                kind,
                format!(
                    "generation {id} failed ({}): {message}",
                    crate::net::server_text(code)
                ),
            );
            if SERVER_RETRIES.contains(&code) {
                Outcome::MaybeRetried(error)
            } else {
                Outcome::Failed(error)
            }
        }
        GenerationStatus::Cancelled => Outcome::Cancelled(id.clone()),
        _ => Outcome::Running,
    }
}

/// A job following a generation. Dropped before the generation ended (the request was
/// cancelled or timed out), it leaves the generation to the client's other jobs, or cancels it
/// when none is left and this client created it, then keeps following it: a cancel that loses
/// the race ends in a paid result, which goes to the disk tier under the request's key.
pub(super) struct FollowGuard {
    inner: Arc<Inner>,
    id: BackendId,
    ours: bool,
    ended: bool,
    journal: JobJournal,
    kind: MediaKind,
}

impl FollowGuard {
    /// `inner`'s job following generation `id`: one this client created (`ours`), or already
    /// `ended`.
    pub(super) fn new(
        inner: Arc<Inner>,
        id: BackendId,
        (ours, ended): (bool, bool),
        journal: JobJournal,
        kind: MediaKind,
    ) -> Self {
        Self {
            inner,
            id,
            ours,
            ended,
            journal,
            kind,
        }
    }

    /// The generation ended while followed: nothing is left to leave or cancel.
    pub(super) fn end(mut self) {
        self.ended = true;
    }
}

impl Drop for FollowGuard {
    fn drop(&mut self) {
        let last = self.inner.followers.leave(&self.id);
        if self.ended {
            return;
        }
        // Outside a runtime (the runtime itself is going away) there is nobody to send it; the
        // journal entry stays and the next start follows the job.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (inner, id, journal, kind) = (
            self.inner.clone(),
            self.id.clone(),
            self.journal.clone(),
            self.kind,
        );
        if last && self.ours {
            runtime.spawn(async move { inner.cancel_and_salvage(id, journal, kind).await });
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
    inner: Arc<Inner>,
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
        let (inner, nonce, kind) = (self.inner.clone(), self.nonce.clone(), self.kind);
        runtime.spawn(async move {
            // The create may still be on its way to the server: look a few times.
            let mut wait = Duration::from_millis(250);
            for _ in 0..4 {
                if let Some(generation) = inner.find_created(&nonce).await {
                    if !generation.status.is_terminal()
                        && inner.followers.is_unfollowed(&generation.id)
                    {
                        inner
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

impl Inner {
    /// A generation for `body`: created, or the server's existing work when it provably matches.
    /// A mismatch turns `body` into a request for new work (`force_new`).
    pub(super) async fn submit(
        self: &Arc<Self>,
        body: &mut CreateGeneration,
        request: &SourceRequest,
    ) -> Result<Submitted, AssetError> {
        loop {
            let nonce = new_nonce();
            let mut sent = body.clone();
            sent.name = Some(tagged_name(body.name.as_deref(), &nonce));
            let mut pending = PendingCreate {
                inner: self.clone(),
                nonce: nonce.clone(),
                kind: request.kind(),
                armed: true,
            };
            let generation = self.create(&sent, &request.lane, &nonce).await;
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
                        self.name, generation.id
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
                        self.name, generation.id
                    );
                    body.force_new = true;
                }
            }
        }
    }

    /// Sends one create through the rate governor. A create for new work is sent again only
    /// when it provably did not arrive, or when it is not among the account's recent generations
    /// (found by its `nonce`): a lost answer never pays twice.
    async fn create(
        &self,
        body: &CreateGeneration,
        lane: &LaneFlag,
        nonce: &str,
    ) -> Result<GenerationResponse, AssetError> {
        let policy = self.api.policy().clone();
        let backoff = policy.backoff_policy();
        let mut attempt = 0;
        loop {
            self.governor.admit(lane).await;
            let answer = {
                let _permit = self.creates.acquire().await?;
                self.api
                    .json::<GenerationResponse, _>(
                        Method::POST,
                        "api/v1/generations",
                        Some(body),
                        Auth::Bearer,
                        Retry::Never,
                    )
                    .await
            };
            let mut error = match answer {
                Ok(generation) => return Ok(generation),
                Err(error) => error,
            };
            attempt += 1;
            error.tries = attempt;
            let last = attempt >= policy.attempts();
            match &error.failure {
                Failure::Status { status, wait, .. }
                    if *status == StatusCode::TOO_MANY_REQUESTS =>
                {
                    // Refused before any work: every create of this client waits it out.
                    let wait = wait
                        .unwrap_or_else(|| backoff.delay(attempt))
                        .min(policy.retry_after_cap());
                    self.governor.close_for(wait);
                    if last {
                        return Err(error.into());
                    }
                    continue;
                }
                Failure::Transport { connect: true, .. } => {}
                Failure::Status {
                    status, body: text, ..
                } if status.is_server_error() && !is_bad_input(*status, text) => {}
                Failure::Transport { .. } | Failure::Malformed(_) => {}
                _ => return Err(error.into()),
            }
            if last {
                return Err(error.into());
            }
            tokio::time::sleep(backoff.delay(attempt - 1)).await;
            if body.force_new
                && error.may_have_reached()
                && let Some(found) = self.find_created(nonce).await
            {
                debug!(
                    "{}: the create's answer was lost, but it made generation {}",
                    self.name, found.id
                );
                return Ok(found);
            }
        }
    }

    /// The account's recent generation named with `nonce`, if the server has one.
    async fn find_created(&self, nonce: &str) -> Option<GenerationResponse> {
        let list: GenerationList = self
            .api
            .json::<_, ()>(
                Method::GET,
                "api/v1/generations?limit=50&offset=0",
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await
            .ok()?;
        list.generations.into_iter().find(|generation| {
            generation
                .name
                .as_deref()
                .is_some_and(|name| name.contains(nonce))
        })
    }

    pub(super) async fn generation(&self, id: &BackendId) -> Result<GenerationResponse, ApiError> {
        self.api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/generations/{id}"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await
    }

    /// Counts the request as following `submitted` until the returned guard drops; made as
    /// soon as the create is answered, before anything else can be awaited, so a request
    /// dropped from then on leaves (or cancels) the generation.
    pub(super) fn follow_guard(
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
    pub(super) async fn finish_job(
        self: &Arc<Self>,
        request: &SourceRequest,
        submitted: Submitted,
        guard: FollowGuard,
        events: broadcast::Receiver<SocketEvent>,
        state: watch::Receiver<SocketState>,
        trusted_since: Option<u64>,
    ) -> Result<SourcedMedia, JobError> {
        let generation = submitted.generation;
        let id = generation.id.clone();
        request.progress.report(0.1);
        let asset_id = self
            .follow(&generation, events, state, trusted_since, request)
            .await;
        guard.end();
        let asset_id = asset_id?;
        request.progress.report(0.8);
        let asset: AssetResponse = self
            .api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/assets/{asset_id}"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await?;
        let media = self
            .download(&asset_id, &asset, request.kind())
            .await
            .map_err(|error| match error {
                DownloadError::NotYours(why) => JobError::AskAgain(why),
                DownloadError::Failed(error) => JobError::Failed(error),
            })?;
        Ok(media.with_backend_ids(Some(id.0), Some(asset_id.0)))
    }

    /// Waits for `generation` to end with an asset.
    ///
    /// Events are relied on while the socket stays up; one that comes up later is trusted after
    /// a catch-up poll. A failure with a code the server retries by itself is believed only after
    /// it stays failed for the retry grace; a generation cancelled by someone else asks for new
    /// work.
    async fn follow(
        &self,
        generation: &GenerationResponse,
        mut events: broadcast::Receiver<SocketEvent>,
        mut state: watch::Receiver<SocketState>,
        mut trusted_since: Option<u64>,
        request: &SourceRequest,
    ) -> Result<BackendId, JobError> {
        let id = &generation.id;
        let (start, max) = (self.config().poll_start, self.config().poll_max);
        let mut trust = trusted_since.is_some();
        let mut events_open = true;
        let mut state_open = true;
        let mut interval = start;
        // Set while a failure may still be retried by the server.
        let mut grace: Option<(Instant, AssetError)> = None;
        // The next poll stays put while other events come and go: the socket carries every
        // user's events, and their chatter must not push it back.
        let mut poll_at: Option<Instant> = None;
        let mut failed_polls = 0;
        let mut current = outcome(generation);
        loop {
            match current {
                Outcome::Running => grace = None,
                Outcome::Done(asset) => return Ok(asset),
                Outcome::Failed(error) => return Err(JobError::Failed(error)),
                Outcome::Cancelled(id) => {
                    return Err(JobError::AskAgain(format!(
                        "generation {id} was cancelled on the backend by someone else"
                    )));
                }
                Outcome::MaybeRetried(error) => match &grace {
                    Some((until, _)) if Instant::now() >= *until => {
                        return Err(JobError::Failed(error));
                    }
                    Some(_) => {}
                    None => {
                        debug!("{error}; the server may retry it, waiting");
                        grace = Some((Instant::now() + self.config().retry_grace, error));
                    }
                },
            }
            let wait = if grace.is_some() {
                start
            } else if trust {
                max
            } else {
                interval
            };
            let due = Instant::now() + wait;
            let due = *poll_at.insert(poll_at.map_or(due, |at| at.min(due)));
            let poll_now = tokio::select! {
                event = events.recv(), if events_open => match event {
                    Ok(event) if event.generation().as_ref() == Some(id) => {
                        match event.kind.as_str() {
                            "asset:created" if grace.is_none() => {
                                if let Some(asset) = event.asset_id {
                                    return Ok(asset);
                                }
                                true
                            }
                            "job:started" => {
                                request.progress.report(0.5);
                                // A retry started: poll to see it.
                                grace.is_some()
                            }
                            "job:completed" | "job:failed" | "job:cancelled" | "job:retrying" => true,
                            _ => false,
                        }
                    }
                    Ok(_) => false,
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => {
                        events_open = false;
                        trust = false;
                        false
                    }
                },
                changed = state.changed(), if state_open => {
                    if changed.is_err() {
                        state_open = false;
                        trust = false;
                        false
                    } else {
                        let now = *state.borrow_and_update();
                        if now.connected && Some(now.epoch) != trusted_since {
                            // A socket came up: from now on its events arrive. One poll covers
                            // whatever happened before it did.
                            trusted_since = Some(now.epoch);
                            trust = events_open;
                            true
                        } else {
                            trust &= now.connected && Some(now.epoch) == trusted_since;
                            false
                        }
                    }
                }
                _ = tokio::time::sleep_until(due) => {
                    if !trust {
                        interval = interval.saturating_mul(2).min(max);
                    }
                    true
                }
            };
            if poll_now {
                poll_at = None;
                let generation = match self.generation(id).await.map_err(JobError::from) {
                    Ok(generation) => {
                        failed_polls = 0;
                        generation
                    }
                    // A poll whose retries ran out on a flaky backend says nothing about the
                    // job: a few more polls, a while apart, before giving up on it.
                    Err(JobError::Unreachable(error)) if failed_polls < TOLERATED_FAILED_POLLS => {
                        failed_polls += 1;
                        debug!("{error}; polling generation {id} again later");
                        interval = interval.saturating_mul(2).min(max);
                        current = match &grace {
                            Some((_, error)) => Outcome::MaybeRetried(error.clone()),
                            None => Outcome::Running,
                        };
                        continue;
                    }
                    Err(error) => return Err(error),
                };
                if generation.status == GenerationStatus::Processing {
                    request.progress.report(0.5);
                }
                current = outcome(&generation);
            } else {
                current = match grace.take() {
                    Some((until, error)) => {
                        grace = Some((until, error.clone()));
                        Outcome::MaybeRetried(error)
                    }
                    None => Outcome::Running,
                };
            }
        }
    }

    /// Cancels generation `id` (every job of ours has left it) and follows it for a while: if
    /// the provider finished first, the result is paid for, so it goes to the disk tier.
    pub(super) async fn cancel_and_salvage(
        self: Arc<Self>,
        id: BackendId,
        journal: JobJournal,
        kind: MediaKind,
    ) {
        // A create of ours on its way may be answered with this very generation: let it land.
        self.followers.settle(self.config().request_timeout).await;
        if !self.followers.is_unfollowed(&id) {
            journal.ended(id.as_str()).await;
            return;
        }
        let answer = self
            .api
            .json::<GenerationResponse, ()>(
                Method::POST,
                &format!("api/v1/generations/{id}/cancel"),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await;
        let mut generation = match answer {
            Ok(generation) => generation,
            // 409: it completed before the cancel arrived.
            Err(error)
                if matches!(&error.failure, Failure::Status { status, .. }
                    if *status == StatusCode::CONFLICT) =>
            {
                match self.generation(&id).await {
                    Ok(generation) => generation,
                    Err(error) => {
                        debug!("generation {id}: {:?}", error);
                        return;
                    }
                }
            }
            Err(error) => {
                // The journal entry stays: the next start asks the backend how it ended.
                warn!(
                    "cancelling generation {id} failed: {}",
                    error.to_asset_error()
                );
                return;
            }
        };
        if !journal.is_enabled() {
            return;
        }
        let deadline = Instant::now() + SALVAGE_WINDOW;
        let mut interval = self.config().poll_start;
        loop {
            match outcome(&generation) {
                Outcome::Done(asset_id) => {
                    let asset = self
                        .api
                        .json::<AssetResponse, ()>(
                            Method::GET,
                            &format!("api/v1/assets/{asset_id}"),
                            None,
                            Auth::Bearer,
                            Retry::Transient,
                        )
                        .await;
                    let media = match asset {
                        Ok(asset) => self.download(&asset_id, &asset, kind).await.ok(),
                        Err(_) => None,
                    };
                    match media {
                        Some(media) => {
                            debug!("generation {id} completed after its cancel; kept on disk");
                            let media =
                                media.with_backend_ids(Some(id.0.clone()), Some(asset_id.0));
                            journal.finished_late(media).await;
                        }
                        None => journal.ended(id.as_str()).await,
                    }
                    return;
                }
                Outcome::Running | Outcome::MaybeRetried(_) => {}
                Outcome::Failed(_) | Outcome::Cancelled(_) => {
                    journal.ended(id.as_str()).await;
                    return;
                }
            }
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(interval).await;
            interval = interval.saturating_mul(2).min(self.config().poll_max);
            generation = match self.generation(&id).await {
                Ok(generation) => generation,
                Err(error) if error.is_not_found() || error.is_not_yours() => {
                    journal.ended(id.as_str()).await;
                    return;
                }
                Err(_) => continue,
            };
        }
    }
}

/// Why a download did not deliver.
pub(super) enum DownloadError {
    /// The server refused the file as another account's.
    NotYours(String),
    /// Anything else.
    Failed(AssetError),
}

impl From<DownloadError> for AssetError {
    fn from(error: DownloadError) -> Self {
        match error {
            DownloadError::NotYours(why) => AssetError::generation(why),
            DownloadError::Failed(error) => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn failures_the_server_retries_are_not_final_at_once() {
        let failed = |code: &str| -> GenerationResponse {
            serde_json::from_value(json!({"id": 1, "status": "failed", "error_code": code,
                "error_message": "filtered"}))
            .unwrap()
        };
        assert!(matches!(
            outcome(&failed("content_render_moderated")),
            Outcome::MaybeRetried(_)
        ));
        match outcome(&failed("content_prompt_rejected")) {
            Outcome::Failed(error) => assert_eq!(error.kind(), AssetErrorKind::Rejected),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcome(&failed("param_invalid")),
            Outcome::Failed(_)
        ));
    }
}
