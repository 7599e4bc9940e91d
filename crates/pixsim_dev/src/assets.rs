//! Assets: storing made files as assets, the pre-made ones, reading one, and the search.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use bevy_asset_provider::MediaKind;
use bevy_asset_provider::backend::wire::{
    AssetResponse, AssetSearch, AssetSearchResponse, BackendId, TagRef,
};

use crate::knobs::{Endpoint, SceneMediaMode};
use crate::media::{Made, extension, make_media};
use crate::reply::{Answer, error, now_iso, parse, parse_id, validation};
use crate::state::Shared;
use crate::stats::bump;

/// Stores a made file as an asset; `generation` is the generation that made it and its owner
/// (pre-made assets have none and belong to nobody).
pub(crate) fn add_asset(
    state: &Shared,
    kind: MediaKind,
    made: Made,
    tags: Vec<String>,
    generation: Option<(u64, u64)>,
) -> AssetResponse {
    let Made {
        bytes,
        mime,
        size: dimensions,
        seconds,
    } = made;
    let sha = hex::encode(Sha256::digest(&bytes));
    let key = format!("{}.{}", &sha[..16], extension(mime));
    let size = bytes.len() as u64;
    let (width, height) = dimensions.unzip();
    if let Ok(mut files) = state.config.media.0.lock() {
        files.insert(key.clone(), (Arc::from(bytes), mime.to_owned()));
    }
    let mut data = state.data();
    let id = data.next_asset;
    data.next_asset += 1;
    let file_url = match &state.config.media_base_url {
        Some(base) => format!("{base}/api/v1/media/{key}"),
        None => format!("/api/v1/assets/{id}/file"),
    };
    // The provider's CDN copy, which the real service's scenes point at.
    let remote_url = (generation.is_some()
        && state.config.real.scene_media == SceneMediaMode::RemoteOrNull)
        .then(|| format!("{}/cdn/{key}", state.base_url));
    let asset = AssetResponse {
        id: Some(BackendId::from(id)),
        media_type: Some(kind.as_str().to_owned()),
        mime_type: Some(mime.to_owned()),
        sha256: Some(sha.clone()),
        file_size_bytes: Some(size),
        width,
        height,
        duration_sec: seconds.filter(|_| kind != MediaKind::Image),
        file_url: Some(file_url),
        remote_url,
        thumbnail_url: None,
        tags: tags.iter().map(|tag| TagRef::from_slug(tag)).collect(),
        source_generation_id: generation.map(|(generation, _)| BackendId::from(generation)),
        reproducible_hash: None,
        created_at: Some(now_iso()),
    };
    data.assets.insert(id, asset.clone());
    if let Some((_, owner)) = generation {
        data.asset_owner.insert(id, owner);
        data.media_owner.insert(key, owner);
    }
    asset
}

/// Makes the pre-made assets the builder was given.
pub(crate) fn seed_premade(state: &Shared) {
    let sizes = (state.config.image_size, state.config.video_size);
    for spec in state.config.premade.clone() {
        match make_media(spec.kind, spec.seed, None, sizes) {
            Ok(made) => {
                add_asset(state, spec.kind, made, spec.tags, None);
            }
            Err(error) => tracing::warn!("dev backend: a pre-made asset failed: {error}"),
        }
    }
}

pub(crate) async fn get_asset(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    let user = state.gate(Endpoint::Asset, &headers, true).await?;
    let number = parse_id(&id)?;
    let (asset, owner) = {
        let data = state.data();
        let asset = data
            .assets
            .get(&number)
            .cloned()
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
        (asset, data.asset_owner.get(&number).copied())
    };
    if owner.is_some_and(|owner| owner != user) {
        return Err(state.foreign("asset"));
    }
    bump(&state.counters.asset_fetches);
    if state.config.real.real_event_shapes {
        let mut value = serde_json::to_value(&asset).unwrap_or(Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("user_id".to_owned(), json!(owner.unwrap_or(1)));
        }
        return Ok(state.json(Endpoint::Asset, StatusCode::OK, &value));
    }
    Ok(state.json(Endpoint::Asset, StatusCode::OK, &asset))
}

/// The prefix of the search's cursors (then the offset of the next page).
const CURSOR_PREFIX: &str = "dev-cursor-";

pub(crate) async fn search_assets(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let user = state.gate(Endpoint::Search, &headers, true).await?;
    let search: AssetSearch = parse(&body)?;
    let offset = match search.cursor.as_deref() {
        None | Some("") => 0,
        Some(cursor) => cursor
            .strip_prefix(CURSOR_PREFIX)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| validation(format!("unknown cursor {cursor:?}"), "cursor"))?,
    };
    let limit = search.limit.unwrap_or(50).clamp(1, 100) as usize;
    let matching = matching(&state, &search, user);
    let total = matching.len();
    let page: Vec<AssetResponse> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(_, asset)| asset)
        .collect();
    let next = offset + page.len();
    bump(&state.counters.searches);
    let answer = AssetSearchResponse {
        assets: page,
        total: Some(total as u64),
        limit: Some(limit as u64),
        offset: Some(offset as u64),
        next_cursor: (next < total).then(|| format!("{CURSOR_PREFIX}{next}")),
    };
    Ok(state.json(Endpoint::Search, StatusCode::OK, &answer))
}

/// The assets `search` finds for `user`, with how many of its tags each has, most first.
fn matching(state: &Shared, search: &AssetSearch, user: u64) -> Vec<(usize, AssetResponse)> {
    let media_types: Vec<String> = search
        .filters
        .get("media_type")
        .and_then(Value::as_array)
        .map(|types| {
            types
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let q = search.q.as_deref().map(str::to_lowercase);
    // Any of the tags matches; assets with more of them come first.
    let data = state.data();
    let mut matching: Vec<(usize, AssetResponse)> = data
        .assets
        .iter()
        // The caller's own assets and the pre-made ones, which belong to nobody.
        .filter(|(id, _)| data.asset_owner.get(id).is_none_or(|owner| *owner == user))
        .map(|(_, asset)| asset)
        .filter(|asset| {
            media_types.is_empty()
                || asset
                    .media_type
                    .as_ref()
                    .is_some_and(|kind| media_types.contains(kind))
        })
        .filter(|asset| {
            q.as_deref().is_none_or(|q| {
                asset
                    .tags
                    .iter()
                    .any(|tag| tag.slug.to_lowercase().contains(q))
            })
        })
        .map(|asset| {
            let hits = asset
                .tags
                .iter()
                .filter(|tag| search.tag.contains(&tag.slug))
                .count();
            (hits, asset.clone())
        })
        .filter(|(hits, _)| search.tag.is_empty() || *hits > 0)
        .collect();
    drop(data);
    matching.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    matching
}
