//! The hashes and parameters a create is recognised by: the contract's reproducible hash, the
//! real service's canonical parameters, and the seed a hash gives.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use bevy_asset_provider::backend::wire::{CreateGeneration, NonAscii, SceneRef, canonical_json};

/// The contract's reproducible hash: SHA-256 of sorted-key, compact, ASCII-escaped JSON of
/// `{"canonical_params", "inputs"}` with every `seed` key removed.
pub(crate) fn reproducible_hash(body: &CreateGeneration) -> String {
    let params = json!({
        "provider_id": body.provider_id,
        "operation_type": body.config.generation_type,
        "config": serde_json::to_value(&body.config).unwrap_or(Value::Null),
    });
    params_hash(strip_seeds(params))
}

pub(crate) fn strip_seeds(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| !key.eq_ignore_ascii_case("seed"))
                .map(|(key, value)| (key, strip_seeds(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_seeds).collect()),
        other => other,
    }
}

/// SHA-256 hex of `{"canonical_params": params, "inputs": []}` written as the contract says.
pub(crate) fn params_hash(params: Value) -> String {
    let value = json!({"canonical_params": params, "inputs": []});
    let text = canonical_json(&value, NonAscii::Escape);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The parameters a generation is made from, as the real service reports them: the style's
/// scalars (and its provider section's, the seed included) flattened, the duration's target,
/// the prompt, and the scene and player contexts with the fields it fills with `null`.
pub(crate) fn canonical_params(body: &CreateGeneration) -> Value {
    let mut params = serde_json::Map::new();
    let scalars = |map: &serde_json::Map<String, Value>,
                   params: &mut serde_json::Map<String, Value>| {
        for (key, value) in map {
            if !value.is_object() && !value.is_array() {
                params.insert(key.clone(), value.clone());
            }
        }
    };
    if let Some(style) = body.config.style.as_object() {
        scalars(style, &mut params);
        if let Some(section) = style.get(&body.provider_id).and_then(Value::as_object) {
            scalars(section, &mut params);
        }
    }
    if let Some(target) = body.config.duration.get("target").and_then(Value::as_f64) {
        params.insert("duration".to_owned(), json!(target));
    }
    if let Some(prompt) = &body.config.prompt {
        params.insert("prompt".to_owned(), json!(prompt));
    }
    let scene = |scene: &Option<SceneRef>| match scene {
        Some(scene) => json!({"id": scene.id, "mood": null, "summary": null, "location": null,
            "emotionalState": null}),
        None => Value::Null,
    };
    params.insert(
        "scene_context".to_owned(),
        json!({"from_scene": scene(&body.from_scene), "to_scene": scene(&body.to_scene)}),
    );
    let player = match &body.player_context {
        Some(context) => json!({"playthroughId": context.playthrough_id,
            "playerId": context.player_id, "choices": null, "flags": null, "stats": null}),
        None => Value::Null,
    };
    params.insert("player_context".to_owned(), player);
    params.insert("social_context".to_owned(), Value::Null);
    Value::Object(params)
}

/// A seed from the first 16 hex digits of a hash.
pub(crate) fn seed_from_hash(hash: &str) -> u64 {
    u64::from_str_radix(hash.get(..16).unwrap_or("0"), 16).unwrap_or(0)
}
