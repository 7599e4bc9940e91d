//! The media files: the store they are served from, and the painters that make them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use bevy_asset_provider::MediaKind;
use bevy_asset_provider::source::procedural::{procedural_png, procedural_wav};

/// Files by media key, shareable between two dev backends so one can play a CDN for the other
/// ([`DevBackendBuilder::cdn_for`](crate::DevBackendBuilder::cdn_for)).
#[derive(Clone, Default)]
pub struct MediaStore(pub(crate) Arc<Mutex<HashMap<String, MediaFile>>>);

/// A file's bytes and MIME type.
pub(crate) type MediaFile = (Arc<[u8]>, String);

impl MediaStore {
    /// The media keys held: each is served at `/api/v1/media/{key}`.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .lock()
            .map(|files| files.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

impl fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self.0.lock().map(|files| files.len()).unwrap_or(0);
        f.debug_struct("MediaStore").field("files", &files).finish()
    }
}

/// A made file: its bytes, MIME type, pixel size and length.
pub(crate) struct Made {
    pub(crate) bytes: Vec<u8>,
    pub(crate) mime: &'static str,
    pub(crate) size: Option<(u32, u32)>,
    pub(crate) seconds: Option<f64>,
}

/// Paints (or encodes) media of `kind`: a WAV for audio, an H.264 mp4 for video (with the
/// `video` feature; a PNG without it), a PNG otherwise. `sizes` are the image and video sizes.
pub(crate) fn make_media(
    kind: MediaKind,
    seed: u64,
    seconds: Option<f32>,
    sizes: ((u32, u32), (u32, u32)),
) -> Result<Made, String> {
    let ((width, height), _video) = sizes;
    match kind {
        MediaKind::Audio => {
            let seconds = seconds.unwrap_or(1.0);
            Ok(Made {
                bytes: procedural_wav(seed, seconds),
                mime: "audio/wav",
                size: None,
                seconds: Some(f64::from(seconds)),
            })
        }
        #[cfg(feature = "video")]
        MediaKind::Video => {
            let spec = bevy_asset_provider::video::ClipSpec::new(seed)
                .size(_video.0, _video.1)
                .seconds(seconds.unwrap_or(2.0));
            let bytes = spec.encode().map_err(|error| error.to_string())?;
            Ok(Made {
                bytes,
                mime: "video/mp4",
                size: Some(spec.dimensions()),
                seconds: Some(f64::from(spec.frame_count()) / f64::from(spec.frame_rate())),
            })
        }
        _ => Ok(Made {
            bytes: procedural_png(seed, width, height),
            mime: "image/png",
            size: Some((width, height)),
            seconds: None,
        }),
    }
}

/// The file extension of a media key.
pub(crate) fn extension(mime: &str) -> &'static str {
    match mime {
        "audio/wav" => "wav",
        "video/mp4" => "mp4",
        _ => "png",
    }
}
