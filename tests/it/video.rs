//! Video requests: real H.264 High-profile clips with B-frames, decoded into the request's image
//! and played by a `VideoPlayer` on the clip's own clock; bad files fail cleanly; a video
//! generation from the loopback dev backend plays.
#![cfg(feature = "video")]

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use bevy_asset_provider::video::ClipSpec;
use bevy_asset_provider::video::VideoClip;
use bevy_asset_provider::video::{PictureType, VideoFrame};
use bevy_asset_provider::video::{VideoClips, VideoEnded, VideoPlayer, VideoState};
use pixsim_dev::DevBackend;
use sha2::{Digest, Sha256};

/// One game frame at 24 fps: the clips' own rate.
const FRAME_24: Duration = Duration::from_nanos(1_000_000_000 / 24);

/// Serves the same bytes as `mime` for every request, once the gate (if any) lets it.
struct ClipSource {
    bytes: Arc<[u8]>,
    mime: &'static str,
    gate: Option<Arc<tokio::sync::Semaphore>>,
}

#[async_trait]
impl AssetSource for ClipSource {
    fn name(&self) -> &str {
        "clip_source"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("the gate stays open").forget();
        }
        Ok(Some(SourcedMedia::new(
            self.bytes.clone(),
            self.mime,
            "test clip",
        )))
    }
}

fn clip_bytes() -> Vec<u8> {
    ClipSpec::new(11).encode().expect("libx264 encodes a clip")
}

/// An app serving `bytes` as `mime`, with time advancing `frame` per update.
fn app_serving(
    bytes: Vec<u8>,
    mime: &'static str,
    gate: Option<Arc<tokio::sync::Semaphore>>,
) -> App {
    let source = ClipSource {
        bytes: bytes.into(),
        mime,
        gate,
    };
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(10)),
    );
    app.insert_resource(TimeUpdateStrategy::ManualDuration(FRAME_24));
    collect::<VideoEnded>(&mut app);
    app.update();
    app
}

fn pixels(app: &App, handle: &Handle<Image>) -> Option<Vec<u8>> {
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .and_then(|image| image.data.clone())
}

fn size(app: &App, handle: &Handle<Image>) -> Option<UVec2> {
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .map(Image::size)
}

/// Requests a video as an entity and steps until it completes; returns its image handle.
fn request_video(app: &mut App) -> Handle<Image> {
    let entity = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("waves at the harbour"))
        .id();
    until_status(app, entity, TaskStatus::Completed);
    task(app, entity).handle().image().unwrap().clone()
}

fn player(app: &App, entity: Entity) -> VideoPlayer {
    app.world().get::<VideoPlayer>(entity).unwrap().clone()
}

fn player_mut(app: &mut App, entity: Entity) -> Mut<'_, VideoPlayer> {
    app.world_mut().get_mut::<VideoPlayer>(entity).unwrap()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Mean absolute difference of two RGBA frames, per channel.
fn difference(a: &[u8], b: &[u8]) -> f64 {
    let total: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    total as f64 / a.len() as f64
}

#[test]
fn a_generated_clip_is_high_profile_h264_with_b_frames_decoded_in_presentation_order() {
    let spec = ClipSpec::new(11);
    let bytes = spec.encode().unwrap();
    let (clip, first) = VideoClip::open(bytes).unwrap();
    let info = clip.info();
    assert_eq!(info.codec, "h264");
    assert_eq!(info.profile.as_deref(), Some("High"));
    assert!(info.has_b_frames, "{info:?}");
    assert!(info.container.contains("mp4"), "{info:?}");
    assert_eq!((info.width, info.height), (192, 108));
    assert_eq!(info.frame_count, Some(48));
    assert!((info.frame_rate - 24.0).abs() < 1e-6, "{info:?}");
    assert_eq!(first.size(), UVec2::new(192, 108));

    let frames: Vec<VideoFrame> = clip.frames().unwrap().map(Result::unwrap).collect();
    assert_eq!(frames.len(), 48);
    let b_frames = frames
        .iter()
        .filter(|frame| frame.picture == PictureType::B)
        .count();
    assert!(b_frames >= 24, "only {b_frames} B-frames");
    assert_eq!(frames[0].picture, PictureType::I);
    assert_eq!(first.data.as_deref(), Some(frames[0].rgba.as_slice()));
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(frame.index, i as u64);
        let due = FRAME_24.as_secs_f64() * i as f64;
        assert!(
            (frame.timestamp.as_secs_f64() - due).abs() < 1e-3,
            "frame {i} at {:?}",
            frame.timestamp
        );
        assert!((frame.duration.as_secs_f64() - FRAME_24.as_secs_f64()).abs() < 1e-3);
        assert_eq!(frame.rgba.len(), 192 * 108 * 4);
    }
    // Each decoded frame is the painted frame of its own time, not a neighbour: B-frames were
    // put back in presentation order.
    for (i, frame) in frames.iter().enumerate() {
        let own = difference(&frame.rgba, &spec.paint(i as u32));
        for other in [i.wrapping_sub(1), i + 1] {
            if other < frames.len() {
                let neighbour = difference(&frame.rgba, &spec.paint(other as u32));
                assert!(
                    own < neighbour,
                    "frame {i} looks more like frame {other} ({own:.2} vs {neighbour:.2})"
                );
            }
        }
        assert!(
            own < 6.0,
            "frame {i} is far from what was painted: {own:.2}"
        );
    }
}

