//! [`VideoPlayer`]: plays the clip behind an image handle into that image, on the clip's own
//! clock.

use std::collections::HashSet;
use std::time::Duration;

use bevy::prelude::*;
use crossbeam_channel::{Receiver, TryRecvError};

use super::clip::{VideoClips, VideoFrame};
use super::decoder::{Decoded, rgba_image, spawn_decoder};
use crate::error::AssetError;

/// Frames a playing clip decodes ahead of what it shows, unless its player says otherwise.
pub const DEFAULT_LOOK_AHEAD: usize = 4;

/// How far a clip's clock may run past its newest decoded frame. A decoder that falls behind
/// (a loaded machine, a big clip) then slows the clip down instead of letting its clock race to
/// the end while the picture lags.
const MAX_LEAD: Duration = Duration::from_millis(100);

/// The system that shows video frames (`PostUpdate`, before Bevy flushes asset events), for
/// ordering your own systems against it. Control players in `Update`.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VideoSystems;

/// Where a [`VideoPlayer`] stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Reflect)]
pub enum VideoState {
    /// No clip behind the image yet (the placeholder shows); it starts when one arrives.
    #[default]
    Waiting,
    /// Frames advance with time.
    Playing,
    /// Holding the current frame.
    Paused,
    /// The clip reached its end and does not loop; its last frame stays.
    Ended,
    /// Decoding failed part-way; see [`VideoPlayer::error`]. The last good frame stays.
    Failed,
}

impl VideoState {
    /// Whether the clip has stopped for good ([`Ended`](Self::Ended) or
    /// [`Failed`](Self::Failed)): nothing more plays until [`VideoPlayer::play`].
    pub fn has_stopped(self) -> bool {
        matches!(self, Self::Ended | Self::Failed)
    }
}

/// Sent when a player's clip reaches its end (every time round, when it loops), or when
/// decoding fails part-way so that nothing waits for an end that will not come.
///
/// A message, and an entity event triggered on the player's entity: observers on that entity
/// see its ends, global observers (`app.add_observer`) every player's.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::video::{VideoEnded, VideoPlayer};
/// fn play_intro(mut commands: Commands, mut provider: ResMut<AssetProvider>) {
///     let frames = provider.request_image(AssetRequest::video().prompt("the intro"));
///     commands
///         .spawn((Sprite::from_image(frames.clone()), VideoPlayer::new(frames)))
///         .observe(|ended: On<VideoEnded>| info!("the intro ended after {} plays", ended.loops));
/// }
/// ```
#[derive(Message, EntityEvent, Clone, Debug)]
pub struct VideoEnded {
    /// The entity with the [`VideoPlayer`].
    pub entity: Entity,
    /// The image the clip plays into.
    pub image: AssetId<Image>,
    /// Whether the clip starts again (the player loops).
    pub looping: bool,
    /// How many times the clip has reached its end on this player, this time included.
    pub loops: u32,
    /// Why it stopped, when decoding failed rather than the clip ending.
    pub error: Option<AssetError>,
}

/// Plays the video clip behind an image handle into that image: every `Sprite` or `ImageNode`
/// holding the handle shows it.
///
/// Give it the handle a video request returned. Until the request's media arrives the player
/// waits (the placeholder shows, then the first frame); then it plays, on the clip's own
/// timestamps at any frame rate, scaled by [`speed`](Self::speed) and by virtual time (pausing
/// `Time<Virtual>` pauses video). One player per image: a second player of an image that is
/// already playing waits (with a warning) until the first one stops: ends without looping,
/// fails, or is removed. A paused or looping first player keeps the image.
///
/// ```no_run
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// # use bevy_asset_provider::video::VideoPlayer;
/// fn toggle(keys: Res<ButtonInput<KeyCode>>, mut players: Query<&mut VideoPlayer>) {
///     for mut player in &mut players {
///         if keys.just_pressed(KeyCode::Space) {
///             if player.is_paused() { player.play() } else { player.pause() }
///         }
///         if keys.just_pressed(KeyCode::Home) {
///             player.seek_to_start();
///         }
///     }
/// }
/// ```
#[derive(Component, Clone, Debug, Reflect)]
#[reflect(Component, Debug)]
pub struct VideoPlayer {
    image: Handle<Image>,
    looping: bool,
    speed: f32,
    paused: bool,
    look_ahead: usize,
    restart: bool,
    state: VideoState,
    position: Duration,
    frames_shown: u64,
    frames_ahead: usize,
    loops: u32,
    error: Option<String>,
    /// Waiting because another player is playing into the same image.
    #[reflect(ignore)]
    blocked: bool,
}

