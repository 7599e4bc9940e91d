//! The job lifecycle: pending, processing, then completed, failed or cancelled, with the
//! faults and the real service's moderation and retries along the way.

use std::sync::Arc;
use std::time::Instant;

use bevy_asset_provider::MediaKind;
use bevy_asset_provider::backend::wire::{AssetResponse, EntityRef, GenerationStatus};

use crate::assets::add_asset;
use crate::clock;
use crate::media::{Made, make_media};
use crate::reply::now_iso;
use crate::slots::{self, Running};
use crate::state::Shared;
use crate::stats::bump;

/// The failure of a prompt refused by
/// [`reject_prompts_containing`](crate::DevBackendBuilder::reject_prompts_containing).
fn rejection(state: &Shared, provider: &str) -> (&'static str, String) {
    let message = if state.config.real.real_event_shapes {
        format!(
            "Content filtered by provider '{provider}': the provider rejected the content for \
             safety or policy reasons (dev backend prompt rejection)."
        )
    } else {
        "The provider refused the prompt's content".to_owned()
    };
    ("content_prompt_rejected", message)
}

const MODERATED: (&str, &str) = (
    "content_render_moderated",
    "The provider moderated the rendered content (dev backend render moderation)",
);

/// Runs a job: pending, processing, then completed (or failed, cancelled, stalled, or failed
/// by a render moderation and retried by the server). `run` is the generation's run number
/// when it started; a retry starts another run and this one ends.
pub(crate) async fn lifecycle(state: Arc<Shared>, id: u64, run: u64) {
    loop {
        clock::pending(&state, id).await;
        let slot = slots::slot(&state).await;
        match submit(&state, id, run) {
            Submit::Over => return,
            Submit::Refused(provider) => {
                let (code, message) = rejection(&state, &provider);
                finish(&state, id, GenerationStatus::Failed, Some((code, &message)));
                return;
            }
            Submit::Started => {}
        }
        // Counted as running, in its slot, until this run ends.
        let running = Running::start(&state, slot);
        let event = state.job_event("job:started", id, GenerationStatus::Processing, None);
        state.broadcast(event);
        if state.data().faults.stall_jobs {
            return;
        }
        clock::processing(&state, id).await;
        let Some(ran) = rendered(&state, id, run) else {
            return;
        };
        if ran.cancelled {
            finish(&state, id, GenerationStatus::Cancelled, None);
            return;
        }
        let rejected = state
            .data()
            .faults
            .reject_prompts_containing
            .as_deref()
            .is_some_and(|word| ran.prompt.contains(word));
        if rejected {
            let (code, message) = rejection(&state, &ran.render.provider);
            finish(&state, id, GenerationStatus::Failed, Some((code, &message)));
            return;
        }
        if moderated(&state, &ran) {
            drop(running);
            if server_retry(&state, id, run).await {
                continue;
            }
            return;
        }
        complete(&state, id, ran.render).await;
        return;
    }
}

/// What a job's submit to the provider came to.
enum Submit {
    /// The generation is gone, or no longer this run's to start.
    Over,
    /// The provider refused the prompt at submit; the provider's id.
    Refused(String),
    /// It is `processing`.
    Started,
}

/// Submits generation `id` once it has waited `pending`: it turns `processing`, unless the
/// real service's provider refuses its prompt at submit.
fn submit(state: &Shared, id: u64, run: u64) -> Submit {
    let real_shapes = state.config.real.real_event_shapes;
    let mut data = state.data();
    let word = data.faults.reject_prompts_containing.clone();
    let Some(generation) = data.generations.get_mut(&id) else {
        return Submit::Over;
    };
    if generation.run != run || generation.response.status != GenerationStatus::Pending {
        return Submit::Over;
    }
    // The real service's provider refuses a prompt at submit, before it starts.
    let refused = real_shapes
        && word
            .as_deref()
            .is_some_and(|word| generation.prompt.contains(word));
    if refused {
        return Submit::Refused(generation.response.provider_id.clone().unwrap_or_default());
    }
    generation.response.status = GenerationStatus::Processing;
    generation.response.started_at = Some(now_iso());
    generation.attempts += 1;
    Submit::Started
}

/// A job once it has waited `processing`.
struct Rendered {
    render: Render,
    prompt: String,
    /// Cancelled while it was processing.
    cancelled: bool,
    /// Render moderations before this run.
    moderated: u32,
}

/// Generation `id` once it has waited `processing`; `None` when it is gone or no longer this
/// run's.
fn rendered(state: &Shared, id: u64, run: u64) -> Option<Rendered> {
    let data = state.data();
    let generation = data.generations.get(&id)?;
    if generation.run != run {
        return None;
    }
    let render = Render {
        kind: generation.kind,
        seed: generation.seed,
        duration: generation.duration,
        tags: generation.tags.clone(),
        owner: generation.owner,
        provider: generation.response.provider_id.clone().unwrap_or_default(),
    };
    Some(Rendered {
        render,
        prompt: generation.prompt.clone(),
        cancelled: generation.cancel_requested
            || generation.response.status != GenerationStatus::Processing,
        moderated: generation.moderated,
    })
}

