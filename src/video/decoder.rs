//! FFmpeg decoding: a clip opened from memory and checked, its frames in presentation order as
//! RGBA, and the thread that decodes a playing clip ahead of its clock. Everything here blocks;
//! it runs on the runtime's blocking pool or on a clip's own thread, never on the frame.

use std::ffi::CString;
use std::io::Cursor;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use bevy::image::Image;
use crossbeam_channel::{Receiver, Sender};
use ffmpeg::codec::Profile;
use ffmpeg::format::Pixel;
use ffmpeg::format::context::{Input, StreamIo};
use ffmpeg::software::scaling;
use ffmpeg::util::frame;
use ffmpeg::{Packet, Rational, ffi, media, picture};
use ffmpeg_next as ffmpeg;

use super::clip::{PictureType, VideoClip, VideoFrame, VideoInfo};
use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaLimits;

/// Demuxers that read still images: a PNG or JPEG labelled as video opens as a one-frame
/// "video" in FFmpeg, which is not what the request asked for.
fn is_image_demuxer(name: &str) -> bool {
    name == "image2" || name.ends_with("_pipe")
}

/// The clip's bytes as a seekable reader FFmpeg can pull from.
struct SharedBytes(Arc<[u8]>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Why a clip did not open.
enum OpenError {
    Ffmpeg(ffmpeg::Error),
    /// A video stream's header claims frames over the limits (the message says how large).
    TooLarge(String),
}

impl From<ffmpeg::Error> for OpenError {
    fn from(error: ffmpeg::Error) -> Self {
        Self::Ffmpeg(error)
    }
}

/// `limits`' pixel count as FFmpeg's `max_pixels` option, which is at most `i32::MAX`.
fn max_pixels(limits: &MediaLimits) -> i64 {
    limits.pixels().min(i32::MAX as u64) as i64
}

/// Opens `bytes` with FFmpeg. Like `ffmpeg::format::input_from_stream`, in two steps: the video
/// streams' sizes from the container's header are checked against `limits` before
/// `avformat_find_stream_info` decodes a first frame of each, and the decoders it opens refuse
/// frames over the pixel limit, so a small file claiming huge frames is never allocated.
fn open_input(bytes: &Arc<[u8]>, limits: &MediaLimits) -> Result<Input, OpenError> {
    crate::source::init_ffmpeg();
    let mut io = StreamIo::from_read_seek(Cursor::new(SharedBytes(bytes.clone())))?;
    let max_pixels = CString::new(max_pixels(limits).to_string()).unwrap_or_default();
    // SAFETY: the same calls as `input_from_stream`. `ps` is freed by `avformat_open_input` when
    // it fails (a custom `pb` is left to `io`, dropped here); once it succeeds, `Input` owns
    // both and closes them on every path below. The options are freed after use.
    unsafe {
        let mut ps = ffi::avformat_alloc_context();
        if ps.is_null() {
            return Err(ffmpeg::Error::Other { errno: ffi::ENOMEM }.into());
        }
        (*ps).pb = io.as_mut_ptr();
        (*ps).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
        let opened = ffi::avformat_open_input(&mut ps, ptr::null(), ptr::null(), ptr::null_mut());
        if opened != 0 {
            return Err(ffmpeg::Error::from(opened).into());
        }
        let mut input = Input::wrap_with_custom_io(ps, io);
        for stream in input.streams() {
            let parameters = stream.parameters();
            if parameters.medium() != media::Type::Video {
                continue;
            }
            let (width, height) = ((*parameters.as_ptr()).width, (*parameters.as_ptr()).height);
            // Zero: the header does not say; the decoders' own limit still holds.
            if width > 0
                && height > 0
                && let Err(problem) = limits.check(width as u32, height as u32)
            {
                return Err(OpenError::TooLarge(problem));
            }
        }
        let ps = input.as_mut_ptr();
        let mut options = vec![ptr::null_mut::<ffi::AVDictionary>(); (*ps).nb_streams as usize];
        for option in &mut options {
            ffi::av_dict_set(option, c"max_pixels".as_ptr(), max_pixels.as_ptr(), 0);
        }
        let found = ffi::avformat_find_stream_info(ps, options.as_mut_ptr());
        for option in &mut options {
            ffi::av_dict_free(option);
        }
        if found < 0 {
            return Err(ffmpeg::Error::from(found).into());
        }
        Ok(input)
    }
}

/// The video stream of an opened input and a decoder for it.
struct Stream {
    index: usize,
    time_base: Rational,
    frame_rate: f64,
    duration: Option<Duration>,
    frame_count: Option<u64>,
    decoder: ffmpeg::decoder::Video,
}

/// Finds the best video stream and opens its decoder; errors say what the file holds instead.
fn video_stream(input: &Input, origin: &str, limits: &MediaLimits) -> Result<Stream, AssetError> {
    let format = input.format().name().to_owned();
    if is_image_demuxer(&format) {
        return Err(AssetError::decode(format!(
            "{origin}: this is a still image ({format}), not a video"
        )));
    }
    let Some(stream) = input.streams().best(media::Type::Video) else {
        let found: Vec<String> = input
            .streams()
            .map(|stream| format!("{:?}", stream.parameters().medium()).to_lowercase())
            .collect();
        return Err(AssetError::decode(format!(
            "{origin}: the {format} file has no video stream (streams: {})",
            if found.is_empty() {
                "none".to_owned()
            } else {
                found.join(", ")
            }
        )));
    };
    let parameters = stream.parameters();
    let codec = parameters.id();
    if codec == ffmpeg::codec::Id::None || ffmpeg::decoder::find(codec).is_none() {
        return Err(AssetError::new(
            AssetErrorKind::Unsupported,
            format!(
                "{origin}: the video's codec ({}) cannot be decoded here",
                codec_label(&parameters)
            ),
        ));
    }
    let mut context = ffmpeg::codec::Context::from_parameters(parameters).map_err(|error| {
        AssetError::decode(format!("{origin}: the video stream's settings: {error}"))
    })?;
    // One thread per clip: a playing clip already has a thread of its own.
    context.set_threading(ffmpeg::threading::Config::count(1));
    // SAFETY: a plain field of a context not yet opened; the decoder refuses larger frames,
    // even when the stream changes size mid-way.
    unsafe { (*context.as_mut_ptr()).max_pixels = max_pixels(limits) };
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    let decoder = decoder.video().map_err(|error| {
        AssetError::new(
            AssetErrorKind::Unsupported,
            format!(
                "{origin}: the {} decoder would not open: {error}",
                codec.name()
            ),
        )
    })?;
    let rate = stream.avg_frame_rate();
    let frame_rate = if rate.numerator() > 0 && rate.denominator() > 0 {
        f64::from(rate)
    } else {
        0.0
    };
    let time_base = stream.time_base();
    let duration = (stream.duration() > 0)
        .then(|| to_duration(stream.duration(), time_base))
        .or_else(|| {
            // The container's duration is in AV_TIME_BASE (microseconds).
            (input.duration() > 0).then(|| Duration::from_micros(input.duration() as u64))
        });
    Ok(Stream {
        index: stream.index(),
        time_base,
        frame_rate,
        duration,
        frame_count: u64::try_from(stream.frames()).ok().filter(|n| *n > 0),
        decoder,
    })
}

/// The codec's name, or its four-character tag when FFmpeg does not know it.
fn codec_label(parameters: &ffmpeg::codec::Parameters) -> String {
    let id = parameters.id();
    if id != ffmpeg::codec::Id::None {
        return id.name().to_owned();
    }
    // SAFETY: the parameters are valid while borrowed; `codec_tag` is a plain integer field.
    let tag = unsafe { (*parameters.as_ptr()).codec_tag };
    let fourcc: String = tag
        .to_le_bytes()
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    format!("unknown, tag '{fourcc}'")
}

/// `ts` in `time_base` units as a duration; negative times count as zero.
fn to_duration(ts: i64, time_base: Rational) -> Duration {
    let (num, den) = (
        i128::from(time_base.numerator()),
        i128::from(time_base.denominator()),
    );
    if ts <= 0 || num <= 0 || den <= 0 {
        return Duration::ZERO;
    }
    let nanos = i128::from(ts) * num * 1_000_000_000 / den;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

fn profile_name(profile: Profile) -> Option<String> {
    let name = match profile {
        Profile::Unknown | Profile::Reserved => return None,
        Profile::H264(profile) => format!("{profile:?}"),
        Profile::HEVC(profile) => format!("{profile:?}"),
        Profile::VP9(profile) => format!("{profile:?}"),
        Profile::MPEG4(profile) => format!("{profile:?}"),
        Profile::MPEG2(profile) => format!("{profile:?}"),
        other => format!("{other:?}"),
    };
    Some(name)
}

fn picture_type(kind: picture::Type) -> PictureType {
    match kind {
        picture::Type::I => PictureType::I,
        picture::Type::P => PictureType::P,
        picture::Type::B => PictureType::B,
        _ => PictureType::Other,
    }
}

/// An RGBA8 sRGB image of `width` × `height` holding `rgba`.
pub(crate) fn rgba_image(width: u32, height: u32, rgba: Vec<u8>) -> Image {
    // The default image is RGBA8 sRGB, 2D, kept in both worlds: only its size and data change.
    let mut image = Image::default_uninit();
    image.texture_descriptor.size.width = width;
    image.texture_descriptor.size.height = height;
    image.data = Some(rgba);
    image
}

/// Opens `bytes` as a clip: the container and its video stream, checked complete, and the first
/// frame in presentation order. Runs in `decode`, on the runtime's blocking pool.
pub(crate) fn open_clip(
    bytes: Arc<[u8]>,
    origin: &str,
    limits: &MediaLimits,
) -> Result<(VideoClip, Image), AssetError> {
    let size = bytes.len();
    let mut input = open_input(&bytes, limits).map_err(|error| match error {
        OpenError::Ffmpeg(error) => AssetError::decode(format!(
            "{origin}: {size} bytes did not open as a video ({error}): not a video file, or \
             cut short"
        )),
        OpenError::TooLarge(problem) => {
            AssetError::decode(format!("{origin}: the video's frames are {problem}"))
        }
    })?;
    let container = input.format().name().to_owned();
    let mut stream = video_stream(&input, origin, limits)?;
    let mut converter = Converter::new(
        stream.decoder.width(),
        stream.decoder.height(),
        origin,
        limits,
    )?;

    // One pass over the packets: every one is checked present and whole, and the first few
    // feed the decoder until it gives the first frame.
    let mut packets = 0u64;
    let mut broken = 0u64;
    let mut unreadable = 0u64;
    let mut first: Option<Vec<u8>> = None;
    let mut decoded = frame::Video::empty();
    let mut packet = Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(ffmpeg::Error::InvalidData) => {
                unreadable += 1;
                continue;
            }
            Err(error) => {
                return Err(AssetError::decode(format!(
                    "{origin}: reading the video failed after {packets} frames: {error}"
                )));
            }
        }
        if packet.stream() != stream.index {
            continue;
        }
        packets += 1;
        let position = packet.position();
        let cut = position >= 0 && position as usize + packet.size() > size;
        if cut || packet.is_corrupt() {
            broken += 1;
            continue;
        }
        if first.is_none() {
            // A packet the decoder refuses is judged by whether a frame comes out at all.
            let _ = stream.decoder.send_packet(&packet);
            if stream.decoder.receive_frame(&mut decoded).is_ok() {
                first = Some(converter.convert(&decoded, origin)?);
            }
        }
    }
    if first.is_none()
        && stream.decoder.send_eof().is_ok()
        && stream.decoder.receive_frame(&mut decoded).is_ok()
    {
        first = Some(converter.convert(&decoded, origin)?);
    }
    let whole = packets - broken;
    let expected = stream.frame_count;
    if broken > 0 || unreadable > 0 || expected.is_some_and(|expected| whole < expected) {
        return Err(AssetError::decode(match expected {
            Some(expected) => format!(
                "{origin}: the video is cut short or damaged: {whole} of its {expected} frames \
                 are whole in {size} bytes"
            ),
            None => format!(
                "{origin}: the video is cut short or damaged: {} of {} frames are missing or \
                 broken in {size} bytes",
                broken + unreadable,
                packets + unreadable
            ),
        }));
    }
    let Some(first) = first else {
        return Err(AssetError::decode(format!(
            "{origin}: no frame could be decoded from the {} stream ({packets} packets)",
            stream.decoder.id().name()
        )));
    };
    let info = VideoInfo {
        width: converter.width,
        height: converter.height,
        frame_rate: stream.frame_rate,
        duration: stream.duration,
        frame_count: stream.frame_count.or(Some(packets)),
        container,
        codec: stream.decoder.id().name().to_owned(),
        profile: profile_name(stream.decoder.profile()),
        has_b_frames: stream.decoder.has_b_frames(),
    };
    let image = rgba_image(info.width, info.height, first);
    let clip = VideoClip {
        bytes,
        info: Arc::new(info),
        origin: Arc::from(origin),
        limits: *limits,
    };
    Ok((clip, image))
}

