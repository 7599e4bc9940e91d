//! Record a run's exchanges with a source, and serve them again with no network.
//!
//! [`Recorder::wrap`] puts a [`RecordingSource`] around any
//! [`AssetSource`](crate::source::AssetSource): every exchange of
//! the run (the request as the source saw it, and its answer: media bytes with their MIME type,
//! origin, `served_as` and backend ids; that the source passed; or the error's kind and message)
//! is written to a directory. [`Recording::open`] reads that directory back, and its
//! [`ReplaySource`]s answer as the recorded sources did, byte for byte, without calling them. A
//! game's CI records a playthrough once against a real backend and then runs its playthrough
//! tests against those answers, without a token or a GPU.
//!
//! ```no_run
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::backend::PixSimSource;
//! use bevy_asset_provider::source::{Recorder, Recording};
//!
//! # fn main() -> Result<(), AssetError> {
//! // Recording: the backend's answers go to `recordings/story`.
//! let backend = PixSimSource::builder_from_env()?.build()?;
//! let recorder = Recorder::create("recordings/story")?;
//! let plugin = AssetProviderPlugin::new()
//!     .without_disk_cache()
//!     .with_source(recorder.wrap(backend.library())?)
//!     .with_source(recorder.wrap(backend)?);
//!
//! // In CI: the same answers, no backend.
//! let recording = Recording::open("recordings/story")?;
//! let mut plugin = AssetProviderPlugin::new().without_disk_cache();
//! for source in recording.sources() {
//!     plugin = plugin.with_source(source);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What identifies an exchange
//!
//! The wrapped source's [`name`](crate::source::AssetSource::name) (and, for sources that share
//! a name, the order the recorder wrapped them in) and the request's
//! [`RequestKey`](crate::RequestKey). The key is
//! the request's fingerprint, so it already holds everything that decides which media is meant,
//! the caching strategy's scope included: a `per_playthrough` or `per_player` request is
//! replayed only in a session with the recorded playthrough or player id (keep the
//! [`PlaySession`] ids of a test fixed; the default session's are).
//! A request asked again in one run (an `always` request, a retry) gets the recorded answers in
//! their recorded order, then the last one again.
//!
//! Record with the disk tier off (or empty): a request the disk tier serves never reaches the
//! source, so it is not recorded, and a replay without that cache would not find it. An exchange
//! given up before the source answered (a cancelled prefetch) is not recorded either.
//!
//! # The directory
//!
//! - `index.jsonl`: one JSON object a line. A `"line": "source"` line per wrapped source (its
//!   name, id, kind, the media kinds it handles and whether its results are kept on disk, and
//!   an `instance` from 1 on for the second and later sources of one name), then a
//!   `"line": "exchange"` line per exchange, appended as each ends: the source's name (and
//!   `instance`), the key,
//!   the request and session, whether it was background work, how long it took, and the
//!   `answer` (`{"media": {...}}`, `"passed"` or `{"error": {"kind", "message"}}`).
//! - `media/<sha256>.<ext>`: each distinct answer's bytes once, named by their SHA-256; written
//!   to a temporary file that is synced and renamed before its index line is appended, so a line
//!   never names a file that is not whole.
//!
//! A replay reads the index once, when opened (errors name the file, the line and the field),
//! and checks that each exchange's key is the one its recorded request and session give, so an
//! edited key is never served for another request. It checks each media file's size and
//! SHA-256 before serving it: a damaged or missing file is an error naming it, never served.
//!
//! A run that stops while writing a line leaves it cut short: opening skips that last line and
//! [`Recorder::create`] drops it before appending, each with a warning naming the file and the
//! line ([`Recording::cut_line`], [`Recorder::cut_line`]).

mod record;
mod replay;

pub use record::{Recorder, RecordingSource};
pub use replay::{Recording, ReplaySource};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{AssetError, AssetErrorKind};
use crate::json::{from_value, parse_strict};
use crate::request::{AssetRequest, MediaKind, PlaySession};
use crate::source::SourceKind;

/// The index file's name inside a recording directory.
pub const INDEX_FILE: &str = "index.jsonl";

