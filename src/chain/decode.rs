//! Turns a source's bytes into Bevy media. Runs on the runtime's blocking pool, never on the frame.

use bevy::asset::{AssetId, RenderAssetUsages};
use bevy::ecs::resource::Resource;
use bevy::ecs::world::World;
use bevy::image::{CompressedImageFormats, Image, ImageSampler, ImageType};

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaKind;
use crate::request::MediaLimits;
use crate::source::SourcedMedia;

/// Media ready to insert behind a handle.
pub(crate) enum DecodedMedia {
    Image(Box<Image>),
    #[cfg(feature = "audio")]
    Audio(AudioSource),
    /// An image shown behind the handle at once, and what the add-on that decoded the media puts
    /// in the world for the same handle (for example a clip to play).
    #[allow(
        dead_code,
        reason = "made by add-ons' decoders; a build without them has none"
    )]
    Extended {
        image: Box<Image>,
        extra: InsertExtra,
    },
}

/// An add-on's part of decoded media: put in the world once its image is behind the handle.
pub(crate) type InsertExtra = Box<dyn FnOnce(&mut World, AssetId<Image>) + Send>;

/// Decodes media the built-in decoders do not read; an add-on registers it when its plugin is
/// built.
pub(crate) type Decoder = fn(&SourcedMedia, &MediaLimits) -> Result<DecodedMedia, AssetError>;

/// A decoder for media of `kind` whose MIME type starts with `mime_prefix`.
#[derive(Clone, Copy)]
struct Registered {
    kind: MediaKind,
    mime_prefix: &'static str,
    decoder: Decoder,
}

/// The decoders one app's add-ons registered (for example video's clip decoder), asked before
/// the built-in ones. Each app has its own: an add-on left out of one app decodes nothing there.
/// The plugin hands a copy to its runtime, its disk tier's check and the bake.
#[derive(Resource, Clone, Default)]
pub(crate) struct MediaDecoders(Vec<Registered>);

impl MediaDecoders {
    /// Decodes media of `kind` whose MIME type starts with `mime_prefix` with `decoder`, in
    /// place of the one registered for them before.
    #[allow(dead_code, reason = "called by add-ons; a build without them has none")]
    pub fn register(&mut self, kind: MediaKind, mime_prefix: &'static str, decoder: Decoder) {
        self.0
            .retain(|old| (old.kind, old.mime_prefix) != (kind, mime_prefix));
        self.0.push(Registered {
            kind,
            mime_prefix,
            decoder,
        });
    }

    /// Decodes `media` as `kind` with a registered decoder for its MIME type, else with the
    /// built-in ones ([`decode`]).
    pub fn decode(
        &self,
        kind: MediaKind,
        media: &SourcedMedia,
        limits: &MediaLimits,
    ) -> Result<DecodedMedia, AssetError> {
        let mime = media.mime.as_str();
        match self
            .0
            .iter()
            .find(|found| found.kind == kind && mime.starts_with(found.mime_prefix))
        {
            Some(found) => (found.decoder)(media, limits),
            None => decode(kind, media, limits),
        }
    }
}

impl std::fmt::Debug for MediaDecoders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|found| (found.kind, found.mime_prefix)))
            .finish()
    }
}

/// Decodes `media` as `kind` with the built-in decoders, checking that its MIME type fits the
/// kind and that its size, read from its header first, is within `limits`.
fn decode(
    kind: MediaKind,
    media: &SourcedMedia,
    limits: &MediaLimits,
) -> Result<DecodedMedia, AssetError> {
    let mime = media.mime.as_str();
    match kind {
        MediaKind::Image | MediaKind::Video if mime.starts_with("image/") => {
            decode_image(media, limits)
        }
        MediaKind::Video if mime.starts_with("video/") => Err(moving_pictures_unsupported(media)),
        MediaKind::Video => Err(AssetError::new(
            AssetErrorKind::Unsupported,
            format!("{}: cannot show {mime} as a video", media.origin),
        )),
        MediaKind::Audio => decode_audio(media),
        MediaKind::Image => Err(AssetError::decode(format!(
            "{}: expected an image, got {mime}",
            media.origin
        ))),
    }
}

