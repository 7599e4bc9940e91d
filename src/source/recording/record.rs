//! [`Recorder`] and [`RecordingSource`]: a source's answers written to a recording directory.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::AssetError;
use crate::request::{MediaKind, RequestKey};
use crate::source::{AssetSource, SourceKind, SourceRequest, SourcedMedia};

use super::{
    Answer, ExchangeLine, FORMAT_VERSION, INDEX_FILE, IndexLine, MEDIA_DIR, RecordedError,
    RecordedMedia, SourceLine, media_file, parse_line,
};

/// Writes the exchanges of a run to a recording directory (see the
/// [module](crate::source::recording)). Cheap to clone; every source it wraps writes to the same
/// directory, safely from concurrent requests.
///
/// A recording appends: a directory recorded into again keeps the earlier exchanges, and a
/// replay answers a request asked in both runs with the earlier run's answers first. Record
/// into an empty directory for a fresh recording.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<RecorderInner>,
}

struct RecorderInner {
    dir: PathBuf,
    /// The index, opened for appending; one line is written at a time.
    index: Mutex<File>,
    /// How many sources of each name this recorder has wrapped.
    wrapped: Mutex<HashMap<String, u32>>,
    /// The cut-short last line dropped when the index was opened.
    cut_line: Option<usize>,
    recorded: AtomicU64,
    failures: AtomicU64,
}

impl Recorder {
    /// Records into `dir`, creating it (and its `media` folder) when missing.
    ///
    /// An index whose last line was cut short (a recording run stopped while writing it) is
    /// repaired first: that line is dropped with a warning naming the file and the line (see
    /// [`cut_line`](Self::cut_line)), and the new lines start after the last whole one. A last
    /// line that is whole but lacks its newline gets one.
    ///
    /// An [`Io`](crate::AssetErrorKind::Io) error names the directory or file that could not be
    /// made, opened or repaired.
    pub fn create(dir: impl Into<PathBuf>) -> Result<Self, AssetError> {
        let dir = dir.into();
        let media = dir.join(MEDIA_DIR);
        std::fs::create_dir_all(&media).map_err(|err| {
            AssetError::io(format!(
                "recording {}: cannot create: {err}",
                media.display()
            ))
            .with_source(err)
        })?;
        let index_path = dir.join(INDEX_FILE);
        let cut_line = repair_index(&index_path).map_err(|err| {
            AssetError::io(format!(
                "recording {}: cannot repair its last line: {err}",
                index_path.display()
            ))
            .with_source(err)
        })?;
        let index = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&index_path)
            .map_err(|err| {
                AssetError::io(format!(
                    "recording {}: cannot open: {err}",
                    index_path.display()
                ))
                .with_source(err)
            })?;
        Ok(Self {
            inner: Arc::new(RecorderInner {
                dir,
                index: Mutex::new(index),
                wrapped: Mutex::new(HashMap::new()),
                cut_line,
                recorded: AtomicU64::new(0),
                failures: AtomicU64::new(0),
            }),
        })
    }

    /// `source`, recording every exchange into this recorder's directory. Its description (name,
    /// id, kind, the kinds it handles) is written now, so a replay answers the chain's questions
    /// about it as it did; sources keep the order they were wrapped in.
    ///
    /// Sources with the same name are kept apart by the order they were wrapped in: the second
    /// `"pixsim"` this recorder wraps is replayed by the second `"pixsim"` replay, with its own
    /// answers (and a later run that wraps two again appends to each).
    pub fn wrap(&self, source: impl AssetSource) -> Result<RecordingSource, AssetError> {
        self.wrap_shared(Arc::new(source))
    }

    /// [`wrap`](Self::wrap) for a shared source.
    pub fn wrap_shared(&self, source: Arc<dyn AssetSource>) -> Result<RecordingSource, AssetError> {
        let name = source.name().to_owned();
        let instance = {
            let mut wrapped = self
                .inner
                .wrapped
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = wrapped.entry(name.clone()).or_default();
            *count += 1;
            *count - 1
        };
        let line = IndexLine::Source(SourceLine {
            version: FORMAT_VERSION,
            name,
            instance,
            id: source.id().into_owned(),
            kind: source.kind(),
            handles: [MediaKind::Image, MediaKind::Audio, MediaKind::Video]
                .into_iter()
                .filter(|&kind| source.handles(kind))
                .collect(),
            caches_results: source.caches_results(),
        });
        self.inner.append(&line)?;
        Ok(RecordingSource {
            inner: source,
            instance,
            recorder: self.clone(),
        })
    }

    /// The number (from 1) of the index's last line, dropped when this recorder opened the
    /// directory because a recording run stopped while writing it; `None` when every line was
    /// whole. That exchange is not in the recording: a replay does not know it.
    pub fn cut_line(&self) -> Option<usize> {
        self.inner.cut_line
    }

    /// The recording directory.
    pub fn directory(&self) -> &Path {
        &self.inner.dir
    }

    /// How many exchanges have been written.
    pub fn recorded(&self) -> u64 {
        self.inner.recorded.load(Ordering::Acquire)
    }

    /// How many exchanges could not be written (each is logged); a replay does not know them.
    pub fn failures(&self) -> u64 {
        self.inner.failures.load(Ordering::Acquire)
    }

    /// Writes one exchange: the media file first, then its index line.
    async fn record(
        &self,
        request: &SourceRequest,
        (source, instance): (&str, u32),
        answer: &Result<Option<SourcedMedia>, AssetError>,
        started: Instant,
    ) {
        let (answer, media) = recorded_answer(answer);
        let line = IndexLine::Exchange(Box::new(ExchangeLine {
            source: source.to_owned(),
            instance,
            key: request.key.to_hex(),
            request: request.request.clone(),
            session: request.session.clone(),
            background: request.is_background(),
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            answer,
        }));
        let inner = self.inner.clone();
        let write = move || -> Result<(), AssetError> {
            if let (IndexLine::Exchange(exchange), Some(bytes)) = (&line, &media)
                && let Answer::Media(recorded) = &exchange.answer
            {
                inner.write_media(recorded, bytes)?;
            }
            inner.append(&line)
        };
        // Off the runtime's workers: a media file is synced before it is renamed.
        let written = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn_blocking(write).await.unwrap_or_else(|err| {
                Err(AssetError::io(format!(
                    "recording {}: the writer stopped: {err}",
                    self.inner.dir.display()
                )))
            }),
            Err(_) => write(),
        };
        match written {
            Ok(()) => {
                self.inner.recorded.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => {
                self.inner.failures.fetch_add(1, Ordering::AcqRel);
                bevy::log::error!("not recorded: key {}: {error}", request.key.short());
            }
        }
    }
}