/// Converts decoded frames, whatever their pixel format, to tightly packed RGBA of a fixed size
/// (the first frame's), so a stream that changes size mid-way still fits its texture.
struct Converter {
    width: u32,
    height: u32,
    scaler: Option<scaling::Context>,
    rgba: frame::Video,
}

impl Converter {
    fn new(
        width: u32,
        height: u32,
        origin: &str,
        limits: &MediaLimits,
    ) -> Result<Self, AssetError> {
        limits.check(width, height).map_err(|problem| {
            AssetError::decode(format!("{origin}: the video's frames are {problem}"))
        })?;
        Ok(Self {
            width,
            height,
            scaler: None,
            rgba: frame::Video::empty(),
        })
    }

    fn convert(&mut self, decoded: &frame::Video, origin: &str) -> Result<Vec<u8>, AssetError> {
        let fits = self.scaler.as_ref().is_some_and(|scaler| {
            let input = scaler.input();
            input.format == decoded.format()
                && input.width == decoded.width()
                && input.height == decoded.height()
        });
        if !fits {
            let scaler = scaling::Context::get(
                decoded.format(),
                decoded.width(),
                decoded.height(),
                Pixel::RGBA,
                self.width,
                self.height,
                scaling::Flags::BILINEAR,
            )
            .map_err(|error| {
                AssetError::decode(format!(
                    "{origin}: cannot convert {:?} frames of {} × {} to RGBA: {error}",
                    decoded.format(),
                    decoded.width(),
                    decoded.height()
                ))
            })?;
            self.scaler = Some(scaler);
        }
        let Some(scaler) = self.scaler.as_mut() else {
            return Err(AssetError::decode(format!("{origin}: no frame converter")));
        };
        scaler.run(decoded, &mut self.rgba).map_err(|error| {
            AssetError::decode(format!("{origin}: converting a frame: {error}"))
        })?;
        // Rows may be padded; the texture wants them packed.
        let row = self.width as usize * 4;
        let stride = self.rgba.stride(0);
        let data = self.rgba.data(0);
        let mut packed = Vec::with_capacity(row * self.height as usize);
        for y in 0..self.height as usize {
            let start = y * stride;
            let Some(line) = data.get(start..start + row) else {
                return Err(AssetError::decode(format!(
                    "{origin}: a converted frame is shorter than its size"
                )));
            };
            packed.extend_from_slice(line);
        }
        Ok(packed)
    }
}

