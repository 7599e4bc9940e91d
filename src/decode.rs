//! Turns a source's bytes into Bevy media. Runs on the runtime's blocking pool, never on the frame.

use bevy::asset::RenderAssetUsages;
use bevy::image::{CompressedImageFormats, Image, ImageSampler, ImageType};

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::error::{AssetError, AssetErrorKind};
use crate::request::MediaKind;
use crate::source::SourcedMedia;

/// Media ready to insert behind a handle.
pub(crate) enum DecodedMedia {
    Image(Box<Image>),
    #[cfg(feature = "audio")]
    Audio(AudioSource),
    /// A clip's first frame, shown behind the handle, and the clip, played by a `VideoPlayer`.
    #[cfg(feature = "video")]
    Video {
        first_frame: Box<Image>,
        clip: Box<crate::video::VideoClip>,
    },
}

/// Decodes `media` as `kind`, checking that its MIME type fits the kind.
pub(crate) fn decode(kind: MediaKind, media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    let mime = media.mime.as_str();
    match kind {
        MediaKind::Image | MediaKind::Video if mime.starts_with("image/") => decode_image(media),
        MediaKind::Video if mime.starts_with("video/") => decode_video(media),
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

fn decode_image(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
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

#[cfg(feature = "video")]
fn decode_video(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    let (clip, first_frame) = crate::video::open_clip(media.bytes.clone(), &media.origin)?;
    Ok(DecodedMedia::Video {
        first_frame: Box::new(first_frame),
        clip: Box::new(clip),
    })
}

#[cfg(not(feature = "video"))]
fn decode_video(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    Err(AssetError::new(
        AssetErrorKind::Unsupported,
        format!(
            "{}: cannot show {} as a video here: only still images are supported (playing \
             video needs the `video` feature)",
            media.origin, media.mime
        ),
    ))
}

#[cfg(feature = "audio")]
fn decode_audio(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    // Bevy decodes audio when it plays; check the container here so a bad file fails the
    // request instead of failing silently at playback.
    let bytes = &media.bytes;
    let looks_right = match media.mime.as_str() {
        "audio/wav" | "audio/wave" | "audio/x-wav" => {
            bytes.len() > 44 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE"
        }
        "audio/ogg" => bytes.starts_with(b"OggS"),
        "audio/flac" => bytes.starts_with(b"fLaC"),
        "audio/mpeg" | "audio/mp3" => {
            bytes.starts_with(b"ID3")
                || (bytes.len() > 1 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
        }
        other => {
            return Err(AssetError::decode(format!(
                "{}: expected audio, got {other}",
                media.origin
            )));
        }
    };
    if !looks_right {
        return Err(AssetError::decode(format!(
            "{}: {} bytes are not valid {}",
            media.origin,
            bytes.len(),
            media.mime
        )));
    }
    Ok(DecodedMedia::Audio(AudioSource {
        bytes: bytes.clone(),
    }))
}

#[cfg(not(feature = "audio"))]
fn decode_audio(media: &SourcedMedia) -> Result<DecodedMedia, AssetError> {
    Err(AssetError::new(
        AssetErrorKind::Unsupported,
        format!("{}: audio needs the `audio` feature", media.origin),
    ))
}
