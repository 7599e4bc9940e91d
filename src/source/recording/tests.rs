//! Recording a source and replaying it, without the plugin: byte-for-byte answers, passes and
//! errors, requests asked again, unrecorded requests, damaged files and malformed indexes.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::request::CachingStrategy;
use crate::source::{AssetSource, SourceRequest, SourcedMedia};

/// A fresh directory under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bevy_asset_provider_recording_{label}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Answers by location: `media` serves bytes naming the location and how many times it was
/// asked, `none` passes, `broken` fails.
struct Scripted {
    calls: AtomicUsize,
}

#[async_trait]
impl AssetSource for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    fn id(&self) -> Cow<'_, str> {
        Cow::Borrowed("scripted@2")
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    fn handles(&self, kind: MediaKind) -> bool {
        kind != MediaKind::Audio
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        match request.request.location_id.as_deref() {
            Some("none") => Ok(None),
            Some("broken") => Err(AssetError::new(
                AssetErrorKind::Rejected,
                "content_prompt_rejected: no",
            )),
            Some(location) => Ok(Some(
                SourcedMedia::new(
                    format!("{location} #{call}").into_bytes(),
                    "image/png",
                    format!("scripted: {location}"),
                )
                .with_backend_ids(Some(format!("gen-{call}")), Some("asset-9".into()))
                .served_as(SourceKind::Cached),
            )),
            None => Ok(None),
        }
    }
}

fn ask(request: AssetRequest) -> SourceRequest {
    ask_in(request, PlaySession::default())
}

fn ask_in(request: AssetRequest, session: PlaySession) -> SourceRequest {
    let key = request.fingerprint(&session);
    SourceRequest::new(key, request, session)
}

fn scripted() -> Scripted {
    Scripted {
        calls: AtomicUsize::new(0),
    }
}

#[tokio::test]
async fn answers_replay_byte_for_byte_with_the_source_description() {
    let dir = TempDir::new("bytes");
    let recorder = Recorder::create(&dir.0).unwrap();
    let recording_source = recorder.wrap(scripted()).unwrap();
    let harbor = ask(AssetRequest::image().location("harbor"));
    let recorded = recording_source.resolve(&harbor).await.unwrap().unwrap();
    assert!(
        recording_source
            .resolve(&ask(AssetRequest::image().location("none")))
            .await
            .unwrap()
            .is_none()
    );
    let broken = recording_source
        .resolve(&ask(AssetRequest::image().location("broken")))
        .await
        .unwrap_err();
    assert_eq!(recorder.recorded(), 3);
    assert_eq!(recorder.failures(), 0);

    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.source_names().collect::<Vec<_>>(), ["scripted"]);
    assert_eq!(recording.exchanges(), 3);
    let replay = recording.source("scripted").unwrap();
    assert_eq!(replay.name(), "scripted");
    assert_eq!(replay.id(), "scripted@2");
    assert_eq!(replay.kind(), SourceKind::Generated);
    assert!(replay.handles(MediaKind::Image) && !replay.handles(MediaKind::Audio));
    assert!(replay.is_available(&harbor).await);

    let served = replay.resolve(&harbor).await.unwrap().unwrap();
    assert_eq!(&*served.bytes, &*recorded.bytes);
    assert_eq!(served.mime, recorded.mime);
    assert_eq!(served.origin, recorded.origin);
    assert_eq!(served.served_as, Some(SourceKind::Cached));
    assert_eq!(served.generation_id, recorded.generation_id);
    assert_eq!(served.asset_id.as_deref(), Some("asset-9"));
    assert!(
        replay
            .resolve(&ask(AssetRequest::image().location("none")))
            .await
            .unwrap()
            .is_none()
    );
    let replayed_error = replay
        .resolve(&ask(AssetRequest::image().location("broken")))
        .await
        .unwrap_err();
    assert_eq!(replayed_error, broken);
}

