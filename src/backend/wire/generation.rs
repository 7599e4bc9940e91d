//! Generations: what a create sends, one generation and a page of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::request::{AssetRequest, CachingStrategy, PlaySession, RequestKey};

use super::ids::{BackendId, id_text};
use super::names::{GenerationStatus, GenerationType, Purpose, Strategy};

/// A reference to another entity: `{"type": "asset", "id": 456, "meta": null}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    /// The entity type (`asset`).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Its id.
    pub id: BackendId,
    /// Extra data, as sent.
    #[serde(default)]
    pub meta: Option<Value>,
}

/// One generation (`GET /api/v1/generations/{id}`, and the answer to a create).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationResponse {
    /// Its id.
    pub id: BackendId,
    /// Where it is in its lifecycle.
    pub status: GenerationStatus,
    /// The operation (`text_to_image`, ...).
    #[serde(default)]
    pub operation_type: Option<GenerationType>,
    /// The provider that runs it.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// The asset made, once completed.
    #[serde(default)]
    pub asset: Option<EntityRef>,
    /// The server's hash of its parameters (seeds excluded).
    #[serde(default)]
    pub reproducible_hash: Option<String>,
    /// Why it failed, for people.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Why it failed, for code (`content_prompt_rejected`).
    #[serde(default)]
    pub error_code: Option<String>,
    /// How often it was retried.
    #[serde(default)]
    pub retry_count: Option<u32>,
    /// 0..10.
    #[serde(default)]
    pub priority: Option<i64>,
    /// When it was created (ISO 8601).
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it started running.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(default)]
    pub completed_at: Option<String>,
    /// The parameters the server made it from (the real service: `prompt`, `seed`, the style's
    /// scalars, `duration`, `scene_context`, `player_context`). The client compares them with
    /// what it asked for when the server answers a create with existing work.
    #[serde(default)]
    pub canonical_params: Option<Value>,
    /// The prompt the provider was given.
    #[serde(default)]
    pub final_prompt: Option<String>,
    /// The name given at create.
    #[serde(default)]
    pub name: Option<String>,
    /// The account that owns it (`{"type": "user", "id": 1}`).
    #[serde(default)]
    pub user: Option<EntityRef>,
    /// An action the server will take once it can (`"cancel"` while a cancelled job is still
    /// running at the provider).
    #[serde(default)]
    pub deferred_action: Option<String>,
}

/// A page of generations (`GET /api/v1/generations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct GenerationList {
    /// The generations on this page.
    #[serde(default)]
    pub generations: Vec<GenerationResponse>,
    /// How many there are in all.
    #[serde(default)]
    pub total: u64,
    /// The page size asked for.
    #[serde(default)]
    pub limit: u64,
    /// Where the page starts.
    #[serde(default)]
    pub offset: u64,
}

/// `{"id": "romance_5"}`. The id is always sent as a JSON string: the real service refuses a
/// number (422), even for a numeric-looking id such as `"5"`. Read tolerantly, as a
/// [`BackendId`] (a number reads as its decimal text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneRef {
    /// The scene's id.
    #[serde(deserialize_with = "id_text")]
    pub id: String,
}

impl SceneRef {
    /// A reference to scene `id`.
    pub fn new(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }
}

/// Who is playing: `{"playthroughId", "playerId"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerContext {
    /// The playthrough.
    #[serde(rename = "playthroughId", default)]
    pub playthrough_id: Option<String>,
    /// The player.
    #[serde(rename = "playerId", default)]
    pub player_id: Option<String>,
}

/// What to do when the generation fails or is late: `{"mode", "timeoutMs"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fallback {
    /// `default_content`, `skip`, `retry` or `placeholder`.
    pub mode: String,
    /// How long the game waits.
    #[serde(rename = "timeoutMs", default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// A create's `config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// `text_to_image`, `text_to_video`, ...
    #[serde(rename = "generationType")]
    pub generation_type: GenerationType,
    /// `gap_fill`, `variation`, `adaptive` or `ambient`.
    #[serde(default)]
    pub purpose: Option<Purpose>,
    /// `once`, `per_playthrough`, `per_player` or `always`.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// The text prompt; text-to-* operations need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// Style; the provider's seed is `style.<provider_id>.seed`.
    #[serde(default)]
    pub style: Value,
    /// `{"target": seconds}`.
    #[serde(default)]
    pub duration: Value,
    /// Constraints (the plugin sends `{}`).
    #[serde(default)]
    pub constraints: Value,
    /// The fallback.
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// The config's version (1).
    #[serde(default)]
    pub version: Option<u32>,
}

impl GenerationConfig {
    /// The seed the server reads: `style.<provider_id>.seed`.
    pub fn seed(&self, provider_id: &str) -> Option<u64> {
        self.style.get(provider_id)?.get("seed")?.as_u64()
    }
}

/// `POST /api/v1/generations`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateGeneration {
    /// The provider (`pixverse`).
    pub provider_id: String,
    /// What to make.
    pub config: GenerationConfig,
    /// The scene it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_scene: Option<SceneRef>,
    /// The scene it leads to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_scene: Option<SceneRef>,
    /// Who is playing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player_context: Option<PlayerContext>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 0..10, default 5.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Bypass the server's dedup and cache.
    #[serde(default)]
    pub force_new: bool,
}

