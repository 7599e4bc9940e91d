//! The PixSim7 wire format (CONTRACT.md): the JSON bodies of its API, and the canonical JSON its
//! hashes and this crate's request keys are computed over. The client and the dev backend
//! (`pixsim_dev`) both speak it from here.
//!
//! Reading is tolerant: unknown fields are ignored, ids may be strings or numbers, absent and
//! `null` optional fields are the same, and an unknown status, purpose, strategy or generation
//! type string reads as an `Unknown` variant instead of an error. Ids the client *sends* are
//! strings ([`SceneRef`]).

pub use crate::request::{NonAscii, canonical_json};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

use crate::request::{
    AssetRequest, CachingStrategy, GenerationPurpose, MediaKind, PlaySession, RequestKey,
};

/// An id as the backend sends it: a JSON number on the real service, a string in some answers
/// (`"asset_id": "456"`). Kept as its decimal text. Written back as a number when it is one, as
/// the server writes its own ids; ids the client *sends* in bodies are [`SceneRef`]s, always
/// strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(pub String);

impl BackendId {
    /// The id as text, for URLs and logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads an id inside loose JSON (a string or an integer), as a body's field would be read.
    pub fn from_value(value: &Value) -> Option<Self> {
        Self::deserialize(value).ok()
    }
}

impl From<u64> for BackendId {
    fn from(id: u64) -> Self {
        Self(id.to_string())
    }
}

impl From<&str> for BackendId {
    fn from(id: &str) -> Self {
        Self(id.to_owned())
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for BackendId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.parse::<u64>() {
            Ok(number) => serializer.serialize_u64(number),
            Err(_) => serializer.serialize_str(&self.0),
        }
    }
}

impl<'de> Deserialize<'de> for BackendId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = BackendId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or an integer)")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BackendId, E> {
                Ok(BackendId(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BackendId, E> {
                Ok(BackendId(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BackendId, E> {
                if v.is_empty() {
                    return Err(E::custom("an empty id"));
                }
                Ok(BackendId(v.to_owned()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A generation's status. Terminal: `Completed`, `Failed`, `Cancelled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenerationStatus {
    /// Queued.
    Pending,
    /// Running at the provider.
    Processing,
    /// Paused by the server or the user.
    Paused,
    /// Done; its `asset` is set.
    Completed,
    /// Failed; `error_code` and `error_message` say why.
    Failed,
    /// Cancelled.
    Cancelled,
    /// A status this crate does not know; treated as still running.
    Unknown,
}

impl GenerationStatus {
    /// The backend's name for it (`"unknown"` for [`Unknown`](Self::Unknown)).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
        }
    }

    /// Reads a status string; anything unexpected is [`Unknown`](Self::Unknown).
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "processing" => Self::Processing,
            "paused" => Self::Paused,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            _ => Self::Unknown,
        }
    }

    /// Whether the generation will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl Serialize for GenerationStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for GenerationStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Anything, even a number or null, reads: an odd status must not fail the whole answer.
        Ok(match Value::deserialize(deserializer)? {
            Value::String(text) => Self::parse(&text),
            _ => Self::Unknown,
        })
    }
}

/// The operation a generation runs (`config.generationType`, `operation_type`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationType {
    /// `text_to_image`.
    TextToImage,
    /// `text_to_video`.
    TextToVideo,
    /// `image_to_video`: needs input images (`config.composition_assets`) on the real service.
    ImageToVideo,
    /// `image_to_image`: needs input images, like `image_to_video`.
    ImageToImage,
    /// `video_extend`.
    VideoExtend,
    /// `video_transition`.
    VideoTransition,
    /// `fusion`.
    Fusion,
    /// `video_modify`: in the real service's schema, not in the contract.
    VideoModify,
    /// `text_to_audio`: not a PixSim7 operation (the real service answers 422); for backends
    /// that make sound (see
    /// [`PixSimSourceBuilder::audio_operation`](crate::backend::PixSimSourceBuilder::audio_operation)).
    TextToAudio,
    /// A name this crate does not know, kept as sent.
    #[serde(untagged)]
    Unknown(String),
}

impl GenerationType {
    /// The wire name (`text_to_image`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::TextToImage => "text_to_image",
            Self::TextToVideo => "text_to_video",
            Self::ImageToVideo => "image_to_video",
            Self::ImageToImage => "image_to_image",
            Self::VideoExtend => "video_extend",
            Self::VideoTransition => "video_transition",
            Self::Fusion => "fusion",
            Self::VideoModify => "video_modify",
            Self::TextToAudio => "text_to_audio",
            Self::Unknown(name) => name,
        }
    }

    /// Whether it is a text-to-* operation, which needs a non-empty prompt.
    pub fn needs_prompt(&self) -> bool {
        matches!(
            self,
            Self::TextToImage | Self::TextToVideo | Self::TextToAudio
        )
    }

    /// The generation type for `kind`: `text_to_image` for images, `text_to_video` for video.
    ///
    /// The contract has no audio operation, so audio gets `None` unless the caller names one
    /// (see
    /// [`PixSimSourceBuilder::audio_operation`](crate::backend::PixSimSourceBuilder::audio_operation)).
    pub fn for_kind(kind: MediaKind) -> Option<Self> {
        match kind {
            MediaKind::Image => Some(Self::TextToImage),
            MediaKind::Video => Some(Self::TextToVideo),
            MediaKind::Audio => None,
        }
    }
}