// Kept with the decoder it drives, so the clip's file does not reach back here.
impl VideoClip {
    /// Decodes the whole clip, one frame at a time in presentation order, on the calling
    /// thread. Blocking: for tools, tests and benchmarks, never on the frame (a
    /// [`VideoPlayer`](super::VideoPlayer) decodes on its own thread).
    pub fn frames(&self) -> Result<VideoFrames, AssetError> {
        VideoFrames::new(self)
    }
}

/// The frames of a clip in presentation order, decoded on the calling thread: from
/// [`VideoClip::frames`]. Each item is a frame or the error that ended decoding.
pub struct VideoFrames {
    input: Input,
    stream: Stream,
    converter: Converter,
    origin: Arc<str>,
    decoded: frame::Video,
    packet: Packet,
    /// The first frame's timestamp: times are counted from it.
    start: Option<i64>,
    last: Option<Duration>,
    frame_step: Duration,
    next_index: u64,
    draining: bool,
    finished: bool,
}

impl VideoFrames {
    pub(crate) fn new(clip: &VideoClip) -> Result<Self, AssetError> {
        let origin = clip.origin.clone();
        let input = open_input(&clip.bytes, &clip.limits).map_err(|error| {
            let error = match error {
                OpenError::Ffmpeg(error) => error.to_string(),
                OpenError::TooLarge(problem) => problem,
            };
            AssetError::decode(format!("{origin}: reopening the video failed: {error}"))
        })?;
        let stream = video_stream(&input, &origin, &clip.limits)?;
        let converter = Converter::new(clip.info.width, clip.info.height, &origin, &clip.limits)?;
        let frame_step = Duration::try_from_secs_f64(1.0 / stream.frame_rate)
            .ok()
            .filter(|step| !step.is_zero() && stream.frame_rate > 0.0)
            .unwrap_or(Duration::from_millis(40));
        Ok(Self {
            input,
            stream,
            converter,
            origin,
            decoded: frame::Video::empty(),
            packet: Packet::empty(),
            start: None,
            last: None,
            frame_step,
            next_index: 0,
            draining: false,
            finished: false,
        })
    }