fn decode_image(media: &SourcedMedia, limits: &MediaLimits) -> Result<DecodedMedia, AssetError> {
    let (width, height) = image_size(media)?;
    limits.check(width, height).map_err(|problem| {
        AssetError::decode(format!(
            "{}: the {} image is {problem}",
            media.origin, media.mime
        ))
    })?;
    Image::from_buffer(
        &media.bytes,
        ImageType::MimeType(&media.mime),
        CompressedImageFormats::NONE,
        true,
        ImageSampler::Default,
        RenderAssetUsages::default(),
    )
    .map(|image| DecodedMedia::Image(Box::new(image)))
    .map_err(|error| {
        AssetError::decode(format!(
            "{}: {} bytes of {} did not decode: {error}",
            media.origin,
            media.bytes.len(),
            media.mime
        ))
    })
}

/// The image's width and height from its header alone: a small file can claim a huge image,
/// and decoding it would allocate all of it.
fn image_size(media: &SourcedMedia) -> Result<(u32, u32), AssetError> {
    let unreadable = |error: &dyn std::fmt::Display| {
        AssetError::decode(format!(
            "{}: {} bytes of {} did not decode: {error}",
            media.origin,
            media.bytes.len(),
            media.mime
        ))
    };
    let bytes = std::io::Cursor::new(&media.bytes[..]);
    if media.mime == "image/png" {
        let mut decoder = png::Decoder::new(bytes);
        let info = decoder.read_header_info().map_err(|e| unreadable(&e))?;
        return Ok((info.width, info.height));
    }
    // The `image` crate is the one Bevy decodes with: it reads the headers of exactly the
    // formats the game's Bevy features turned on.
    let Some(format) = image::ImageFormat::from_mime_type(&media.mime) else {
        return Err(AssetError::new(
            AssetErrorKind::Unsupported,
            format!(
                "{}: cannot read the size of {} before decoding it, so it is not accepted",
                media.origin, media.mime
            ),
        ));
    };
    image::ImageReader::with_format(bytes, format)
        .into_dimensions()
        .map_err(|e| unreadable(&e))
}

/// What a clip gets when no add-on decodes clips in this app.
fn moving_pictures_unsupported(media: &SourcedMedia) -> AssetError {
    AssetError::new(
        AssetErrorKind::Unsupported,
        format!(
            "{}: cannot show {} as a video here: only still images are supported (playing \
             video needs the `video` feature)",
            media.origin, media.mime
        ),
    )
}

/// Highest WAV sample rate accepted; past it a header is taken as damaged.
#[cfg(feature = "audio")]
const MAX_WAV_SAMPLE_RATE: u32 = 768_000;

/// Most WAV channels accepted; past it a header is taken as damaged.
#[cfg(feature = "audio")]
const MAX_WAV_CHANNELS: u16 = 64;

/// Bevy decodes audio only when it plays, and its decoders panic on what they cannot read: check
/// here, off the frame, that the sound is one Bevy can play, so a bad file fails its request
/// instead of reaching an `AudioPlayer`.
///
/// WAV is checked in full (header and data length). MP3, Ogg Vorbis and FLAC are accepted only
/// when this crate's `mp3`, `vorbis` or `flac` feature turned Bevy's decoder for them on
/// (Bevy's own features are not visible here); then their signature is checked and the
/// decoder Bevy plays them with opens them and decodes their first packets.
#[cfg(feature = "audio")]
fn decode_audio(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    let bytes = &media.bytes;
    let (playable, feature, looks_right, format) = audio_format(media)?;
    if !playable {
        return Err(AssetError::new(
            AssetErrorKind::Unsupported,
            format!(
                "{}: {} cannot be played here: turn on bevy_asset_provider's `{feature}` \
                 feature (it turns on Bevy's decoder for it)",
                media.origin, media.mime
            ),
        ));
    }
    if !looks_right {
        return Err(AssetError::decode(format!(
            "{}: {} bytes are not valid {}",
            media.origin,
            bytes.len(),
            media.mime
        )));
    }
    let sound = AudioSource {
        bytes: bytes.clone(),
    };
    #[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
    if format != "WAV" {
        try_compressed(&sound).map_err(|problem| {
            AssetError::decode(format!(
                "{}: {} bytes of {} are not a playable {format}: {problem}",
                media.origin,
                bytes.len(),
                media.mime
            ))
        })?;
    }
    // Without those features only WAV gets this far, checked above.
    #[cfg(not(any(feature = "mp3", feature = "vorbis", feature = "flac")))]
    let _ = format;
    Ok(DecodedMedia::Audio(sound))
}