/// Why a generation is wanted (`config.purpose`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// `gap_fill`.
    GapFill,
    /// `variation`.
    Variation,
    /// `adaptive`.
    Adaptive,
    /// `ambient`.
    Ambient,
    /// A name this crate does not know, kept as sent.
    #[serde(untagged)]
    Unknown(String),
}

impl Purpose {
    /// The wire name (`gap_fill`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::GapFill => "gap_fill",
            Self::Variation => "variation",
            Self::Adaptive => "adaptive",
            Self::Ambient => "ambient",
            Self::Unknown(name) => name,
        }
    }
}

impl From<GenerationPurpose> for Purpose {
    fn from(purpose: GenerationPurpose) -> Self {
        match purpose {
            GenerationPurpose::GapFill => Self::GapFill,
            GenerationPurpose::Variation => Self::Variation,
            GenerationPurpose::Adaptive => Self::Adaptive,
            GenerationPurpose::Ambient => Self::Ambient,
        }
    }
}

/// How the server may reuse a generation (`config.strategy`; see Caching in CONTRACT.md).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `once`.
    Once,
    /// `per_playthrough`.
    PerPlaythrough,
    /// `per_player`.
    PerPlayer,
    /// `always`: never cached.
    Always,
    /// A name this crate does not know, kept as sent.
    #[serde(untagged)]
    Unknown(String),
}

impl Strategy {
    /// The wire name (`per_playthrough`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Once => "once",
            Self::PerPlaythrough => "per_playthrough",
            Self::PerPlayer => "per_player",
            Self::Always => "always",
            Self::Unknown(name) => name,
        }
    }

    /// The plugin's strategy of the same name; `None` for an unknown one.
    pub fn caching(&self) -> Option<CachingStrategy> {
        match self {
            Self::Once => Some(CachingStrategy::Once),
            Self::PerPlaythrough => Some(CachingStrategy::PerPlaythrough),
            Self::PerPlayer => Some(CachingStrategy::PerPlayer),
            Self::Always => Some(CachingStrategy::Always),
            Self::Unknown(_) => None,
        }
    }
}

impl From<CachingStrategy> for Strategy {
    fn from(strategy: CachingStrategy) -> Self {
        match strategy {
            CachingStrategy::Once => Self::Once,
            CachingStrategy::PerPlaythrough => Self::PerPlaythrough,
            CachingStrategy::PerPlayer => Self::PerPlayer,
            CachingStrategy::Always => Self::Always,
        }
    }
}