impl VideoPlayer {
    /// A player for the clip behind `image`: plays once, at normal speed, as soon as the clip
    /// is there.
    #[must_use]
    pub fn new(image: Handle<Image>) -> Self {
        Self {
            image,
            looping: false,
            speed: 1.0,
            paused: false,
            look_ahead: DEFAULT_LOOK_AHEAD,
            restart: false,
            state: VideoState::Waiting,
            position: Duration::ZERO,
            frames_shown: 0,
            frames_ahead: 0,
            loops: 0,
            error: None,
            blocked: false,
        }
    }

    /// Starts over at the end instead of stopping.
    #[must_use]
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Plays at `speed` times normal (see [`set_speed`](Self::set_speed)).
    #[must_use]
    pub fn with_speed(mut self, speed: f32) -> Self {
        self.set_speed(speed);
        self
    }

    /// Starts paused, showing the first frame.
    #[must_use]
    pub fn paused(mut self) -> Self {
        self.paused = true;
        self
    }

    /// Decodes up to `frames` ahead (default [`DEFAULT_LOOK_AHEAD`], at least 1). More rides
    /// out longer stalls of the decoder thread and costs a frame's pixels each.
    #[must_use]
    pub fn with_look_ahead(mut self, frames: usize) -> Self {
        self.look_ahead = frames.max(1);
        self
    }

    /// Plays: resumes when paused, starts over when the clip had ended or failed.
    pub fn play(&mut self) {
        self.paused = false;
        if self.state.has_stopped() {
            self.restart = true;
        }
    }

    /// Holds the current frame until [`play`](Self::play).
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Goes back to the first frame, keeping the paused or playing state.
    pub fn seek_to_start(&mut self) {
        self.restart = true;
    }

    /// Sets the playback speed: 1.0 normal, 2.0 twice as fast, 0.0 holds the frame. Negative
    /// or non-finite speeds count as 0.
    pub fn set_speed(&mut self, speed: f32) {
        self.speed = if speed.is_finite() {
            speed.max(0.0)
        } else {
            0.0
        };
    }

    /// Whether the clip starts over at its end.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
    }

    /// The image the clip plays into.
    pub fn image(&self) -> &Handle<Image> {
        &self.image
    }

    /// Where the player stands.
    pub fn state(&self) -> VideoState {
        self.state
    }

    /// Whether it was told to pause.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Whether the clip starts over at its end.
    pub fn is_looping(&self) -> bool {
        self.looping
    }

    /// The playback speed.
    pub fn speed(&self) -> f32 {
        self.speed
    }

    /// The time in the clip now playing (its clock, from the first frame).
    pub fn position(&self) -> Duration {
        self.position
    }

    /// Frames written into the image so far.
    pub fn frames_shown(&self) -> u64 {
        self.frames_shown
    }

    /// Decoded frames waiting to be shown, as of the last frame: what the clip holds in memory
    /// beside its texture (at most the look-ahead, plus the next frame).
    pub fn frames_ahead(&self) -> usize {
        self.frames_ahead
    }

    /// How many times the clip has reached its end.
    pub fn loops(&self) -> u32 {
        self.loops
    }

    /// Why decoding failed, when [`state`](Self::state) is [`VideoState::Failed`].
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
}

/// A playing clip's decoder channel and clock. Dropping it (despawn, restart, end) drops the
/// receiver, which stops the decoder thread at its next frame.
#[derive(Component)]
pub(crate) struct Playback {
    frames: Receiver<Decoded>,
    /// The next frame, received but not yet due.
    pending: Option<VideoFrame>,
    /// The current pass's length, once the decoder has sent all of its frames.
    end: Option<Duration>,
    /// Whether the first frame has been shown; the clock starts then, so a slow start skips
    /// nothing.
    primed: bool,
    clock: Duration,
    /// The timestamp of the newest frame received this pass.
    newest: Duration,
    width: u32,
    height: u32,
}