#[test]
fn the_handle_shows_the_placeholder_then_the_first_frame_before_playback() {
    let bytes = clip_bytes();
    let (_, first) = VideoClip::open(bytes.clone()).unwrap();
    let gate = gate();
    let mut app = app_serving(bytes, "video/mp4", Some(gate.clone()));
    let entity = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("a lighthouse"))
        .id();
    app.update();
    let handle = task(&app, entity).handle().image().unwrap().clone();
    assert_eq!(
        size(&app, &handle),
        Some(UVec2::new(32, 18)),
        "the placeholder"
    );

    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(pixels(&app, &handle), first.data);
    let clips = app.world().resource::<VideoClips>();
    assert_eq!(clips.get(&handle).unwrap().info().frame_count, Some(48));

    // Nothing plays without a player: the first frame stays.
    for _ in 0..30 {
        app.update();
    }
    assert_eq!(pixels(&app, &handle), first.data);
    assert!(collected::<VideoEnded>(&app).is_empty());
}

/// Plays the clip once at `frame` per update; returns the updates it took from the first
/// frame shown to the end, and the player then.
fn play_once(frame: Duration) -> (u32, VideoPlayer, Vec<VideoEnded>, Vec<u8>, Vec<u8>) {
    let bytes = clip_bytes();
    let (clip, _) = VideoClip::open(bytes.clone()).unwrap();
    let last = clip.frames().unwrap().last().unwrap().unwrap().rgba;
    let mut app = app_serving(bytes, "video/mp4", None);
    app.insert_resource(TimeUpdateStrategy::ManualDuration(frame));
    let handle = request_video(&mut app);
    let entity = app.world_mut().spawn(VideoPlayer::new(handle.clone())).id();
    update_until(&mut app, "the first frame plays", |app| {
        player(app, entity).frames_shown() > 0
    });
    let mut updates = 0;
    update_until(&mut app, "the clip ends", |app| {
        updates += 1;
        player(app, entity).state() == VideoState::Ended
    });
    let shown = pixels(&app, &handle).unwrap();
    (updates, player(&app, entity), collected(&app), shown, last)
}

#[test]
fn a_clip_plays_on_its_own_timestamps_to_its_end_and_says_so_once() {
    for frame in [FRAME_24, Duration::from_nanos(1_000_000_000 / 60)] {
        let (updates, player, ended, shown, last) = play_once(frame);
        // 2 s of clip: never sooner than 2 s of game time, whatever the game's frame rate.
        let minimum = (2.0 / frame.as_secs_f64()).floor() as u32 - 1;
        assert!(
            updates >= minimum,
            "ended after {updates} updates of {:.1} ms",
            ms(frame)
        );
        assert!((player.position().as_secs_f64() - 2.0).abs() < 1e-3);
        assert!(player.frames_shown() > 1 && player.frames_shown() <= 48);
        assert_eq!(player.loops(), 1);
        assert_eq!(ended.len(), 1);
        assert!(!ended[0].looping && ended[0].error.is_none());
        assert_eq!(ended[0].loops, 1);
        assert_eq!(shown, last, "the last frame stays");
    }
}