/// `Display` and string conversions of the wire enums, through their wire names.
macro_rules! wire_names {
    ($($name:ident),+) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            /// Reads a wire name; one this crate does not know is `Unknown`.
            fn from(name: &str) -> Self {
                let text = de::value::StrDeserializer::<de::value::Error>::new(name);
                // The `Unknown` variant takes any string, so reading one cannot fail.
                Self::deserialize(text).unwrap_or_else(|_| Self::Unknown(name.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self::from(name.as_str())
            }
        }
    )+};
}

wire_names!(GenerationType, Purpose, Strategy);

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
pub struct GenerationList {
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

/// A tag on an asset: `{"slug": "loc:park", "namespace": "loc", "name": "park"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    /// `namespace:name`.
    pub slug: String,
    /// The part before the colon.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The part after it.
    #[serde(default)]
    pub name: Option<String>,
}

impl TagRef {
    /// A tag from its slug.
    pub fn from_slug(slug: &str) -> Self {
        let (namespace, name) = match slug.split_once(':') {
            Some((namespace, name)) => (Some(namespace.to_owned()), Some(name.to_owned())),
            None => (None, Some(slug.to_owned())),
        };
        Self {
            slug: slug.to_owned(),
            namespace,
            name,
        }
    }
}

/// One asset (`GET /api/v1/assets/{id}`): the fields the plugin uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetResponse {
    /// Its id.
    pub id: Option<BackendId>,
    /// `image`, `video`, `audio` or `3d_model`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// The file's MIME type.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// SHA-256 of the file, hex; downloads must match it.
    #[serde(default)]
    pub sha256: Option<String>,
    /// The file's size.
    #[serde(default)]
    pub file_size_bytes: Option<u64>,
    /// Width in pixels.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(default)]
    pub height: Option<u32>,
    /// Length in seconds.
    #[serde(default)]
    pub duration_sec: Option<f64>,
    /// Where to download it: relative to the backend (send the token) or absolute.
    #[serde(default)]
    pub file_url: Option<String>,
    /// The provider's own URL for it.
    #[serde(default)]
    pub remote_url: Option<String>,
    /// A small preview.
    #[serde(default)]
    pub thumbnail_url: Option<String>,
    /// Its tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<TagRef>,
    /// The generation that made it.
    #[serde(default)]
    pub source_generation_id: Option<BackendId>,
    /// The hash of the generation's parameters.
    #[serde(default)]
    pub reproducible_hash: Option<String>,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
}

impl AssetResponse {
    /// Its tag slugs.
    pub fn tag_slugs(&self) -> Vec<String> {
        self.tags.iter().map(|tag| tag.slug.clone()).collect()
    }
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `POST /api/v1/assets/search`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetSearch {
    /// Tag slugs to look for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tag: Vec<String>,
    /// Filters, such as `{"media_type": ["image"]}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub filters: Map<String, Value>,
    /// Free text.
    #[serde(default)]
    pub q: Option<String>,
    /// Page size.
    #[serde(default)]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// The answer to [`AssetSearch`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AssetSearchResponse {
    /// This page.
    #[serde(default, deserialize_with = "null_as_default")]
    pub assets: Vec<AssetResponse>,
    /// How many match in all.
    #[serde(default)]
    pub total: Option<u64>,
    /// The page size.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Where this page starts.
    #[serde(default)]
    pub offset: Option<u64>,
    /// Pass it back for the next page; `None` on the last.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// An error answer: `{"code", "message", "detail"?, "fields"?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code.
    #[serde(default)]
    pub code: Option<String>,
    /// What went wrong, for people.
    #[serde(default)]
    pub message: Option<String>,
    /// More detail (a string on the real service; FastAPI's default is a list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Value>,
    /// Field errors of a 422.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<Value>>,
}

impl ErrorBody {
    /// A body with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: Some(code.into()),
            message: Some(message.into()),
            ..Self::default()
        }
    }

    /// One line saying everything the body says: message, code, detail, fields.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(message) = &self.message {
            parts.push(message.clone());
        }
        if let Some(code) = &self.code {
            parts.push(format!("code {code}"));
        }
        match &self.detail {
            Some(Value::String(detail)) => parts.push(format!("detail: {detail}")),
            Some(Value::Null) | None => {}
            Some(other) => parts.push(format!("detail: {other}")),
        }
        if let Some(fields) = self.fields.as_ref().filter(|fields| !fields.is_empty()) {
            let fields: Vec<String> = fields.iter().map(Value::to_string).collect();
            parts.push(format!("fields: {}", fields.join(", ")));
        }
        parts.join("; ")
    }
}

