//! Short procedural H.264 clips, encoded with FFmpeg's libx264 the way providers deliver them:
//! High profile, B-frames, in an mp4. The embedded generator and the dev backend make them for
//! video requests.

use std::io::{Cursor, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use ffmpeg::format::Pixel;
use ffmpeg::format::context::StreamIo;
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg::{Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::error::{AssetError, AssetErrorKind};
use crate::source::procedural::paint_landscape;

/// Largest side of a clip.
const MAX_SIDE: u32 = 1920;
/// Longest clip, in seconds.
const MAX_SECONDS: f32 = 30.0;

/// A procedural clip: a landscape panning past with a light drifting over it, so every frame
/// differs from its neighbours. [`encode`](Self::encode) makes the mp4.
///
/// ```no_run
/// use bevy_asset_provider::video::ClipSpec;
///
/// let mp4 = ClipSpec::new(7).size(192, 108).fps(24).seconds(2.0).encode().unwrap();
/// assert_eq!(&mp4[4..8], b"ftyp");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ClipSpec {
    seed: u64,
    width: u32,
    height: u32,
    fps: u32,
    seconds: f32,
    b_frames: u32,
    threads: u32,
}

impl ClipSpec {
    /// The defaults: 192 × 108, 24 fps, 2 s, 3 B-frames, one encoder thread.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            width: 192,
            height: 108,
            fps: 24,
            seconds: 2.0,
            b_frames: 3,
            threads: 1,
        }
    }

    /// The frame size, rounded up to even numbers (4:2:0 needs them) within 16..=1920.
    #[must_use]
    pub fn size(mut self, width: u32, height: u32) -> Self {
        let even = |side: u32| side.clamp(16, MAX_SIDE).next_multiple_of(2);
        self.width = even(width);
        self.height = even(height);
        self
    }

    /// Frames per second (1..=120).
    #[must_use]
    pub fn fps(mut self, fps: u32) -> Self {
        self.fps = fps.clamp(1, 120);
        self
    }

    /// Length in seconds (at least one frame, at most 30 s).
    #[must_use]
    pub fn seconds(mut self, seconds: f32) -> Self {
        self.seconds = if seconds.is_finite() {
            seconds.clamp(0.0, MAX_SECONDS)
        } else {
            2.0
        };
        self
    }

    /// B-frames between reference frames (0..=16; 0 makes a clip without any).
    #[must_use]
    pub fn b_frames(mut self, b_frames: u32) -> Self {
        self.b_frames = b_frames.min(16);
        self
    }

    /// Encoder threads (default 1, so encoding leaves the game's cores alone).
    #[must_use]
    pub fn threads(mut self, threads: u32) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Width and height of the frames.
    pub fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Frames per second.
    pub fn frame_rate(&self) -> u32 {
        self.fps
    }

    /// How many frames the clip has.
    pub fn frame_count(&self) -> u32 {
        ((self.seconds * self.fps as f32).round() as u32).max(1)
    }

    /// Frame `index` as RGBA8 rows: the landscape panned `index` steps and the light moved on.
    pub fn paint(&self, index: u32) -> Vec<u8> {
        self.paint_over(
            &paint_landscape(self.seed, self.width as usize, self.height as usize),
            index,
        )
    }

    fn paint_over(&self, landscape: &[u8], index: u32) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let t = index as f32 / self.frame_count() as f32;
        // One full pan over the clip: each frame is a few pixels on from the last.
        let shift = (t * w as f32) as usize % w.max(1);
        let mut rgba = vec![0u8; w * h * 4];
        for y in 0..h {
            let row = &landscape[y * w * 4..(y + 1) * w * 4];
            let out = &mut rgba[y * w * 4..(y + 1) * w * 4];
            let split = shift * 4;
            out[..row.len() - split].copy_from_slice(&row[split..]);
            out[row.len() - split..].copy_from_slice(&row[..split]);
        }
        // A warm light crossing left to right and bobbing.
        let cx = t * w as f32;
        let cy = h as f32 * (0.35 + 0.15 * (t * std::f32::consts::TAU * 2.0).sin());
        let radius = (h as f32 * 0.12).max(2.0);
        // Only the light's square is touched.
        let span = |centre: f32, side: usize| {
            let low = (centre - radius).floor().max(0.0) as usize;
            let high = ((centre + radius).ceil().max(0.0) as usize).min(side);
            low..high
        };
        for y in span(cy, h) {
            for x in span(cx, w) {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                let glow = (1.0 - d / radius).clamp(0.0, 1.0);
                if glow > 0.0 {
                    let pixel = &mut rgba[(y * w + x) * 4..(y * w + x) * 4 + 3];
                    for (channel, warm) in pixel.iter_mut().zip([255.0, 214.0, 140.0]) {
                        *channel = (*channel as f32 * (1.0 - glow) + warm * glow) as u8;
                    }
                }
            }
        }
        rgba
    }

    /// Encodes the clip: H.264 High profile with B-frames (libx264), in an mp4 whose index
    /// follows the media. Fails when the system's FFmpeg has no libx264.
    pub fn encode(&self) -> Result<Vec<u8>, AssetError> {
        encode(self).map_err(|error| {
            AssetError::new(
                AssetErrorKind::Generation,
                format!("encoding a {}×{} clip: {error}", self.width, self.height),
            )
        })
    }
}