#[test]
fn a_looping_clip_starts_over_at_its_end() {
    let mut app = app_serving(clip_bytes(), "video/mp4", None);
    let handle = request_video(&mut app);
    let entity = app
        .world_mut()
        .spawn(VideoPlayer::new(handle).looping(true).with_speed(4.0))
        .id();
    update_until(&mut app, "two passes", |app| {
        collected::<VideoEnded>(app).len() >= 2
    });
    let ended = collected::<VideoEnded>(&app);
    assert!(
        ended
            .iter()
            .all(|message| message.looping && message.entity == entity)
    );
    assert_eq!((ended[0].loops, ended[1].loops), (1, 2));
    let looping = player(&app, entity);
    assert_eq!(looping.state(), VideoState::Playing);
    assert!(looping.position() < Duration::from_secs(2));

    // Told to stop looping, it ends at the end of this pass.
    player_mut(&mut app, entity).set_looping(false);
    update_until(&mut app, "the last pass ends", |app| {
        player(app, entity).state() == VideoState::Ended
    });
    let ended = collected::<VideoEnded>(&app);
    let last = ended.last().unwrap();
    assert!(!last.looping);
    assert_eq!(last.loops as usize, ended.len());
}

#[test]
fn a_clock_far_ahead_of_the_decoder_waits_near_the_newest_frame() {
    let mut app = app_serving(clip_bytes(), "video/mp4", None);
    let handle = request_video(&mut app);
    // Each update asks for 2 s of a 2 s clip (a second of game time, capped at virtual time's
    // 250 ms, at 8×): far more than the decoder has ready.
    app.insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_secs(1)));
    let entity = app
        .world_mut()
        .spawn(VideoPlayer::new(handle).looping(true).with_speed(8.0))
        .id();
    // Never more than 100 ms past the newest frame (at most 1958 ms into the clip), where an
    // unheld clock would be seconds ahead.
    update_until(&mut app, "three passes", |app| {
        let position = player(app, entity).position();
        assert!(position <= Duration::from_millis(2100), "{position:?}");
        collected::<VideoEnded>(app).len() >= 3
    });
}

#[test]
fn pause_holds_the_frame_speed_scales_the_clock_and_seek_goes_back_to_the_start() {
    // Long enough that it cannot end while the clock is measured.
    let bytes = ClipSpec::new(12).seconds(5.0).encode().unwrap();
    let mut app = app_serving(bytes, "video/mp4", None);
    let handle = request_video(&mut app);
    // Room for every frame the clock is measured over, decoded while paused: the clock then
    // follows time alone, however fast the updates come.
    let entity = app
        .world_mut()
        .spawn(VideoPlayer::new(handle.clone()).with_look_ahead(32))
        .id();
    update_until(&mut app, "a few frames play", |app| {
        player(app, entity).frames_shown() >= 3
    });

    player_mut(&mut app, entity).pause();
    app.update();
    let held = player(&app, entity);
    let held_pixels = pixels(&app, &handle);
    assert_eq!(held.state(), VideoState::Paused);
    for _ in 0..12 {
        app.update();
    }
    let still = player(&app, entity);
    assert_eq!(still.position(), held.position());
    assert_eq!(still.frames_shown(), held.frames_shown());
    assert_eq!(pixels(&app, &handle), held_pixels);
    update_until(&mut app, "the decoder fills its look-ahead", |app| {
        player(app, entity).frames_ahead() >= 32
    });
    assert_eq!(player(&app, entity).position(), held.position());

    // Twice as fast: the clock moves two frames' worth per update.
    {
        let mut playing = player_mut(&mut app, entity);
        playing.play();
        playing.set_speed(2.0);
    }
    app.update();
    let from = player(&app, entity).position();
    for _ in 0..6 {
        app.update();
    }
    let moved = player(&app, entity).position() - from;
    assert!(
        (ms(moved) - ms(FRAME_24 * 12)).abs() < 1.0,
        "moved {:.1} ms",
        ms(moved)
    );
    assert_eq!(player(&app, entity).state(), VideoState::Playing);

    // Half speed.
    player_mut(&mut app, entity).set_speed(0.5);
    app.update();
    let from = player(&app, entity).position();
    for _ in 0..6 {
        app.update();
    }
    let moved = player(&app, entity).position() - from;
    assert!(
        (ms(moved) - ms(FRAME_24 * 3)).abs() < 1.0,
        "moved {:.1} ms",
        ms(moved)
    );

    // Back to the start, still playing.
    let before = player(&app, entity).position();
    assert!(before > Duration::from_millis(500), "{before:?}");
    player_mut(&mut app, entity).seek_to_start();
    app.update();
    assert!(player(&app, entity).position() < Duration::from_millis(100));
    let shown = player(&app, entity).frames_shown();
    update_until(&mut app, "the start plays again", |app| {
        player(app, entity).frames_shown() > shown + 2
    });
    let again = player(&app, entity);
    assert_eq!(again.state(), VideoState::Playing);
    assert!(again.position() < before, "{:?}", again.position());
}

