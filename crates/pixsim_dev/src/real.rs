//! How the real PixSim7 service answers where it differs from the contract (CONTRACT.md, last
//! section): its error bodies, its checks of a create, its cache key, its per-minute create
//! limit, its extra generation fields, and its scene shape.

use std::time::{Duration, Instant};

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use bevy_asset_provider::backend::wire::{
    AssetResponse, CreateGeneration, ErrorBody, GenerationType, Purpose, SceneRef, Strategy,
};

use crate::reply::error;
use crate::state::{Generation, Shared};
use crate::stats::bump;

/// The operations the real service's schema accepts, in the order its 422 lists them.
pub(super) const OPERATIONS: &[GenerationType] = &[
    GenerationType::Fusion,
    GenerationType::ImageToImage,
    GenerationType::ImageToVideo,
    GenerationType::TextToImage,
    GenerationType::TextToVideo,
    GenerationType::VideoExtend,
    GenerationType::VideoModify,
    GenerationType::VideoTransition,
];

/// The providers the real service (with its fake provider) has registered.
const PROVIDERS: &[&str] = &["pixverse", "fake"];

/// A 422 as the real service's validation answers it: one entry of `fields` per error.
pub(super) fn validation_error(fields: Vec<Value>) -> Response {
    let body = ErrorBody {
        code: Some("validation_error".to_owned()),
        message: Some("Invalid request data".to_owned()),
        detail: Some(Value::String(
            "One or more fields failed validation".to_owned(),
        )),
        fields: Some(fields),
    };
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

fn internal(message: String) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(ErrorBody::new("internal_error", message)),
    )
        .into_response()
}

/// The 422 for scene ids sent as JSON numbers, if `raw` (the create's body) has any.
pub(super) fn numeric_scene_ids(raw: &Value) -> Result<(), Response> {
    let fields: Vec<Value> = ["from_scene", "to_scene"]
        .into_iter()
        .filter(|scene| {
            raw.get(scene)
                .and_then(|s| s.get("id"))
                .is_some_and(Value::is_number)
        })
        .map(|scene| {
            json!({"loc": ["body", scene, "id"], "msg": "Input should be a valid string",
                "type": "string_type"})
        })
        .collect();
    if fields.is_empty() {
        Ok(())
    } else {
        Err(validation_error(fields))
    }
}