/// Whether the render of `ran` is moderated: its prompt has the
/// [moderated word](crate::DevBackendBuilder::moderate_prompts_containing) and it has failed
/// fewer times than set.
fn moderated(state: &Shared, ran: &Rendered) -> bool {
    let moderation = state.config.real.moderation.as_ref();
    moderation.is_some_and(|(word, failures)| {
        ran.prompt.contains(word.as_str()) && ran.moderated < *failures
    })
}

/// Fails generation `id` by a render moderation and, unless it is out of server retries or a
/// cancel waits for its end, retries it once the server's delay has passed. Answers whether it
/// runs again.
async fn server_retry(state: &Shared, id: u64, run: u64) -> bool {
    let max_retries = state.config.real.max_server_retries;
    let retry = {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&id) else {
            return false;
        };
        generation.moderated += 1;
        // A cancel waiting for the job's end is honoured: no retry.
        generation.response.retry_count.unwrap_or(0) < max_retries
            && generation.response.deferred_action.is_none()
    };
    finish(state, id, GenerationStatus::Failed, Some(MODERATED));
    if !retry {
        return false;
    }
    clock::before_server_retry(state).await;
    if !requeue(state, id, run) {
        return false;
    }
    // No `job:retrying`: the real service announces the retry only by `job:started`.
    bump(&state.counters.server_retries);
    true
}

/// Turns moderated generation `id` `pending` again for the server's retry; `false` when it is
/// gone, no longer this run's, or no longer failed.
fn requeue(state: &Shared, id: u64, run: u64) -> bool {
    let mut data = state.data();
    let Some(generation) = data.generations.get_mut(&id) else {
        return false;
    };
    if generation.run != run || generation.response.status != GenerationStatus::Failed {
        return false;
    }
    let response = &mut generation.response;
    response.status = GenerationStatus::Pending;
    response.retry_count = Some(response.retry_count.unwrap_or(0) + 1);
    response.error_code = None;
    response.error_message = None;
    response.started_at = None;
    response.completed_at = None;
    true
}

/// What a job needs to make its media.
struct Render {
    kind: MediaKind,
    seed: u64,
    duration: Option<f32>,
    tags: Vec<String>,
    owner: u64,
    provider: String,
}

/// Makes generation `id`'s media and completes it.
async fn complete(state: &Shared, id: u64, render: Render) {
    let Render {
        kind,
        seed,
        duration,
        tags,
        owner,
        provider,
    } = render;
    let Some(media) = make(state, id, kind, seed, duration).await else {
        return;
    };
    let asset = add_asset(state, kind, media, tags, Some((id, owner)));
    mark_completed(state, id, &asset);
    let created = state.asset_created(&asset, id, owner, &provider);
    state.broadcast(created);
    let event = state.job_event("job:completed", id, GenerationStatus::Completed, None);
    state.broadcast(event);
}

/// Generation `id`'s media, made on a blocking thread; `None` when it could not be made (the
/// generation has then failed).
async fn make(
    state: &Shared,
    id: u64,
    kind: MediaKind,
    seed: u64,
    duration: Option<f32>,
) -> Option<Made> {
    let sizes = (state.config.image_size, state.config.video_size);
    let made = tokio::task::spawn_blocking(move || make_media(kind, seed, duration, sizes)).await;
    match made {
        Ok(Ok(media)) => Some(media),
        Ok(Err(error)) => {
            tracing::warn!("dev backend: generation {id} failed: {error}");
            finish(
                state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media encoder failed")),
            );
            None
        }
        Err(_) => {
            finish(
                state,
                id,
                GenerationStatus::Failed,
                Some(("internal_error", "The media painter stopped")),
            );
            None
        }
    }
}

/// Generation `id` turns `completed` with `asset`, and the time is kept for latency figures.
fn mark_completed(state: &Shared, id: u64, asset: &AssetResponse) {
    let asset_id = asset.id.clone();
    let mut data = state.data();
    if let Some(generation) = data.generations.get_mut(&id) {
        generation.response.asset = asset_id.clone().map(|id| EntityRef {
            kind: Some("asset".to_owned()),
            id,
            meta: None,
        });
        generation.response.status = GenerationStatus::Completed;
        generation.response.completed_at = Some(now_iso());
        // A cancel that lost the race has nothing left to wait for.
        generation.response.deferred_action = None;
    }
    if let Some(asset) = &asset_id {
        data.completed_at.insert(asset.0.clone(), Instant::now());
    }
}

/// Ends generation `id` with `status` (failed or cancelled; `failure` is the error code and
/// message), and announces it.
pub(crate) fn finish(
    state: &Shared,
    id: u64,
    status: GenerationStatus,
    failure: Option<(&str, &str)>,
) {
    {
        let mut data = state.data();
        let Some(generation) = data.generations.get_mut(&id) else {
            return;
        };
        generation.response.status = status;
        generation.response.completed_at = Some(now_iso());
        generation.response.deferred_action = None;
        if let Some((code, message)) = failure {
            generation.response.error_code = Some(code.to_owned());
            generation.response.error_message = Some(message.to_owned());
        }
    }
    let kind = match status {
        GenerationStatus::Failed => "job:failed",
        _ => "job:cancelled",
    };
    let event = state.job_event(kind, id, status, failure);
    state.broadcast(event);
}