/// What a frame of playback did.
#[derive(Default)]
struct Step {
    shown: Option<VideoFrame>,
    ends: u32,
    finished: bool,
    failed: Option<AssetError>,
}

impl Playback {
    /// Moves the clock on by `delta` and takes the frames now due; the latest one is shown.
    fn advance(&mut self, delta: Duration, looping: bool) -> Step {
        let mut step = Step::default();
        if self.primed {
            // Saturating: a speed set through reflection may be huge.
            self.clock = self.clock.saturating_add(delta);
        }
        loop {
            while self.end.is_none() {
                if self.pending.is_none() {
                    match self.frames.try_recv() {
                        Ok(Decoded::Frame(frame)) => {
                            self.newest = frame.timestamp;
                            self.pending = Some(frame);
                        }
                        Ok(Decoded::End { length }) => self.end = Some(length),
                        Ok(Decoded::Failed(error)) => {
                            step.failed = Some(error);
                            return step;
                        }
                        // The decoder is behind: show what we have, the rest next frame, and
                        // hold the clock near the picture.
                        Err(TryRecvError::Empty) => {
                            if self.primed {
                                self.clock = self.clock.min(self.newest + MAX_LEAD);
                            }
                            break;
                        }
                        Err(TryRecvError::Disconnected) => {
                            step.failed = Some(AssetError::decode("the video decoder stopped"));
                            return step;
                        }
                    }
                    continue;
                }
                let due = self
                    .pending
                    .as_ref()
                    .is_some_and(|frame| !self.primed || frame.timestamp <= self.clock);
                if !due {
                    break;
                }
                if let Some(frame) = self.pending.take() {
                    if !self.primed {
                        self.primed = true;
                        self.clock = frame.timestamp;
                    }
                    step.shown = Some(frame);
                }
            }
            match self.end {
                Some(length) if self.clock >= length => {
                    step.ends += 1;
                    // A pass of no length cannot be looped without spinning.
                    if looping && !length.is_zero() {
                        self.clock -= length;
                        self.newest = Duration::ZERO;
                        self.end = None;
                        continue;
                    }
                    self.clock = length;
                    step.finished = true;
                    return step;
                }
                _ => return step,
            }
        }
    }
}

