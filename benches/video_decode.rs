//! Video decoding speed and memory per playing clip, for a 480p clip (854 × 480, 24 fps, 5 s,
//! H.264 High profile with B-frames, encoded here with the dev backend's encoder).
//!
//! 1. Decoding to RGBA on one thread, as a clip's decoder thread does: frames per second beside
//!    the clip's own 24.
//! 2. The clip playing in a headless app at 60 game frames a second of real time: the frames
//!    decoded ahead (the bounded channel plus the next frame) and the texture, in bytes, and
//!    how many frames were shown on time.
//!
//! Run: `cargo test --bench video_decode -- --bench` (or `cargo bench --bench video_decode`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use bevy_asset_provider::video::ClipSpec;
use bevy_asset_provider::video::DEFAULT_LOOK_AHEAD;
use bevy_asset_provider::video::VideoClip;
use bevy_asset_provider::video::{VideoClips, VideoPlayer, VideoState};

const WIDTH: u32 = 854;
const HEIGHT: u32 = 480;
const FPS: u32 = 24;
const SECONDS: f32 = 5.0;
const DECODE_ROUNDS: usize = 3;
const GAME_FRAME: Duration = Duration::from_nanos(1_000_000_000 / 60);

/// Serves the clip for every request.
struct ClipSource(Arc<[u8]>);

#[async_trait]
impl AssetSource for ClipSource {
    fn name(&self) -> &str {
        "bench_clip"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        Ok(Some(SourcedMedia::new(
            self.0.clone(),
            "video/mp4",
            "bench",
        )))
    }
}

fn main() {
    // `cargo test` runs benches once as a smoke test; only a real run measures.
    if std::env::args().any(|arg| arg == "--bench") {
        measure();
    } else {
        println!("video_decode: run with `cargo test --bench video_decode -- --bench`");
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn measure() {
    let spec = ClipSpec::new(480)
        .size(WIDTH, HEIGHT)
        .fps(FPS)
        .seconds(SECONDS)
        .threads(2);
    let started = Instant::now();
    let bytes = spec.encode().expect("libx264 encodes the clip");
    let encoded_in = started.elapsed();
    let started = Instant::now();
    let (clip, _) = VideoClip::open(bytes.clone()).expect("the clip opens");
    let opened_in = started.elapsed();
    let info = clip.info();
    let b_frames = clip
        .frames()
        .expect("the clip decodes")
        .filter_map(Result::ok)
        .filter(|frame| frame.picture == bevy_asset_provider::video::PictureType::B)
        .count();
    println!(
        "clip: {}×{} {} {} profile, {} fps, {} frames ({} B), {:.0} KiB; encoded in {:.0} ms, \
         opened (checked + first frame) in {:.1} ms",
        info.width,
        info.height,
        info.codec,
        info.profile.as_deref().unwrap_or("?"),
        info.frame_rate,
        info.frame_count.unwrap_or(0),
        b_frames,
        bytes.len() as f64 / 1024.0,
        encoded_in.as_secs_f64() * 1000.0,
        opened_in.as_secs_f64() * 1000.0,
    );

    let mut rates = Vec::new();
    for _ in 0..DECODE_ROUNDS {
        let started = Instant::now();
        let mut frames = 0usize;
        for frame in clip.frames().expect("the clip decodes") {
            frame.expect("a frame");
            frames += 1;
        }
        rates.push(frames as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "decode to RGBA, one thread: {:.0} frames/s (median of {DECODE_ROUNDS}; best {:.0}) = \
         {:.1}× the clip's {FPS} fps",
        rates[DECODE_ROUNDS / 2],
        rates[DECODE_ROUNDS - 1],
        rates[DECODE_ROUNDS / 2] / f64::from(FPS)
    );

    let frame_bytes = (info.width * info.height * 4) as usize;
    let (ahead_max, ahead_mean, shown, frames) = play(bytes);
    let texture = frame_bytes;
    println!(
        "playing at 60 game frames/s: {shown} of {frames} frames shown; frames decoded ahead: \
         mean {ahead_mean:.1}, max {ahead_max} (look-ahead {DEFAULT_LOOK_AHEAD})"
    );
    println!(
        "memory per playing clip: {:.2} MiB queued frames (max {ahead_max} × {:.2} MiB) + {:.2} \
         MiB texture (its CPU copy; the GPU holds one more) = {:.2} MiB; bound {:.2} MiB ({} queued + 1 next + 1 in the decoder's \
         hand, + texture)",
        mib(ahead_max * frame_bytes),
        mib(frame_bytes),
        mib(texture),
        mib(ahead_max * frame_bytes + texture),
        mib((DEFAULT_LOOK_AHEAD + 2) * frame_bytes + texture),
        DEFAULT_LOOK_AHEAD,
    );
}

/// Plays the clip through the plugin in real time; returns the most and the mean frames
/// decoded ahead, the frames shown and the clip's frames.
fn play(bytes: Vec<u8>) -> (usize, f64, u64, u64) {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugin::new()
                .without_disk_cache()
                .with_source(ClipSource(bytes.into())),
        );
    app.finish();
    app.cleanup();
    app.update();
    let image = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::video().prompt("bench"));
    let player = app.world_mut().spawn(VideoPlayer::new(image.clone())).id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut samples = Vec::new();
    loop {
        let frame_started = Instant::now();
        app.update();
        let playing = app.world().get::<VideoPlayer>(player).expect("the player");
        match playing.state() {
            VideoState::Playing => samples.push(playing.frames_ahead()),
            VideoState::Ended | VideoState::Failed => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "the clip never ended");
        // A game at 60 frames a second: the clip plays in real time.
        if let Some(rest) = GAME_FRAME.checked_sub(frame_started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let playing = app.world().get::<VideoPlayer>(player).expect("the player");
    let frames = app
        .world()
        .resource::<VideoClips>()
        .get(&image)
        .and_then(|clip| clip.info().frame_count)
        .unwrap_or(0);
    let max = samples.iter().copied().max().unwrap_or(0);
    let mean = samples.iter().sum::<usize>() as f64 / samples.len().max(1) as f64;
    (max, mean, playing.frames_shown(), frames)
}
