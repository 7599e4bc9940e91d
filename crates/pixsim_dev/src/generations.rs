//! The generation endpoints: create, read, list, cancel, retry and delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use bevy_asset_provider::backend::wire::{CreateGeneration, GenerationStatus};

use crate::create::{OPERATIONS, create, validate};
use crate::jobs::{finish, lifecycle};
use crate::knobs::Endpoint;
use crate::real;
use crate::reply::{Answer, error, parse};
use crate::state::Shared;
use crate::stats::bump;

impl Shared {
    /// Generation `id` as answered: the wire type, plus the real service's extra fields when
    /// asked for. `None` if there is none.
    pub(crate) fn generation_value(&self, id: u64) -> Option<Value> {
        let data = self.data();
        let generation = data.generations.get(&id)?;
        let mut value = serde_json::to_value(&generation.response).ok()?;
        if self.config.real.real_event_shapes
            && let Some(map) = value.as_object_mut()
        {
            real::generation_fields(map, generation);
        }
        Some(value)
    }

    /// Answers generation `id` with `status`.
    pub(crate) fn answer_generation(
        &self,
        endpoint: Endpoint,
        status: StatusCode,
        id: u64,
    ) -> Answer {
        let value = self
            .generation_value(id)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Generation not found"))?;
        Ok(self.json(endpoint, status, &value))
    }
}

pub(crate) async fn create_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let user = state
        .gate(Endpoint::CreateGeneration, &headers, true)
        .await?;
    state.rate_check(user)?;
    let real = &state.config.real;
    // Checks of the body as sent, before the tolerant parse reads numbers as text.
    let raw: Option<Value> = serde_json::from_slice(&body).ok();
    if real.reject_numeric_ids
        && let Some(raw) = &raw
    {
        real::numeric_scene_ids(raw)?;
    }
    let body: CreateGeneration = parse(&body)?;
    if real.invalid_creates_answer_500 {
        real::check_create(raw.as_ref().unwrap_or(&Value::Null), &body)?;
        validate(&body, real::OPERATIONS)?;
    } else {
        validate(&body, OPERATIONS)?;
    }
    bump(&state.counters.creates);
    state.data().create_priorities.push(body.priority);
    let (id, _) = create(&state, &body, user);
    state.answer_generation(Endpoint::CreateGeneration, StatusCode::CREATED, id)
}

pub(crate) async fn get_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    bump(&state.counters.polls);
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

/// The query of the list of generations.
#[derive(serde::Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

pub(crate) async fn list_generations(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let limit = query.limit.unwrap_or(50).min(100);
    let offset = query.offset.unwrap_or(0);
    let matching: Vec<u64> = state
        .data()
        .generations
        .iter()
        .rev()
        .filter(|(_, g)| g.owner == user)
        .filter(|(_, g)| {
            query
                .status
                .as_deref()
                .is_none_or(|status| g.response.status.as_str() == status)
        })
        .map(|(id, _)| *id)
        .collect();
    let total = matching.len() as u64;
    let generations: Vec<Value> = matching
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .filter_map(|id| state.generation_value(id))
        .collect();
    let page =
        json!({"generations": generations, "total": total, "limit": limit, "offset": offset});
    Ok(state.json(Endpoint::GetGeneration, StatusCode::OK, &page))
}

pub(crate) async fn cancel_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    bump(&state.counters.cancels);
    let loses_race = state.config.real.cancel_loses_race;
    let cancel_now = {
        let mut data = state.data();
        let stalled = data.faults.stall_jobs;
        let Some(generation) = data.generations.get_mut(&number) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Generation not found",
            ));
        };
        match generation.response.status {
            // A stalled job would never reach its end; cancel it now.
            GenerationStatus::Pending | GenerationStatus::Paused => true,
            GenerationStatus::Processing if stalled => true,
            // The provider finishes first: the cancel waits for an end that is a completion.
            GenerationStatus::Processing if loses_race => {
                if generation.response.deferred_action.is_none() {
                    generation.response.deferred_action = Some("cancel".to_owned());
                    bump(&state.counters.cancels_lost);
                }
                false
            }
            GenerationStatus::Processing => {
                generation.cancel_requested = true;
                // Under a job limit a cancelled job gives its slot back at once.
                if state.slots.is_some() {
                    generation.wake.notify_waiters();
                }
                false
            }
            GenerationStatus::Completed if loses_race => {
                return Err(error(
                    StatusCode::CONFLICT,
                    "conflict",
                    "Generation already completed",
                ));
            }
            _ => false,
        }
    };
    if cancel_now {
        finish(&state, number, GenerationStatus::Cancelled, None);
    }
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

pub(crate) async fn retry_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    let run = {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&number) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                "Generation not found",
            ));
        };
        if !matches!(
            generation.response.status,
            GenerationStatus::Failed | GenerationStatus::Cancelled
        ) {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                "Only failed or cancelled generations can be retried",
            ));
        }
        generation.response.status = GenerationStatus::Pending;
        generation.response.error_code = None;
        generation.response.error_message = None;
        generation.response.completed_at = None;
        generation.cancel_requested = false;
        generation.response.retry_count = Some(generation.response.retry_count.unwrap_or(0) + 1);
        // A server retry still waiting for this generation must not run it too.
        generation.run += 1;
        generation.run
    };
    let event = state.job_event("job:retrying", number, GenerationStatus::Pending, None);
    state.broadcast(event);
    tokio::spawn(lifecycle(state.clone(), number, run));
    state.answer_generation(Endpoint::GetGeneration, StatusCode::OK, number)
}

pub(crate) async fn delete_generation(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::GetGeneration, &headers, true).await?;
    let number = state.own_generation(&id, user)?;
    let mut data = state.data();
    let Some(generation) = data.generations.get(&number) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Generation not found",
        ));
    };
    if !generation.response.status.is_terminal() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "Only finished generations can be deleted",
        ));
    }
    data.generations.remove(&number);
    data.by_hash.retain(|_, id| *id != number);
    data.by_cache_key.retain(|_, (id, _)| *id != number);
    Ok(StatusCode::NO_CONTENT.into_response())
}
