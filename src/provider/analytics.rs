//! One event stream for analytics: every step a request goes through, from requested to played,
//! including what prefetching won and wasted. Sent as a [`Message`] (read it with a
//! `MessageReader<AnalyticsEvent>`) and triggered as an [`Event`] (watch it with an observer).

use bevy::prelude::*;
use serde::{Serialize, Serializer};
use std::time::Duration;

use crate::request::{MediaKind, RequestKey};
use crate::source::SourceKind;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalyticsKind {
    /// A request was made (a foreground request or a prefetch).
    Requested,
    /// A cache served it: see [`AnalyticsEvent::tier`].
    ServedFromCache,
    /// A pre-made asset served it.
    ServedPreMade,
    /// A generator was asked: from here on the request may cost money.
    GenerationStarted,
    /// Real media is behind the handle (whatever served it).
    Completed,
    /// It failed; the placeholder stays.
    Failed,
    /// It gave up after its `max_wait`.
    TimedOut,
    /// Nobody wanted it any more.
    Cancelled,
    /// The game showed or played it ([`AssetPlayed`]).
    Played,
    /// A foreground request found its media prefetched (ready or in flight).
    PrefetchUsed,
    /// A prefetch that reached a generator was abandoned unused.
    PrefetchWasted,
}

/// Which cache served a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheTier {
    /// The provider's memory tier, on the frame.
    Memory,
    /// The disk tier.
    Disk,
    /// The backend's own cache.
    Backend,
}

/// One analytics event. Serialises to a flat JSON object (the key as hex), ready to be written
/// as a JSON line.
#[derive(Message, Event, Clone, Debug, Serialize)]
pub struct AnalyticsEvent {
    /// What happened.
    pub kind: AnalyticsKind,
    /// The request's key.
    #[serde(serialize_with = "key_hex")]
    pub key: RequestKey,
    /// The media kind.
    pub media: MediaKind,
    /// The request's scene, when the event is about one request.
    pub scene_id: Option<String>,
    /// The request's choice.
    pub choice_id: Option<String>,
    /// Whether the request is a prefetch nobody waits for yet.
    pub prefetch: bool,
    /// The kind of source that served it (on completion).
    pub source: Option<SourceKind>,
    /// The cache tier that served it.
    pub tier: Option<CacheTier>,
    /// Time from the request to this event, in milliseconds.
    #[serde(serialize_with = "millis")]
    pub elapsed: Option<Duration>,
    /// The error, for failures.
    pub error: Option<String>,
    /// On [`Completed`](AnalyticsKind::Completed), [`Failed`](AnalyticsKind::Failed) and
    /// [`TimedOut`](AnalyticsKind::TimedOut) (and a [`Cancelled`](AnalyticsKind::Cancelled) the
    /// runtime reported, not one sent because the last holder left) of a job a foreground
    /// request held: how long the
    /// request that waited longest (the first to get the handle) looked at the bare
    /// placeholder, from getting its handle until the job ended, in milliseconds. `None` for a
    /// prefetch nobody asked for and for other kinds of event.
    #[serde(serialize_with = "millis")]
    pub on_placeholder: Option<Duration>,
    /// Like [`on_placeholder`](Self::on_placeholder): how long that request looked at its
    /// [`Fallback`](crate::Fallback) instead (0 when it had none or it never loaded).
    #[serde(serialize_with = "millis")]
    pub on_fallback: Option<Duration>,
}

impl AnalyticsEvent {
    /// An event of `kind` about `key`, with nothing else filled in.
    pub fn new(kind: AnalyticsKind, key: RequestKey, media: MediaKind) -> Self {
        Self {
            kind,
            key,
            media,
            scene_id: None,
            choice_id: None,
            prefetch: false,
            source: None,
            tier: None,
            elapsed: None,
            error: None,
            on_placeholder: None,
            on_fallback: None,
        }
    }
}

fn key_hex<S: Serializer>(key: &RequestKey, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&key.to_hex())
}

fn millis<S: Serializer>(elapsed: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match elapsed {
        Some(elapsed) => {
            serializer.serialize_u64(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        }
        None => serializer.serialize_none(),
    }
}

/// Sent by the game when it shows or plays media, so analytics (and prefetch accounting) know
/// it reached the player.
#[derive(Message, Clone, Debug)]
pub struct AssetPlayed {
    /// The media's key ([`GenerationTask::key`](crate::provider::GenerationTask::key)).
    pub key: RequestKey,
    /// The media kind.
    pub kind: MediaKind,
}
