//! What a game asks for: [`AssetRequest`], built from game context, and its [`RequestKey`].

mod canonical;
mod describe;
mod fallback;
mod limits;
mod session;

pub use canonical::{NonAscii, canonical_json};
pub(crate) use describe::{describe, describe_in_full};
pub use fallback::Fallback;
pub use limits::MediaLimits;
pub use session::PlaySession;

use bevy::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Duration;

/// The longest wait honoured anywhere a wait is configured (a request's `max_wait`, the
/// plugin's default timeout, a generator's latency): 365 days, as good as forever for a game.
/// Longer waits, up to `Duration::MAX`, are treated as this one, so no setting can overflow a
/// deadline.
pub const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The kind of media a request wants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reflect, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A still image, delivered as a `Handle<Image>`.
    #[default]
    Image,
    /// A sound, delivered as a `Handle<AudioSource>` (with the `audio` feature).
    Audio,
    /// A video clip. Shown as its placeholder image until a video-capable source serves it.
    Video,
}

impl MediaKind {
    /// The snake_case name used in keys, manifests and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }

    /// Whether media of type `mime` (without parameters) can serve a request of this kind: a
    /// video request may show a still image.
    #[cfg(feature = "http")]
    pub(crate) fn accepts_mime(self, mime: &str) -> bool {
        match self {
            Self::Image => mime.starts_with("image/"),
            Self::Audio => mime.starts_with("audio/"),
            Self::Video => mime.starts_with("video/") || mime.starts_with("image/"),
        }
    }
}

/// How long a result may be reused and by whom (the backend's `strategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reflect, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CachingStrategy {
    /// One result for everyone, kept 365 days.
    #[default]
    Once,
    /// One result per playthrough, kept 90 days.
    PerPlaythrough,
    /// One result per player, kept 180 days.
    PerPlayer,
    /// A fresh result every time: never served from a cache, never joined to another request.
    Always,
}

impl CachingStrategy {
    /// The snake_case name the backend uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::PerPlaythrough => "per_playthrough",
            Self::PerPlayer => "per_player",
            Self::Always => "always",
        }
    }

    /// How long a result may be cached; `None` for [`CachingStrategy::Always`] (never cached).
    pub fn ttl(self) -> Option<Duration> {
        const DAY: u64 = 24 * 60 * 60;
        match self {
            Self::Once => Some(Duration::from_secs(365 * DAY)),
            Self::PerPlaythrough => Some(Duration::from_secs(90 * DAY)),
            Self::PerPlayer => Some(Duration::from_secs(180 * DAY)),
            Self::Always => None,
        }
    }

    /// Whether a result may be served from a cache or shared with an identical request.
    pub fn is_cacheable(self) -> bool {
        self != Self::Always
    }

    /// The scope a key is bound to: the playthrough or the player, from `session`.
    pub fn scope(self, session: &PlaySession) -> Option<String> {
        match self {
            Self::PerPlaythrough => Some(format!("pt:{}", session.playthrough_id)),
            Self::PerPlayer => Some(format!("player:{}", session.player_id)),
            Self::Once | Self::Always => None,
        }
    }
}

/// Why the media is wanted (the backend's `purpose`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reflect, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationPurpose {
    /// Fills a gap between two scenes.
    #[default]
    GapFill,
    /// A variation of existing media.
    Variation,
    /// Adapts to the player's state.
    Adaptive,
    /// Background ambience.
    Ambient,
}

impl GenerationPurpose {
    /// The snake_case name the backend uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GapFill => "gap_fill",
            Self::Variation => "variation",
            Self::Adaptive => "adaptive",
            Self::Ambient => "ambient",
        }
    }
}

