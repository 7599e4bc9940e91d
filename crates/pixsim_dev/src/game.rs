//! The game endpoints: an asset for a scene and choice (pre-made, or generated and waited
//! for), and the scenes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use bevy_asset_provider::AssetRequest;
use bevy_asset_provider::backend::wire::{
    AssetResponse, BackendId, CreateGeneration, GameAssetRequest, GameAssetResponse,
    GenerationConfig, GenerationStatus, GenerationType, Purpose, SceneRef, Strategy,
};
use bevy_asset_provider::source::scoring::{MatchCriteria, best_match};

use crate::create::{OPERATIONS, create, validate};
use crate::knobs::{Endpoint, SceneMediaMode};
use crate::real;
use crate::reply::{Answer, error, parse};
use crate::state::Shared;
use crate::stats::bump;

pub(crate) async fn game_request(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let user = state.gate(Endpoint::GameRequest, &headers, true).await?;
    let request: GameAssetRequest = parse(&body)?;
    bump(&state.counters.game_requests);
    // Pre-made first, scored like the reference frontend.
    if let Some(asset) = premade(&state, &request) {
        return Ok(game_answer(&state, &asset, "pre_made", false, None));
    }
    let body = gap_fill(&request);
    validate(&body, OPERATIONS)?;
    let started = Instant::now();
    let (id, new) = create(&state, &body, user);
    let wait = Duration::from_millis(request.max_wait_ms.unwrap_or(30_000));
    loop {
        match progress(&state, id)? {
            (GenerationStatus::Completed, Some(asset)) => {
                let (source, elapsed) = if new {
                    ("generated", Some(started.elapsed().as_millis() as u64))
                } else {
                    ("cached", None)
                };
                return Ok(game_answer(&state, &asset, source, !new, elapsed));
            }
            (GenerationStatus::Failed | GenerationStatus::Cancelled, _) => {
                return Err(error(
                    StatusCode::BAD_GATEWAY,
                    "generation_failed",
                    "The generation for this request failed",
                ));
            }
            _ => {}
        }
        if started.elapsed() >= wait {
            return Err(error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The generation did not finish within max_wait_ms",
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The pre-made asset that best matches `request`, if any matches.
fn premade(state: &Shared, request: &GameAssetRequest) -> Option<AssetResponse> {
    let context = |name: &str| {
        request
            .context
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut wanted = AssetRequest::image();
    wanted.scene_id = request.scene_id.clone();
    wanted.choice_id = request.choice_id.clone();
    wanted.character_id = context("character_id");
    wanted.location_id = context("location_id");
    let criteria = MatchCriteria::from_request(&wanted);
    let data = state.data();
    let candidates: Vec<(AssetResponse, Vec<String>)> = data
        .assets
        .values()
        .filter(|asset| asset.source_generation_id.is_none())
        .map(|asset| (asset.clone(), asset.tag_slugs()))
        .collect();
    best_match(
        candidates
            .iter()
            .map(|(asset, tags)| (asset, tags.as_slice())),
        &criteria,
    )
    .map(|(asset, _)| asset.clone())
}

/// The create that makes media for `request` when nothing pre-made matches.
fn gap_fill(request: &GameAssetRequest) -> CreateGeneration {
    let prompt = format!(
        "scene {} {}",
        request.scene_id.as_deref().unwrap_or("unknown"),
        request.choice_id.as_deref().unwrap_or("")
    );
    CreateGeneration {
        provider_id: "pixverse".to_owned(),
        config: GenerationConfig {
            generation_type: GenerationType::TextToImage,
            purpose: Some(Purpose::GapFill),
            strategy: Some(request.strategy.clone().unwrap_or(Strategy::Once)),
            prompt: Some(prompt.trim().to_owned()),
            style: json!({}),
            duration: json!({}),
            constraints: json!({}),
            fallback: None,
            version: Some(1),
        },
        from_scene: request
            .scene_id
            .as_deref()
            .map(|id| SceneRef { id: id.into() }),
        to_scene: None,
        player_context: None,
        name: request.choice_id.clone(),
        priority: 5,
        force_new: false,
    }
}

/// Generation `id`'s status and, once it has one, its asset.
fn progress(
    state: &Shared,
    id: u64,
) -> Result<(GenerationStatus, Option<AssetResponse>), Response> {
    let data = state.data();
    let Some(generation) = data.generations.get(&id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Generation vanished",
        ));
    };
    let asset = generation
        .response
        .asset
        .as_ref()
        .and_then(|asset| asset.id.as_str().parse::<u64>().ok())
        .and_then(|asset| data.assets.get(&asset).cloned());
    Ok((generation.response.status, asset))
}

fn game_answer(
    state: &Shared,
    asset: &AssetResponse,
    source: &str,
    from_cache: bool,
    generation_time_ms: Option<u64>,
) -> Response {
    let answer = GameAssetResponse {
        asset_id: BackendId(asset.id.as_ref().map(|id| id.0.clone()).unwrap_or_default()),
        url: asset.file_url.clone().unwrap_or_default(),
        media_type: asset.media_type.clone(),
        source: Some(source.to_owned()),
        from_cache: Some(from_cache),
        generation_time_ms,
    };
    // The contract shows the asset id as a string here.
    let mut value = serde_json::to_value(&answer).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "asset_id".to_owned(),
            Value::String(answer.asset_id.0.clone()),
        );
    }
    state.json(Endpoint::GameRequest, StatusCode::OK, &value)
}

pub(crate) async fn scene(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    state.gate(Endpoint::GameRequest, &headers, true).await?;
    let Some(json) = state.config.scenes.get(&id).cloned() else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "Scene not found"));
    };
    bump(&state.counters.scenes);
    if state.config.real.scene_media == SceneMediaMode::RemoteOrNull {
        let data = state.data();
        let asset = |id: &Value| {
            let id = BackendId::from_value(id)?.as_str().parse::<u64>().ok()?;
            data.assets.get(&id).cloned()
        };
        if let Some(scene) = real::scene(&json, asset) {
            drop(data);
            return Ok(state.json(Endpoint::GameRequest, StatusCode::OK, &scene));
        }
    }
    Ok(([(CONTENT_TYPE, "application/json")], json.to_vec()).into_response())
}
