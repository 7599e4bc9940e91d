use super::*;
use crate::request::RequestKey;

fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut pixels).expect("PNG frame");
    (info, pixels)
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[test]
fn png_is_deterministic_and_differs_by_seed() {
    let a = procedural_png(1, 96, 54);
    assert_eq!(a, procedural_png(1, 96, 54));
    let images: Vec<_> = (0..8).map(|seed| procedural_png(seed, 96, 54)).collect();
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            assert_ne!(
                images[i], images[j],
                "seeds {i} and {j} painted the same image"
            );
        }
    }
}

#[test]
fn png_decodes_to_the_requested_size() {
    for (width, height) in [(480, 270), (33, 17), (1, 1)] {
        let (info, pixels) = decode_png(&procedural_png(42, width, height));
        assert_eq!((info.width, info.height), (width, height));
        assert_eq!(info.color_type, png::ColorType::Rgba);
        assert_eq!(pixels.len(), (width * height * 4) as usize);
        assert!(pixels.chunks(4).all(|p| p[3] == 255), "opaque");
    }
}

#[test]
fn png_is_a_picture_not_a_flat_fill() {
    let (_, pixels) = decode_png(&procedural_png(9, 120, 68));
    let mut colors: Vec<&[u8]> = pixels.chunks(4).collect();
    colors.sort();
    colors.dedup();
    assert!(colors.len() > 200, "only {} distinct colors", colors.len());
}

#[test]
fn png_clamps_zero_size() {
    let (info, _) = decode_png(&procedural_png(3, 0, 0));
    assert_eq!((info.width, info.height), (1, 1));
}

#[test]
fn wav_is_deterministic_and_differs_by_seed() {
    assert_eq!(procedural_wav(5, 0.8), procedural_wav(5, 0.8));
    let sounds: Vec<_> = (0..8).map(|seed| procedural_wav(seed, 0.8)).collect();
    for i in 0..sounds.len() {
        for j in i + 1..sounds.len() {
            assert_ne!(
                sounds[i], sounds[j],
                "seeds {i} and {j} made the same sound"
            );
        }
    }
}

#[test]
fn wav_header_and_sample_count() {
    let wav = procedural_wav(11, 0.8);
    let samples = (0.8f32 * WAV_SAMPLE_RATE as f32).round() as usize;
    assert_eq!(&wav[0..4], b"RIFF");
    assert_eq!(u32_at(&wav, 4) as usize, wav.len() - 8);
    assert_eq!(&wav[8..12], b"WAVE");
    assert_eq!(&wav[12..16], b"fmt ");
    assert_eq!(u32_at(&wav, 16), 16);
    assert_eq!(u16_at(&wav, 20), 1, "PCM");
    assert_eq!(u16_at(&wav, 22), 1, "mono");
    assert_eq!(u32_at(&wav, 24), WAV_SAMPLE_RATE);
    assert_eq!(u32_at(&wav, 28), WAV_SAMPLE_RATE * 2);
    assert_eq!(u16_at(&wav, 32), 2);
    assert_eq!(u16_at(&wav, 34), 16);
    assert_eq!(&wav[36..40], b"data");
    assert_eq!(u32_at(&wav, 40) as usize, samples * 2);
    assert_eq!(wav.len(), 44 + samples * 2);
}

#[test]
fn wav_is_audible_soft_and_ends_in_silence() {
    let wav = procedural_wav(12, 1.0);
    let samples: Vec<i16> = wav[44..]
        .chunks(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    assert!(peak > 8_000 && peak < 20_000, "peak {peak}");
    assert_eq!(samples.last().copied(), Some(0));
}

#[test]
fn wav_handles_degenerate_lengths() {
    for seconds in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let wav = procedural_wav(1, seconds);
        assert_eq!(wav.len(), 44, "{seconds}");
        assert_eq!(u32_at(&wav, 40), 0);
    }
}

#[test]
fn wav_bytes_stay_the_same() {
    // Cached cues hold these bytes: the same seed must keep giving them, header included.
    use sha2::{Digest, Sha256};
    for (seed, seconds, sha256) in [
        (
            7,
            0.5,
            "4c896b45b98e6baaa1233805b5a714c74e402c30e8ef93435e518c7c08d7cdae",
        ),
        (
            12,
            1.0,
            "5d109df3a7b2e41383a7a97d0f83944c774d6c90ab84350aa48d2045706b3b9f",
        ),
        (
            3,
            2.0,
            "a68a13d30093d103f13a093bb0dbb993db354311ee301093de8cbb9fce4ec879",
        ),
    ] {
        let digest = hex::encode(Sha256::digest(procedural_wav(seed, seconds)));
        assert_eq!(digest, sha256, "seed {seed}, {seconds} s");
    }
}

#[test]
fn landscape_pixels_stay_the_same() {
    // Cached pictures hold these pixels: the same seed and size must keep painting them.
    // 64 seeds reach every palette, the crescent, the sea, the tower, trees and birds.
    use sha2::{Digest, Sha256};
    for (width, height, sha256) in [
        (
            64,
            36,
            "d4e6b0cb36dac457f6eebe083ada75b94d29cea8c736edff5b09ee15c42ae43c",
        ),
        (
            480,
            270,
            "b0683fbd312fc3c834bc79cd329f94fac0c92d4aec2228d8b7f8a6fc77d6608f",
        ),
        (
            33,
            17,
            "dfcf391de49757497ad755323fa3155890f9d1c61f4535430fda71184176c5da",
        ),
    ] {
        let mut digest = Sha256::new();
        for seed in 0..64 {
            digest.update(paint_landscape(seed, width, height));
        }
        let digest = hex::encode(digest.finalize());
        assert_eq!(digest, sha256, "{width}×{height}");
    }
}

#[test]
fn seed_from_key_reads_the_key() {
    let mut a = RequestKey([0; 32]);
    let b = RequestKey([0; 32]);
    assert_eq!(seed_from_key(&a), seed_from_key(&b));
    a.0[0] = 1;
    assert_eq!(seed_from_key(&a), 1);
    assert_ne!(seed_from_key(&a), seed_from_key(&b));
}

/// Writes sample images and cues to the temp dir to look at: `cargo test --lib
/// procedural::tests::write_samples -- --ignored`.
#[test]
#[ignore]
fn write_samples() {
    let dir = std::env::temp_dir().join("procedural_samples");
    std::fs::create_dir_all(&dir).expect("temp dir");
    for seed in 0..12 {
        std::fs::write(
            dir.join(format!("scene_{seed}.png")),
            procedural_png(seed, 480, 270),
        )
        .expect("write png");
        std::fs::write(
            dir.join(format!("chime_{seed}.wav")),
            procedural_wav(seed, 0.8),
        )
        .expect("write wav");
    }
}