/// A request for media, described by game context rather than by file.
///
/// Build one with [`AssetRequest::image`] or [`AssetRequest::audio`] and the builder methods, then
/// pass it to [`AssetProvider::request`](crate::provider::AssetProvider::request), send it in a
/// [`RequestAsset`](crate::provider::RequestAsset) message, or insert it on an entity: the plugin
/// then adds a [`GenerationTask`](crate::provider::GenerationTask) beside it in the same frame.
///
/// Inserting a request on an entity whose task is still in flight replaces that request (its
/// job is given up, a new one starts) unless the new request has the same key: then the job
/// goes on, and nothing is cancelled, started or sent. Fields outside the key (`priority`,
/// `max_wait`, `allow_generation`, ...) do not change a job already running.
///
/// ```
/// # use bevy_asset_provider::prelude::*;
/// let request = AssetRequest::image()
///     .scene("romance_5")
///     .choice("confess")
///     .character("npc:anne")
///     .location("park")
///     .prompt("a quiet park at dusk, two figures on a bench")
///     .strategy(CachingStrategy::PerPlaythrough)
///     .seed(42);
/// assert_eq!(request.kind, MediaKind::Image);
/// ```
#[derive(Component, Clone, Debug, Default, PartialEq, Reflect, Serialize, Deserialize)]
#[reflect(Component, Debug, Default)]
pub struct AssetRequest {
    /// The media kind wanted.
    pub kind: MediaKind,
    /// The scene the media belongs to (the backend's `from_scene`).
    pub scene_id: Option<String>,
    /// The choice that leads to it.
    pub choice_id: Option<String>,
    /// The scene it leads to, for transitions (the backend's `to_scene`).
    pub to_scene_id: Option<String>,
    /// The main character shown (`npc:anne`, `player`, or a bare id read as `npc:<id>`).
    pub character_id: Option<String>,
    /// The location shown (`loc:park` or a bare id read as `loc:<id>`).
    pub location_id: Option<String>,
    /// A pre-made asset wanted by id (a manifest entry or a backend asset id).
    pub asset_id: Option<String>,
    /// The text prompt for generation.
    pub prompt: Option<String>,
    /// Style parameters passed to the generator as they are (a JSON object).
    #[reflect(ignore)]
    pub style: Option<Value>,
    /// Wanted duration in seconds, for audio and video.
    pub duration_secs: Option<f32>,
    /// Tags the media should carry (`role:bg`, `cam:wide`, ...).
    pub tags: Vec<String>,
    /// Caching strategy; decides the key's scope and how long results are kept.
    pub strategy: CachingStrategy,
    /// Why the media is wanted.
    pub purpose: GenerationPurpose,
    /// Serve from caches when possible (default `true`). `false` asks for a fresh result.
    pub prefer_cached: bool,
    /// Allow a generator to run when nothing cached or pre-made matches (default `true`).
    pub allow_generation: bool,
    /// Give up after this long; `None` uses the plugin's default timeout. At most 365 days: a
    /// longer wait is treated as that.
    pub max_wait: Option<Duration>,
    /// 0 (lowest) to 10 (highest); 5 by default.
    pub priority: u8,
    /// Generator seed, for reproducible results.
    pub seed: Option<u64>,
    /// What the handle shows until the real media arrives, instead of the bare placeholder
    /// (image and video requests). Not part of the key, and not serialised.
    #[serde(skip)]
    pub fallback: Option<Fallback>,
}

impl AssetRequest {
    /// A request for media of `kind` with default settings.
    #[must_use]
    pub fn new(kind: MediaKind) -> Self {
        Self {
            kind,
            prefer_cached: true,
            allow_generation: true,
            priority: 5,
            ..Default::default()
        }
    }

    /// A request for an image.
    #[must_use]
    pub fn image() -> Self {
        Self::new(MediaKind::Image)
    }

    /// A request for a sound.
    #[must_use]
    pub fn audio() -> Self {
        Self::new(MediaKind::Audio)
    }

    /// A request for a video clip.
    #[must_use]
    pub fn video() -> Self {
        Self::new(MediaKind::Video)
    }

    /// Sets the scene the media belongs to.
    #[must_use]
    pub fn scene(mut self, id: impl Into<String>) -> Self {
        self.scene_id = Some(id.into());
        self
    }

    /// Sets the choice that leads to the media.
    #[must_use]
    pub fn choice(mut self, id: impl Into<String>) -> Self {
        self.choice_id = Some(id.into());
        self
    }

    /// Sets the scene the media leads to.
    #[must_use]
    pub fn to_scene(mut self, id: impl Into<String>) -> Self {
        self.to_scene_id = Some(id.into());
        self
    }

    /// Sets the main character.
    #[must_use]
    pub fn character(mut self, id: impl Into<String>) -> Self {
        self.character_id = Some(id.into());
        self
    }

    /// Sets the location.
    #[must_use]
    pub fn location(mut self, id: impl Into<String>) -> Self {
        self.location_id = Some(id.into());
        self
    }

