//! Creating a generation: the contract's checks, and the dedup by hash and cache key that
//! may answer a create with existing work.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::Value;

use bevy_asset_provider::backend::wire::{
    BackendId, CreateGeneration, EntityRef, GenerationResponse, GenerationStatus, GenerationType,
    Purpose, Strategy,
};
use bevy_asset_provider::{CachingStrategy, MediaKind};

use crate::hashes::{
    canonical_params, params_hash, reproducible_hash, seed_from_hash, strip_seeds,
};
use crate::jobs::lifecycle;
use crate::real;
use crate::reply::{now_iso, validation};
use crate::state::{Data, Generation, Shared};
use crate::stats::bump;

/// The operations the contract lists, and `text_to_audio`: not in PixSim7, it lets clients
/// configured with an audio operation get WAV media here.
pub(crate) const OPERATIONS: &[GenerationType] = &[
    GenerationType::TextToImage,
    GenerationType::TextToVideo,
    GenerationType::ImageToVideo,
    GenerationType::ImageToImage,
    GenerationType::VideoExtend,
    GenerationType::VideoTransition,
    GenerationType::Fusion,
    GenerationType::TextToAudio,
];

/// The contract's checks of a create; `operations` are the accepted `generationType`s.
pub(crate) fn validate(
    body: &CreateGeneration,
    operations: &[GenerationType],
) -> Result<(), Response> {
    let config = &body.config;
    if body.provider_id.trim().is_empty() {
        return Err(validation(
            "provider_id must not be empty".into(),
            "provider_id",
        ));
    }
    let operation = &config.generation_type;
    if !operations.contains(operation) {
        return Err(validation(
            format!("unknown generationType {:?}", operation.as_str()),
            "config.generationType",
        ));
    }
    if operation.needs_prompt() && config.prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
        return Err(validation(
            format!("{operation} needs a non-empty prompt"),
            "config.prompt",
        ));
    }
    if let None | Some(Purpose::Unknown(_)) = &config.purpose {
        let purpose = config.purpose.as_ref().map_or("", Purpose::as_str);
        return Err(validation(
            format!("unknown purpose {purpose:?}"),
            "config.purpose",
        ));
    }
    if let None | Some(Strategy::Unknown(_)) = &config.strategy {
        let strategy = config.strategy.as_ref().map_or("", Strategy::as_str);
        return Err(validation(
            format!("unknown strategy {strategy:?}"),
            "config.strategy",
        ));
    }
    if body.priority > 10 {
        return Err(validation("priority must be 0..10".into(), "priority"));
    }
    Ok(())
}

/// How long the server keeps a create's result for reuse; `None` when it is never reused.
fn strategy_ttl(strategy: Option<&Strategy>) -> Option<Duration> {
    strategy
        .unwrap_or(&Strategy::Once)
        .caching()
        .and_then(CachingStrategy::ttl)
}

/// The media an operation makes.
fn media_kind(operation: &GenerationType) -> MediaKind {
    match operation {
        GenerationType::TextToAudio => MediaKind::Audio,
        GenerationType::TextToVideo
        | GenerationType::ImageToVideo
        | GenerationType::VideoExtend
        | GenerationType::VideoTransition
        | GenerationType::VideoModify => MediaKind::Video,
        _ => MediaKind::Image,
    }
}

/// Whether existing generation `id` may answer a create: by default neither failed nor
/// cancelled ones; with the real cache key only failed ones are skipped.
fn reusable(data: &Data, id: u64, real: bool) -> bool {
    data.generations
        .get(&id)
        .is_some_and(|generation| match generation.response.status {
            GenerationStatus::Failed => false,
            GenerationStatus::Cancelled => real,
            _ => true,
        })
}

/// Creates a generation for `user` or finds the one that dedups it; answers its id, `true`
/// when it is new.
pub(crate) fn create(state: &Arc<Shared>, body: &CreateGeneration, user: u64) -> (u64, bool) {
    let real_cache_key = state.config.real.real_cache_key;
    let canonical = canonical_params(body);
    let slots = Slots::new(state, body, user, &canonical);
    let mut data = state.data();
    if let Some(id) = reuse(&data, &slots, real_cache_key) {
        drop(data);
        bump(&state.counters.reused);
        return (id, false);
    }
    let id = data.next_generation;
    data.next_generation += 1;
    let generation = new_generation(body, id, user, &slots.hash, canonical);
    data.generations.insert(id, generation);
    slots.remember(&mut data, body, id, real_cache_key);
    drop(data);
    bump(&state.counters.new_generations);
    let event = state.job_event("job:created", id, GenerationStatus::Pending, None);
    state.broadcast(event);
    tokio::spawn(lifecycle(state.clone(), id, 0));
    (id, true)
}