#[tokio::test]
async fn a_request_asked_again_gets_its_answers_in_order_then_the_last() {
    let dir = TempDir::new("again");
    let recorder = Recorder::create(&dir.0).unwrap();
    let source = recorder.wrap(scripted()).unwrap();
    let always = ask(AssetRequest::image()
        .location("sea")
        .strategy(CachingStrategy::Always));
    for _ in 0..2 {
        source.resolve(&always).await.unwrap();
    }
    let replay = Recording::open(&dir.0).unwrap().source("scripted").unwrap();
    let mut served = Vec::new();
    for _ in 0..3 {
        let media = replay.resolve(&always).await.unwrap().unwrap();
        served.push(String::from_utf8(media.bytes.to_vec()).unwrap());
    }
    assert_eq!(served, ["sea #0", "sea #1", "sea #1"]);
}

#[tokio::test]
async fn an_unrecorded_request_is_an_error_naming_it() {
    let dir = TempDir::new("unrecorded");
    let recorder = Recorder::create(&dir.0).unwrap();
    let source = recorder.wrap(scripted()).unwrap();
    let scoped = AssetRequest::image()
        .location("cave")
        .strategy(CachingStrategy::PerPlayer);
    source
        .resolve(&ask_in(scoped.clone(), PlaySession::new("run-1", "ada")))
        .await
        .unwrap();
    let replay = Recording::open(&dir.0).unwrap().source("scripted").unwrap();

    let missing = ask(AssetRequest::image()
        .scene("lighthouse")
        .choice("climb")
        .prompt("the lantern room at night"));
    assert!(!replay.is_available(&missing).await);
    let error = replay.resolve(&missing).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::NotFound);
    let message = error.message();
    for part in [
        "source \"scripted\"",
        "image request",
        "scene \"lighthouse\"",
        "choice \"climb\"",
        "prompt \"the lantern room at night\"",
        &missing.key.to_hex(),
        &dir.0.display().to_string(),
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }

    // The same request for another player: not served, and the message says why.
    let other_player = ask_in(scoped, PlaySession::new("run-1", "bob"));
    let error = replay.resolve(&other_player).await.unwrap_err();
    assert!(
        error.message().contains("player \"ada\""),
        "{}",
        error.message()
    );
    assert!(Recording::open(&dir.0).unwrap().source("nobody").is_err());
}