/// Starts, advances and stops players; writes each one's due frame into its image. Never
/// blocks: frames are taken with `try_recv`, and a decoder that is behind just shows later.
pub(crate) fn play_videos(
    mut commands: Commands,
    time: Res<Time>,
    clips: Res<VideoClips>,
    mut images: ResMut<Assets<Image>>,
    mut players: Query<(Entity, &mut VideoPlayer, Option<&mut Playback>)>,
    mut ended: MessageWriter<VideoEnded>,
    // Kept between frames so that finding them allocates nothing.
    mut busy_images: Local<HashSet<AssetId<Image>>>,
) {
    let delta = time.delta();
    // The images being played into: a second player of one of them waits.
    busy_images.clear();
    busy_images.extend(
        players
            .iter()
            .filter(|(_, _, playback)| playback.is_some())
            .map(|(_, player, _)| player.image.id()),
    );
    for (entity, mut player, playback) in &mut players {
        let mut playback = playback;
        let restart = player.restart;
        let idle = playback.is_none() && player.state.has_stopped();
        if restart || (playback.is_none() && !idle) {
            // Waiting players only look again when something changed.
            let look = restart || clips.is_changed() || player.is_changed() || player.blocked;
            if !look {
                continue;
            }
            let Some(clip) = clips.get(player.image.id()) else {
                continue;
            };
            // A restart of a clip already playing here is no second player.
            if playback.is_none() && busy_images.contains(&player.image.id()) {
                if !player.blocked {
                    warn!(
                        "video for {entity} waits: another player is playing into its image {:?}",
                        player.image.id()
                    );
                    player.blocked = true;
                }
                continue;
            }
            let info = clip.info().clone();
            let player = player.as_mut();
            player.restart = false;
            player.blocked = false;
            match spawn_decoder(clip.clone(), player.look_ahead) {
                Ok(frames) => {
                    player.state = if player.paused {
                        VideoState::Paused
                    } else {
                        VideoState::Playing
                    };
                    player.position = Duration::ZERO;
                    player.error = None;
                    let session = Playback {
                        frames,
                        pending: None,
                        end: None,
                        primed: false,
                        clock: Duration::ZERO,
                        newest: Duration::ZERO,
                        width: info.width,
                        height: info.height,
                    };
                    // Shown from the next frame on: its first frame takes a moment anyway.
                    commands.entity(entity).insert(session);
                    busy_images.insert(player.image.id());
                }
                Err(error) => {
                    warn!("video for {entity} cannot play: {error}");
                    player.state = VideoState::Failed;
                    player.error = Some(error.to_string());
                }
            }
            playback = None;
        }
        let Some(session) = playback.as_mut() else {
            continue;
        };
        let playing = !player.paused;
        let wanted = if playing {
            VideoState::Playing
        } else {
            VideoState::Paused
        };
        if player.state != wanted {
            player.state = wanted;
        }
        if !playing && session.primed {
            // The decoder fills its look-ahead meanwhile; report it without touching the
            // player every frame.
            let ahead = session.frames.len() + usize::from(session.pending.is_some());
            if player.frames_ahead != ahead {
                player.frames_ahead = ahead;
            }
            continue;
        }
        // Checked, not `mul_f32`: a speed set through reflection may be anything.
        let delta = if playing {
            Duration::try_from_secs_f64(delta.as_secs_f64() * f64::from(player.speed))
                .unwrap_or(Duration::ZERO)
        } else {
            Duration::ZERO
        };
        let step = session.advance(delta, player.looping);
        let player = player.as_mut();
        if let Some(frame) = step.shown {
            show(&mut images, &player.image, session, frame.rgba);
            player.frames_shown += 1;
        }
        player.position = session.clock;
        player.frames_ahead = session.frames.len() + usize::from(session.pending.is_some());
        let image = player.image.id();
        for _ in 0..step.ends {
            player.loops += 1;
            send_ended(
                &mut ended,
                &mut commands,
                VideoEnded {
                    entity,
                    image,
                    looping: player.looping && !step.finished,
                    loops: player.loops,
                    error: None,
                },
            );
        }
        if let Some(error) = step.failed {
            warn!("video for {entity} stopped: {error}");
            player.state = VideoState::Failed;
            player.error = Some(error.to_string());
            player.frames_ahead = 0;
            send_ended(
                &mut ended,
                &mut commands,
                VideoEnded {
                    entity,
                    image,
                    looping: false,
                    loops: player.loops,
                    error: Some(error),
                },
            );
            commands.entity(entity).remove::<Playback>();
            busy_images.remove(&image);
        } else if step.finished {
            player.state = VideoState::Ended;
            player.frames_ahead = 0;
            commands.entity(entity).remove::<Playback>();
            // Free for another player of the image from this frame on.
            busy_images.remove(&image);
        }
    }
}

/// Sends a [`VideoEnded`]: triggered on the player's entity (and for global observers), and
/// written as a message.
fn send_ended(
    messages: &mut MessageWriter<VideoEnded>,
    commands: &mut Commands,
    ended: VideoEnded,
) {
    commands.trigger(ended.clone());
    messages.write(ended);
}

/// Writes `rgba` into the image behind `handle`, replacing it if its size is not the clip's.
fn show(images: &mut Assets<Image>, handle: &Handle<Image>, session: &Playback, rgba: Vec<u8>) {
    let Some(mut image) = images.get_mut(handle) else {
        return;
    };
    if image.width() == session.width && image.height() == session.height {
        image.data = Some(rgba);
    } else {
        *image = rgba_image(session.width, session.height, rgba);
    }
}

/// Stops a player's decoder when the player goes away or is replaced by another (which starts
/// afresh) while its entity stays.
pub(crate) fn on_player_discarded(event: On<Discard, VideoPlayer>, mut commands: Commands) {
    if let Ok(mut entity) = commands.get_entity(event.entity) {
        entity.try_remove::<Playback>();
    }
}