#[test]
fn a_player_waits_for_its_clip_and_plays_when_it_arrives() {
    let gate = gate();
    let mut app = app_serving(clip_bytes(), "video/mp4", Some(gate.clone()));
    let handle = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::video().prompt("rain on glass"));
    let entity = app.world_mut().spawn(VideoPlayer::new(handle.clone())).id();
    for _ in 0..5 {
        app.update();
    }
    assert_eq!(player(&app, entity).state(), VideoState::Waiting);
    assert_eq!(size(&app, &handle), Some(UVec2::new(32, 18)));
    gate.add_permits(1);
    update_until(&mut app, "the clip plays", |app| {
        player(app, entity).frames_shown() > 3
    });
    assert_eq!(size(&app, &handle), Some(UVec2::new(192, 108)));
    // Despawning the player stops its decoder; nothing else breaks.
    app.world_mut().entity_mut(entity).despawn();
    for _ in 0..3 {
        app.update();
    }
}

#[test]
fn a_second_player_of_an_image_waits_until_the_first_is_gone() {
    let mut app = app_serving(clip_bytes(), "video/mp4", None);
    let handle = request_video(&mut app);
    let first = app.world_mut().spawn(VideoPlayer::new(handle.clone())).id();
    update_until(&mut app, "the first player plays", |app| {
        player(app, first).frames_shown() > 2
    });
    let second = app.world_mut().spawn(VideoPlayer::new(handle.clone())).id();
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(player(&app, second).state(), VideoState::Waiting);
    assert_eq!(player(&app, second).frames_shown(), 0);
    assert_eq!(player(&app, first).state(), VideoState::Playing);

    app.world_mut().entity_mut(first).despawn();
    update_until(&mut app, "the second player takes over", |app| {
        player(app, second).frames_shown() > 2
    });
    assert_eq!(player(&app, second).state(), VideoState::Playing);
}

#[test]
fn a_replaced_player_stops_and_the_new_one_plays_its_own_image() {
    let mut app = app_serving(clip_bytes(), "video/mp4", None);
    let harbour = request_video(&mut app);
    let entity = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("a storm over the lighthouse"))
        .id();
    until_status(&mut app, entity, TaskStatus::Completed);
    let storm = task(&app, entity).handle().image().unwrap().clone();
    assert_ne!(harbour.id(), storm.id());

    let stage = app
        .world_mut()
        .spawn(VideoPlayer::new(harbour.clone()).looping(true))
        .id();
    update_until(&mut app, "the harbour plays for a second", |app| {
        player(app, stage).frames_shown() > 24
    });
    let at_swap = player(&app, stage).position();
    app.world_mut()
        .entity_mut(stage)
        .insert(VideoPlayer::new(storm.clone()).looping(true));
    update_until(&mut app, "the storm plays", |app| {
        player(app, stage).frames_shown() > 2
    });
    // A clip of its own from the start, not the harbour's decoder carrying on into the storm.
    let storm_position = player(&app, stage).position();
    assert!(
        storm_position < Duration::from_millis(500) && storm_position < at_swap,
        "{storm_position:?} after swapping at {at_swap:?}"
    );
    // The harbour's decoder is gone: its image holds still while the storm moves on.
    let (harbour_before, storm_before) = (pixels(&app, &harbour), pixels(&app, &storm));
    for _ in 0..12 {
        app.update();
    }
    assert_eq!(pixels(&app, &harbour), harbour_before);
    assert_ne!(pixels(&app, &storm), storm_before);
}

/// Requests a video whose media is `bytes` as `mime`; returns the failed task's error and the
/// image then behind its handle.
fn failure(bytes: Vec<u8>, mime: &'static str) -> (AssetError, Option<UVec2>, usize) {
    let mut app = app_serving(bytes, mime, None);
    let entity = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("a broken clip"))
        .id();
    update_until(&mut app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(&app, entity);
    assert_eq!(done.status(), TaskStatus::Failed);
    let handle = done.handle().image().unwrap().clone();
    let clips = app.world().resource::<VideoClips>().len();
    (done.error().unwrap().clone(), size(&app, &handle), clips)
}

