//! [`Recording`] and [`ReplaySource`]: a recording directory read back and served.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use crate::error::{AssetError, AssetErrorKind};
use crate::request::{AssetRequest, MediaKind, PlaySession, RequestKey, describe_in_full};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

use super::{
    Answer, ExchangeLine, FORMAT_VERSION, INDEX_FILE, IndexLine, RecordedMedia, SourceLine,
    error_kind, media_file, parse_line,
};

/// A recording directory, read back (see the [module](crate::source::recording)): the sources
/// recorded in it and their exchanges, ready to be served by [`ReplaySource`]s.
#[derive(Clone)]
pub struct Recording {
    dir: PathBuf,
    /// The recorded sources, in the order they were first wrapped; the last description of a
    /// source (a name and its instance) wins.
    sources: Vec<SourceLine>,
    /// Each source's exchanges by key, in recorded order.
    exchanges: HashMap<(String, u32), HashMap<RequestKey, Vec<Recorded>>>,
    /// The cut-short last line skipped.
    cut_line: Option<usize>,
}

/// One recorded exchange, as a replay needs it.
#[derive(Clone, Debug)]
struct Recorded {
    request: AssetRequest,
    session: PlaySession,
    answer: Answer,
}

impl Recording {
    /// Reads the recording in `dir`.
    ///
    /// A missing index is an [`Io`](AssetErrorKind::Io) error naming it; a malformed line is an
    /// [`InvalidData`](AssetErrorKind::InvalidData) error naming the file, the line and the
    /// field. An exchange whose key is not the one its recorded request and session give (an
    /// edited index, or one written by a version that keyed requests otherwise) is such an
    /// error too, so it is never served for another request. A last line cut short (the
    /// recording run stopped while writing it) is skipped with a warning (see
    /// [`cut_line`](Self::cut_line)). Media files are checked when served, not here.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, AssetError> {
        let dir = dir.into();
        let index_path = dir.join(INDEX_FILE);
        let text = std::fs::read(&index_path).map_err(|err| {
            AssetError::io(format!(
                "recording {}: cannot read: {err}",
                index_path.display()
            ))
            .with_source(err)
        })?;
        let mut recording = Self {
            dir,
            sources: Vec::new(),
            exchanges: HashMap::new(),
            cut_line: None,
        };
        let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
        for (number, line) in lines.iter().enumerate().map(|(i, line)| (i + 1, *line)) {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let invalid = |field: &str, problem: &dyn fmt::Display| {
                AssetError::invalid_data(format!(
                    "recording {}: line {number}: {field}: {problem}",
                    index_path.display()
                ))
            };
            let parsed = std::str::from_utf8(line)
                .map_err(|err| ("(line)".to_owned(), err.to_string()))
                .and_then(parse_line);
            let parsed = match parsed {
                Ok(parsed) => parsed,
                // The text after the last newline is a line whose writing never finished (cut
                // anywhere, inside a character too).
                Err(_) if number == lines.len() => {
                    bevy::log::warn!(
                        "recording {}: line {number} was cut short (a recording run stopped \
                         while writing it); skipped",
                        index_path.display()
                    );
                    recording.cut_line = Some(number);
                    continue;
                }
                Err((field, problem)) => return Err(invalid(&field, &problem)),
            };
            recording.add_line(parsed, &invalid)?;
        }
        Ok(recording)
    }

    /// Adds one line of the index: a source's description (a later line of the same source
    /// replaces it) or an exchange.
    fn add_line(
        &mut self,
        line: IndexLine,
        invalid: &dyn Fn(&str, &dyn fmt::Display) -> AssetError,
    ) -> Result<(), AssetError> {
        match line {
            IndexLine::Source(source) => {
                if source.version > FORMAT_VERSION {
                    return Err(invalid(
                        "version",
                        &format!(
                            "{} is newer than this reader's {FORMAT_VERSION}",
                            source.version
                        ),
                    ));
                }
                let known = self
                    .sources
                    .iter_mut()
                    .find(|s| s.name == source.name && s.instance == source.instance);
                match known {
                    Some(known) => *known = source,
                    None => self.sources.push(source),
                }
            }
            IndexLine::Exchange(exchange) => {
                self.add_exchange(*exchange, invalid)?;
            }
        }
        Ok(())
    }

    fn add_exchange(
        &mut self,
        exchange: ExchangeLine,
        invalid: &dyn Fn(&str, &dyn fmt::Display) -> AssetError,
    ) -> Result<(), AssetError> {
        let described = self
            .sources
            .iter()
            .any(|s| s.name == exchange.source && s.instance == exchange.instance);
        if !described {
            return Err(invalid(
                "source",
                &format!(
                    "{:?} (instance {}) is not described by a source line before it",
                    exchange.source, exchange.instance
                ),
            ));
        }
        let key =
            parse_key(&exchange.key).ok_or_else(|| invalid("key", &"is not 64 hex digits"))?;
        // Served by key: the key must be the one the recorded request has.
        let expected = exchange.request.fingerprint(&exchange.session);
        if key != expected {
            return Err(invalid(
                "key",
                &format!(
                    "{} is not the key of the request and session recorded with it ({}); the \
                     index was changed, or written by a version that keyed requests otherwise",
                    exchange.key,
                    expected.to_hex()
                ),
            ));
        }
        match &exchange.answer {
            Answer::Media(media) => check_media(media, invalid)?,
            Answer::Error(error) if error_kind(&error.kind).is_none() => {
                return Err(invalid(
                    "answer.error.kind",
                    &format!("unknown error kind {:?}", error.kind),
                ));
            }
            Answer::Error(_) | Answer::Passed => {}
        }
        self.exchanges
            .entry((exchange.source, exchange.instance))
            .or_default()
            .entry(key)
            .or_default()
            .push(Recorded {
                request: exchange.request,
                session: exchange.session,
                answer: exchange.answer,
            });
        Ok(())
    }

    /// The recording's directory.
    pub fn directory(&self) -> &Path {
        &self.dir
    }

    /// The number (from 1) of the index's last line, skipped because it was cut short (a
    /// recording run stopped while writing it); `None` when every line was whole.
    pub fn cut_line(&self) -> Option<usize> {
        self.cut_line
    }

    /// The names of the recorded sources, in the order they were wrapped (a name twice when
    /// two sources had it).
    pub fn source_names(&self) -> impl Iterator<Item = &str> {
        self.sources.iter().map(|source| source.name.as_str())
    }

    /// How many exchanges were recorded, over every source.
    pub fn exchanges(&self) -> usize {
        self.exchanges
            .values()
            .flat_map(|by_key| by_key.values())
            .map(Vec::len)
            .sum()
    }

    /// A replay of every recorded source, in the order they were wrapped: put them in the chain
    /// where the recorded sources were. Sources that had the same name are replayed apart, each
    /// with its own answers.
    pub fn sources(&self) -> Vec<ReplaySource> {
        self.sources
            .iter()
            .map(|source| self.replay(source))
            .collect()
    }

    /// A replay of the recorded source `name` (the first wrapped, when several had that name;
    /// [`sources`](Self::sources) has each); a [`NotFound`](AssetErrorKind::NotFound) error
    /// listing the recorded names when there is none.
    pub fn source(&self, name: &str) -> Result<ReplaySource, AssetError> {
        match self.sources.iter().find(|source| source.name == name) {
            Some(source) => Ok(self.replay(source)),
            None => Err(AssetError::not_found(format!(
                "recording {}: no source {name:?} was recorded (recorded: {})",
                self.dir.display(),
                self.source_names()
                    .map(|name| format!("{name:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn replay(&self, source: &SourceLine) -> ReplaySource {
        let exchanges = self
            .exchanges
            .get(&(source.name.clone(), source.instance))
            .map(|by_key| {
                by_key
                    .iter()
                    .map(|(key, recorded)| {
                        (
                            *key,
                            Replayed {
                                recorded: recorded.clone(),
                                next: AtomicUsize::new(0),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        ReplaySource {
            dir: self.dir.clone(),
            source: source.clone(),
            exchanges: Arc::new(exchanges),
        }
    }
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording")
            .field("directory", &self.dir)
            .field("sources", &self.source_names().collect::<Vec<_>>())
            .field("exchanges", &self.exchanges())
            .finish()
    }
}

/// 64 hex digits as a key.
fn parse_key(text: &str) -> Option<RequestKey> {
    let bytes = hex::decode(text).ok()?;
    Some(RequestKey(bytes.try_into().ok()?))
}

/// A media answer's hash is a hash and its file is the one the hash and type name (never a path
/// out of the recording).
fn check_media(
    media: &RecordedMedia,
    invalid: &dyn Fn(&str, &dyn fmt::Display) -> AssetError,
) -> Result<(), AssetError> {
    let is_hash = media.sha256.len() == 64
        && media
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_hash {
        return Err(invalid(
            "answer.media.sha256",
            &"is not 64 lowercase hex digits",
        ));
    }
    let expected = media_file(&media.sha256, &media.mime);
    if media.file != expected {
        return Err(invalid(
            "answer.media.file",
            &format!("{:?} is not {expected:?}", media.file),
        ));
    }
    Ok(())
}

/// A key's recorded answers and how many times it has been asked.
#[derive(Debug)]
struct Replayed {
    recorded: Vec<Recorded>,
    next: AtomicUsize,
}

impl Replayed {
    /// The answer for this asking: the recorded ones in order, then the last again.
    fn next_answer(&self) -> &Answer {
        let n = self.next.fetch_add(1, Ordering::AcqRel);
        let last = self.recorded.len().saturating_sub(1);
        &self.recorded[n.min(last)].answer
    }

    fn peek(&self) -> &Answer {
        let n = self.next.load(Ordering::Acquire);
        let last = self.recorded.len().saturating_sub(1);
        &self.recorded[n.min(last)].answer
    }
}

/// Serves a recorded source's answers again, with no network: media byte for byte (checked
/// against its recorded size and SHA-256), passes as passes, errors as errors of the same kind
/// and message. It has the recorded source's name, id and kind, and handles the kinds it
/// handled. A request the recording does not hold is a [`NotFound`](AssetErrorKind::NotFound)
/// error naming it. Made by [`Recording::sources`] or [`Recording::source`].
pub struct ReplaySource {
    dir: PathBuf,
    source: SourceLine,
    exchanges: Arc<HashMap<RequestKey, Replayed>>,
}

impl fmt::Debug for ReplaySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplaySource")
            .field("directory", &self.dir)
            .field("source", &self.source.name)
            .field("instance", &self.source.instance)
            .field("keys", &self.exchanges.len())
            .finish()
    }
}

impl ReplaySource {
    /// The error for a request the recording does not hold.
    fn not_recorded(&self, request: &SourceRequest) -> AssetError {
        // The same request recorded in another session (its key holds the scope): say so.
        let other_session = self
            .exchanges
            .values()
            .flat_map(|replayed| &replayed.recorded)
            .find(|recorded| recorded.request.fingerprint(&request.session) == request.key)
            .map(|recorded| {
                format!(
                    "; it was recorded in another session (playthrough {:?}, player {:?}), and \
                     a {} request is replayed only in the session it was recorded in",
                    recorded.session.playthrough_id,
                    recorded.session.player_id,
                    request.request.strategy.as_str()
                )
            })
            .unwrap_or_else(|| "; record a run that asks for it".to_owned());
        AssetError::not_found(format!(
            "recording {}: source {:?} has no recorded answer for the {}, key {}{other_session}",
            self.dir.display(),
            self.source.name,
            describe_in_full(&request.request),
            request.key.to_hex(),
        ))
    }

    /// The recorded media's bytes, checked against what was recorded.
    async fn read_media(
        &self,
        media: &RecordedMedia,
        request: &SourceRequest,
    ) -> Result<SourcedMedia, AssetError> {
        let path = self.dir.join(&media.file);
        let what = || {
            format!(
                "recording {}: the media of the {} (key {})",
                path.display(),
                describe_in_full(&request.request),
                request.key.short()
            )
        };
        let size = tokio::fs::metadata(&path)
            .await
            .map_err(|err| AssetError::io(format!("{}: cannot read: {err}", what())))?
            .len();
        if size != media.bytes {
            return Err(AssetError::invalid_data(format!(
                "{}: {size} bytes on disk, {} recorded (damaged); not served",
                what(),
                media.bytes
            )));
        }
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|err| AssetError::io(format!("{}: cannot read: {err}", what())))?;
        let actual = crate::files::sha256_hex(&bytes);
        if actual != media.sha256 {
            return Err(AssetError::invalid_data(format!(
                "{}: SHA-256 is {actual}, {} recorded (damaged); not served",
                what(),
                media.sha256
            )));
        }
        let mut served = SourcedMedia::new(bytes, media.mime.clone(), media.origin.clone())
            .with_backend_ids(media.generation_id.clone(), media.asset_id.clone());
        served.served_as = media.served_as;
        Ok(served)
    }
}

#[async_trait]
impl AssetSource for ReplaySource {
    fn name(&self) -> &str {
        &self.source.name
    }

    fn kind(&self) -> SourceKind {
        self.source.kind
    }

    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.source.id)
    }

    fn handles(&self, kind: MediaKind) -> bool {
        self.source.handles.contains(&kind)
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let Some(replayed) = self.exchanges.get(&request.key) else {
            return Err(self.not_recorded(request));
        };
        match replayed.next_answer() {
            Answer::Passed => Ok(None),
            Answer::Error(error) => Err(AssetError::new(
                error_kind(&error.kind).unwrap_or(AssetErrorKind::Generation),
                error.message.clone(),
            )),
            Answer::Media(media) => self.read_media(media, request).await.map(Some),
        }
    }

    async fn is_available(&self, request: &SourceRequest) -> bool {
        self.exchanges
            .get(&request.key)
            .is_some_and(|replayed| matches!(replayed.peek(), Answer::Media(_)))
    }

    fn caches_results(&self) -> bool {
        self.source.caches_results
    }

    /// A replay reads its recording's files, whatever the recorded source used.
    fn uses_network(&self) -> bool {
        false
    }
}
