//! The game endpoint (`POST /api/v1/game/assets/request`): the backend decides cache, pre-made
//! or generate in one call, where it has the endpoint.

use std::sync::atomic::Ordering;

use bevy::log::info;
use reqwest::Method;
use serde_json::{Map, Value};

use crate::backend::api::{Auth, Retry};
use crate::backend::client::Inner;
use crate::backend::wire::{AssetResponse, GameAssetRequest, GameAssetResponse};
use crate::error::AssetError;
use crate::request::{CachingStrategy, MediaKind};
use crate::source::{SourceKind, SourceRequest, SourcedMedia};

impl Inner {
    /// Serves `request` through the game endpoint when it can express it and the backend has
    /// it; `Ok(None)` sends the request on to the generation endpoints.
    pub(super) async fn try_game_endpoint(
        &self,
        request: &SourceRequest,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        if !self.config().game_endpoint
            || self.game_endpoint_missing.load(Ordering::Relaxed)
            || !fits_game_endpoint(request)
        {
            return Ok(None);
        }
        let wanted = &request.request;
        let mut context = Map::new();
        if let Some(character) = &wanted.character_id {
            context.insert("character_id".into(), Value::String(character.clone()));
        }
        if let Some(location) = &wanted.location_id {
            context.insert("location_id".into(), Value::String(location.clone()));
        }
        let body = GameAssetRequest {
            scene_id: wanted.scene_id.clone(),
            choice_id: wanted.choice_id.clone(),
            context,
            strategy: Some(wanted.strategy.into()),
            max_wait_ms: wanted
                .max_wait
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
        };
        let answer: GameAssetResponse = match self
            .api
            .json(
                Method::POST,
                "api/v1/game/assets/request",
                Some(&body),
                Auth::Bearer,
                Retry::Transient,
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) if error.is_not_found() => {
                if !self.game_endpoint_missing.swap(true, Ordering::Relaxed) {
                    info!(
                        "{}: no game endpoint (404); using the generation endpoints",
                        self.name
                    );
                }
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        request.progress.report(0.8);
        // The answer names the asset; its record carries the size and hash to check.
        let asset: AssetResponse = self
            .api
            .json::<_, ()>(
                Method::GET,
                &format!("api/v1/assets/{}", answer.asset_id),
                None,
                Auth::Bearer,
                Retry::Transient,
            )
            .await?;
        let asset = AssetResponse {
            file_url: asset.file_url.clone().or(Some(answer.url.clone())),
            ..asset
        };
        let media = self
            .download(&answer.asset_id, &asset, request.kind())
            .await?;
        let served_as = match answer.source.as_deref() {
            Some("cached") => SourceKind::Cached,
            Some("pre_made") => SourceKind::PreMade,
            _ => SourceKind::Generated,
        };
        let origin = format!(
            "{} (game endpoint, {})",
            media.origin,
            answer.source.as_deref().unwrap_or("unknown")
        );
        Ok(Some(SourcedMedia {
            origin,
            ..media
                .served_as(served_as)
                .with_backend_ids(None, Some(answer.asset_id.0.clone()))
        }))
    }
}

/// Whether the game endpoint can express `request`. It carries a scene, a choice, a character
/// and a location, but no prompt, style, media kind, player or playthrough, so only a
/// shared (`once`) image or video request for a scene, described by its context alone, goes
/// there; everything else keeps its meaning through the generation endpoints.
fn fits_game_endpoint(request: &SourceRequest) -> bool {
    let wanted = &request.request;
    matches!(wanted.kind, MediaKind::Image | MediaKind::Video)
        && wanted.scene_id.is_some()
        && wanted.to_scene_id.is_none()
        && wanted.prompt.is_none()
        && wanted.style.is_none()
        && wanted.asset_id.is_none()
        && wanted.strategy == CachingStrategy::Once
        && wanted.prefer_cached
}
