//! [`Creator`]: sending creates, under the client's limit of creates in flight and its rate
//! governor, without ever paying twice for a create whose answer was lost.

use std::sync::Arc;

use bevy::log::debug;
use reqwest::{Method, StatusCode};

use crate::backend::answers::is_bad_input;
use crate::backend::api::{ApiError, Auth, Retry};
use crate::backend::connection::Connection;
use crate::backend::governor::CreateGovernor;
use crate::backend::wire::{CreateGeneration, GenerationList, GenerationResponse};
use crate::error::AssetError;
use crate::net::{ConcurrencyLimit, Failure, NetPolicy};
use crate::source::LaneFlag;

/// What a failed create allows.
enum Refused {
    /// Refused before any work (429): every create of this client waits, then it is tried again.
    RateLimited,
    /// A transient failure: tried again after the backoff, if it provably did not arrive.
    Transient,
    /// Final.
    Final,
}

/// Sends the creates of one client.
pub(super) struct Creator {
    connection: Arc<Connection>,
    in_flight: ConcurrencyLimit,
    governor: CreateGovernor,
}

impl Creator {
    /// Creates through `connection`, at most `in_flight` at once and `per_minute` in any
    /// minute (0: no limit).
    pub(super) fn new(connection: Arc<Connection>, in_flight: usize, per_minute: u32) -> Self {
        Self {
            connection,
            in_flight: ConcurrencyLimit::new(in_flight),
            governor: CreateGovernor::new(per_minute),
        }
    }

    /// Sends one create through the rate governor. A create for new work is sent again only
    /// when it provably did not arrive, or when it is not among the account's recent generations
    /// (found by its `nonce`): a lost answer never pays twice.
    pub(super) async fn create(
        &self,
        body: &CreateGeneration,
        lane: &LaneFlag,
        nonce: &str,
    ) -> Result<GenerationResponse, AssetError> {
        let policy = self.connection.api().policy().clone();
        let backoff = policy.backoff_policy();
        let mut attempt = 0;
        loop {
            self.governor.admit(lane).await;
            let answer = {
                let _permit = self.in_flight.acquire().await?;
                self.send(body).await
            };
            let mut error = match answer {
                Ok(generation) => return Ok(generation),
                Err(error) => error,
            };
            attempt += 1;
            error.tries = attempt;
            let last = attempt >= policy.attempts();
            match self.refused(&error, attempt, &policy) {
                Refused::RateLimited if !last => continue,
                Refused::Transient if !last => {}
                _ => return Err(error.into()),
            }
            tokio::time::sleep(backoff.delay(attempt - 1)).await;
            if body.force_new
                && error.may_have_reached()
                && let Some(found) = self.find_created(nonce).await
            {
                debug!(
                    "{}: the create's answer was lost, but it made generation {}",
                    self.connection.name(),
                    found.id
                );
                return Ok(found);
            }
        }
    }

    /// One create, sent once.
    async fn send(&self, body: &CreateGeneration) -> Result<GenerationResponse, ApiError> {
        self.connection
            .api()
            .json::<GenerationResponse, _>(
                Method::POST,
                "api/v1/generations",
                Some(body),
                Auth::Bearer,
                Retry::Never,
            )
            .await
    }

    /// What the `attempt`th create's `error` allows; a 429 holds every create back meanwhile.
    fn refused(&self, error: &ApiError, attempt: u32, policy: &NetPolicy) -> Refused {
        match &error.failure {
            Failure::Status { status, wait, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                // Refused before any work: every create of this client waits it out.
                let wait = wait
                    .unwrap_or_else(|| policy.backoff_policy().delay(attempt))
                    .min(policy.retry_after_cap());
                self.governor.close_for(wait);
                Refused::RateLimited
            }
            Failure::Transport { connect: true, .. } => Refused::Transient,
            Failure::Status {
                status, body: text, ..
            } if status.is_server_error() && !is_bad_input(*status, text) => Refused::Transient,
            Failure::Transport { .. } | Failure::Malformed(_) => Refused::Transient,
            _ => Refused::Final,
        }
    }

    /// The account's recent generation named with `nonce`, if the server has one.
    pub(super) async fn find_created(&self, nonce: &str) -> Option<GenerationResponse> {
        let list: GenerationList = self
            .connection
            .api()
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
}
