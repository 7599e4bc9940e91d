//! The game endpoint (`POST /api/v1/game/assets/request`): the backend decides cache, pre-made
//! or generate in one call, where it has the endpoint.
//!
//! The endpoint hears only a scene, a choice, a character, a location, a strategy and a wait,
//! and answers one asset for them. A request that says more (a seed, tags, a duration, ...) would
//! be answered as if it had not, and its answer kept under its own key: two requests that differ
//! only in seed would share one picture for a year. So only requests the endpoint can express
//! exactly go there ([`fits_game_endpoint`]), and what it answers must be of the media type
//! asked for ([`wrong_media`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bevy::log::info;
use reqwest::Method;
use serde_json::{Map, Value};

use crate::backend::api::{Auth, Retry};
use crate::backend::connection::Connection;
use crate::backend::wire::{AssetResponse, GameAssetRequest, GameAssetResponse};
use crate::error::AssetError;
use crate::request::{CachingStrategy, GenerationPurpose, MediaKind};
use crate::source::{SourceKind, SourceRequest, SourcedMedia};

/// The game endpoint of one backend: whether to try it, and whether the backend has it.
pub(super) struct GameEndpoint {
    connection: Arc<Connection>,
    enabled: bool,
    /// Set once the backend answered 404 on the endpoint.
    missing: AtomicBool,
}

impl GameEndpoint {
    /// The endpoint of the backend behind `connection`, tried only when `enabled`.
    pub(super) fn new(connection: Arc<Connection>, enabled: bool) -> Self {
        Self {
            connection,
            enabled,
            missing: AtomicBool::new(false),
        }
    }

