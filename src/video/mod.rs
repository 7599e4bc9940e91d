//! Video requests that play. Behind the `video` feature.
//!
//! A video request keeps the ordinary image handle: it shows the placeholder, then the clip's
//! first frame (decoded off the frame, where every download is decoded), then, once a
//! [`VideoPlayer`] holding the same handle plays it, every frame in turn. Each `Sprite` and
//! `ImageNode` holding the handle shows the video.
//!
//! ```no_run
//! use bevy::prelude::*;
//! use bevy_asset_provider::prelude::*;
//! use bevy_asset_provider::video::{VideoEnded, VideoPlayer};
//!
//! fn show_intro(mut commands: Commands, mut provider: ResMut<AssetProvider>) {
//!     let frames = provider.request_image(AssetRequest::video().scene("harbor").prompt("waves"));
//!     commands.spawn((
//!         Sprite::from_image(frames.clone()),
//!         VideoPlayer::new(frames).looping(true),
//!     ));
//! }
//!
//! fn advance(mut ended: MessageReader<VideoEnded>) {
//!     for message in ended.read() {
//!         info!("{} reached the end of its clip", message.entity);
//!     }
//! }
//! ```
//!
//! How it plays: each playing clip has a decoder thread that decodes a few frames ahead into a
//! bounded channel of RGBA frames (so a clip holds at most that many frames and its texture);
//! frames are shown when the player's clock reaches their timestamps, in timestamp order, at any
//! game frame rate. The system that shows them only ever `try_recv`s. Decoding uses the system's
//! FFmpeg libraries through `ffmpeg-next`.

mod clip;
mod decoder;
mod player;

/// The embedded generator's clips, made with FFmpeg (see [`crate::source::ClipSpec`]).
pub use crate::source::ClipSpec;
pub use clip::{PictureType, VideoClip, VideoClips, VideoFrame, VideoInfo};
pub use decoder::VideoFrames;
pub use player::{DEFAULT_LOOK_AHEAD, VideoEnded, VideoPlayer, VideoState, VideoSystems};

use decoder::open_clip;

use bevy::asset::AssetEventSystems;
use bevy::prelude::*;

use crate::chain::decode::{DecodedMedia, MediaDecoders};
use crate::error::AssetError;
use crate::request::{MediaKind, MediaLimits};
use crate::source::SourcedMedia;

/// Decodes a clip for the runtime: its first frame shows behind the handle at once, and the
/// clip goes into [`VideoClips`] under the same handle for a [`VideoPlayer`] to play.
fn decode_clip(media: &SourcedMedia, limits: &MediaLimits) -> Result<DecodedMedia, AssetError> {
    let (clip, first_frame) = open_clip(media.bytes.clone(), &media.origin, limits)?;
    Ok(DecodedMedia::Extended {
        image: Box::new(first_frame),
        extra: Box::new(move |world: &mut World, image: AssetId<Image>| {
            if let Some(mut clips) = world.get_resource_mut::<VideoClips>() {
                clips.insert(image, clip);
            }
        }),
    })
}

/// Registers the clip decoder: for the app's runtime, or for the bake, which has no app.
pub(crate) fn register_decoders(decoders: &mut MediaDecoders) {
    decoders.register(MediaKind::Video, "video/", decode_clip);
}

/// The video part of the plugin: [`VideoClips`], [`VideoPlayer`]s and [`VideoEnded`]. It
/// registers the clip decoder with the runtime: a clip's first frame goes behind the handle and
/// the clip into [`VideoClips`]. Part of [`AssetProviderPlugins`](crate::AssetProviderPlugins).
/// Its systems run only while there are clips or players.
#[derive(Clone, Copy, Debug, Default)]
pub struct VideoPlugin;

impl Plugin for VideoPlugin {
    fn build(&self, app: &mut App) {
        register_decoders(&mut app.world_mut().get_resource_or_init::<MediaDecoders>());
        app.init_resource::<VideoClips>()
            .add_message::<VideoEnded>()
            .register_type::<(VideoPlayer, VideoState, VideoClips)>()
            .configure_sets(PostUpdate, VideoSystems.before(AssetEventSystems))
            .add_systems(
                PreUpdate,
                clip::forget_removed_clips.run_if(|clips: Res<VideoClips>| !clips.is_empty()),
            )
            .add_systems(
                PostUpdate,
                player::play_videos
                    .run_if(any_with_component::<VideoPlayer>)
                    .in_set(VideoSystems),
            )
            .add_observer(player::on_player_discarded);
    }
}
