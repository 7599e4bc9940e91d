//! The names the backend sends as strings: a generation's status, its operation, its purpose
//! and its strategy; an unknown name reads as `Unknown`.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

use crate::request::{CachingStrategy, GenerationPurpose, MediaKind};

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