/// An in-memory file FFmpeg's muxer writes and seeks in; cloned so the bytes can be taken out
/// once the muxer is done with its copy.
#[derive(Clone, Default)]
struct SharedFile(Arc<Mutex<Cursor<Vec<u8>>>>);

impl SharedFile {
    fn with<T>(&self, f: impl FnOnce(&mut Cursor<Vec<u8>>) -> T) -> std::io::Result<T> {
        let mut file = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("the clip buffer was poisoned"))?;
        Ok(f(&mut file))
    }
}

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.with(|file| file.write(buf))?
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for SharedFile {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.with(|file| file.seek(pos))?
    }
}

/// An FFmpeg error as `what: error`.
fn fail(what: &'static str) -> impl Fn(ffmpeg::Error) -> String {
    move |error| format!("{what}: {error}")
}

fn encode(spec: &ClipSpec) -> Result<Vec<u8>, String> {
    init_ffmpeg();
    let codec = ffmpeg::encoder::find_by_name("libx264")
        .ok_or_else(|| "this FFmpeg has no libx264 encoder".to_owned())?;
    let file = SharedFile::default();
    let io = StreamIo::from_write_seek(file.clone()).map_err(fail("output buffer"))?;
    let mut output =
        ffmpeg::format::output_to_stream(io, None, Some("mp4")).map_err(fail("mp4 muxer"))?;
    let global_header = output
        .format()
        .flags()
        .contains(ffmpeg::format::Flags::GLOBAL_HEADER);

    let time_base = Rational::new(1, spec.fps as i32);
    let mut encoder = open_encoder(spec, codec, time_base, global_header)?;

    let stream_index = {
        let mut stream = output.add_stream(codec).map_err(fail("mp4 stream"))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(time_base);
        stream.set_avg_frame_rate(Rational::new(spec.fps as i32, 1));
        stream.index()
    };
    output.write_header().map_err(fail("mp4 header"))?;
    // The muxer picks its own time base for the stream.
    let stream_time_base = output
        .stream(stream_index)
        .map(|stream| stream.time_base())
        .unwrap_or(time_base);

    let stream = StreamTimes {
        index: stream_index,
        encoder: time_base,
        muxer: stream_time_base,
    };
    encode_frames(spec, &mut encoder, &mut output, stream)?;
    output.write_trailer().map_err(fail("mp4 index"))?;
    drop(output);
    file.with(|file| std::mem::take(file.get_mut()))
        .map_err(|error| error.to_string())
}

/// Where the encoder's packets go: the stream's index, and the time bases of the encoder and
/// of the muxer's stream.
#[derive(Clone, Copy)]
struct StreamTimes {
    index: usize,
    encoder: Rational,
    muxer: Rational,
}

