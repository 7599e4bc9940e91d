//! Soft chimes as WAV files.

use std::f32::consts::TAU;

use super::rng::Rng;

/// Sample rate of [`procedural_wav`]'s output, in Hz.
pub const WAV_SAMPLE_RATE: u32 = 22_050;

/// Longest sound [`procedural_wav`] makes, in seconds; longer requests are clamped.
pub const MAX_WAV_SECONDS: f32 = 60.0;

/// Pentatonic scales as semitone steps: major, minor and the "Egyptian" suspended one.
const PENTATONIC: [[u8; 5]; 3] = [[0, 2, 4, 7, 9], [0, 3, 5, 7, 10], [0, 2, 5, 7, 10]];

/// Partials of a small bell: (frequency ratio, level, how much faster it fades).
const PARTIALS: [(f32, f32, f32); 4] = [
    (1.0, 1.0, 1.0),
    (2.0, 0.3, 1.8),
    (2.76, 0.16, 2.6),
    (5.4, 0.05, 4.0),
];

/// A soft chime of 2 or 3 notes, as a 16-bit PCM mono WAV at 22,050 Hz, `seconds` long
/// (clamped to `0..=60`; not-a-number is 0).
///
/// The seed picks a pentatonic scale, a root note and the notes; each note is a bell-like tone
/// with a short attack and an exponential decay. The mix is scaled to half of full scale, so it
/// never clips, and fades to silence at the end, so it never clicks.
pub fn procedural_wav(seed: u64, seconds: f32) -> Vec<u8> {
    let seconds = if seconds.is_finite() {
        seconds.clamp(0.0, MAX_WAV_SECONDS)
    } else {
        0.0
    };
    let rate = WAV_SAMPLE_RATE as f32;
    let count = (seconds * rate).round() as usize;

    let mut rng = Rng::new(seed ^ 0xC41E_0000_0000_0001);
    let (notes, decay) = pick_notes(&mut rng, seconds);
    let mut samples = ring(&notes, decay, count);
    fade_out(&mut samples);
    encode_wav(&samples)
}

/// The notes of a chime `seconds` long, as (onset in seconds, frequency in Hz), and how fast
/// they decay.
fn pick_notes(rng: &mut Rng, seconds: f32) -> (Vec<(f32, f32)>, f32) {
    let scale_steps = &PENTATONIC[rng.below(PENTATONIC.len())];
    // G4 to F#5 roots keep the chime bright but not shrill.
    let root = 67.0 + rng.below(12) as f32;
    let note_count = 2 + rng.below(2);
    let spacing = (seconds / (note_count as f32 + 1.5)).min(0.18);
    let decay = rng.range(0.18, 0.32) * seconds.clamp(0.4, 3.0);
    let mut degree = rng.below(3);
    let notes = (0..note_count)
        .map(|i| {
            let octave = (degree / 5) as f32 * 12.0;
            let midi = root + f32::from(scale_steps[degree % 5]) + octave;
            let frequency = 440.0 * 2f32.powf((midi - 69.0) / 12.0);
            // Rising arpeggio: each note a step or two above the last.
            degree += 1 + rng.below(2);
            (i as f32 * spacing, frequency)
        })
        .collect();
    (notes, decay)
}

/// `count` samples of the bell `notes` ringing, each from its onset.
fn ring(notes: &[(f32, f32)], decay: f32, count: usize) -> Vec<f32> {
    let rate = WAV_SAMPLE_RATE as f32;
    let mut samples = vec![0.0f32; count];
    for &(onset, frequency) in notes {
        let start = (onset * rate) as usize;
        for (n, sample) in samples.iter_mut().enumerate().skip(start) {
            let t = (n - start) as f32 / rate;
            let attack = (t / 0.004).min(1.0);
            let mut value = 0.0;
            for &(ratio, level, speed) in &PARTIALS {
                value += level * (TAU * frequency * ratio * t).sin() * (-t * speed / decay).exp();
            }
            *sample += value * attack;
        }
    }
    samples
}

/// Fades the last 30 ms to silence, so the sound never ends in a click.
fn fade_out(samples: &mut [f32]) {
    let count = samples.len();
    let fade = ((0.03 * WAV_SAMPLE_RATE as f32) as usize).min(count);
    for i in 0..fade {
        samples[count - 1 - i] *= i as f32 / fade as f32;
    }
}

/// `samples` scaled to half of full scale, as a 16-bit PCM mono WAV.
fn encode_wav(samples: &[f32]) -> Vec<u8> {
    let peak = samples.iter().fold(0.0f32, |peak, s| peak.max(s.abs()));
    let gain = if peak > 0.0 { 0.5 / peak } else { 0.0 };

    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: WAV_SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing at most MAX_WAV_SECONDS of samples into a Vec cannot fail.
    let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("WAV header into a Vec");
    for &sample in samples {
        let value = (sample * gain * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(value).expect("WAV sample into a Vec");
    }
    writer.finalize().expect("WAV end into a Vec");
    bytes.into_inner()
}
