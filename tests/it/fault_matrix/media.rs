//! The media rows of the fault matrix: hostile bytes from a fake source.

use super::*;

#[test]
fn media_png_bomb() {
    let bomb = grey_png(9000, 9000);
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let mut app = app_serving(Behaviour::bytes(bomb, "image/png"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["9000 × 9000", "8192"]);
}

#[test]
fn media_image_side_over_the_limit() {
    let wide = png(40_000, 1, [9, 9, 9, 255]);
    let mut app = app_serving(Behaviour::bytes(wide, "image/png"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["40000 × 1", "8192 pixels a side"]);
}

#[test]
fn media_pixel_count_over_a_configured_limit() {
    let limits = MediaLimits::default().max_image_side(64).max_pixels(1000);
    let mut app = app_serving(
        Behaviour::Serve {
            width: 40,
            height: 40,
        },
        limits,
    );
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["40 × 40", "1600", "1000"]);
    let mut app = app_serving(
        Behaviour::Serve {
            width: 30,
            height: 30,
        },
        limits,
    );
    assert_eq!(
        run(&mut app, AssetRequest::image()).status(),
        TaskStatus::Completed
    );
}

/// A WAV header: `channels`, `rate` Hz, 16 bits, a data chunk claiming `data_len` bytes, and
/// `present` bytes of it.
fn wav_header(channels: u16, rate: u32, data_len: u32, present: usize) -> Vec<u8> {
    let block = channels * 2;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&channels.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    bytes.extend_from_slice(&block.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    bytes.resize(bytes.len() + present, 0);
    bytes
}

#[test]
fn media_malformed_wav() {
    let cases: [(Vec<u8>, &[&str]); 5] = [
        // The one seen in the wild: 45 bytes, 0 channels, 0 Hz, a million bytes of data.
        (wav_header(0, 0, 1_000_000, 1), &["zero channels"]),
        (wav_header(1, 0, 4, 4), &["0 Hz"]),
        (
            wav_header(2, 22_050, 1_000_000, 8),
            &["1000000 bytes", "8 follow"],
        ),
        (wav_header(1, 1_000_000, 4, 4), &["1000000 Hz"]),
        (
            b"RIFF\x00\x00\x00\x00WAVEjunk".to_vec(),
            &["not a playable WAV"],
        ),
    ];
    for (bytes, parts) in cases {
        let mut app = app_serving(Behaviour::bytes(bytes, "audio/wav"), MediaLimits::default());
        let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Decode);
        assert_mentions(&message, parts);
    }
    // A sound that is whole plays.
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "audio/wav"),
        MediaLimits::default(),
    );
    assert_eq!(
        run(&mut app, AssetRequest::audio()).status(),
        TaskStatus::Completed
    );
}

#[cfg(not(feature = "mp3"))]
#[test]
fn media_mp3_without_the_mp3_feature() {
    let mp3 = [
        b"ID3\x04\x00\x00\x00\x00\x00\x00".as_slice(),
        &[0xFF, 0xFB, 0x90, 0x64],
    ]
    .concat();
    let mut app = app_serving(Behaviour::bytes(mp3, "audio/mpeg"), MediaLimits::default());
    let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Unsupported);
    assert_mentions(&message, &["audio/mpeg", "`mp3` feature"]);
}

/// A sound made for these tests (a 0.15 s tone), as `tone.<extension>`.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn tone(extension: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audio")
        .join(format!("tone.{extension}"));
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Whether Bevy's own decoder, as an `AudioPlayer` runs it, panics on `bytes`.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn bevy_panics_playing(bytes: &[u8]) -> bool {
    use bevy::audio::Decodable;
    let source = AudioSource {
        bytes: bytes.into(),
    };
    std::panic::catch_unwind(|| source.decoder().take(4096).count()).is_err()
}

/// Compressed sounds with the right signature that Bevy's decoder panics on fail as `Decode`
/// naming the file and the problem; a whole sound of the same type plays.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn compressed_sound_rows(mime: &str, whole: Vec<u8>, malformed: Vec<Vec<u8>>) {
    for bytes in malformed {
        assert!(
            bevy_panics_playing(&bytes),
            "Bevy plays {mime} {:?}…",
            &bytes[..bytes.len().min(16)]
        );
        let mut app = app_serving(Behaviour::bytes(bytes, mime), MediaLimits::default());
        let message = fails(&mut app, AssetRequest::audio(), AssetErrorKind::Decode);
        assert_mentions(&message, &["fake", mime, "not a playable"]);
    }
    assert!(!bevy_panics_playing(&whole));
    let mut app = app_serving(Behaviour::bytes(whole, mime), MediaLimits::default());
    let done = run(&mut app, AssetRequest::audio());
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
}

#[cfg(feature = "mp3")]
#[test]
fn media_malformed_mp3() {
    compressed_sound_rows(
        "audio/mpeg",
        tone("mp3"),
        vec![
            // An ID3 tag and nothing after it.
            b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec(),
            // A frame sync, then noise.
            [&[0xFF, 0xFB, 0x90, 0x64][..], &[0x5A; 64]].concat(),
        ],
    );
}

#[cfg(feature = "vorbis")]
#[test]
fn media_malformed_ogg_vorbis() {
    let whole = tone("ogg");
    compressed_sound_rows(
        "audio/ogg",
        whole.clone(),
        vec![
            b"OggS\x00\x02 nothing of the kind".to_vec(),
            // The first page of a real stream, cut before its headers end.
            whole[..60].to_vec(),
        ],
    );
}

#[cfg(feature = "flac")]
#[test]
fn media_malformed_flac() {
    let whole = tone("flac");
    // STREAMINFO's sample rate (20 bits from byte 18) set to 0.
    let mut silent_rate = whole.clone();
    silent_rate[18] = 0;
    silent_rate[19] = 0;
    silent_rate[20] &= 0x0F;
    compressed_sound_rows(
        "audio/flac",
        whole,
        vec![b"fLaC\x00\x00\x00\x22 then nothing".to_vec(), silent_rate],
    );
}

#[cfg(feature = "video")]
#[test]
fn media_a_video_that_is_not_a_video() {
    let mut app = app_serving(
        Behaviour::bytes(b"<html>rate limited</html>".to_vec(), "video/mp4"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["did not open as a video"]);
}

#[cfg(feature = "video")]
#[test]
fn media_video_frames_over_the_limit() {
    let clip = ClipSpec::new(3).size(64, 36).seconds(0.2).encode().unwrap();
    let limits = MediaLimits::default().max_image_side(32);
    let mut app = app_serving(Behaviour::bytes(clip, "video/mp4"), limits);
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Decode);
    assert_mentions(&message, &["64 × 36", "32 pixels a side"]);
}

/// Without FFmpeg a clip is not opened at all: the request fails, its placeholder stays.
#[cfg(not(feature = "video"))]
#[test]
fn media_a_video_without_the_video_feature() {
    let mut app = app_serving(
        Behaviour::bytes(b"\0\0\0\x18ftypmp42".to_vec(), "video/mp4"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::video(), AssetErrorKind::Unsupported);
    assert_mentions(&message, &["video/mp4", "`video` feature"]);
}

#[test]
fn media_wrong_type_image_asked_audio_sent() {
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "audio/wav"),
        MediaLimits::default(),
    );
    let message = fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
    assert_mentions(&message, &["expected an image", "audio/wav"]);
    // Labelled as an image, it still is not one.
    let mut app = app_serving(
        Behaviour::bytes(wav(100), "image/png"),
        MediaLimits::default(),
    );
    fails(&mut app, AssetRequest::image(), AssetErrorKind::Decode);
}
