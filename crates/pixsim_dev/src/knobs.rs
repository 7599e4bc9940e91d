//! The knobs' types: the endpoints faults go to, the faults, where the backend behaves like the
//! real service, and the pre-made assets it starts with.

use std::collections::HashMap;
use std::time::Duration;

use bevy_asset_provider::MediaKind;

/// How `GET /api/v1/game/scenes/{id}` reports its nodes' media; see
/// [`DevBackendBuilder::scene_media`](crate::DevBackendBuilder::scene_media). (Not `SceneMedia`: that name is the scene graph's
/// marker component, in the prelude.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SceneMediaMode {
    /// The scene JSON exactly as given to [`DevBackendBuilder::scene`](crate::DevBackendBuilder::scene).
    #[default]
    AsWritten,
    /// As the real service: a node whose `assetId` names an asset of this backend gets that
    /// asset's absolute remote (CDN) URL as `mediaUrl` (and in `media[]`), `null` when it has
    /// none (pre-made assets); other nodes get `null`. Node and edge ids are strings, edges have
    /// no `weight`, and their `isDefault`, `conditions` and `effects` are `null`. Generated
    /// assets then get a `remote_url` on this server, `/cdn/{key}`, served without a token.
    RemoteOrNull,
}

/// The endpoints faults can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /api/v1/auth/login`.
    Login,
    /// `POST /api/v1/generations`.
    CreateGeneration,
    /// `GET /api/v1/generations/{id}`.
    GetGeneration,
    /// `GET /api/v1/assets/{id}`.
    Asset,
    /// File downloads (`/api/v1/assets/{id}/file`, `/api/v1/media/{key}`).
    Download,
    /// `POST /api/v1/assets/search`.
    Search,
    /// `POST /api/v1/game/assets/request`.
    GameRequest,
}

/// Faults to inject; all off by default.
#[derive(Clone, Debug, Default)]
pub(crate) struct Faults {
    pub error_rate: HashMap<Endpoint, f32>,
    pub fail_next: HashMap<Endpoint, u32>,
    pub rate_limit_next: HashMap<Endpoint, (u32, Option<u64>)>,
    pub malformed_next: HashMap<Endpoint, u32>,
    pub latency: Duration,
    pub stall_jobs: bool,
    pub reject_prompts_containing: Option<String>,
    pub truncate_downloads: bool,
    pub corrupt_downloads: bool,
    pub corrupt_next_downloads: u32,
    pub drop_sockets_after: Option<usize>,
}

/// Where the dev backend behaves like the real service instead of the contract; all off by
/// default.
#[derive(Clone, Debug)]
pub(crate) struct RealService {
    /// Tokens of users 2, 3, ...
    pub extra_accounts: Vec<String>,
    pub global_dedup: bool,
    pub real_cache_key: bool,
    /// The word, and how many times a job with it fails before it renders.
    pub moderation: Option<(String, u32)>,
    pub server_retry_delay: Duration,
    pub max_server_retries: u32,
    pub cancel_loses_race: bool,
    pub invalid_creates_answer_500: bool,
    /// Creates a minute per user, and whether a 429 says `Retry-After`.
    pub create_rate_limit: Option<(u32, bool)>,
    pub reject_numeric_ids: bool,
    pub real_event_shapes: bool,
    pub scene_media: SceneMediaMode,
}

impl Default for RealService {
    fn default() -> Self {
        Self {
            extra_accounts: Vec::new(),
            global_dedup: false,
            real_cache_key: false,
            moderation: None,
            server_retry_delay: Duration::from_millis(300),
            max_server_retries: 3,
            cancel_loses_race: false,
            invalid_creates_answer_500: false,
            create_rate_limit: None,
            reject_numeric_ids: false,
            real_event_shapes: false,
            scene_media: SceneMediaMode::AsWritten,
        }
    }
}

/// A pre-made asset the dev backend starts with.
#[derive(Clone, Debug)]
pub(crate) struct PremadeSpec {
    pub tags: Vec<String>,
    pub kind: MediaKind,
    pub seed: u64,
}
