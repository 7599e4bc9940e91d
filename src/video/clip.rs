//! [`VideoClip`]: an encoded clip and what opening it found; [`VideoClips`]: the clips behind
//! image handles.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;

use crate::error::AssetError;

/// What a clip is: size, timing and codec, as read from its container and its first frames.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Width of the decoded frames, in pixels.
    pub width: u32,
    /// Height of the decoded frames, in pixels.
    pub height: u32,
    /// Frames per second the container declares (its average rate); 0 when it declares none.
    pub frame_rate: f64,
    /// Length of the clip, when the container says.
    pub duration: Option<Duration>,
    /// Frames in the video stream, when the container says.
    pub frame_count: Option<u64>,
    /// The container format, as FFmpeg names its demuxer (`mov,mp4,m4a,3gp,3g2,mj2` for mp4).
    pub container: String,
    /// The codec, as FFmpeg names it (`h264`).
    pub codec: String,
    /// The codec profile (`High`, `Main`, `Baseline`), when the codec has profiles.
    pub profile: Option<String>,
    /// Whether frames are decoded out of presentation order (B-frames): the decoder holds
    /// frames back to reorder them.
    pub has_b_frames: bool,
}

/// An encoded video clip (an mp4, for example) that a [`VideoPlayer`](super::VideoPlayer) can
/// play. Cheap to clone: the bytes are shared.
///
/// The plugin makes one for each video request whose media arrives as `video/*`, and files it
/// in [`VideoClips`] under the request's image handle. Opening one yourself is blocking work
/// (it demuxes the file and decodes a frame): do it off the frame.
#[derive(Clone)]
pub struct VideoClip {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) info: Arc<VideoInfo>,
    pub(crate) origin: Arc<str>,
    /// The limits it was opened under; its frames are decoded under them too.
    pub(crate) limits: crate::request::MediaLimits,
}

impl VideoClip {
    /// Opens `bytes` as a video: checks the container and the video stream (present, decodable,
    /// complete) and decodes the first frame. Returns the clip and its first frame as an RGBA
    /// image.
    ///
    /// Blocking; errors name what was wrong (not a video, truncated, an unsupported codec,
    /// frames over the [default limits](crate::request::MediaLimits::default)).
    pub fn open(bytes: impl Into<Arc<[u8]>>) -> Result<(VideoClip, Image), AssetError> {
        super::open_clip(bytes.into(), "video", &Default::default())
    }

    /// What opening the clip found.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Where the clip came from (a generation, a file), for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl fmt::Debug for VideoClip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoClip")
            .field("bytes", &self.bytes.len())
            .field("origin", &self.origin)
            .field("info", &self.info)
            .finish()
    }
}

/// How a frame was coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PictureType {
    /// Intra-coded: decodable on its own.
    I,
    /// Predicted from earlier frames.
    P,
    /// Bi-predicted, from frames before and after it in presentation order.
    B,
    /// Anything else the codec reports (or nothing).
    Other,
}

/// One decoded frame, as RGBA8 (sRGB) rows with no padding.
#[derive(Clone)]
pub struct VideoFrame {
    /// Its place in presentation order, from 0.
    pub index: u64,
    /// When it is shown, from the clip's first frame.
    pub timestamp: Duration,
    /// How long it is shown.
    pub duration: Duration,
    /// How it was coded.
    pub picture: PictureType,
    /// `width * height * 4` bytes.
    pub rgba: Vec<u8>,
}

impl fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoFrame")
            .field("index", &self.index)
            .field("timestamp", &self.timestamp)
            .field("duration", &self.duration)
            .field("picture", &self.picture)
            .field("rgba", &self.rgba.len())
            .finish()
    }
}

/// The clips behind image handles: a video request's handle shows its clip's frames, and this
/// is where a game (or a [`VideoPlayer`](super::VideoPlayer)) finds the clip for a handle.
///
/// The plugin files each video it decodes here; an entry goes when its image is removed.
/// Insert your own to play a clip you opened with [`VideoClip::open`] behind an image.
#[derive(Resource, Default, Debug, Reflect)]
#[reflect(Resource, Default, Debug)]
pub struct VideoClips {
    // Decoders are not reflectable; inspectors see an opaque resource.
    #[reflect(ignore)]
    clips: HashMap<AssetId<Image>, VideoClip>,
}

impl VideoClips {
    /// The clip behind `image`, once its media has arrived.
    pub fn get(&self, image: impl Into<AssetId<Image>>) -> Option<&VideoClip> {
        self.clips.get(&image.into())
    }

    /// Files `clip` behind `image`, replacing the clip it had.
    pub fn insert(&mut self, image: impl Into<AssetId<Image>>, clip: VideoClip) {
        self.clips.insert(image.into(), clip);
    }

    /// Forgets the clip behind `image`.
    pub fn remove(&mut self, image: impl Into<AssetId<Image>>) -> Option<VideoClip> {
        self.clips.remove(&image.into())
    }

    /// How many clips are filed.
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    /// Whether no clip is filed.
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }
}

/// Drops the clips whose images are gone, so their bytes are freed with them.
pub(crate) fn forget_removed_clips(
    mut events: MessageReader<AssetEvent<Image>>,
    clips: Option<ResMut<VideoClips>>,
) {
    let Some(mut clips) = clips else {
        events.clear();
        return;
    };
    for event in events.read() {
        // Checked first: a needless write would mark the clips changed for every player.
        if let AssetEvent::Removed { id } = event
            && clips.clips.contains_key(id)
        {
            clips.clips.remove(id);
        }
    }
}
