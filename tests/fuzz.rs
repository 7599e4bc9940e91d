//! Property tests of every parser of outside input: scene JSON, the pre-made manifest, the
//! backend settings file and media headers (the disk index's rows are fuzzed beside the index,
//! in `src/cache/disk/tests_rows.rs`). Each gets arbitrary bytes
//! and valid input with a part replaced by something random. Properties: nothing panics, no
//! input makes the process allocate more than `ALLOCATION_BOUND` at once (inputs claiming huge
//! sizes are refused before allocating), and errors name the file and, where the shape is
//! wrong, the field.

#[path = "it/common/mod.rs"]
mod common;
#[path = "support/largest_allocation.rs"]
mod largest_allocation;
#[path = "support/strategies.rs"]
mod strategies;

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::MediaLimits;
use bevy_asset_provider::backend::PixSimConfig;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneGraphError;
use bevy_asset_provider::source::PreMadeManifest;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
#[cfg(feature = "video")]
use bevy_asset_provider::video::ClipSpec;
use common::{update_until, wav};
use largest_allocation::assert_allocations_bounded;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};
use strategies::{config, json_value, replace_one};

// ---------------------------------------------------------------------------------------------
// Scene JSON
// ---------------------------------------------------------------------------------------------

fn scene_document() -> Value {
    serde_json::from_slice(include_bytes!("fixtures/scenes/park.scene.json")).unwrap()
}

fn check_scene(bytes: &[u8]) {
    match SceneGraph::from_json(bytes, "park.scene.json") {
        Ok(graph) => {
            // A graph that parsed is whole: its start node and every edge's ends exist.
            assert!(graph.node(&graph.start_node().id).is_some());
            for edge in &graph.edges {
                assert!(graph.node(&edge.from).is_some() && graph.node(&edge.to).is_some());
            }
        }
        Err(error) => {
            assert!(error.to_string().contains("park.scene.json"), "{error}");
            if let SceneGraphError::Invalid { field, .. } = &error {
                assert!(!field.is_empty(), "{error}");
            }
        }
    }
    assert_allocations_bounded();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn scene_json_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        check_scene(&bytes);
    }

    #[test]
    fn scene_json_with_a_field_replaced(which in any::<Index>(), with in json_value()) {
        let bytes = replace_one(&scene_document(), which, with);
        check_scene(&bytes);
        if let Err(SceneGraphError::Parse { field: Some(field), .. }) =
            SceneGraph::from_json(&bytes, "park.scene.json")
        {
            prop_assert!(!field.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pre-made manifest
// ---------------------------------------------------------------------------------------------

fn manifest_document() -> Value {
    json!({"assets": [
        {"id": "harbor_dawn", "path": "premade/harbor_dawn.png", "kind": "image",
         "tags": ["loc:harbor", "role:bg"]},
        {"path": "premade/chime.wav", "kind": "audio", "tags": ["mood:calm"]},
        {"id": "intro", "path": "./premade/intro.mp4", "kind": "video"}
    ]})
}

fn check_manifest(bytes: &[u8]) {
    match PreMadeManifest::parse(bytes, "premade/manifest.json") {
        Ok(manifest) => {
            for entry in manifest.entries() {
                // Whatever parsed stays under the asset root.
                assert!(!entry.path.contains("..") && !entry.path.starts_with('/'));
            }
        }
        Err(error) => {
            assert_eq!(error.kind(), AssetErrorKind::InvalidData);
            assert!(error.message().contains("premade/manifest.json"), "{error}");
        }
    }
    assert_allocations_bounded();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn manifest_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        check_manifest(&bytes);
    }

    #[test]
    fn manifest_with_a_field_replaced(which in any::<Index>(), with in json_value()) {
        check_manifest(&replace_one(&manifest_document(), which, with));
    }
}

// ---------------------------------------------------------------------------------------------
// Backend settings file
// ---------------------------------------------------------------------------------------------

const SETTINGS_KEYS: &[&str] = &[
    "url",
    "token",
    "email",
    "password",
    "provider_id",
    "audio_operation",
    "request_timeout_secs",
    "connect_timeout_secs",
    "poll_start_ms",
    "poll_max_ms",
    "max_concurrent_creates",
    "max_concurrent_downloads",
    "max_download_bytes",
    "retry_attempts",
    "user_agent",
    "websocket",
    "game_endpoint",
    "search_pages",
    "no_such_setting",
];

/// A TOML value written out: numbers (including nan and inf), booleans, strings, arrays.
fn toml_literal() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| {
            if f.is_nan() {
                "nan".to_owned()
            } else if f.is_infinite() {
                if f > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                format!("{f:?}")
            }
        }),
        Just("-1.5".to_owned()),
        Just("1e300".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        vec(any::<char>(), 0..12)
            .prop_map(
                |chars| serde_json::to_string(&chars.into_iter().collect::<String>()).unwrap()
            ),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        vec(inner, 0..3).prop_map(|items| format!("[{}]", items.join(", ")))
    })
}