/// The real service's checks of a create, in its order: the schema's operation list (422),
/// then the provider and the operation's needs (500).
pub(super) fn check_create(raw: &Value, body: &CreateGeneration) -> Result<(), Response> {
    let operation = &body.config.generation_type;
    if !OPERATIONS.contains(operation) {
        let list: Vec<String> = OPERATIONS.iter().map(|op| format!("'{op}'")).collect();
        return Err(validation_error(vec![json!({
            "loc": ["body", "config", "generationType"],
            "msg": format!(
                "Value error, Invalid generation_type '{operation}'. Must be one of: [{}]",
                list.join(", ")
            ),
            "type": "value_error",
        })]));
    }
    let provider = body.provider_id.as_str();
    if !PROVIDERS.contains(&provider) {
        return Err(internal(format!(
            "Failed to create generation: Provider '{provider}' not found or not registered"
        )));
    }
    if operation.needs_prompt()
        && body
            .config
            .prompt
            .as_deref()
            .is_none_or(|p| p.trim().is_empty())
    {
        return Err(internal(format!(
            "Failed to create generation: {operation} operation requires a non-empty 'prompt'"
        )));
    }
    if matches!(
        operation,
        GenerationType::ImageToVideo | GenerationType::ImageToImage
    ) {
        let inputs = raw
            .get("config")
            .and_then(|config| config.get("composition_assets"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if inputs == 0 {
            return Err(internal(format!(
                "Failed to create generation: {} operation requires 'composition_assets' list \
                 with at least 1 entry",
                operation.as_str().to_uppercase()
            )));
        }
    }
    Ok(())
}

/// The real service's cache key for a create by backend user `user`, or `None` for `always`.
/// `per_playthrough` is always `pt:unknown` (it reads `playthrough_id`, the body sends
/// `playthroughId`); `per_player` is the backend account, not the game's player.
pub(super) fn cache_key(body: &CreateGeneration, user: u64) -> Option<String> {
    let strategy = body.config.strategy.as_ref().unwrap_or(&Strategy::Once);
    let scope = match strategy {
        Strategy::Always => return None,
        Strategy::PerPlaythrough => "|pt:unknown".to_owned(),
        Strategy::PerPlayer => format!("|player:{user}"),
        _ => String::new(),
    };
    let scene = |scene: &Option<SceneRef>| {
        scene
            .as_ref()
            .map_or_else(|| "none".to_owned(), |s| s.id.clone())
    };
    Some(format!(
        "generation:{}|{}|{}|{}|{strategy}{scope}|v1",
        body.config.generation_type,
        body.config.purpose.as_ref().unwrap_or(&Purpose::GapFill),
        scene(&body.from_scene),
        scene(&body.to_scene),
    ))
}

/// `value` as the real service's ids: a number becomes its decimal text.
fn id_string(value: &mut Value) {
    if let Value::Number(number) = value {
        *value = Value::String(number.to_string());
    }
}

/// The scene `json` as the real service answers it; `asset` looks an `assetId` up among the
/// backend's assets. `None` when `json` is not a scene object (it is then served as written).
pub(super) fn scene(json: &[u8], asset: impl Fn(&Value) -> Option<AssetResponse>) -> Option<Value> {
    let mut scene: Value = serde_json::from_slice(json).ok()?;
    let map = scene.as_object_mut()?;
    for key in ["id", "startNodeId"] {
        if let Some(id) = map.get_mut(key) {
            id_string(id);
        }
    }
    if let Some(nodes) = map.get_mut("nodes").and_then(Value::as_array_mut) {
        for node in nodes.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(id) = node.get_mut("id") {
                id_string(id);
            }
            let found = node.get("assetId").and_then(&asset);
            let remote = found.as_ref().and_then(|asset| asset.remote_url.clone());
            let media = match (&found, &remote) {
                (Some(asset), Some(url)) => json!([{
                    "id": asset.id.as_ref().map(|id| id.0.clone()),
                    "url": url,
                    "durationSec": asset.duration_sec,
                    "tags": asset.tag_slugs(),
                }]),
                _ => Value::Null,
            };
            if let Some(asset) = &found
                && let Some(id) = asset
                    .id
                    .as_ref()
                    .and_then(|id| id.as_str().parse::<u64>().ok())
            {
                // A database foreign key on the real service: a number.
                node.insert("assetId".to_owned(), json!(id));
            }
            node.insert("mediaUrl".to_owned(), json!(remote));
            node.insert("media".to_owned(), media);
        }
    }
    if let Some(edges) = map.get_mut("edges").and_then(Value::as_array_mut) {
        for edge in edges.iter_mut().filter_map(Value::as_object_mut) {
            for key in ["id", "from", "to"] {
                if let Some(id) = edge.get_mut(key) {
                    id_string(id);
                }
            }
            edge.remove("weight");
            for key in ["isDefault", "conditions", "effects"] {
                edge.insert(key.to_owned(), Value::Null);
            }
        }
    }
    Some(scene)
}

/// The real service's extra fields of a generation's answer.
pub(super) fn generation_fields(map: &mut Map<String, Value>, generation: &Generation) {
    let provider = generation.response.provider_id.clone().unwrap_or_default();
    map.insert(
        "account".to_owned(),
        json!({"type": "account", "id": 1, "meta": null}),
    );
    map.insert(
        "account_email".to_owned(),
        json!(format!("accountless+{provider}@pixsim.local")),
    );
    map.insert("attempt_count".to_owned(), json!(generation.attempts));
    map.insert("wait_reason".to_owned(), Value::Null);
}

impl Shared {
    /// The per-minute create limit of `user`, if one is set: refuses the create over it.
    pub(crate) fn rate_check(&self, user: u64) -> Result<(), Response> {
        let Some((per_minute, retry_after)) = self.config.real.create_rate_limit else {
            return Ok(());
        };
        let window = Duration::from_secs(60);
        let now = Instant::now();
        let mut data = self.data();
        let times = data.create_times.entry(user).or_default();
        while times
            .front()
            .is_some_and(|at| now.duration_since(*at) >= window)
        {
            times.pop_front();
        }
        if times.len() < per_minute as usize {
            times.push_back(now);
            return Ok(());
        }
        // Seconds until the oldest create leaves the window, rounded up.
        let free_in = times.front().map_or(window, |oldest| {
            window.saturating_sub(now.duration_since(*oldest))
        });
        let seconds = free_in.as_secs() + u64::from(free_in.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        drop(data);
        bump(&self.counters.rate_limited);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            "http_429",
            &format!("Rate limit exceeded. Try again in {seconds} seconds."),
        );
        if retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        Err(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_take_the_real_shape() {
        let json = br#"{"id": 1, "startNodeId": 10, "nodes": [
            {"id": 10, "type": "video", "assetId": "2"}, {"id": "11", "assetId": 9},
            {"id": "12"}],
            "edges": [{"id": 7, "from": 10, "to": "11", "weight": 2.0, "isDefault": true,
            "conditions": {}, "effects": {}}]}"#;
        let scene = scene(json, |id| {
            (id == &json!("2")).then(|| AssetResponse {
                id: Some(2.into()),
                remote_url: Some("http://cdn/x.png".to_owned()),
                ..AssetResponse::default()
            })
        })
        .unwrap();
        assert_eq!(scene["id"], json!("1"));
        assert_eq!(scene["startNodeId"], json!("10"));
        let nodes = &scene["nodes"];
        assert_eq!(nodes[0]["id"], json!("10"));
        assert_eq!(nodes[0]["assetId"], json!(2));
        assert_eq!(nodes[0]["mediaUrl"], json!("http://cdn/x.png"));
        assert_eq!(nodes[0]["media"][0]["url"], json!("http://cdn/x.png"));
        assert_eq!(nodes[1]["mediaUrl"], Value::Null);
        assert_eq!(nodes[1]["assetId"], json!(9));
        assert_eq!(nodes[2]["mediaUrl"], Value::Null);
        let edge = &scene["edges"][0];
        assert_eq!(
            (&edge["id"], &edge["from"], &edge["to"]),
            (&json!("7"), &json!("10"), &json!("11"))
        );
        assert!(edge.get("weight").is_none());
        assert_eq!(edge["isDefault"], Value::Null);
        assert!(super::scene(b"[1]", |_| None).is_none());
    }
}