impl RecorderInner {
    /// Appends `line` and syncs it, so a line on disk is a whole line.
    fn append(&self, line: &IndexLine) -> Result<(), AssetError> {
        let index_path = self.dir.join(INDEX_FILE);
        let mut text = serde_json::to_string(line).map_err(|err| {
            AssetError::invalid_data(format!(
                "recording {}: cannot write a line: {err}",
                index_path.display()
            ))
        })?;
        text.push('\n');
        let mut index = self.index.lock().unwrap_or_else(PoisonError::into_inner);
        index
            .write_all(text.as_bytes())
            .and_then(|()| index.sync_data())
            .map_err(|err| {
                AssetError::io(format!(
                    "recording {}: cannot append: {err}",
                    index_path.display()
                ))
                .with_source(err)
            })
    }

    /// Writes `bytes` to the media file `recorded` names, unless it holds them already
    /// (atomically: the file holds the old bytes or the new ones, never half).
    fn write_media(&self, recorded: &RecordedMedia, bytes: &[u8]) -> Result<(), AssetError> {
        let target = self.dir.join(&recorded.file);
        if holds(&target, &recorded.sha256, bytes.len() as u64) {
            return Ok(());
        }
        crate::files::write_atomically(&target, bytes)
    }
}

/// Makes the index at `path` end with a whole line: a last line without its newline is given
/// one when it reads as a line, and dropped (the file cut back to the line before it, with a
/// warning) when it does not. Returns the number of the dropped line.
fn repair_index(path: &Path) -> std::io::Result<Option<usize>> {
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    let mut text = Vec::new();
    file.seek(SeekFrom::Start(0))?;
    file.read_to_end(&mut text)?;
    let start = text
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let tail = &text[start..];
    let whole = std::str::from_utf8(tail).is_ok_and(|line| parse_line(line).is_ok());
    if whole {
        file.seek(SeekFrom::End(0))?;
        file.write_all(b"\n")?;
        file.sync_data()?;
        return Ok(None);
    }
    file.set_len(start as u64)?;
    file.sync_data()?;
    if tail.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let number = text[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    bevy::log::warn!(
        "recording {}: line {number} was cut short (a recording run stopped while writing \
         it); dropped",
        path.display()
    );
    Ok(Some(number))
}

/// Whether the file at `path` holds `len` bytes whose SHA-256 is `sha256`.
fn holds(path: &Path, sha256: &str, len: u64) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    if file.metadata().map(|meta| meta.len()).ok() != Some(len) {
        return false;
    }
    let mut hasher = Sha256::new();
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(_) => return false,
        }
    }
    hex::encode(hasher.finalize()) == sha256
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("directory", &self.inner.dir)
            .field("recorded", &self.recorded())
            .field("failures", &self.failures())
            .finish()
    }
}