/// Where a create is looked up and recorded for reuse.
struct Slots {
    /// The hash the generation reports, and its seed when the create has none.
    hash: String,
    /// The dedup hash, in the caller's scope.
    hash_slot: String,
    /// The cache key, in the caller's scope; `None` for `always`.
    key_slot: Option<String>,
    /// Whether existing work may answer the create.
    lookup: bool,
}

impl Slots {
    /// The slots of `body` sent by `user`, whose canonical parameters are `canonical`.
    fn new(state: &Shared, body: &CreateGeneration, user: u64, canonical: &Value) -> Self {
        let real = &state.config.real;
        // The real service dedups by a hash that keeps the seed, and reports one without it.
        let (dedup_hash, hash, cache_key) = if real.real_cache_key {
            (
                params_hash(canonical.clone()),
                params_hash(strip_seeds(canonical.clone())),
                real::cache_key(body, user),
            )
        } else {
            let hash = reproducible_hash(body);
            (hash.clone(), hash, body.cache_key())
        };
        // Without global dedup each user has their own lookups.
        let scope = if real.global_dedup {
            String::new()
        } else {
            format!("u{user}|")
        };
        let lookup = if real.real_cache_key {
            !body.force_new
        } else {
            !body.force_new && cache_key.is_some()
        };
        Self {
            hash,
            hash_slot: format!("{scope}{dedup_hash}"),
            key_slot: cache_key.as_ref().map(|key| format!("{scope}{key}")),
            lookup,
        }
    }

    /// Records new generation `id` in the slots, the cache key for as long as `body`'s
    /// strategy keeps results.
    fn remember(self, data: &mut Data, body: &CreateGeneration, id: u64, real_cache_key: bool) {
        if let Some(key) = self.key_slot {
            let ttl = strategy_ttl(body.config.strategy.as_ref());
            let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
            data.by_cache_key.insert(key, (id, expires));
            data.by_hash.insert(self.hash_slot, id);
        } else if real_cache_key {
            // The real service records every create's hash, `always` ones too.
            data.by_hash.insert(self.hash_slot, id);
        }
    }
}

/// The existing generation that answers a create with `slots`: by hash first, then by an
/// unexpired cache key.
fn reuse(data: &Data, slots: &Slots, real_cache_key: bool) -> Option<u64> {
    if !slots.lookup {
        return None;
    }
    let now = Instant::now();
    let by_hash = data.by_hash.get(&slots.hash_slot).copied();
    let by_key = slots
        .key_slot
        .as_ref()
        .and_then(|key| data.by_cache_key.get(key))
        .filter(|(_, expires)| expires.is_none_or(|at| at > now))
        .map(|(id, _)| *id);
    [by_hash, by_key]
        .into_iter()
        .flatten()
        .find(|id| reusable(data, *id, real_cache_key))
}

/// New generation `id` of `user` for `body`, `pending`; `hash` is its reported hash.
fn new_generation(
    body: &CreateGeneration,
    id: u64,
    user: u64,
    hash: &str,
    canonical: Value,
) -> Generation {
    let seed = body
        .config
        .seed(&body.provider_id)
        .unwrap_or_else(|| seed_from_hash(hash));
    let duration = body
        .config
        .duration
        .get("target")
        .and_then(Value::as_f64)
        .map(|seconds| seconds as f32);
    let mut tags: Vec<String> = Vec::new();
    if let Some(scene) = &body.from_scene {
        tags.push(format!("scene:{}", scene.id));
    }
    Generation {
        response: pending_response(body, id, user, hash, canonical),
        kind: media_kind(&body.config.generation_type),
        seed,
        duration,
        tags,
        prompt: body.config.prompt.clone().unwrap_or_default(),
        cancel_requested: false,
        owner: user,
        attempts: 0,
        moderated: 0,
        run: 0,
        wake: Default::default(),
    }
}

/// The answer of new generation `id` of `user` for `body`.
fn pending_response(
    body: &CreateGeneration,
    id: u64,
    user: u64,
    hash: &str,
    canonical: Value,
) -> GenerationResponse {
    GenerationResponse {
        id: BackendId::from(id),
        status: GenerationStatus::Pending,
        operation_type: Some(body.config.generation_type.clone()),
        provider_id: Some(body.provider_id.clone()),
        asset: None,
        reproducible_hash: Some(hash.to_owned()),
        error_message: None,
        error_code: None,
        retry_count: Some(0),
        priority: Some(i64::from(body.priority)),
        created_at: Some(now_iso()),
        started_at: None,
        completed_at: None,
        canonical_params: Some(canonical),
        final_prompt: body.config.prompt.clone(),
        name: body.name.clone(),
        user: Some(EntityRef {
            kind: Some("user".to_owned()),
            id: BackendId::from(user),
            meta: None,
        }),
        deferred_action: None,
    }
}