    /// Feeds the decoder one packet of the video stream, or the end of the stream.
    fn feed(&mut self) -> Result<(), AssetError> {
        loop {
            match self.packet.read(&mut self.input) {
                Ok(()) if self.packet.stream() == self.stream.index => {
                    // A damaged packet costs its frames, as in any player; decoding goes on.
                    let _ = self.stream.decoder.send_packet(&self.packet);
                    return Ok(());
                }
                Ok(()) | Err(ffmpeg::Error::InvalidData) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.draining = true;
                    let _ = self.stream.decoder.send_eof();
                    return Ok(());
                }
                Err(error) => {
                    return Err(AssetError::decode(format!(
                        "{}: reading the video failed after frame {}: {error}",
                        self.origin, self.next_index
                    )));
                }
            }
        }
    }

    fn frame(&mut self) -> Result<VideoFrame, AssetError> {
        let time_base = self.stream.time_base;
        let timestamp = match self.decoded.timestamp().or(self.decoded.pts()) {
            Some(ts) => {
                let start = *self.start.get_or_insert(ts);
                to_duration(ts - start, time_base)
            }
            // No timestamps: one frame step after the last.
            None => self
                .last
                .map_or(Duration::ZERO, |last| last + self.frame_step),
        };
        // Never backwards: a stream whose times jump back still plays forwards.
        let timestamp = self.last.map_or(timestamp, |last| timestamp.max(last));
        let packet_duration = self.decoded.packet().duration;
        let duration = if packet_duration > 0 {
            to_duration(packet_duration, time_base)
        } else {
            self.frame_step
        };
        let rgba = self.converter.convert(&self.decoded, &self.origin)?;
        let frame = VideoFrame {
            index: self.next_index,
            timestamp,
            duration,
            picture: picture_type(self.decoded.kind()),
            rgba,
        };
        self.next_index += 1;
        self.last = Some(timestamp);
        Ok(frame)
    }
}

