//! Who is calling and what they may read: the gate every handler passes (latency, token,
//! injected faults), the ownership checks, and the login.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use bevy_asset_provider::backend::wire::{LoginRequest, LoginResponse};

use crate::accounts::{DEV_PASSWORD, account_names, login_user};
use crate::knobs::Endpoint;
use crate::reply::{Answer, error, parse, parse_id};
use crate::state::Shared;
use crate::stats::bump;

impl Shared {
    /// The user whose token `headers` carry: 1 for the main token, 2, 3, ... for the
    /// [extra accounts](crate::DevBackendBuilder::extra_account).
    pub(crate) fn user_of(&self, headers: &HeaderMap) -> Option<u64> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))?;
        self.user_of_token(token)
    }

    /// The user `token` belongs to.
    pub(crate) fn user_of_token(&self, token: &str) -> Option<u64> {
        if token == self.config.token {
            return Some(1);
        }
        let extra = &self.config.real.extra_accounts;
        extra.iter().position(|t| t == token).map(|i| i as u64 + 2)
    }

    /// The token of user `user`, if there is such a user.
    pub(crate) fn token_of(&self, user: u64) -> Option<&str> {
        match user {
            1 => Some(&self.config.token),
            n => {
                let index = usize::try_from(n.checked_sub(2)?).ok()?;
                self.config
                    .real
                    .extra_accounts
                    .get(index)
                    .map(String::as_str)
            }
        }
    }

    /// Latency, auth and the faults of `endpoint`, before a handler does its work. Answers the
    /// calling user (0 on an endpoint without auth and no token).
    pub(crate) async fn gate(
        &self,
        endpoint: Endpoint,
        headers: &HeaderMap,
        auth: bool,
    ) -> Result<u64, Response> {
        let latency = self.data().faults.latency;
        if !latency.is_zero() {
            let _in_flight = self.counters.enter(endpoint);
            tokio::time::sleep(latency).await;
        }
        let user = self.user_of(headers);
        if auth && user.is_none() {
            bump(&self.counters.unauthorized);
            return Err(error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Not authenticated: send Authorization: Bearer <token>",
            ));
        }
        self.injected_fault(endpoint)?;
        Ok(user.unwrap_or(0))
    }

    /// The answer for generation `id` read by `user`: its number, or 404 when unknown; another
    /// user's answers 500 with global dedup (as the real service), 404 without.
    pub(crate) fn own_generation(&self, id: &str, user: u64) -> Result<u64, Response> {
        let number = parse_id(id)?;
        let owner = self.data().generations.get(&number).map(|g| g.owner);
        match owner {
            None => Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("Generation with id {number} not found"),
            )),
            Some(owner) if owner != user => Err(self.foreign("generation")),
            Some(_) => Ok(number),
        }
    }

    /// The refusal of a read of another user's `what` (`generation`, `asset`).
    pub(crate) fn foreign(&self, what: &str) -> Response {
        bump(&self.counters.foreign_refused);
        if self.config.real.global_dedup {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                &format!("Failed to get {what}: Cannot access other users' {what}s"),
            )
        } else {
            error(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("No such {what}"),
            )
        }
    }
}

/// Refuses `user` the file `key` when another user's generation made it.
pub(crate) fn check_file_owner(state: &Shared, key: &str, user: u64) -> Result<(), Response> {
    let owner = state.data().media_owner.get(key).copied();
    if owner.is_some_and(|owner| owner != user) {
        bump(&state.counters.foreign_refused);
        return Err(error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Access denied: the file belongs to another user",
        ));
    }
    Ok(())
}

pub(crate) async fn login(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    state.gate(Endpoint::Login, &headers, false).await?;
    let request: LoginRequest = parse(&body)?;
    let user = login_user(&request);
    let token = user.and_then(|user| state.token_of(user).map(|token| (user, token)));
    let Some((user, token)) = token.filter(|_| request.password == DEV_PASSWORD) else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Incorrect email or password",
        ));
    };
    bump(&state.counters.logins);
    let (email, username) = account_names(user);
    let answer = LoginResponse {
        access_token: token.to_owned(),
        token_type: Some("bearer".to_owned()),
        user: Some(json!({"id": user, "email": email, "username": username})),
    };
    Ok(state.json(Endpoint::Login, StatusCode::OK, &answer))
}