    /// Asks for a pre-made asset by id.
    #[must_use]
    pub fn asset_id(mut self, id: impl Into<String>) -> Self {
        self.asset_id = Some(id.into());
        self
    }

    /// Sets the generation prompt.
    #[must_use]
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// Sets style parameters (a JSON object).
    #[must_use]
    pub fn style(mut self, style: Value) -> Self {
        self.style = Some(style);
        self
    }

    /// Sets the wanted duration in seconds.
    #[must_use]
    pub fn duration_secs(mut self, secs: f32) -> Self {
        self.duration_secs = Some(secs);
        self
    }

    /// Adds one tag.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds several tags.
    #[must_use]
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets the caching strategy.
    #[must_use]
    pub fn strategy(mut self, strategy: CachingStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Sets the purpose.
    #[must_use]
    pub fn purpose(mut self, purpose: GenerationPurpose) -> Self {
        self.purpose = purpose;
        self
    }

    /// Whether caches may serve this request.
    #[must_use]
    pub fn prefer_cached(mut self, prefer: bool) -> Self {
        self.prefer_cached = prefer;
        self
    }

    /// Whether a generator may run for this request.
    #[must_use]
    pub fn allow_generation(mut self, allow: bool) -> Self {
        self.allow_generation = allow;
        self
    }

    /// Gives up after `wait` (at most 365 days).
    #[must_use]
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Sets the priority, clamped to 0..=10.
    #[must_use]
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority.min(10);
        self
    }

    /// Sets the generator seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Shows `fallback` behind the handle until the real media arrives, instead of the bare
    /// placeholder (see [`Fallback`]). It does not change the request's key.
    #[must_use]
    pub fn fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Whether this request may be served from a cache or joined to an identical one.
    pub fn is_cacheable(&self) -> bool {
        self.prefer_cached && self.strategy.is_cacheable()
    }

    /// The canonical JSON form the key is computed from.
    ///
    /// Only what decides *which media* is included: kind, scene, choice, to-scene, character,
    /// location, asset id, prompt, style, duration, tags (sorted, without duplicates), strategy,
    /// purpose, scope (`pt:<playthrough>` or `player:<player>` for the scoped strategies) and
    /// seed, plus `"v": 1`. Absent fields are left out, object keys are sorted at every depth,
    /// and there is no whitespace. Priority, `max_wait`, `prefer_cached`, `allow_generation` and
    /// `fallback` change how media is fetched or what shows meanwhile, not which media, so they
    /// are not part of it.
    pub fn canonical_json(&self, session: &PlaySession) -> String {
        let mut map = Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        };
        put("v", Some(Value::from(1)));
        put("kind", Some(Value::from(self.kind.as_str())));
        put("scene", self.scene_id.clone().map(Value::from));
        put("choice", self.choice_id.clone().map(Value::from));
        put("to_scene", self.to_scene_id.clone().map(Value::from));
        put("character", self.character_id.clone().map(Value::from));
        put("location", self.location_id.clone().map(Value::from));
        put("asset_id", self.asset_id.clone().map(Value::from));
        put("prompt", self.prompt.clone().map(Value::from));
        put("style", self.style.clone());
        put(
            "duration",
            self.duration_secs.map(|d| Value::from(f64::from(d))),
        );
        if !self.tags.is_empty() {
            let mut tags = self.tags.clone();
            tags.sort();
            tags.dedup();
            put("tags", Some(Value::from(tags)));
        }
        put("strategy", Some(Value::from(self.strategy.as_str())));
        put("purpose", Some(Value::from(self.purpose.as_str())));
        put("scope", self.strategy.scope(session).map(Value::from));
        put("seed", self.seed.map(Value::from));
        canonical_json(&Value::Object(map), NonAscii::Keep)
    }

    /// The request's key: SHA-256 of [`canonical_json`](Self::canonical_json).
    pub fn fingerprint(&self, session: &PlaySession) -> RequestKey {
        RequestKey(Sha256::digest(self.canonical_json(session).as_bytes()).into())
    }
}

/// The fingerprint of a request: identical requests have equal keys and share one job and one
/// result.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Reflect, Serialize, Deserialize)]
pub struct RequestKey(pub [u8; 32]);

impl RequestKey {
    /// The full key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, enough to tell keys apart in logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..6])
    }
}

impl fmt::Display for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestKey({})", self.short())
    }
}
