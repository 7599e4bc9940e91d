//! File downloads: by asset, by media key (this backend's or, playing a CDN, another's), and
//! the provider's CDN copies.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::IntoResponse;

use crate::auth::check_file_owner;
use crate::faults::damage;
use crate::knobs::Endpoint;
use crate::media::extension;
use crate::reply::{Answer, error, parse_id};
use crate::state::Shared;
use crate::stats::bump;

fn serve_file(state: &Shared, key: &str) -> Answer {
    let file = state
        .config
        .media
        .0
        .lock()
        .ok()
        .and_then(|files| files.get(key).cloned());
    let Some((bytes, mime)) = file else {
        return Err(error(StatusCode::NOT_FOUND, "not_found", "File not found"));
    };
    let (truncate, corrupt) = state.download_faults();
    let mut bytes = bytes.to_vec();
    damage(&mut bytes, truncate, corrupt);
    bump(&state.counters.downloads);
    Ok(([(CONTENT_TYPE, mime)], bytes).into_response())
}

fn count_download(state: &Shared, headers: &HeaderMap) {
    if headers.contains_key(AUTHORIZATION) {
        bump(&state.counters.downloads_with_token);
    }
}

pub(crate) async fn asset_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    let user = state.gate(Endpoint::Download, &headers, true).await?;
    let number = parse_id(&id)?;
    let key = state
        .data()
        .assets
        .get(&number)
        .and_then(|asset| asset.sha256.clone().zip(asset.mime_type.clone()))
        .map(|(sha, mime)| format!("{}.{}", sha.get(..16).unwrap_or(&sha), extension(&mime)))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "Asset not found"))?;
    check_file_owner(&state, &key, user)?;
    serve_file(&state, &key)
}

pub(crate) async fn media_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    let public = state.config.public_media;
    let user = state.gate(Endpoint::Download, &headers, !public).await?;
    if !public {
        check_file_owner(&state, &key, user)?;
    }
    serve_file(&state, &key)
}

/// The provider's CDN (`remote_url`): absolute, and served without a token.
pub(crate) async fn cdn_file(
    State(state): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Answer {
    count_download(&state, &headers);
    state.gate(Endpoint::Download, &headers, false).await?;
    serve_file(&state, &key)
}
