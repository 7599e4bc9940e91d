//! The events the WebSocket carries, in the contract's shape or the real service's.

use bevy_asset_provider::backend::wire::{AssetResponse, GenerationStatus};
use serde_json::{Value, json};

use crate::reply::now_iso;
use crate::state::Shared;

impl Shared {
    /// A `job:*` event for generation `id`, in the shape asked for; `failure` is its error
    /// code and message.
    pub(crate) fn job_event(
        &self,
        kind: &str,
        id: u64,
        status: GenerationStatus,
        failure: Option<(&str, &str)>,
    ) -> Value {
        if !self.config.real.real_event_shapes {
            return job_event(kind, id, status);
        }
        let data = self.data();
        let generation = data.generations.get(&id);
        let user = generation.map_or(1, |g| g.owner);
        let mut inner = json!({"job_id": id, "generation_id": id, "user_id": user});
        let status_value = if kind == "job:created" {
            if let (Some(generation), Some(map)) = (generation, inner.as_object_mut()) {
                let response = &generation.response;
                map.insert("operation_type".to_owned(), json!(response.operation_type));
                map.insert("provider_id".to_owned(), json!(response.provider_id));
                map.insert("params".to_owned(), json!(response.canonical_params));
                map.insert("priority".to_owned(), json!(response.priority));
            }
            Value::Null
        } else {
            if let Some(map) = inner.as_object_mut() {
                map.insert("status".to_owned(), json!(status.as_str()));
                if let Some((code, message)) = failure {
                    map.insert("error".to_owned(), json!(message));
                    map.insert("error_code".to_owned(), json!(code));
                }
            }
            json!(status.as_str())
        };
        json!({
            "type": kind,
            "generation_id": id,
            "status": status_value,
            "user_id": user,
            "data": inner,
            "timestamp": now_iso(),
        })
    }

    /// The `asset:created` event of `asset`, made by generation `id` of user `owner` with
    /// provider `provider`, in the shape asked for.
    pub(crate) fn asset_created(
        &self,
        asset: &AssetResponse,
        id: u64,
        owner: u64,
        provider: &str,
    ) -> Value {
        let asset_id = &asset.id;
        if self.config.real.real_event_shapes {
            json!({
                "type": "asset:created",
                "asset_id": asset_id,
                "user_id": owner,
                "media_type": null,
                "data": {"asset_id": asset_id, "user_id": owner, "generation_id": id, "job_id": id,
                    "provider_id": provider},
                "timestamp": now_iso(),
            })
        } else {
            json!({
                "type": "asset:created",
                "asset_id": asset_id,
                "media_type": asset.media_type,
                "data": {"generation_id": id},
                "timestamp": now_iso(),
            })
        }
    }
}

/// A `job:*` event in the contract's shape.
fn job_event(kind: &str, id: u64, status: GenerationStatus) -> Value {
    json!({
        "type": kind,
        "generation_id": id,
        "status": status.as_str(),
        "data": {"generation_id": id, "status": status.as_str()},
        "timestamp": now_iso(),
    })
}