fn default_priority() -> u8 {
    5
}

/// Seeds the server accepts are 31-bit on some providers; a derived seed stays inside that.
pub(super) const DERIVED_SEED_MASK: u64 = 0x7FFF_FFFF;

impl CreateGeneration {
    /// The create body for `request`, made with `operation` at `provider_id`.
    ///
    /// The seed goes to `style.<provider_id>.seed` (the only one the server reads): the
    /// request's own, or one derived from its key so the same request asks for the same media.
    ///
    /// Only `once` requests let the server answer from existing work (`force_new: false`), and
    /// they carry no `player_context`: the server's scopes are not the game's (its
    /// `per_playthrough` key never sees the playthrough, its `per_player` key is the backend
    /// account), so scoped and `always` requests, and requests that do not want cached
    /// results, ask for new work and the plugin's own caches keep them apart.
    pub fn from_request(
        request: &AssetRequest,
        key: &RequestKey,
        session: &PlaySession,
        provider_id: &str,
        operation: GenerationType,
        default_timeout_ms: u64,
    ) -> Self {
        let seed = request
            .seed
            .unwrap_or_else(|| crate::source::procedural::seed_from_key(key) & DERIVED_SEED_MASK);
        let style = style_with_seed(request.style.as_ref(), provider_id, seed);
        let duration = match request.duration_secs {
            Some(secs) if secs.is_finite() && secs > 0.0 => {
                serde_json::json!({ "target": f64::from(secs) })
            }
            _ => Value::Object(Map::new()),
        };
        let timeout_ms = request
            .max_wait
            .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(default_timeout_ms);
        Self {
            provider_id: provider_id.to_owned(),
            config: GenerationConfig {
                generation_type: operation,
                purpose: Some(request.purpose.into()),
                strategy: Some(request.strategy.into()),
                prompt: request.prompt.clone().filter(|p| !p.trim().is_empty()),
                style,
                duration,
                constraints: Value::Object(Map::new()),
                fallback: Some(Fallback {
                    mode: "placeholder".to_owned(),
                    timeout_ms: Some(timeout_ms),
                }),
                version: Some(1),
            },
            from_scene: request
                .scene_id
                .as_deref()
                .map(|id| SceneRef { id: id.into() }),
            to_scene: request
                .to_scene_id
                .as_deref()
                .map(|id| SceneRef { id: id.into() }),
            // A shared (`once`) result is the same for every player, so who asks stays out of
            // the body: the server's dedup then shares it across players as the key does.
            player_context: (request.strategy != CachingStrategy::Once).then(|| PlayerContext {
                playthrough_id: Some(session.playthrough_id.clone()),
                player_id: Some(session.player_id.clone()),
            }),
            name: generation_name(request),
            priority: request.priority.min(10),
            force_new: !request.prefer_cached || request.strategy != CachingStrategy::Once,
        }
    }

    /// The server's cache key for this create (CONTRACT.md, Caching), or `None` for the
    /// `always` strategy, which is never cached.
    pub fn cache_key(&self) -> Option<String> {
        let strategy = self.config.strategy.as_ref().unwrap_or(&Strategy::Once);
        let scope = match strategy {
            Strategy::Always => return None,
            Strategy::PerPlaythrough => format!(
                "|pt:{}",
                self.player_context
                    .as_ref()
                    .and_then(|c| c.playthrough_id.as_deref())
                    .unwrap_or("none")
            ),
            Strategy::PerPlayer => format!(
                "|player:{}",
                self.player_context
                    .as_ref()
                    .and_then(|c| c.player_id.as_deref())
                    .unwrap_or("none")
            ),
            _ => String::new(),
        };
        let scene = |scene: &Option<SceneRef>| {
            scene
                .as_ref()
                .map(|s| s.id.clone())
                .unwrap_or_else(|| "none".to_owned())
        };
        Some(format!(
            "generation:{}|{}|{}|{}|{}{}|v{}",
            self.config.generation_type,
            self.config.purpose.as_ref().unwrap_or(&Purpose::GapFill),
            scene(&self.from_scene),
            scene(&self.to_scene),
            strategy,
            scope,
            self.config.version.unwrap_or(1)
        ))
    }
}

/// The name a create for `request` carries: its scene and choice, as far as it has them.
fn generation_name(request: &AssetRequest) -> Option<String> {
    match (&request.scene_id, &request.choice_id) {
        (Some(scene), Some(choice)) => Some(format!("{scene}/{choice}")),
        (Some(scene), None) => Some(scene.clone()),
        (None, Some(choice)) => Some(choice.clone()),
        (None, None) => None,
    }
}

/// The request's `style` as an object, with `seed` in its section for `provider_id` (the
/// section made an object if it was not one).
fn style_with_seed(style: Option<&Value>, provider_id: &str, seed: u64) -> Value {
    let mut style = match style {
        Some(Value::Object(map)) => map.clone(),
        // A non-object style cannot carry the provider's section; keep it under `value`.
        Some(other) => Map::from_iter([("value".to_owned(), other.clone())]),
        None => Map::new(),
    };
    let provider = style
        .entry(provider_id.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !provider.is_object() {
        *provider = Value::Object(Map::new());
    }
    if let Value::Object(provider) = provider {
        provider.insert("seed".to_owned(), Value::from(seed));
    }
    Value::Object(style)
}