/// The media folder's name inside a recording directory.
pub const MEDIA_DIR: &str = "media";

/// The index format written by this version.
const FORMAT_VERSION: u32 = 1;

/// One line of the index (read back field by field, so errors name the field).
#[derive(Debug, Serialize)]
#[serde(tag = "line", rename_all = "snake_case")]
enum IndexLine {
    Source(SourceLine),
    Exchange(Box<ExchangeLine>),
}

/// What a wrapped source is, so its replay answers the chain's questions as it did.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SourceLine {
    version: u32,
    name: String,
    /// Which source of this name it is, in the order a recorder wrapped them (0 for the first;
    /// left out when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    instance: u32,
    id: String,
    kind: SourceKind,
    handles: Vec<MediaKind>,
    caches_results: bool,
}

/// One exchange: a request and the source's answer.
#[derive(Debug, Serialize, Deserialize)]
struct ExchangeLine {
    source: String,
    /// The [`SourceLine::instance`] of the source that answered.
    #[serde(default, skip_serializing_if = "is_zero")]
    instance: u32,
    /// The request key, 64 hex digits.
    key: String,
    request: AssetRequest,
    session: PlaySession,
    background: bool,
    /// How long the source took, for people reading the index; a replay answers at once.
    ms: u64,
    answer: Answer,
}

/// How the source answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    /// It served media.
    Media(RecordedMedia),
    /// It had nothing for the request (`Ok(None)`).
    Passed,
    /// It failed.
    Error(RecordedError),
}

/// Served media, its bytes in the media folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RecordedMedia {
    sha256: String,
    /// The file, relative to the recording directory (`media/<sha256>.<ext>`).
    file: String,
    bytes: u64,
    mime: String,
    origin: String,
    served_as: Option<SourceKind>,
    generation_id: Option<String>,
    asset_id: Option<String>,
}

/// A failure, as its kind and message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RecordedError {
    kind: String,
    message: String,
}

impl RecordedError {
    fn from_error(error: &AssetError) -> Self {
        Self {
            kind: error.kind().as_str().to_owned(),
            message: error.message().to_owned(),
        }
    }
}

/// Every error kind, for reading recorded ones back by name.
const ERROR_KINDS: [AssetErrorKind; 11] = [
    AssetErrorKind::NoSource,
    AssetErrorKind::NotFound,
    AssetErrorKind::Generation,
    AssetErrorKind::Rejected,
    AssetErrorKind::TimedOut,
    AssetErrorKind::Cancelled,
    AssetErrorKind::Decode,
    AssetErrorKind::Io,
    AssetErrorKind::InvalidData,
    AssetErrorKind::Unsupported,
    AssetErrorKind::Shutdown,
];

/// The error kind named `name`.
fn error_kind(name: &str) -> Option<AssetErrorKind> {
    ERROR_KINDS.into_iter().find(|kind| kind.as_str() == name)
}

/// One index line, or the field at fault and what is wrong with it.
fn parse_line(line: &str) -> Result<IndexLine, (String, String)> {
    fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, (String, String)> {
        // A line of the wrong shape as a whole is named ".", the root.
        from_value(value).map_err(|err| {
            let field = err.field().unwrap_or(".").to_owned();
            (field, err.into_inner().to_string())
        })
    }
    let value: Value = parse_strict(line.as_bytes())
        .map_err(|err| ("(line)".to_owned(), err.into_inner().to_string()))?;
    match value.get("line").and_then(Value::as_str) {
        Some("source") => typed(value).map(IndexLine::Source),
        Some("exchange") => typed(value).map(|exchange| IndexLine::Exchange(Box::new(exchange))),
        _ => Err((
            "line".to_owned(),
            "is not \"source\" or \"exchange\"".to_owned(),
        )),
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The media file's name for bytes with `sha256` of type `mime`, relative to the directory.
fn media_file(sha256: &str, mime: &str) -> String {
    let extension = match mime.split(';').next().unwrap_or_default().trim() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/flac" => "flac",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => "bin",
    };
    format!("{MEDIA_DIR}/{sha256}.{extension}")
}

#[cfg(test)]
mod tests;