#[tokio::test]
async fn damaged_or_missing_media_is_an_error_and_never_served() {
    let dir = TempDir::new("damaged");
    let recorder = Recorder::create(&dir.0).unwrap();
    let source = recorder.wrap(scripted()).unwrap();
    let (a, b, c) = (
        ask(AssetRequest::image().location("a")),
        ask(AssetRequest::image().location("bb")),
        ask(AssetRequest::image().location("ccc")),
    );
    let mut files = Vec::new();
    for request in [&a, &b, &c] {
        let media = source.resolve(request).await.unwrap().unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&media.bytes));
        files.push(dir.0.join(media_file(&sha, "image/png")));
    }
    // Same size, other bytes; shorter; gone.
    let mut same_size = std::fs::read(&files[0]).unwrap();
    same_size[0] ^= 0xff;
    std::fs::write(&files[0], same_size).unwrap();
    std::fs::write(&files[1], b"b").unwrap();
    std::fs::remove_file(&files[2]).unwrap();

    let replay = Recording::open(&dir.0).unwrap().source("scripted").unwrap();
    let error = replay.resolve(&a).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    assert!(error.message().contains("SHA-256"), "{error}");
    assert!(
        error.message().contains(&files[0].display().to_string()),
        "{error}"
    );
    let error = replay.resolve(&b).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    assert!(error.message().contains("bytes on disk"), "{error}");
    let error = replay.resolve(&c).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::Io);
    assert!(error.message().contains("location \"ccc\""), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_exchanges_each_get_a_whole_line() {
    let dir = TempDir::new("concurrent");
    let recorder = Recorder::create(&dir.0).unwrap();
    let source = Arc::new(recorder.wrap(scripted()).unwrap());
    let mut tasks = Vec::new();
    for i in 0..32 {
        let source = source.clone();
        tasks.push(tokio::spawn(async move {
            // Half of them share media bytes' names: the same file written concurrently.
            let location = format!("place{}", i % 16);
            let request = ask(AssetRequest::image().location(location).seed(i));
            source.resolve(&request).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(recorder.recorded(), 32);
    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.exchanges(), 32);
    let leftovers: Vec<_> = std::fs::read_dir(dir.0.join(MEDIA_DIR))
        .unwrap()
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_malformed_index_names_the_line_and_the_field_and_a_cut_last_line_is_skipped() {
    let dir = TempDir::new("malformed");
    std::fs::create_dir_all(&dir.0).unwrap();
    let source_line = r#"{"line":"source","version":1,"name":"s","id":"s","kind":"generated","handles":["image"],"caches_results":true}"#;
    let exchange = |answer: &str| {
        format!(
            r#"{{"line":"exchange","source":"s","key":"{}","request":{},"session":{{"playthrough_id":"local","player_id":"local"}},"background":false,"ms":3,"answer":{answer}}}"#,
            AssetRequest::image()
                .fingerprint(&PlaySession::default())
                .to_hex(),
            serde_json::to_string(&AssetRequest::image()).unwrap()
        )
    };
    let index = dir.0.join(INDEX_FILE);
    let write = |lines: &[String]| std::fs::write(&index, lines.join("\n")).unwrap();

    write(&[
        source_line.into(),
        exchange("\"passed\""),
        exchange(r#"{"error":{"kind":"meh","message":"x"}}"#),
    ]);
    let error = Recording::open(&dir.0).unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    assert!(
        error.message().contains("line 3: answer.error.kind"),
        "{error}"
    );
    assert!(
        error.message().contains(&index.display().to_string()),
        "{error}"
    );

    let traversal = format!(
        r#"{{"media":{{"sha256":"{}","file":"../../etc/passwd","bytes":1,"mime":"image/png","origin":"o","served_as":null,"generation_id":null,"asset_id":null}}}}"#,
        "0".repeat(64)
    );
    write(&[source_line.into(), exchange(&traversal), String::new()]);
    let error = Recording::open(&dir.0).unwrap_err();
    assert!(
        error.message().contains("line 2: answer.media.file"),
        "{error}"
    );

    write(&[
        source_line.into(),
        r#"{"line":"exchange","source":"s","key":7}"#.into(),
        exchange("\"passed\""),
    ]);
    let error = Recording::open(&dir.0).unwrap_err();
    assert!(error.message().contains("line 2: key"), "{error}");

    // The last line cut short by a stopped run: skipped, the rest is served.
    let cut = exchange("\"passed\"");
    write(&[
        source_line.into(),
        exchange("\"passed\""),
        cut[..cut.len() / 2].to_owned(),
    ]);
    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.exchanges(), 1);
    assert_eq!(recording.cut_line(), Some(3));

    // Cut inside a character (`é` is two bytes): a cut line too, not an unreadable file.
    let mut bytes = [
        source_line.to_owned(),
        exchange("\"passed\""),
        String::new(),
    ]
    .join("\n")
    .into_bytes();
    let accented = r#"{"line":"exchange","source":"s","request":{"prompt":"é"#.as_bytes();
    bytes.extend_from_slice(&accented[..accented.len() - 1]);
    std::fs::write(&index, bytes).unwrap();
    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!((recording.exchanges(), recording.cut_line()), (1, Some(3)));

    std::fs::remove_file(&index).unwrap();
    let error = Recording::open(&dir.0).unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::Io);
    assert!(error.message().contains(INDEX_FILE), "{error}");
}

#[test]
fn every_error_kind_reads_back_by_name() {
    for kind in ERROR_KINDS {
        assert_eq!(error_kind(kind.as_str()), Some(kind));
    }
    assert_eq!(error_kind("nonsense"), None);
}

#[test]
fn media_files_are_named_by_hash_and_type() {
    assert_eq!(media_file("ab", "image/png"), "media/ab.png");
    assert_eq!(media_file("ab", "audio/wav; codecs=1"), "media/ab.wav");
    assert_eq!(media_file("ab", "application/x-thing"), "media/ab.bin");
}

#[test]
fn descriptions_name_the_context_and_shorten_long_prompts() {
    let request = AssetRequest::image()
        .scene("harbor")
        .choice("row_out")
        .prompt("x".repeat(200));
    let text = crate::request::describe_in_full(&request);
    assert!(
        text.starts_with(r#"image request scene "harbor" choice "row_out" prompt "xxx"#),
        "{text}"
    );
    assert!(text.ends_with("\"… (once)"), "{text}");
}

/// The media `source` serves for `request`, as text.
async fn served_text(source: &dyn AssetSource, request: &SourceRequest) -> String {
    let media = source.resolve(request).await.unwrap().unwrap();
    String::from_utf8(media.bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_recording_cut_mid_line_is_appended_to_and_replayed() {
    let dir = TempDir::new("cut");
    let (a, b, c) = (
        ask(AssetRequest::image().location("a")),
        ask(AssetRequest::image().location("b")),
        ask(AssetRequest::image().location("c")),
    );
    {
        let recorder = Recorder::create(&dir.0).unwrap();
        assert_eq!(recorder.cut_line(), None);
        let source = recorder.wrap(scripted()).unwrap();
        source.resolve(&a).await.unwrap();
        source.resolve(&b).await.unwrap();
    }
    // The run stopped while writing b's line (line 3): half of it is on disk.
    let index = dir.0.join(INDEX_FILE);
    let text = std::fs::read_to_string(&index).unwrap();
    let last_line_start = text.trim_end().rfind('\n').unwrap() + 1;
    let cut_at = last_line_start + (text.len() - last_line_start) / 2;
    std::fs::write(&index, &text[..cut_at]).unwrap();

    // The next run appends after the whole lines, and says which line it dropped.
    let recorder = Recorder::create(&dir.0).unwrap();
    assert_eq!(recorder.cut_line(), Some(3));
    let source = recorder.wrap(scripted()).unwrap();
    source.resolve(&c).await.unwrap();
    drop((source, recorder));

    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.cut_line(), None, "nothing is cut any more");
    assert_eq!(recording.exchanges(), 2);
    let replay = recording.source("scripted").unwrap();
    assert_eq!(served_text(&replay, &a).await, "a #0");
    assert_eq!(served_text(&replay, &c).await, "c #0");
    let error = replay.resolve(&b).await.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::NotFound);

    // A cut last line found when opening (no run appended since) is reported too.
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, &text[..text.len() - 10]).unwrap();
    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.cut_line(), Some(4));
    assert_eq!(recording.exchanges(), 1);
}

#[tokio::test]
async fn a_line_cut_at_its_newline_is_kept_whole() {
    let dir = TempDir::new("cut-newline");
    let a = ask(AssetRequest::image().location("a"));
    {
        let recorder = Recorder::create(&dir.0).unwrap();
        recorder
            .wrap(scripted())
            .unwrap()
            .resolve(&a)
            .await
            .unwrap();
    }
    let index = dir.0.join(INDEX_FILE);
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.trim_end()).unwrap();
    let recorder = Recorder::create(&dir.0).unwrap();
    assert_eq!(recorder.cut_line(), None, "the line was whole");
    recorder
        .wrap(scripted())
        .unwrap()
        .resolve(&ask(AssetRequest::image().location("b")))
        .await
        .unwrap();
    let recording = Recording::open(&dir.0).unwrap();
    assert_eq!(recording.exchanges(), 2);
}

#[tokio::test]
async fn a_tampered_key_is_not_served_for_another_request() {
    let dir = TempDir::new("tampered");
    let (a, b) = (
        ask(AssetRequest::image().location("a")),
        ask(AssetRequest::image().location("b")),
    );
    {
        let recorder = Recorder::create(&dir.0).unwrap();
        let source = recorder.wrap(scripted()).unwrap();
        source.resolve(&a).await.unwrap();
        source.resolve(&b).await.unwrap();
    }
    // a's line now claims b's key; b's own line comes after it.
    let index = dir.0.join(INDEX_FILE);
    let text = std::fs::read_to_string(&index).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replace(&a.key.to_hex(), &b.key.to_hex());
    std::fs::write(&index, lines.join("\n") + "\n").unwrap();

    let opened = Recording::open(&dir.0);
    if let Ok(recording) = &opened {
        let replay = recording.source("scripted").unwrap();
        let served = served_text(&replay, &b).await;
        assert_ne!(served, "a #0", "b was served a's media");
    }
    let error = opened.unwrap_err();
    assert_eq!(error.kind(), AssetErrorKind::InvalidData);
    assert!(error.message().contains("line 2: key"), "{error}");
    assert!(
        error.message().contains(&index.display().to_string()),
        "{error}"
    );
}

/// A source named `twin` that serves `tag` for the locations it knows and passes on others.
struct Twin {
    tag: &'static str,
    serves: &'static [&'static str],
}

#[async_trait]
impl AssetSource for Twin {
    fn name(&self) -> &str {
        "twin"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::PreMade
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let location = request.request.location_id.as_deref().unwrap_or_default();
        Ok(self.serves.contains(&location).then(|| {
            SourcedMedia::new(
                format!("{} {location}", self.tag).into_bytes(),
                "image/png",
                self.tag,
            )
        }))
    }
}

#[tokio::test]
async fn two_sources_with_one_name_are_replayed_apart() {
    let dir = TempDir::new("twins");
    let (a, b) = (
        ask(AssetRequest::image().location("a")),
        ask(AssetRequest::image().location("b")),
    );
    {
        let recorder = Recorder::create(&dir.0).unwrap();
        let first = recorder
            .wrap(Twin {
                tag: "first",
                serves: &["a"],
            })
            .unwrap();
        let second = recorder
            .wrap(Twin {
                tag: "second",
                serves: &["a", "b"],
            })
            .unwrap();
        // As a chain asks them: the first, then the second when the first passes.
        assert!(first.resolve(&a).await.unwrap().is_some());
        assert!(first.resolve(&b).await.unwrap().is_none());
        assert!(second.resolve(&b).await.unwrap().is_some());
        assert!(second.resolve(&a).await.unwrap().is_some());
    }
    let recording = Recording::open(&dir.0).unwrap();
    let replays = recording.sources();
    assert_eq!(replays.len(), 2, "{recording:?}");
    assert_eq!(served_text(&replays[0], &a).await, "first a");
    assert!(replays[0].resolve(&b).await.unwrap().is_none());
    assert_eq!(served_text(&replays[1], &b).await, "second b");
    assert_eq!(served_text(&replays[1], &a).await, "second a");

    // A second run appending to the recording keeps each twin's answers with it.
    {
        let recorder = Recorder::create(&dir.0).unwrap();
        recorder
            .wrap(Twin {
                tag: "first",
                serves: &["a"],
            })
            .unwrap();
        let second = recorder
            .wrap(Twin {
                tag: "second",
                serves: &["c"],
            })
            .unwrap();
        second
            .resolve(&ask(AssetRequest::image().location("c")))
            .await
            .unwrap();
    }
    let replays = Recording::open(&dir.0).unwrap().sources();
    assert_eq!(replays.len(), 2);
    let c = ask(AssetRequest::image().location("c"));
    assert!(replays[0].resolve(&c).await.is_err(), "c is the second's");
    assert_eq!(served_text(&replays[1], &c).await, "second c");
}
