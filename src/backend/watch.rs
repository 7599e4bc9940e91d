//! Following one generation to its end: what its status means for the job ([`outcome`]), the
//! wait for its next event or poll ([`follow`]), and the watch over a cancelled generation that
//! may still deliver ([`salvage`]).

use std::sync::Arc;
use std::time::Duration;

use bevy::log::debug;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::backend::api::{ApiError, PixSimFailure};
use crate::backend::connection::Connection;
use crate::backend::follow::{SocketHub, SocketState};
use crate::backend::wire::{BackendId, GenerationResponse, GenerationStatus, SocketEvent};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaKind;
use crate::source::{JobJournal, SourceRequest};

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

/// Polls in a row whose retries all failed before a job is given up as unreachable.
const TOLERATED_FAILED_POLLS: u32 = 3;

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

/// How often a job looks at its generation, and how long it believes the server may still
/// retry a failure by itself.
#[derive(Clone, Copy, Debug)]
pub(super) struct JobTiming {
    poll_start: Duration,
    poll_max: Duration,
    retry_grace: Duration,
}

impl JobTiming {
    /// Polls every `poll_start` at first, backing off to every `poll_max`; a failure the
    /// server retries by itself is believed after `retry_grace`.
    pub(super) fn new(poll_start: Duration, poll_max: Duration, retry_grace: Duration) -> Self {
        Self {
            poll_start,
            poll_max,
            retry_grace,
        }
    }
}

/// A job's ears on the client's socket: its events, its state, and the connection whose events
/// may be relied on (the one up when the job subscribed, if any).
pub(super) struct Listening {
    events: broadcast::Receiver<SocketEvent>,
    state: watch::Receiver<SocketState>,
    trusted_since: Option<u64>,
}

impl Listening {
    /// Subscribes to `hub`; done before the create, since a job's events may come before the
    /// create's answer.
    pub(super) fn on(hub: &Arc<SocketHub>) -> Self {
        let (events, state) = hub.subscribe();
        let trusted_since = {
            let state = *state.borrow();
            state.connected.then_some(state.epoch)
        };
        Self {
            events,
            state,
            trusted_since,
        }
    }
}

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

/// Waits for `generation` to end with an asset.
///
/// Events are relied on while the socket stays up; one that comes up later is trusted after
/// a catch-up poll. A failure with a code the server retries by itself is believed only after
/// it stays failed for the retry grace; a generation cancelled by someone else asks for new
/// work.
pub(super) async fn follow(
    connection: &Connection,
    generation: &GenerationResponse,
    listening: Listening,
    timing: JobTiming,
    request: &SourceRequest,
) -> Result<BackendId, JobError> {
    let mut watch = Watch::new(&generation.id, listening, timing);
    let mut current = outcome(generation);
    loop {
        if let Some(end) = watch.settle(current) {
            return end;
        }
        current = match watch.wake(request).await {
            Wake::Asset(asset) => return Ok(asset),
            Wake::Poll => watch.poll(connection, request).await?,
            Wake::Quiet => watch.unchanged(),
        };
    }
}

/// Why a waiting job woke up.
enum Wake {
    /// The socket announced the generation's asset.
    Asset(BackendId),
    /// The generation should be polled.
    Poll,
    /// Nothing about the generation is new.
    Quiet,
}

/// A job's state while it follows one generation.
struct Watch<'a> {
    id: &'a BackendId,
    timing: JobTiming,
    events: broadcast::Receiver<SocketEvent>,
    state: watch::Receiver<SocketState>,
    /// The connection whose events are relied on.
    trusted_since: Option<u64>,
    /// Whether events are relied on now (so polls are only a safety net).
    trust: bool,
    events_open: bool,
    state_open: bool,
    /// The polling interval without trusted events.
    interval: Duration,
    /// Set while a failure may still be retried by the server.
    grace: Option<(Instant, AssetError)>,
    /// The next poll stays put while other events come and go: the socket carries every
    /// user's events, and their chatter must not push it back.
    poll_at: Option<Instant>,
    failed_polls: u32,
}

impl<'a> Watch<'a> {
    fn new(id: &'a BackendId, listening: Listening, timing: JobTiming) -> Self {
        Self {
            id,
            timing,
            events: listening.events,
            state: listening.state,
            trusted_since: listening.trusted_since,
            trust: listening.trusted_since.is_some(),
            events_open: true,
            state_open: true,
            interval: timing.poll_start,
            grace: None,
            poll_at: None,
            failed_polls: 0,
        }
    }

    /// How the job ends with `current`, or `None` while it goes on.
    fn settle(&mut self, current: Outcome) -> Option<Result<BackendId, JobError>> {
        match current {
            Outcome::Running => self.grace = None,
            Outcome::Done(asset) => return Some(Ok(asset)),
            Outcome::Failed(error) => return Some(Err(JobError::Failed(error))),
            Outcome::Cancelled(id) => {
                return Some(Err(JobError::AskAgain(format!(
                    "generation {id} was cancelled on the backend by someone else"
                ))));
            }
            Outcome::MaybeRetried(error) => match &self.grace {
                Some((until, _)) if Instant::now() >= *until => {
                    return Some(Err(JobError::Failed(error)));
                }
                Some(_) => {}
                None => {
                    debug!("{error}; the server may retry it, waiting");
                    self.grace = Some((Instant::now() + self.timing.retry_grace, error));
                }
            },
        }
        None
    }

