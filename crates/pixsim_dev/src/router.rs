//! The routes: each path and method to its handler.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};

use crate::assets::{get_asset, search_assets};
use crate::auth::login;
use crate::downloads::{asset_file, cdn_file, media_file};
use crate::game::{game_request, scene};
use crate::generations::{
    cancel_generation, create_generation, delete_generation, get_generation, list_generations,
    retry_generation,
};
use crate::knobs::SceneMediaMode;
use crate::reply::error;
use crate::socket::socket;
use crate::state::Shared;
use crate::stats::bump;

/// The routes of a backend with `state`, each to its handler.
pub(crate) fn router(state: Arc<Shared>) -> Router {
    let router = Router::new()
        .route("/api/v1/auth/login", post(login))
        .route(
            "/api/v1/generations",
            post(create_generation).get(list_generations),
        )
        .route(
            "/api/v1/generations/{id}",
            get(get_generation).delete(delete_generation),
        )
        .route("/api/v1/generations/{id}/cancel", post(cancel_generation))
        .route("/api/v1/generations/{id}/retry", post(retry_generation))
        .route("/api/v1/assets/search", post(search_assets))
        .route("/api/v1/assets/{id}", get(get_asset))
        .route("/api/v1/assets/{id}/file", get(asset_file))
        .route("/api/v1/media/{key}", get(media_file))
        .route("/api/v1/ws/generations", get(socket))
        .route("/api/v1/game/scenes/{id}", get(scene));
    // Off, the path falls through to 404, as on a PixSim7 without it.
    let router = if state.config.game_endpoint {
        router.route("/api/v1/game/assets/request", post(game_request))
    } else {
        router
    };
    let router = if state.config.real.scene_media == SceneMediaMode::RemoteOrNull {
        router.route("/cdn/{key}", get(cdn_file))
    } else {
        router
    };
    router
        .fallback(|State(state): State<Arc<Shared>>| async move {
            bump(&state.counters.unknown_paths);
            error(StatusCode::NOT_FOUND, "not_found", "No such endpoint")
        })
        .with_state(state)
}