    /// Serves `request` through the game endpoint when it can express it exactly
    /// ([`fits_game_endpoint`]) and the backend has it; `Ok(None)` sends the request on to the
    /// generation endpoints.
    ///
    /// An answer of another media type than the request's kind fails the request (nothing is
    /// kept): such a request has no prompt, so the generation endpoints could not make it
    /// either, and a clear error beats one about a missing prompt.
    pub(super) async fn try_serve(
        &self,
        request: &SourceRequest,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        if !self.enabled || self.missing.load(Ordering::Relaxed) || !fits_game_endpoint(request) {
            return Ok(None);
        }
        let Some(answer) = self.ask(request).await? else {
            return Ok(None);
        };
        let wrong = |theirs: &str| self.wrong_answer(request, &answer, theirs);
        if let Some(theirs) = wrong_media(request.kind(), answer.media_type.as_deref(), None) {
            return Err(wrong(&theirs));
        }
        request.progress.report(0.8);
        // The answer names the asset; its record carries the size and hash to check.
        let asset = self.connection.asset(&answer.asset_id).await?;
        if let Some(theirs) = wrong_media(
            request.kind(),
            asset.media_type.as_deref(),
            asset.mime_type.as_deref(),
        ) {
            return Err(wrong(&theirs));
        }
        let asset = AssetResponse {
            file_url: asset.file_url.clone().or(Some(answer.url.clone())),
            ..asset
        };
        let media = self
            .connection
            .download(&answer.asset_id, &asset, request.kind())
            .await?;
        if let Some(theirs) = wrong_media(request.kind(), None, Some(&media.mime)) {
            return Err(wrong(&theirs));
        }
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

    /// Asks the endpoint for `request`'s scene; `Ok(None)` when the backend has no endpoint
    /// (404, remembered from then on).
    async fn ask(&self, request: &SourceRequest) -> Result<Option<GameAssetResponse>, AssetError> {
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
        let answer = self
            .connection
            .api()
            .json(
                Method::POST,
                "api/v1/game/assets/request",
                Some(&body),
                Auth::Bearer,
                Retry::Transient,
            )
            .await;
        match answer {
            Ok(answer) => Ok(Some(answer)),
            Err(error) if error.is_not_found() => {
                if !self.missing.swap(true, Ordering::Relaxed) {
                    info!(
                        "{}: no game endpoint (404); using the generation endpoints",
                        self.connection.name()
                    );
                }
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The error for an `answer` to `request` of `theirs` media instead of the kind asked for.
    fn wrong_answer(
        &self,
        request: &SourceRequest,
        answer: &GameAssetResponse,
        theirs: &str,
    ) -> AssetError {
        let wanted = &request.request;
        AssetError::invalid_data(format!(
            "{}: the game endpoint answered scene {:?} choice {:?} with {theirs} media \
             (asset {}), not the {} asked for; not used (without a prompt the generation \
             endpoints cannot make it either)",
            self.connection.name(),
            wanted.scene_id.as_deref().unwrap_or_default(),
            wanted.choice_id.as_deref().unwrap_or_default(),
            answer.asset_id,
            request.kind().as_str()
        ))
    }
}

/// Whether the game endpoint can express `request` exactly, so that its one answer is what
/// the request's key stands for.
///
/// The endpoint carries a scene, a choice, a character, a location, the strategy and the wait,
/// and nothing of the player, so a request goes there only when every other field of its key
/// is left at its default:
///
/// - an image or video request (the endpoint cannot be told the kind: its answer's media type
///   is checked instead, see [`wrong_media`]) with a scene;
/// - no scene it leads to, no asset id, no prompt, no style, no seed, no duration, no tags;
/// - the default purpose (`gap_fill`) and the `once` strategy (the endpoint's other scopes are
///   not the game's players or playthroughs);
/// - cached results wanted (`prefer_cached`), since the endpoint answers from its cache.
///
/// Choice, character and location are sent; priority is not part of what is made. Everything
/// else goes through the generation endpoints, which carry every field.
pub(super) fn fits_game_endpoint(request: &SourceRequest) -> bool {
    let wanted = &request.request;
    matches!(wanted.kind, MediaKind::Image | MediaKind::Video)
        && wanted.scene_id.is_some()
        && wanted.to_scene_id.is_none()
        && wanted.asset_id.is_none()
        && wanted.prompt.is_none()
        && wanted.style.is_none()
        && wanted.seed.is_none()
        && wanted.duration_secs.is_none()
        && wanted.tags.is_empty()
        && wanted.purpose == GenerationPurpose::GapFill
        && wanted.strategy == CachingStrategy::Once
        && wanted.prefer_cached
}

/// The media type the game endpoint's answer has when it is not `kind`: from its
/// `media_type` (`image`, `video`, ...) and MIME type, where given. A video request is not
/// served a still here: the endpoint was asked for the scene's video.
pub(super) fn wrong_media(
    kind: MediaKind,
    media_type: Option<&str>,
    mime: Option<&str>,
) -> Option<String> {
    // The server's words go into an error: a few of them are enough.
    let short = |text: &str| text.chars().take(64).collect::<String>();
    let wanted = kind.as_str();
    if let Some(theirs) = media_type.map(str::trim)
        && !theirs.eq_ignore_ascii_case(wanted)
    {
        return Some(short(theirs));
    }
    let mime = mime?;
    let top = mime.split(['/', ';']).next().unwrap_or("").trim();
    (!top.eq_ignore_ascii_case(wanted)).then(|| short(mime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{AssetRequest, PlaySession};
    use std::time::Duration;

    fn fits(request: AssetRequest) -> bool {
        let session = PlaySession::default();
        let key = request.fingerprint(&session);
        fits_game_endpoint(&SourceRequest::new(key, request, session))
    }

    #[test]
    fn only_requests_the_endpoint_can_express_go_there() {
        let base = || {
            AssetRequest::image()
                .scene("harbor")
                .choice("arrive")
                .character("anne")
                .location("quay")
                .max_wait(Duration::from_secs(5))
                .priority(9)
        };
        assert!(fits(base()));
        assert!(fits(AssetRequest::video().scene("harbor")));
        let differs: [(&str, AssetRequest); 14] = [
            ("audio", AssetRequest::audio().scene("harbor")),
            ("no scene", AssetRequest::image().choice("arrive")),
            ("to_scene", base().to_scene("cliffs")),
            ("asset_id", base().asset_id("7")),
            ("prompt", base().prompt("boats")),
            ("style", base().style(serde_json::json!({"pacing": "slow"}))),
            ("seed", base().seed(1)),
            ("duration", base().duration_secs(3.0)),
            ("tags", base().tag("role:bg")),
            ("purpose", base().purpose(GenerationPurpose::Ambient)),
            ("per_player", base().strategy(CachingStrategy::PerPlayer)),
            (
                "per_playthrough",
                base().strategy(CachingStrategy::PerPlaythrough),
            ),
            ("always", base().strategy(CachingStrategy::Always)),
            ("fresh", base().prefer_cached(false)),
        ];
        for (what, request) in differs {
            assert!(
                !fits(request),
                "a request with {what} went to the game endpoint"
            );
        }
    }

    #[test]
    fn answers_of_another_media_type_are_named() {
        use MediaKind::{Image, Video};
        assert_eq!(wrong_media(Image, Some("image"), Some("image/png")), None);
        assert_eq!(wrong_media(Video, Some("video"), Some("video/mp4")), None);
        assert_eq!(wrong_media(Video, None, None), None);
        assert_eq!(
            wrong_media(Video, Some("image"), None).as_deref(),
            Some("image")
        );
        assert_eq!(
            wrong_media(Video, None, Some("image/png")).as_deref(),
            Some("image/png")
        );
        assert_eq!(
            wrong_media(Image, Some("IMAGE"), Some("video/mp4; codecs=avc1")).as_deref(),
            Some("video/mp4; codecs=avc1")
        );
        assert_eq!(
            wrong_media(Image, Some("3d_model"), None).as_deref(),
            Some("3d_model")
        );
    }
}