#[test]
fn truncated_non_video_and_unsupported_files_fail_cleanly_and_keep_the_placeholder() {
    let good = clip_bytes();
    let placeholder = Some(UVec2::new(32, 18));

    let mut cut = good.clone();
    cut.truncate(good.len() * 2 / 3);
    let (error, shown, clips) = failure(cut, "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(
        error.message().contains("did not open as a video"),
        "{error}"
    );
    assert!(error.message().contains("cut short"), "{error}");
    assert_eq!((shown, clips), (placeholder, 0));

    // The index first (as a streaming mp4 has it) and the media cut: caught by the frame count.
    let front_loaded = move_index_to_front(&good);
    VideoClip::open(front_loaded.clone()).expect("the rearranged clip is whole");
    let mut cut = front_loaded;
    cut.truncate(cut.len() * 2 / 3);
    let (error, shown, _) = failure(cut, "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(error.message().contains("cut short"), "{error}");
    assert!(error.message().contains("of its 48 frames"), "{error}");
    assert_eq!(shown, placeholder);

    let (error, shown, _) = failure(b"this is not a video at all".repeat(40), "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(
        error.message().contains("did not open as a video"),
        "{error}"
    );
    assert_eq!(shown, placeholder);

    let (error, shown, _) = failure(png(40, 30, [1, 2, 3, 255]), "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(error.message().contains("still image"), "{error}");
    assert_eq!(shown, placeholder);

    let (error, shown, _) = failure(wav(22050), "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(error.message().contains("no video stream"), "{error}");
    assert!(error.message().contains("audio"), "{error}");
    assert_eq!(shown, placeholder);

    // An mp4 whose video is in a codec nobody here knows.
    let unknown = replace_all(&good, b"avc1", b"zzzz");
    let (error, shown, _) = failure(unknown, "video/mp4");
    assert_eq!(error.kind(), AssetErrorKind::Unsupported);
    assert!(error.message().contains("codec"), "{error}");
    assert!(error.message().contains("zzzz"), "{error}");
    assert_eq!(shown, placeholder);
}

fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The top-level boxes of an mp4: (type, start, end).
fn boxes(bytes: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = bytes[at + 4..at + 8].try_into().unwrap();
        assert!(
            size >= 8,
            "a 64-bit or open box: not expected in a small clip"
        );
        out.push((kind, at, at + size));
        at += size;
    }
    out
}

/// The clip with its `moov` box before `mdat`, its chunk offsets moved to match: what a
/// "fast start" mp4 from a provider looks like.
fn move_index_to_front(bytes: &[u8]) -> Vec<u8> {
    let top = boxes(bytes);
    let find = |kind: &[u8; 4]| *top.iter().find(|(k, _, _)| k == kind).unwrap();
    let (_, moov_start, moov_end) = find(b"moov");
    let (_, mdat_start, _) = find(b"mdat");
    let mut moov = bytes[moov_start..moov_end].to_vec();
    let shift = (moov_end - moov_start) as u32;
    // Every `stco` entry is an absolute offset into the file.
    let mut i = 0;
    while i + 16 <= moov.len() {
        if &moov[i..i + 4] == b"stco" {
            let count = u32::from_be_bytes(moov[i + 8..i + 12].try_into().unwrap()) as usize;
            for n in 0..count {
                let at = i + 12 + n * 4;
                let offset = u32::from_be_bytes(moov[at..at + 4].try_into().unwrap());
                moov[at..at + 4].copy_from_slice(&(offset + shift).to_be_bytes());
            }
            break;
        }
        i += 1;
    }
    let mut out = bytes[..mdat_start].to_vec();
    out.extend_from_slice(&moov);
    out.extend_from_slice(&bytes[mdat_start..moov_start]);
    out.extend_from_slice(&bytes[moov_end..]);
    out
}

#[test]
fn a_video_generation_from_the_dev_backend_plays_over_loopback_http() {
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(20))
        .spawn()
        .unwrap();
    let source = PixSimSource::builder(dev.base_url())
        .token(dev.token())
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(source)
            .with_default_timeout(Duration::from_secs(15)),
    );
    app.insert_resource(TimeUpdateStrategy::ManualDuration(FRAME_24));
    collect::<VideoEnded>(&mut app);
    app.update();
    let request = app
        .world_mut()
        .spawn(
            AssetRequest::video()
                .scene("harbor")
                .prompt("boats rocking at dawn"),
        )
        .id();
    let image = task(&app, request).handle().image().unwrap().clone();
    let player = app.world_mut().spawn(VideoPlayer::new(image.clone())).id();
    until_status(&mut app, request, TaskStatus::Completed);
    let done = task(&app, request);
    assert_eq!(done.source(), Some(SourceKind::Generated));
    let clip = app
        .world()
        .resource::<VideoClips>()
        .get(&image)
        .unwrap()
        .clone();
    assert_eq!(clip.info().codec, "h264");
    assert_eq!(clip.info().profile.as_deref(), Some("High"));
    assert!(clip.info().has_b_frames);
    assert_eq!(size(&app, &image), Some(UVec2::new(192, 108)));

    update_until(&mut app, "the generated clip plays to its end", |app| {
        !collected::<VideoEnded>(app).is_empty()
    });
    let ended = collected::<VideoEnded>(&app);
    assert_eq!(ended[0].entity, player);
    assert!(ended[0].error.is_none());
    assert!(
        app.world()
            .get::<VideoPlayer>(player)
            .unwrap()
            .frames_shown()
            > 1
    );
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.downloads), (1, 1));

    // The asset says what it is, and its SHA-256 is the file's.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (asset, file) = runtime.block_on(async {
        let http = reqwest::Client::new();
        let asset: serde_json::Value = http
            .get(format!("{}/api/v1/assets/1", dev.base_url()))
            .bearer_auth(dev.token())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = format!("{}{}", dev.base_url(), asset["file_url"].as_str().unwrap());
        let file = http
            .get(url)
            .bearer_auth(dev.token())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        (asset, file)
    });
    assert_eq!(asset["mime_type"], "video/mp4");
    assert_eq!(asset["media_type"], "video");
    assert_eq!(asset["sha256"], hex::encode(Sha256::digest(&file)));
    assert_eq!(asset["duration_sec"], 2.0);
    assert_eq!(file.as_ref(), clip.bytes());
}