/// What `media`'s MIME type says of it: whether this build plays it, the crate feature that
/// would, whether its bytes start as that format does, and the format's name.
#[cfg(feature = "audio")]
fn audio_format(
    media: &SourcedMedia,
) -> Result<(bool, &'static str, bool, &'static str), AssetError> {
    let bytes = &media.bytes;
    Ok(match media.mime.as_str() {
        "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => {
            check_wav(bytes).map_err(|problem| {
                AssetError::decode(format!(
                    "{}: {} bytes of {} are not a playable WAV: {problem}",
                    media.origin,
                    bytes.len(),
                    media.mime
                ))
            })?;
            (true, "audio", true, "WAV")
        }
        "audio/ogg" | "audio/vorbis" => (
            cfg!(feature = "vorbis"),
            "vorbis",
            bytes.starts_with(b"OggS"),
            "Ogg Vorbis",
        ),
        "audio/flac" | "audio/x-flac" => (
            cfg!(feature = "flac"),
            "flac",
            bytes.starts_with(b"fLaC"),
            "FLAC",
        ),
        "audio/mpeg" | "audio/mp3" => (
            cfg!(feature = "mp3"),
            "mp3",
            bytes.starts_with(b"ID3")
                || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0),
            "MP3",
        ),
        other => {
            return Err(AssetError::decode(format!(
                "{}: expected audio, got {other}",
                media.origin
            )));
        }
    })
}

/// Samples decoded to try a compressed sound: its first packets (32 Ki samples, well under a
/// second of stereo sound).
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
const TRIED_SAMPLES: usize = 1 << 15;

/// Opens `sound` with the decoder Bevy plays it with, built as bevy_audio builds it (whose
/// failure Bevy unwraps, panicking when the sound plays), asks what a player asks (channels
/// and rate, which the decoders assume valid) and decodes its first packets. A panic in the
/// decoder is caught and reported like its errors.
#[cfg(any(feature = "mp3", feature = "vorbis", feature = "flac"))]
fn try_compressed(sound: &AudioSource) -> Result<(), String> {
    use rodio::Source;
    let tried = std::panic::catch_unwind(|| {
        let decoder = rodio::Decoder::builder()
            .with_byte_len(sound.bytes.len() as u64)
            .with_data(std::io::Cursor::new(sound.clone()))
            .build()
            .map_err(|error| match &error {
                // Its text alone does not say what the reader hit.
                rodio::decoder::DecoderError::IoError(detail) => format!("{error} ({detail})"),
                _ => error.to_string(),
            })?;
        let _ = (decoder.channels(), decoder.sample_rate());
        if decoder.take(TRIED_SAMPLES).count() == 0 {
            return Err("no sound decodes from it".to_owned());
        }
        Ok(())
    });
    tried.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|text| (*text).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(format!("its decoder failed: {message}"))
    })
}

/// Checks a WAV the way Bevy's decoder (rodio with hound) will read it, and what that decoder
/// assumes without checking: channels and sample rate above zero, sample widths it plays, and
/// a data chunk that fits in the file.
#[cfg(feature = "audio")]
fn check_wav(bytes: &[u8]) -> Result<(), String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    let samples = u64::from(reader.len());
    let data_start = reader.into_inner().position() as usize;
    if spec.channels == 0 || spec.channels > MAX_WAV_CHANNELS {
        return Err(format!(
            "{} channels (1 to {MAX_WAV_CHANNELS} play)",
            spec.channels
        ));
    }
    if spec.sample_rate == 0 || spec.sample_rate > MAX_WAV_SAMPLE_RATE {
        return Err(format!(
            "a sample rate of {} Hz (1 to {MAX_WAV_SAMPLE_RATE} Hz play)",
            spec.sample_rate
        ));
    }
    let width_plays = match spec.sample_format {
        hound::SampleFormat::Float => spec.bits_per_sample == 32,
        hound::SampleFormat::Int => (1..=32).contains(&spec.bits_per_sample),
    };
    if !width_plays {
        return Err(format!(
            "{}-bit {:?} samples do not play",
            spec.bits_per_sample, spec.sample_format
        ));
    }
    // The data chunk's length is the 4 bytes hound read just before the data.
    let claimed = data_start
        .checked_sub(4)
        .and_then(|at| bytes.get(at..data_start))
        .and_then(|field| field.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or("no data chunk")?;
    let present = bytes.len() - data_start;
    if u64::from(claimed) > present as u64 {
        return Err(format!(
            "its data chunk claims {claimed} bytes ({samples} samples) but only {present} \
             follow"
        ));
    }
    Ok(())
}

#[cfg(not(feature = "audio"))]
fn decode_audio(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    Err(AssetError::new(
        AssetErrorKind::Unsupported,
        format!("{}: audio needs the `audio` feature", media.origin),
    ))
}
