//! The fault matrix: one test per hostile condition, each ending in a typed error with the
//! placeholder kept (or the documented fallback), no panic, and no request waiting past its
//! deadline. Media and disk rows use fake sources serving the hostile bytes.
//!
//! | group | row                                   | ends in                                  |
//! |-------|---------------------------------------|------------------------------------------|
//! | media | PNG bomb (huge size, small file)      | `Decode` naming size and limit           |
//! | media | image side over the limit             | `Decode` naming size and limit           |
//! | media | pixel count over a configured limit   | `Decode` naming size and limit           |
//! | media | malformed WAV (0 ch, 0 Hz, long data) | `Decode` naming the problem, no sound    |
//! | media | MP3 without the `mp3` feature         | `Unsupported` naming the feature         |
//! | media | MP3/Ogg/FLAC Bevy's decoder panics on (`mp3`, `vorbis`, `flac`) | `Decode`, no sound |
//! | media | a video that is not a video           | `Decode` (with `video`)                  |
//! | media | video frames over the limit           | `Decode` naming size and limit (`video`) |
//! | media | a video without the `video` feature   | `Unsupported` naming the feature         |
//! | media | wrong type (image asked, audio sent)  | `Decode` naming both types               |
//! | disk  | full disk (writes start failing)      | served from memory, one warning          |
//! | disk  | read-only cache directory at start    | memory-only, one warning                 |
//! | disk  | corrupt index file                    | index moved aside, cache starts empty    |
//! | disk  | two apps on one cache directory       | second is memory-only, one warning       |
//! | disk  | not a cache directory (a home folder) | memory-only, one warning, files intact   |
//! | disk  | clock moving backwards and forwards   | entries expire by the clock, no panic    |
//! | net   | connection refused (nothing listens) | `Generation` error after bounded tries |
//! | net   | reset mid-body (cuts the file download, then sends it whole) | media, after a retry |
//! | net   | reset every time (cuts every download) | error after bounded tries |
//! | net   | accepts, never answers (the create hangs) | error after the request timeout, within `max_wait` |
//! | net   | 5xx storm (every create answers 503) | error naming the call, after bounded tries |
//! | net   | 429 without `Retry-After` ("Try again in 1 seconds" once) | media, after the wait the body names |
//! | net   | malformed JSON (the create's answer is cut off once) | media, after a retry |
//! | net   | a create's answer lost (makes the generation, then hangs) | media; found by its tag, created once |
//! | net   | unknown status strings (`"queued_at_provider"` for ever) | `TimedOut` at `max_wait` |
//! | net   | a job that never finishes (`processing` for ever) | `TimedOut` at `max_wait` |
//! | net   | a silent WebSocket (half-open) (accepts, never speaks or pongs) | media soon, by polling |
//! | net   | a WebSocket sending garbage (unreadable frames) | media |
//! | net   | an oversized download (a file past the limit) | `InvalidData` |
//! | net   | absurd settings (every wait `Duration::MAX`) | media; nothing overflows |
//! | net   | secrets in URLs (a token in a file URL and a password in the base URL) | errors, messages and logs never show them |
//!
//! The network rows run against a scripted server on 127.0.0.1 that speaks just enough of the
//! generation API to misbehave (`crate::common::hostile`).

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;

use crate::common::hostile::{Reply, Script, Socket, always, first_then, hostile};
use crate::common::*;
use bevy::audio::AudioSource;
use bevy::log::tracing::{self, Event, Level, Subscriber, field::Field};
use bevy::log::tracing_subscriber::{self, Layer, field::Visit, layer::Context, prelude::*};
use bevy::prelude::*;
use bevy_asset_provider::MediaLimits;
use bevy_asset_provider::backend::{PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::cache::DiskCacheConfig;
use bevy_asset_provider::observe::AnalyticsEvent;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
#[cfg(feature = "video")]
use bevy_asset_provider::video::ClipSpec;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PLACEHOLDER_SIZE: UVec2 = UVec2::new(32, 18);

/// An app whose only source answers every request as `behaviour` says.
fn app_serving(behaviour: Behaviour, limits: MediaLimits) -> App {
    let mut app = headless_app(
        plugin_with(FakeGenerator::new(behaviour))
            .with_media_limits(limits)
            .with_max_concurrent_decodes(1),
    );
    app.update();
    app
}

/// Requests `request` on an entity and steps until it ends; checks nothing is left in flight.
fn run(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the request to end", |app| {
        task(app, entity).status().is_terminal()
    });
    assert_eq!(app.world().resource::<AssetProvider>().in_flight(), 0);
    task(app, entity)
}

/// Runs `request` and checks it failed with `kind`, its placeholder kept; returns the message.
fn fails(app: &mut App, request: AssetRequest, kind: AssetErrorKind) -> String {
    let done = run(app, request);
    assert_eq!(done.status(), TaskStatus::Failed, "{:?}", done.error());
    let error = done.error().cloned().expect("an error on the task");
    assert_eq!(error.kind(), kind, "{error}");
    match done.handle() {
        MediaHandle::Image(handle) => {
            let image = app.world().resource::<Assets<Image>>().get(handle);
            assert_eq!(image.map(Image::size), Some(PLACEHOLDER_SIZE));
        }
        MediaHandle::Audio(handle) => {
            // No sound reaches an `AudioPlayer`: the handle stays empty.
            assert!(
                app.world()
                    .resource::<Assets<AudioSource>>()
                    .get(handle)
                    .is_none()
            );
        }
    }
    error.message().to_owned()
}

fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            message.contains(part),
            "{message:?} should mention {part:?}"
        );
    }
}

/// A PNG of `width` × `height` 1-bit grey pixels, all black: a few bytes per row on disk,
/// four bytes a pixel once decoded.
fn grey_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().unwrap();
    let row = width.div_ceil(8) as usize;
    writer
        .write_image_data(&vec![0; row * height as usize])
        .unwrap();
    writer.finish().unwrap();
    bytes
}

/// What any thread of this test binary logged: to check a fallback is announced, and that no
/// secret is ever written.
static LOGS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct CaptureWarnings;

impl<S: Subscriber> Layer<S> for CaptureWarnings {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        LOGS.lock()
            .unwrap()
            .push((*event.metadata().level(), message.0));
    }
}

/// Starts keeping every log line of the binary in [`LOGS`].
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(CaptureWarnings),
        );
    });
}

/// The warnings so far that mention `text`.
fn warnings_about(text: &str) -> Vec<String> {
    capture_logs();
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|(level, warning)| *level == Level::WARN && warning.contains(text))
        .map(|(_, warning)| warning.clone())
        .collect()
}

mod disk;
mod media;
mod net;