/// Paints, converts and encodes every frame of `spec`, then ends the stream, writing the
/// packets to `output`.
fn encode_frames(
    spec: &ClipSpec,
    encoder: &mut ffmpeg::encoder::Video,
    output: &mut ffmpeg::format::context::Output,
    stream: StreamTimes,
) -> Result<(), String> {
    let (w, h) = (spec.width, spec.height);
    let mut rgb = frame::Video::new(Pixel::RGBA, w, h);
    let mut yuv = frame::Video::new(Pixel::YUV420P, w, h);
    let mut scaler = scaling::Context::get(
        Pixel::RGBA,
        w,
        h,
        Pixel::YUV420P,
        w,
        h,
        scaling::Flags::BILINEAR,
    )
    .map_err(fail("colour converter"))?;
    let landscape = paint_landscape(spec.seed, w as usize, h as usize);
    let mut packet = Packet::empty();
    for index in 0..spec.frame_count() {
        copy_rows(&spec.paint_over(&landscape, index), &mut rgb);
        scaler
            .run(&rgb, &mut yuv)
            .map_err(fail("colour conversion"))?;
        yuv.set_pts(Some(i64::from(index)));
        encoder.send_frame(&yuv).map_err(fail("encoding a frame"))?;
        drain(encoder, output, &mut packet, stream)?;
    }
    encoder.send_eof().map_err(fail("ending the stream"))?;
    drain(encoder, output, &mut packet, stream)
}

/// Writes the packets the encoder has ready.
fn drain(
    encoder: &mut ffmpeg::encoder::Video,
    output: &mut ffmpeg::format::context::Output,
    packet: &mut Packet,
    stream: StreamTimes,
) -> Result<(), String> {
    while encoder.receive_packet(packet).is_ok() {
        packet.set_stream(stream.index);
        // libx264 leaves durations unset; without them the last frame has no length and
        // the container's rate and duration come out short.
        if packet.duration() <= 0 {
            packet.set_duration(1);
        }
        packet.rescale_ts(stream.encoder, stream.muxer);
        packet
            .write_interleaved(output)
            .map_err(fail("writing a packet"))?;
    }
    Ok(())
}

/// libx264 set up for `spec`: High profile, its B-frames in a fixed pattern, a keyframe every
/// two seconds.
fn open_encoder(
    spec: &ClipSpec,
    codec: ffmpeg::Codec,
    time_base: Rational,
    global_header: bool,
) -> Result<ffmpeg::encoder::Video, String> {
    let mut video = ffmpeg::codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(fail("encoder context"))?;
    video.set_width(spec.width);
    video.set_height(spec.height);
    video.set_format(Pixel::YUV420P);
    video.set_time_base(time_base);
    video.set_frame_rate(Some(Rational::new(spec.fps as i32, 1)));
    video.set_max_b_frames(spec.b_frames as usize);
    video.set_gop(spec.fps * 2);
    if global_header {
        video.set_flags(ffmpeg::codec::Flags::GLOBAL_HEADER);
    }
    let mut options = Dictionary::new();
    options.set("profile", "high");
    options.set("preset", "veryfast");
    options.set("crf", "23");
    options.set("threads", &spec.threads.to_string());
    // A fixed pattern: every clip really has its B-frames, as the tests expect.
    options.set("x264-params", "b-adapt=0");
    video.open_with(options).map_err(fail("libx264"))
}

/// Copies the RGBA pixels `painted` into `frame`, whose rows may be padded.
fn copy_rows(painted: &[u8], frame: &mut frame::Video) {
    let stride = frame.stride(0);
    let row = frame.width() as usize * 4;
    let height = frame.height() as usize;
    let data = frame.data_mut(0);
    for y in 0..height {
        data[y * stride..y * stride + row].copy_from_slice(&painted[y * row..(y + 1) * row]);
    }
}

/// Sets FFmpeg up once per process: quiet logging (bad input is reported as errors, not as
/// FFmpeg's own lines on stderr).
pub(crate) fn init_ffmpeg() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Only fails on FFmpeg builds older than the crate supports; decoding then reports it.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Fatal);
    });
}