/// Ends each observer saw: (entity the event names, loops).
#[derive(Resource, Default)]
struct EndsObserved {
    on_first: Vec<(Entity, u32)>,
    global: Vec<(Entity, u32)>,
}

#[test]
fn an_observer_on_the_player_sees_its_own_ends_and_a_global_one_sees_all() {
    let mut app = app_serving(clip_bytes(), "video/mp4", None);
    app.init_resource::<EndsObserved>().add_observer(
        |ended: On<VideoEnded>, mut seen: ResMut<EndsObserved>| {
            seen.global.push((ended.entity, ended.loops));
        },
    );
    let handle = request_video(&mut app);
    let first = app
        .world_mut()
        .spawn(VideoPlayer::new(handle).with_speed(4.0))
        .observe(|ended: On<VideoEnded>, mut seen: ResMut<EndsObserved>| {
            seen.on_first.push((ended.event_target(), ended.loops));
        })
        .id();
    let other = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("another harbour"))
        .id();
    until_status(&mut app, other, TaskStatus::Completed);
    let other = task(&app, other).handle().image().unwrap().clone();
    let second = app
        .world_mut()
        .spawn(VideoPlayer::new(other).with_speed(4.0))
        .id();
    update_until(&mut app, "both clips end", |app| {
        collected::<VideoEnded>(app).len() == 2
    });
    let seen = app.world().resource::<EndsObserved>();
    assert_eq!(seen.on_first, vec![(first, 1)], "only its own end");
    let mut global = seen.global.clone();
    global.sort();
    let mut expected = vec![(first, 1), (second, 1)];
    expected.sort();
    assert_eq!(global, expected);
}

#[test]
fn an_app_without_the_video_plugin_decodes_no_clips_whatever_other_apps_added() {
    // An app with the video add-on, in the same process, registers its clip decoder there.
    let mut with_video = app_serving(clip_bytes(), "video/mp4", None);
    request_video(&mut with_video);

    let source = ClipSource {
        bytes: clip_bytes().into(),
        mime: "video/mp4",
        gate: None,
    };
    let core = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_source(source)
        .with_default_timeout(Duration::from_secs(10));
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugins::from(core)
                .build()
                .disable::<bevy_asset_provider::video::VideoPlugin>(),
        );
    app.finish();
    app.cleanup();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::video().prompt("waves at the harbour"))
        .id();
    update_until(&mut app, "the task ends", |app| {
        task(app, entity).status().is_terminal()
    });
    let done = task(&app, entity);
    assert_eq!(
        (done.status(), done.error().map(AssetError::kind)),
        (TaskStatus::Failed, Some(AssetErrorKind::Unsupported)),
        "a clip is not decoded without the video add-on: {:?}",
        done.error()
    );
}
