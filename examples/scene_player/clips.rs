//! The story's clips. With the `video` feature a video node's clip plays on the stage and a
//! scripted run watches it to its end; without it the library asks for a still image for
//! video nodes, so nothing plays and there is nothing to wait for.

#[cfg(feature = "video")]
pub use playing::*;
#[cfg(not(feature = "video"))]
pub use stills::*;

#[cfg(feature = "video")]
mod playing {
    use bevy::ecs::system::SystemParam;
    use bevy::prelude::*;
    use bevy_asset_provider::prelude::*;
    use bevy_asset_provider::video::{VideoClips, VideoPlayer};

    use crate::script::SceneTasks;

    /// The clips that arrived and the players showing them.
    #[derive(SystemParam)]
    pub struct Clips<'w, 's> {
        players: Query<'w, 's, &'static VideoPlayer>,
        clips: Res<'w, VideoClips>,
    }

    /// Whether the node's clips have played to their end: a video request whose clip arrived
    /// gets a `VideoPlayer` on its entity, and the story waits for it (a still served for a
    /// video request has nothing to wait for).
    pub fn clips_watched(
        commands: &mut Commands,
        node: &str,
        via: &Option<String>,
        tasks: &SceneTasks,
        clips: &Clips,
    ) -> bool {
        let mut watched = true;
        for (entity, media, task) in tasks {
            if media.node != node || media.edge != *via || media.kind != MediaKind::Video {
                continue;
            }
            let Some(image) = task
                .handle()
                .image()
                .filter(|i| clips.clips.get(i.id()).is_some())
            else {
                continue;
            };
            match clips.players.get(entity) {
                Ok(player) if player.state().has_stopped() => {}
                Ok(_) => watched = false,
                Err(_) => {
                    commands
                        .entity(entity)
                        .insert(VideoPlayer::new(image.clone()));
                    watched = false;
                }
            }
        }
        watched
    }

    /// Whether `stage` plays a clip that arrived and has not ended.
    pub fn stage_playing(clips: &Clips, stage: Entity) -> bool {
        clips.players.get(stage).is_ok_and(|player| {
            clips.clips.get(player.image().id()).is_some() && !player.state().has_stopped()
        })
    }

    /// The placeholder, then the clip's first frame, then the clip: a video node's clip plays
    /// on the stage (looping while the player reads); any other node stops the last one.
    pub fn show_on_stage(
        commands: &mut Commands,
        stage: Entity,
        image: Handle<Image>,
        kind: MediaKind,
        looping: bool,
    ) {
        if kind == MediaKind::Video {
            commands
                .entity(stage)
                .insert(VideoPlayer::new(image).looping(looping));
        } else {
            commands.entity(stage).remove::<VideoPlayer>();
        }
    }
}

#[cfg(not(feature = "video"))]
mod stills {
    use bevy::prelude::*;
    use bevy_asset_provider::prelude::*;

    use crate::script::SceneTasks;

    /// Nothing to read: no clip plays in a build without `video`.
    pub type Clips<'w, 's> = ();

    /// Video nodes are stills here: nothing to watch.
    pub fn clips_watched(
        _: &mut Commands,
        _: &str,
        _: &Option<String>,
        _: &SceneTasks,
        _: &Clips,
    ) -> bool {
        true
    }

    /// No clip plays on the stage.
    pub fn stage_playing(_: &Clips, _: Entity) -> bool {
        false
    }

    /// The still is on the stage already (its image node holds the handle).
    pub fn show_on_stage(_: &mut Commands, _: Entity, _: Handle<Image>, _: MediaKind, _: bool) {}
}