impl Iterator for VideoFrames {
    type Item = Result<VideoFrame, AssetError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            match self.stream.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => return Some(self.frame()),
                Err(ffmpeg::Error::Eof) => self.finished = true,
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::error::EAGAIN => {
                    if self.draining {
                        self.finished = true;
                    } else if let Err(error) = self.feed() {
                        self.finished = true;
                        return Some(Err(error));
                    }
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(AssetError::decode(format!(
                        "{}: decoding failed after frame {}: {error}",
                        self.origin, self.next_index
                    ))));
                }
            }
        }
        None
    }
}

/// What a clip's decoder thread sends, in order: a pass's frames, its end, the next pass's
/// frames, ... until the receiver goes away.
pub(crate) enum Decoded {
    Frame(VideoFrame),
    /// A pass ended; it lasted `length` (the last frame's time plus its duration).
    End {
        length: Duration,
    },
    Failed(AssetError),
}

/// Starts a thread decoding `clip` over and over into a channel of `look_ahead` frames. It
/// stops when the receiver is dropped (at its next send) or on an error.
pub(crate) fn spawn_decoder(
    clip: VideoClip,
    look_ahead: usize,
) -> Result<Receiver<Decoded>, AssetError> {
    let (sender, receiver) = crossbeam_channel::bounded(look_ahead.max(1));
    std::thread::Builder::new()
        .name("video-decoder".into())
        .spawn(move || decode_passes(&clip, &sender))
        .map_err(|error| {
            AssetError::new(
                AssetErrorKind::Io,
                format!("no thread to decode the video: {error}"),
            )
        })?;
    Ok(receiver)
}

fn decode_passes(clip: &VideoClip, sender: &Sender<Decoded>) {
    loop {
        let frames = match clip.frames() {
            Ok(frames) => frames,
            Err(error) => {
                let _ = sender.send(Decoded::Failed(error));
                return;
            }
        };
        let mut length = Duration::ZERO;
        let mut any = false;
        for frame in frames {
            match frame {
                Ok(frame) => {
                    any = true;
                    length = length.max(frame.timestamp + frame.duration);
                    // Blocks while the player is `look_ahead` frames behind: that is the bound.
                    if sender.send(Decoded::Frame(frame)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = sender.send(Decoded::Failed(error));
                    return;
                }
            }
        }
        if !any {
            let _ = sender.send(Decoded::Failed(AssetError::decode(format!(
                "{}: the video gave no frames",
                clip.origin
            ))));
            return;
        }
        if sender.send(Decoded::End { length }).is_err() {
            return;
        }
    }
}