/// `POST /api/v1/auth/login`. Its `Debug` hides the password.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The account's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Or its user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password.
    pub password: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The answer to a login. Its `Debug` hides the token.
#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// The user, as sent.
    #[serde(default)]
    pub user: Option<Value>,
}

impl fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .finish_non_exhaustive()
    }
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

/// Reads an id as [`BackendId`] does, keeping its text.
fn id_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    BackendId::deserialize(deserializer).map(|id| id.0)
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
const DERIVED_SEED_MASK: u64 = 0x7FFF_FFFF;

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
        let mut style = match &request.style {
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
        let name = match (&request.scene_id, &request.choice_id) {
            (Some(scene), Some(choice)) => Some(format!("{scene}/{choice}")),
            (Some(scene), None) => Some(scene.clone()),
            (None, Some(choice)) => Some(choice.clone()),
            (None, None) => None,
        };
        Self {
            provider_id: provider_id.to_owned(),
            config: GenerationConfig {
                generation_type: operation,
                purpose: Some(request.purpose.into()),
                strategy: Some(request.strategy.into()),
                prompt: request.prompt.clone().filter(|p| !p.trim().is_empty()),
                style: Value::Object(style),
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
            name,
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

/// One message on the generations WebSocket. Anything else it sends (`pong`, unknown types)
/// is ignored by the client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SocketEvent {
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

/// `POST /api/v1/game/assets/request`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GameAssetRequest {
    /// The scene.
    #[serde(default)]
    pub scene_id: Option<String>,
    /// The choice.
    #[serde(default)]
    pub choice_id: Option<String>,
    /// `{"character_id", "location_id"}`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: Map<String, Value>,
    /// The caching strategy.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// How long the server may wait for a generation.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
}

/// The answer to [`GameAssetRequest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameAssetResponse {
    /// The asset.
    pub asset_id: BackendId,
    /// Where to download it.
    pub url: String,
    /// `image`, `video`, `audio`.
    #[serde(default)]
    pub media_type: Option<String>,
    /// `cached`, `pre_made` or `generated`.
    #[serde(default)]
    pub source: Option<String>,
    /// Whether it came from the server's cache.
    #[serde(default)]
    pub from_cache: Option<bool>,
    /// How long generating it took.
    #[serde(default)]
    pub generation_time_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn create_body_follows_the_contract() {
        let request = AssetRequest::image()
            .scene("romance_5")
            .to_scene("romance_6")
            .choice("confess")
            .prompt("a quiet park at dusk")
            .strategy(CachingStrategy::PerPlaythrough)
            .purpose(GenerationPurpose::GapFill)
            .style(json!({"pacing": "medium", "pixverse": {"aspect_ratio": "16:9"}}))
            .duration_secs(5.0)
            .max_wait(Duration::from_secs(30))
            .priority(7)
            .seed(42);
        let session = PlaySession::new("pt-1", "p-7");
        let key = request.fingerprint(&session);
        let body = CreateGeneration::from_request(
            &request,
            &key,
            &session,
            "pixverse",
            GenerationType::TextToImage,
            1,
        );
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(
            value,
            json!({
                "provider_id": "pixverse",
                "config": {
                    "generationType": "text_to_image",
                    "purpose": "gap_fill",
                    "strategy": "per_playthrough",
                    "prompt": "a quiet park at dusk",
                    "style": {"pacing": "medium", "pixverse": {"seed": 42, "aspect_ratio": "16:9"}},
                    "duration": {"target": 5.0},
                    "constraints": {},
                    "fallback": {"mode": "placeholder", "timeoutMs": 30000},
                    "version": 1
                },
                "from_scene": {"id": "romance_5"},
                "to_scene": {"id": "romance_6"},
                "player_context": {"playthroughId": "pt-1", "playerId": "p-7"},
                "name": "romance_5/confess",
                "priority": 7,
                "force_new": true
            })
        );
        assert_eq!(
            body.cache_key().as_deref(),
            Some(
                "generation:text_to_image|gap_fill|romance_5|romance_6|per_playthrough|pt:pt-1|v1"
            )
        );
    }

    #[test]
    fn create_body_without_cache_wish_forces_new_and_derives_a_seed() {
        let request = AssetRequest::video()
            .prompt("waves")
            .prefer_cached(false)
            .strategy(CachingStrategy::Always);
        let session = PlaySession::default();
        let key = request.fingerprint(&session);
        let body = CreateGeneration::from_request(
            &request,
            &key,
            &session,
            "sora",
            GenerationType::TextToVideo,
            9,
        );
        assert!(body.force_new);
        assert_eq!(body.config.fallback.as_ref().unwrap().timeout_ms, Some(9));
        let seed = body.config.seed("sora").expect("a derived seed");
        assert!(seed <= DERIVED_SEED_MASK);
        assert_eq!(body.config.duration, json!({}));
        assert_eq!(body.cache_key(), None, "`always` is never cached");
        assert_eq!(body.from_scene, None);
        // The same request derives the same seed.
        let again = CreateGeneration::from_request(
            &request,
            &key,
            &session,
            "sora",
            GenerationType::TextToVideo,
            9,
        );
        assert_eq!(again.config.seed("sora"), Some(seed));
    }

    #[test]
    fn operation_types_by_media_kind() {
        assert_eq!(
            GenerationType::for_kind(MediaKind::Image),
            Some(GenerationType::TextToImage)
        );
        assert_eq!(
            GenerationType::for_kind(MediaKind::Video),
            Some(GenerationType::TextToVideo)
        );
        assert_eq!(GenerationType::for_kind(MediaKind::Audio), None);
    }

    #[test]
    fn generation_reads_tolerantly() {
        let text = r#"{"id": 123, "status": "processing", "operation_type": "text_to_image",
            "provider_id": "pixverse", "asset": null, "reproducible_hash": "9f2c",
            "error_message": null, "error_code": null, "retry_count": 0, "priority": 5,
            "created_at": "2026-11-21T10:00:00Z", "started_at": null, "completed_at": null,
            "account_id": 9, "params": {"deep": [1, 2]}}"#;
        let generation: GenerationResponse = serde_json::from_str(text).unwrap();
        assert_eq!(generation.id, BackendId::from(123));
        assert_eq!(generation.status, GenerationStatus::Processing);
        assert!(!generation.status.is_terminal());

        let odd = r#"{"id": "abc", "status": "queued_at_provider"}"#;
        let generation: GenerationResponse = serde_json::from_str(odd).unwrap();
        assert_eq!(generation.id.as_str(), "abc");
        assert_eq!(generation.status, GenerationStatus::Unknown);
        assert_eq!(generation.asset, None);

        let done = r#"{"id": 5, "status": "completed",
            "asset": {"type": "asset", "id": "456", "meta": {"x": 1}, "extra": true}}"#;
        let generation: GenerationResponse = serde_json::from_str(done).unwrap();
        assert_eq!(generation.asset.unwrap().id, BackendId::from(456));

        let numeric_status = r#"{"id": 5, "status": 3}"#;
        let generation: GenerationResponse = serde_json::from_str(numeric_status).unwrap();
        assert_eq!(generation.status, GenerationStatus::Unknown);
    }

    #[test]
    fn ids_serialize_as_numbers_when_numeric() {
        assert_eq!(serde_json::to_string(&BackendId::from(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&BackendId::from("lighthouse")).unwrap(),
            "\"lighthouse\""
        );
        assert!(serde_json::from_str::<BackendId>("\"\"").is_err());
        assert!(serde_json::from_str::<BackendId>("1.5").is_err());
    }

    #[test]
    fn asset_reads_tolerantly() {
        let text = r#"{"id": 456, "media_type": "image", "mime_type": "image/png",
            "sha256": "ab", "file_size_bytes": 10, "width": 64, "height": 36,
            "duration_sec": null, "file_url": "/api/v1/assets/456/file", "tags": [
              {"slug": "loc:park", "namespace": "loc", "name": "park", "id": 3}],
            "source_generation_id": "123", "provider_status": "ok"}"#;
        let asset: AssetResponse = serde_json::from_str(text).unwrap();
        assert_eq!(asset.id, Some(BackendId::from(456)));
        assert_eq!(asset.tag_slugs(), vec!["loc:park".to_owned()]);
        assert_eq!(asset.source_generation_id, Some(BackendId::from(123)));

        let sparse: AssetResponse = serde_json::from_str(r#"{"id": 1, "tags": null}"#).unwrap();
        assert!(sparse.tags.is_empty());
        assert_eq!(sparse.file_url, None);
    }

    #[test]
    fn error_bodies_summarise_everything_they_say() {
        let text = r#"{"code": "validation_error", "message": "Invalid request",
            "detail": "config.prompt is required", "fields": [{"loc": ["config", "prompt"]}]}"#;
        let body: ErrorBody = serde_json::from_str(text).unwrap();
        let summary = body.summary();
        assert!(summary.contains("Invalid request"), "{summary}");
        assert!(summary.contains("config.prompt is required"), "{summary}");
        assert!(summary.contains("validation_error"), "{summary}");
        assert!(summary.contains("prompt"), "{summary}");
        let fastapi: ErrorBody =
            serde_json::from_str(r#"{"detail": [{"msg": "field required"}]}"#).unwrap();
        assert!(fastapi.summary().contains("field required"));
    }

    #[test]
    fn socket_events_name_their_generation() {
        let completed: SocketEvent = serde_json::from_str(
            r#"{"type": "job:completed", "generation_id": 123, "status": "completed",
                "data": {}, "timestamp": "t", "user_id": 4}"#,
        )
        .unwrap();
        assert_eq!(completed.generation(), Some(BackendId::from(123)));
        let asset: SocketEvent = serde_json::from_str(
            r#"{"type": "asset:created", "asset_id": 456, "media_type": "image",
                "data": {"generation_id": "123"}}"#,
        )
        .unwrap();
        assert_eq!(asset.generation(), Some(BackendId::from(123)));
        assert_eq!(asset.asset_id, Some(BackendId::from(456)));
    }

    #[test]
    fn scene_ids_are_sent_as_strings_even_when_numeric() {
        let request = AssetRequest::image().scene("5").to_scene("6").prompt("x");
        let session = PlaySession::new("pt", "p");
        let key = request.fingerprint(&session);
        let body = CreateGeneration::from_request(
            &request,
            &key,
            &session,
            "pixverse",
            GenerationType::TextToImage,
            1,
        );
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["from_scene"], json!({"id": "5"}));
        assert_eq!(value["to_scene"], json!({"id": "6"}));
        // A shared request lets the server share: no player context, no force_new.
        assert_eq!(value.get("player_context"), None);
        assert_eq!(value["force_new"], json!(false));
        // Read tolerantly.
        let scene: SceneRef = serde_json::from_str(r#"{"id": 5}"#).unwrap();
        assert_eq!(scene.id, "5");
    }

    #[test]
    fn the_real_services_null_fields_in_events_are_tolerated() {
        let created: SocketEvent = serde_json::from_str(
            r#"{"type":"job:created","generation_id":2,"status":null,"user_id":1,
                "data":{"job_id":2,"generation_id":2},"timestamp":"t"}"#,
        )
        .unwrap();
        assert_eq!(created.status, None);
        assert_eq!(created.generation(), Some(BackendId::from(2)));
        let asset: SocketEvent = serde_json::from_str(
            r#"{"type":"asset:created","asset_id":2,"user_id":1,"media_type":null,
                "data":{"asset_id":2,"generation_id":2,"job_id":2}}"#,
        )
        .unwrap();
        assert_eq!(asset.media_type, None);
        assert_eq!(asset.generation(), Some(BackendId::from(2)));
        let failed: SocketEvent = serde_json::from_str(
            r#"{"type":"job:failed","generation_id":12,"status":"failed","user_id":1,
                "data":{"error":"filtered","error_code":"content_prompt_rejected"}}"#,
        )
        .unwrap();
        assert_eq!(failed.status, Some(GenerationStatus::Failed));
    }

    #[test]
    fn wire_enums_read_known_and_unknown_names() {
        let operations = [
            GenerationType::TextToImage,
            GenerationType::TextToVideo,
            GenerationType::ImageToVideo,
            GenerationType::ImageToImage,
            GenerationType::VideoExtend,
            GenerationType::VideoTransition,
            GenerationType::Fusion,
            GenerationType::VideoModify,
            GenerationType::TextToAudio,
        ];
        for operation in operations {
            let name = operation.as_str();
            assert_eq!(serde_json::to_value(&operation).unwrap(), json!(name));
            assert_eq!(
                serde_json::from_value::<GenerationType>(json!(name)).unwrap(),
                operation
            );
            assert_eq!(GenerationType::from(name), operation);
        }
        for purpose in [
            GenerationPurpose::GapFill,
            GenerationPurpose::Variation,
            GenerationPurpose::Adaptive,
            GenerationPurpose::Ambient,
        ] {
            let wire = Purpose::from(purpose);
            assert_eq!(wire.as_str(), purpose.as_str());
            assert_eq!(
                serde_json::to_value(&wire).unwrap(),
                json!(purpose.as_str())
            );
            assert_eq!(Purpose::from(purpose.as_str()), wire);
        }
        for strategy in [
            CachingStrategy::Once,
            CachingStrategy::PerPlaythrough,
            CachingStrategy::PerPlayer,
            CachingStrategy::Always,
        ] {
            let wire = Strategy::from(strategy);
            assert_eq!(wire.as_str(), strategy.as_str());
            assert_eq!(
                serde_json::to_value(&wire).unwrap(),
                json!(strategy.as_str())
            );
            assert_eq!(Strategy::from(strategy.as_str()).caching(), Some(strategy));
        }
        let odd: GenerationType = serde_json::from_str(r#""text_to_hologram""#).unwrap();
        assert_eq!(odd, GenerationType::Unknown("text_to_hologram".to_owned()));
        assert_eq!(
            serde_json::to_string(&odd).unwrap(),
            r#""text_to_hologram""#
        );
        assert_eq!(Strategy::from("forever").caching(), None);
        assert_eq!(Purpose::from(""), Purpose::Unknown(String::new()));
        assert!(serde_json::from_str::<Purpose>("3").is_err());
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes_as_asked() {
        let value = json!({"b": [1, {"z": null, "a": "é\n\u{1}"}], "a": "x\u{7f}😀\"\\",
            "seed": 1.5});
        // Python's json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=...).
        assert_eq!(
            canonical_json(&value, NonAscii::Escape),
            r#"{"a":"x\u007f\ud83d\ude00\"\\","b":[1,{"a":"\u00e9\n\u0001","z":null}],"seed":1.5}"#
        );
        assert_eq!(
            canonical_json(&value, NonAscii::Keep),
            "{\"a\":\"x\u{7f}😀\\\"\\\\\",\"b\":[1,{\"a\":\"é\\n\\u0001\",\"z\":null}],\"seed\":1.5}"
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let login = LoginRequest {
            email: Some("dev@example.com".into()),
            username: None,
            password: "hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        let answer = LoginResponse {
            access_token: "tok-123".into(),
            token_type: Some("bearer".into()),
            user: None,
        };
        assert!(!format!("{answer:?}").contains("tok-123"));
    }
}
