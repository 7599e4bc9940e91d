//! Messages on the generations WebSocket.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::BackendId;
use super::names::GenerationStatus;

/// One message on the generations WebSocket. Anything else it sends (`pong`, unknown types)
/// is ignored by the client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SocketEvent {
    /// `connected`, `job:created`, ..., `job:completed`, `asset:created`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The generation of a `job:*` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<BackendId>,
    /// The status of a `job:*` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<GenerationStatus>,
    /// The asset of an `asset:created` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<BackendId>,
    /// The media type of an `asset:created` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Extra data; `asset:created` carries `generation_id` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The `connected` greeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
}

impl SocketEvent {
    /// The generation this event is about, from `generation_id` or `data.generation_id`.
    pub fn generation(&self) -> Option<BackendId> {
        if let Some(id) = &self.generation_id {
            return Some(id.clone());
        }
        BackendId::from_value(self.data.as_ref()?.get("generation_id")?)
    }
}