    /// Waits for an event about the generation, a change of the socket, or the next poll.
    async fn wake(&mut self, request: &SourceRequest) -> Wake {
        let wait = if self.grace.is_some() {
            self.timing.poll_start
        } else if self.trust {
            self.timing.poll_max
        } else {
            self.interval
        };
        let due = Instant::now() + wait;
        let due = *self
            .poll_at
            .insert(self.poll_at.map_or(due, |at| at.min(due)));
        enum Woke {
            Event(Result<SocketEvent, RecvError>),
            State(bool),
            Timer,
        }
        let woke = tokio::select! {
            event = self.events.recv(), if self.events_open => Woke::Event(event),
            changed = self.state.changed(), if self.state_open => Woke::State(changed.is_ok()),
            _ = tokio::time::sleep_until(due) => Woke::Timer,
        };
        match woke {
            Woke::Event(event) => self.on_event(event, request),
            Woke::State(changed) => self.on_state(changed),
            Woke::Timer => {
                if !self.trust {
                    self.interval = self.interval.saturating_mul(2).min(self.timing.poll_max);
                }
                Wake::Poll
            }
        }
    }

    /// What an event read from the socket means for this generation.
    fn on_event(&mut self, event: Result<SocketEvent, RecvError>, request: &SourceRequest) -> Wake {
        match event {
            Ok(event) if event.generation().as_ref() == Some(self.id) => {
                match event.kind.as_str() {
                    "asset:created" if self.grace.is_none() => match event.asset_id {
                        Some(asset) => Wake::Asset(asset),
                        None => Wake::Poll,
                    },
                    "job:started" => {
                        request.progress.report(0.5);
                        // A retry started: poll to see it.
                        if self.grace.is_some() {
                            Wake::Poll
                        } else {
                            Wake::Quiet
                        }
                    }
                    "job:completed" | "job:failed" | "job:cancelled" | "job:retrying" => Wake::Poll,
                    _ => Wake::Quiet,
                }
            }
            Ok(_) => Wake::Quiet,
            Err(RecvError::Lagged(_)) => Wake::Poll,
            Err(RecvError::Closed) => {
                self.events_open = false;
                self.trust = false;
                Wake::Quiet
            }
        }
    }

    /// What a change of the socket's state (`changed`, or its sender gone) means.
    fn on_state(&mut self, changed: bool) -> Wake {
        if !changed {
            self.state_open = false;
            self.trust = false;
            return Wake::Quiet;
        }
        let now = *self.state.borrow_and_update();
        if now.connected && Some(now.epoch) != self.trusted_since {
            // A socket came up: from now on its events arrive. One poll covers whatever
            // happened before it did.
            self.trusted_since = Some(now.epoch);
            self.trust = self.events_open;
            Wake::Poll
        } else {
            self.trust &= now.connected && Some(now.epoch) == self.trusted_since;
            Wake::Quiet
        }
    }

    /// Polls the generation: where it stands now.
    async fn poll(
        &mut self,
        connection: &Connection,
        request: &SourceRequest,
    ) -> Result<Outcome, JobError> {
        self.poll_at = None;
        let generation = match connection.generation(self.id).await.map_err(JobError::from) {
            Ok(generation) => {
                self.failed_polls = 0;
                generation
            }
            // A poll whose retries ran out on a flaky backend says nothing about the job: a
            // few more polls, a while apart, before giving up on it.
            Err(JobError::Unreachable(error)) if self.failed_polls < TOLERATED_FAILED_POLLS => {
                self.failed_polls += 1;
                debug!("{error}; polling generation {} again later", self.id);
                self.interval = self.interval.saturating_mul(2).min(self.timing.poll_max);
                return Ok(self.unchanged());
            }
            Err(error) => return Err(error),
        };
        if generation.status == GenerationStatus::Processing {
            request.progress.report(0.5);
        }
        Ok(outcome(&generation))
    }

    /// Where the generation stands when nothing new was heard: running, or still in its grace.
    fn unchanged(&mut self) -> Outcome {
        match &self.grace {
            Some((_, error)) => Outcome::MaybeRetried(error.clone()),
            None => Outcome::Running,
        }
    }
}

/// Follows `generation`, cancelled by this client, for a while: if the provider finished
/// first, the result is paid for, so it goes to the disk tier through `journal`.
pub(super) async fn salvage(
    connection: &Connection,
    mut generation: GenerationResponse,
    journal: JobJournal,
    kind: MediaKind,
    timing: JobTiming,
) {
    let id = generation.id.clone();
    let deadline = Instant::now() + SALVAGE_WINDOW;
    let mut interval = timing.poll_start;
    loop {
        match outcome(&generation) {
            Outcome::Done(asset_id) => {
                let media = match connection.asset(&asset_id).await {
                    Ok(asset) => connection.download(&asset_id, &asset, kind).await.ok(),
                    Err(_) => None,
                };
                match media {
                    Some(media) => {
                        debug!("generation {id} completed after its cancel; kept on disk");
                        let media = media.with_backend_ids(Some(id.0.clone()), Some(asset_id.0));
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
        interval = interval.saturating_mul(2).min(timing.poll_max);
        generation = match connection.generation(&id).await {
            Ok(generation) => generation,
            Err(error) if error.is_not_found() || error.is_not_yours() => {
                journal.ended(id.as_str()).await;
                return;
            }
            Err(_) => continue,
        };
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