fn check_settings(text: &str) {
    match PixSimConfig::from_toml(text, "game.toml") {
        Ok(settings) => {
            if let Err(error) = settings.builder() {
                assert!(
                    error.message().contains("backend settings")
                        || error.message().contains("PIXSIM_URL"),
                    "{error}"
                );
            }
        }
        Err(error) => {
            assert_eq!(error.kind(), AssetErrorKind::InvalidData);
            assert!(error.message().contains("game.toml"), "{error}");
        }
    }
    assert_allocations_bounded();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn settings_arbitrary_text(bytes in vec(any::<u8>(), 0..256)) {
        check_settings(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn settings_with_a_value_replaced(which in any::<Index>(), with in toml_literal()) {
        let mut settings = vec![
            ("url", "\"https://pixsim.example.com\"".to_owned()),
            ("token", "\"secret\"".to_owned()),
            ("request_timeout_secs", "30".to_owned()),
            ("poll_start_ms", "500".to_owned()),
            ("websocket", "false".to_owned()),
        ];
        let key = SETTINGS_KEYS[which.index(SETTINGS_KEYS.len())];
        settings.retain(|(name, _)| *name != key);
        settings.push((key, with.clone()));
        let text: String = settings
            .iter()
            .map(|(name, value)| format!("{name} = {value}\n"))
            .collect();
        check_settings(&text);
        if let Err(error) = PixSimConfig::from_toml(&text, "game.toml") {
            // A value of the wrong type is reported against its setting.
            prop_assert!(error.message().contains(key), "{}", error);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Media headers
// ---------------------------------------------------------------------------------------------

/// Serves whatever media the current case put in it.
struct Served(Mutex<SourcedMedia>);

#[async_trait]
impl AssetSource for Served {
    fn name(&self) -> &str {
        "fuzz"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        Ok(Some(self.0.lock().unwrap().clone()))
    }
}

/// The limits of the media app: small, so no accepted input needs a large allocation.
const SIDE: u32 = 1024;

struct MediaApp {
    app: App,
    source: Arc<Served>,
    next: u64,
}

thread_local! {
    /// One app per test thread: proptest runs a test's cases one after another on its thread.
    static MEDIA_APP: RefCell<Option<MediaApp>> = const { RefCell::new(None) };
}

/// Serves `bytes` labelled `mime` to a fresh `kind` request; returns how it ended.
fn serve(kind: MediaKind, bytes: Vec<u8>, mime: &str) -> GenerationTask {
    MEDIA_APP.with(|cell| {
        let mut cell = cell.borrow_mut();
        let media = cell.get_or_insert_with(|| {
            let source = Arc::new(Served(Mutex::new(SourcedMedia::new(
                Vec::new(),
                "",
                "fuzz",
            ))));
            let mut app = common::headless_app(
                AssetProviderPlugin::new()
                    .without_disk_cache()
                    .with_memory_capacity(0)
                    .with_shared_source(source.clone())
                    .with_media_limits(
                        MediaLimits::default()
                            .max_image_side(SIDE)
                            .max_pixels(u64::from(SIDE) * u64::from(SIDE)),
                    ),
            );
            app.update();
            MediaApp {
                app,
                source,
                next: 0,
            }
        });
        *media.source.0.lock().unwrap() = SourcedMedia::new(bytes, mime, "fuzz");
        media.next += 1;
        let request = AssetRequest::new(kind).seed(media.next);
        let entity = media.app.world_mut().spawn(request).id();
        update_until(&mut media.app, "the media to be judged", |app| {
            common::task(app, entity).status().is_terminal()
        });
        let task = common::task(&media.app, entity);
        if task.status() == TaskStatus::Completed {
            check_accepted(&media.app, task.handle());
        }
        media.app.world_mut().despawn(entity);
        assert_eq!(media.app.world().resource::<AssetProvider>().in_flight(), 0);
        task
    })
}

/// What was accepted is within the limits, and a sound plays through Bevy's own decoder (which
/// panics on what it cannot read).
fn check_accepted(app: &App, handle: &MediaHandle) {
    match handle {
        MediaHandle::Image(handle) => {
            let image = app.world().resource::<Assets<Image>>().get(handle).unwrap();
            let (width, height) = (image.width(), image.height());
            assert!(
                width <= SIDE && height <= SIDE,
                "{width} × {height} accepted"
            );
        }
        MediaHandle::Audio(handle) => {
            use bevy::audio::{AudioSource, Decodable, Source};
            let sound = app
                .world()
                .resource::<Assets<AudioSource>>()
                .get(handle)
                .unwrap()
                .clone();
            let played = std::panic::catch_unwind(move || {
                let decoder = sound.decoder();
                let _ = decoder.total_duration();
                decoder.take(4096).count()
            });
            assert!(
                played.is_ok(),
                "Bevy's decoder panicked on a sound that was accepted"
            );
        }
    }
}

/// Nothing panicked on the way, a failure is a decode or support error, and memory stayed
/// bounded.
fn check_media(task: &GenerationTask) {
    if let Some(error) = task.error() {
        assert!(!error.message().contains("panicked"), "{error}");
        assert!(
            matches!(
                error.kind(),
                AssetErrorKind::Decode | AssetErrorKind::Unsupported
            ),
            "{error}"
        );
    } else {
        assert_eq!(task.status(), TaskStatus::Completed);
    }
    assert_allocations_bounded();
}

/// A PNG header claiming `width` × `height`, followed by `tail`.
fn png_claiming(width: u32, height: u32, tail: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        // The header alone: its image data never follows.
        let writer = encoder.write_header().unwrap();
        std::mem::forget(writer);
    }
    bytes.extend_from_slice(tail);
    bytes
}

/// A WAV header as `common::wav` writes it, with its fields set from the case.
fn wav_claiming(channels: u16, rate: u32, bits: u16, data_len: u32, present: usize) -> Vec<u8> {
    let block = channels.wrapping_mul(bits / 8);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&bits.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.resize(bytes.len() + present, 0);
    bytes
}

/// `bytes` with up to a few bytes overwritten and perhaps cut short.
fn damage(mut bytes: Vec<u8>, edits: &[(Index, u8)], cut: Option<Index>) -> Vec<u8> {
    for (at, value) in edits {
        let at = at.index(bytes.len());
        bytes[at] = *value;
    }
    if let Some(cut) = cut {
        bytes.truncate(cut.index(bytes.len()));
    }
    bytes
}

#[cfg(feature = "video")]
fn clip() -> Vec<u8> {
    static CLIP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CLIP.get_or_init(|| ClipSpec::new(5).size(32, 18).seconds(0.2).encode().unwrap())
        .clone()
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn media_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..256),
        label in 0usize..3,
    ) {
        let (kind, mime) = [
            (MediaKind::Image, "image/png"),
            (MediaKind::Audio, "audio/wav"),
            (MediaKind::Video, "video/mp4"),
        ][label];
        check_media(&serve(kind, bytes, mime));
    }

    #[test]
    fn media_png_claiming_any_size(
        width in 1u32..1 << 31,
        height in 1u32..1 << 31,
        tail in vec(any::<u8>(), 0..64),
    ) {
        let task = serve(MediaKind::Image, png_claiming(width, height, &tail), "image/png");
        check_media(&task);
        if width > SIDE || height > SIDE {
            let message = task.error().map(|e| e.message().to_owned()).unwrap_or_default();
            prop_assert!(message.contains(&format!("{width} × {height}")), "{}", message);
        }
    }

    #[test]
    fn media_wav_claiming_anything(
        channels in any::<u16>(),
        rate in any::<u32>(),
        bits in prop_oneof![Just(8u16), Just(16), Just(24), Just(32), any::<u16>()],
        data_len in any::<u32>(),
        present in 0usize..64,
    ) {
        let bytes = wav_claiming(channels, rate, bits, data_len, present);
        check_media(&serve(MediaKind::Audio, bytes, "audio/wav"));
    }

    #[test]
    fn media_damaged_valid_files(
        which in any::<Index>(),
        edits in vec((any::<Index>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<Index>()),
    ) {
        let mut valid = vec![
            (MediaKind::Image, common::png(8, 8, [1, 2, 3, 255]), "image/png"),
            (MediaKind::Audio, wav(64), "audio/wav"),
        ];
        // A clip is made by FFmpeg's encoder: only in builds with video.
        #[cfg(feature = "video")]
        valid.push((MediaKind::Video, clip(), "video/mp4"));
        let (kind, bytes, mime) = valid.swap_remove(which.index(valid.len()));
        check_media(&serve(kind, damage(bytes, &edits, cut), mime));
    }
}