/// A source whose every exchange is written by a [`Recorder`]; made by [`Recorder::wrap`]. It
/// answers exactly as the source it wraps (name, id, kind and all), and a failure to record is
/// logged, never passed on to the request.
pub struct RecordingSource {
    inner: Arc<dyn AssetSource>,
    /// Which source of its name it is, in the order the recorder wrapped them.
    instance: u32,
    recorder: Recorder,
}

impl fmt::Debug for RecordingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingSource")
            .field("source", &self.inner.name())
            .field("instance", &self.instance)
            .field("recorder", &self.recorder)
            .finish()
    }
}

#[async_trait]
impl AssetSource for RecordingSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn kind(&self) -> SourceKind {
        self.inner.kind()
    }

    fn id(&self) -> Cow<'_, str> {
        self.inner.id()
    }

    fn handles(&self, kind: MediaKind) -> bool {
        self.inner.handles(kind)
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let started = Instant::now();
        let answer = self.inner.resolve(request).await;
        self.recorder
            .record(
                request,
                (self.inner.name(), self.instance),
                &answer,
                started,
            )
            .await;
        answer
    }

    async fn is_available(&self, request: &SourceRequest) -> bool {
        self.inner.is_available(request).await
    }

    async fn cancel(&self, key: RequestKey) {
        self.inner.cancel(key).await;
    }

    fn caches_results(&self) -> bool {
        self.inner.caches_results()
    }

    fn uses_network(&self) -> bool {
        self.inner.uses_network()
    }

    /// A job followed to its end after a restart is recorded like an answer to its request: a
    /// replay serves it when the request is asked.
    async fn resume(
        &self,
        request: &SourceRequest,
        generation_id: &str,
    ) -> Result<Option<SourcedMedia>, AssetError> {
        let started = Instant::now();
        let answer = self.inner.resume(request, generation_id).await;
        if let Ok(Some(_)) = &answer {
            self.recorder
                .record(
                    request,
                    (self.inner.name(), self.instance),
                    &answer,
                    started,
                )
                .await;
        }
        answer
    }
}

/// A source's answer as the index records it, and the media's bytes when there are some.
fn recorded_answer(
    answer: &Result<Option<SourcedMedia>, AssetError>,
) -> (Answer, Option<Arc<[u8]>>) {
    match answer {
        Ok(Some(media)) => {
            let sha256 = crate::files::sha256_hex(&media.bytes);
            let recorded = RecordedMedia {
                file: media_file(&sha256, &media.mime),
                sha256,
                bytes: media.bytes.len() as u64,
                mime: media.mime.clone(),
                origin: media.origin.clone(),
                served_as: media.served_as,
                generation_id: media.generation_id.clone(),
                asset_id: media.asset_id.clone(),
            };
            (Answer::Media(recorded), Some(media.bytes.clone()))
        }
        Ok(None) => (Answer::Passed, None),
        Err(error) => (Answer::Error(RecordedError::from_error(error)), None),
    }
}
