//! The plugin's systems and observers. Each does a frame's share of work in proportion to what
//! happened this frame: new requests, finished jobs. Waiting requests cost nothing.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::provider::AnalyticsEvent;
use crate::provider::messages::HolderResult;
use crate::provider::{AssetCancelled, AssetFailed, AssetReady, AssetRequested, RequestAsset};
use crate::provider::{AssetProvider, ChoiceCountsLoaded, Notice, status_of};
use crate::provider::{GenerationTask, MediaHandle, TaskStatus};
use crate::request::AssetRequest;
use crate::request::PlaySession;
use crate::runtime::RuntimeEvent;
use crate::runtime::decode::DecodedMedia;

/// The plugin's outgoing messages.
#[derive(SystemParam)]
pub(crate) struct ProviderMessages<'w, 's> {
    requested: MessageWriter<'w, AssetRequested>,
    ready: MessageWriter<'w, AssetReady>,
    failed: MessageWriter<'w, AssetFailed>,
    cancelled: MessageWriter<'w, AssetCancelled>,
    analytics: MessageWriter<'w, AnalyticsEvent>,
    choice_counts: MessageWriter<'w, ChoiceCountsLoaded>,
    commands: Commands<'w, 's>,
}

impl ProviderMessages<'_, '_> {
    /// Sends each notice: the one place the plugin's messages and events go out.
    fn send(&mut self, notices: Vec<Notice>) {
        for notice in notices {
            match notice {
                Notice::Requested(message) => {
                    self.requested.write(message);
                }
                Notice::Ready(message) => {
                    holder_result(&mut self.ready, &mut self.commands, message)
                }
                Notice::Failed(message) => {
                    holder_result(&mut self.failed, &mut self.commands, message);
                }
                Notice::Cancelled(message) => {
                    holder_result(&mut self.cancelled, &mut self.commands, message);
                }
                Notice::Analytics(event) => {
                    self.analytics.write(event);
                }
                Notice::ChoiceCounts(counts) => {
                    self.choice_counts.write(ChoiceCountsLoaded(counts));
                }
            }
        }
    }
}

/// A holder's result: triggered on its entity (when it has one) for that entity's observers,
/// then for global observers, then written as a message.
fn holder_result<M: HolderResult>(
    messages: &mut MessageWriter<M>,
    commands: &mut Commands,
    message: M,
) {
    if let Some(on_entity) = message.on_entity() {
        commands.trigger(on_entity);
    }
    commands.trigger(message.clone());
    messages.write(message);
}

/// The asset collections media is inserted into.
#[derive(SystemParam)]
pub(crate) struct MediaAssets<'w> {
    images: ResMut<'w, Assets<Image>>,
    #[cfg(feature = "audio")]
    sounds: Option<ResMut<'w, Assets<AudioSource>>>,
    #[cfg(feature = "video")]
    clips: Option<ResMut<'w, crate::video::VideoClips>>,
}

impl MediaAssets<'_> {
    /// Puts the placeholder behind every handle reserved since the last call.
    fn insert_placeholders(&mut self, provider: &mut AssetProvider) {
        for handle in provider.take_new_placeholders() {
            match handle {
                MediaHandle::Image(handle) => {
                    // Err means every holder already dropped the handle: nothing to show.
                    let _ = self
                        .images
                        .insert(handle.id(), provider.placeholders().image.clone());
                }
                #[cfg(feature = "audio")]
                MediaHandle::Audio(handle) => {
                    if let (Some(sounds), Some(placeholder)) =
                        (self.sounds.as_mut(), provider.placeholders().audio.as_ref())
                    {
                        let _ = sounds.insert(handle.id(), placeholder.clone());
                    }
                }
            }
        }
    }

    /// Inserts decoded media behind `handle`, replacing the placeholder.
    fn insert(&mut self, handle: &MediaHandle, media: DecodedMedia) {
        match (handle, media) {
            (MediaHandle::Image(handle), DecodedMedia::Image(image)) => {
                let _ = self.images.insert(handle.id(), *image);
            }
            #[cfg(feature = "video")]
            (MediaHandle::Image(handle), DecodedMedia::Video { first_frame, clip }) => {
                // The first frame shows at once; a `VideoPlayer` on the handle plays the rest.
                if self.images.insert(handle.id(), *first_frame).is_ok()
                    && let Some(clips) = self.clips.as_mut()
                {
                    clips.insert(handle.id(), *clip);
                }
            }
            #[cfg(feature = "audio")]
            (MediaHandle::Audio(handle), DecodedMedia::Audio(sound)) => {
                if let Some(sounds) = self.sounds.as_mut() {
                    let _ = sounds.insert(handle.id(), sound);
                }
            }
            #[cfg(feature = "audio")]
            (handle, _) => {
                warn!("decoded media does not match the kind of {handle:?}; placeholder kept");
            }
        }
    }
}

/// Turns [`RequestAsset`] messages into entities carrying the request.
pub(crate) fn spawn_requested(mut messages: MessageReader<RequestAsset>, mut commands: Commands) {
    for RequestAsset(request) in messages.read() {
        commands.spawn(request.clone());
    }
}

/// Starts (or joins) the request of an entity that got an [`AssetRequest`], and gives it a
/// [`GenerationTask`] at once. The request is keyed with the provider's session as it is now,
/// even if it changed earlier in this frame.
///
/// The same request inserted again while its job runs (same key) keeps that job: nothing is
/// cancelled, started or sent. Another request replaces it.
pub(crate) fn on_request_inserted(
    event: On<Insert, AssetRequest>,
    requests: Query<(&AssetRequest, Option<&GenerationTask>)>,
    mut provider: ResMut<AssetProvider>,
    time: Option<Res<Time<Real>>>,
    mut commands: Commands,
) {
    let entity = event.entity;
    let Ok((request, previous)) = requests.get(entity) else {
        return;
    };
    if let Some(previous) = previous
        && let Some(job) = previous.job
    {
        let same = !previous.status.is_terminal()
            && previous.key == provider.key_for(request)
            && provider.is_held_by(job, entity);
        if same {
            return;
        }
        provider.release(job, Some(entity));
    }
    let now = time.map(|time| time.elapsed()).unwrap_or_default();
    let task = provider.request_for_entity(entity, request.clone(), now);
    commands.entity(entity).insert(task);
}

/// Releases an entity's hold on its job when its task goes away (despawn or removal).
pub(crate) fn on_task_removed(
    event: On<Remove, GenerationTask>,
    tasks: Query<&GenerationTask>,
    mut provider: ResMut<AssetProvider>,
) {
    if let Ok(task) = tasks.get(event.entity)
        && let Some(job) = task.job
        && !task.status.is_terminal()
    {
        provider.release(job, Some(event.entity));
    }
}

/// Applies what the runtime reported since the last frame: status and progress on tasks, real
/// media behind handles, and a message per holder.
pub(crate) fn receive_results(
    mut provider: ResMut<AssetProvider>,
    mut assets: MediaAssets,
    mut tasks: Query<&mut GenerationTask>,
    mut messages: ProviderMessages,
) {
    provider.release_departed_waiters();
    // Placeholders first: a result must never be overwritten by its own placeholder.
    assets.insert_placeholders(&mut provider);
    let events = provider.events();
    for event in events.try_iter() {
        match event {
            RuntimeEvent::Started(job) => {
                for (entity, wait) in provider.holder_waits(job) {
                    if let Ok(mut task) = tasks.get_mut(entity)
                        && task.job == Some(job)
                    {
                        task.status = TaskStatus::Processing;
                        task.started_after = Some(wait);
                    }
                }
            }
            RuntimeEvent::GenerationStarted {
                job,
                key,
                kind,
                background,
            } => provider.generation_started(job, key, kind, background),
            RuntimeEvent::ChoiceCounts(counts) => provider.choice_counts_loaded(counts),
            RuntimeEvent::Progress(job, fraction) => {
                provider.set_progress(job, fraction);
                for (entity, _) in provider.holder_waits(job) {
                    if let Ok(mut task) = tasks.get_mut(entity)
                        && task.job == Some(job)
                    {
                        task.status = TaskStatus::Processing;
                        task.progress = fraction;
                    }
                }
            }
            RuntimeEvent::Finished(job, outcome) => {
                let outcome = *outcome;
                let summary = outcome
                    .as_ref()
                    .map(|resolved| (resolved.source, resolved.origin.clone()))
                    .map_err(Clone::clone);
                // None: cancelled while the result was on its way.
                let Some((handle, holders)) = provider.finish(job, &summary) else {
                    continue;
                };
                if let Ok(resolved) = outcome {
                    assets.insert(&handle, resolved.media);
                }
                for (entity, elapsed) in holders {
                    let Ok(mut task) = tasks.get_mut(entity) else {
                        continue;
                    };
                    if task.job != Some(job) {
                        continue;
                    }
                    task.finished_after = Some(elapsed);
                    match &summary {
                        Ok((source, origin)) => {
                            task.status = TaskStatus::Completed;
                            task.progress = 1.0;
                            task.source = Some(*source);
                            task.origin = Some(origin.clone());
                        }
                        Err(error) => {
                            task.status = status_of(error);
                            task.error = Some(error.clone());
                        }
                    }
                }
            }
        }
    }
    messages.send(provider.take_notices());
}

/// Puts placeholders behind handles reserved during this frame and sends queued messages, before
/// Bevy flushes asset events.
pub(crate) fn flush_requests(
    mut provider: ResMut<AssetProvider>,
    mut assets: MediaAssets,
    mut messages: ProviderMessages,
) {
    assets.insert_placeholders(&mut provider);
    messages.send(provider.take_notices());
}

/// Marks sprites showing a swapped image as changed, so Bevy recomputes their bounds (it does not
/// when only the image behind the handle changes). Runs only on frames where an image arrived.
#[cfg(feature = "sprite")]
pub(crate) fn refresh_swapped_sprites(
    mut provider: ResMut<AssetProvider>,
    mut sprites: Query<&mut bevy::sprite::Sprite>,
) {
    if !provider.has_swapped_images() {
        return;
    }
    let swapped: bevy::platform::collections::HashSet<_> =
        provider.take_swapped_images().into_iter().collect();
    for mut sprite in &mut sprites {
        if swapped.contains(&sprite.image.id()) {
            sprite.set_changed();
        }
    }
}

/// Without sprite support nobody needs the list; keep it from growing.
#[cfg(not(feature = "sprite"))]
pub(crate) fn refresh_swapped_sprites(mut provider: ResMut<AssetProvider>) {
    if provider.has_swapped_images() {
        provider.take_swapped_images();
    }
}

/// Whether the provider has anything for this frame: results or placeholders to apply, messages
/// to send. Keeps its systems from running (and the executor from waking a thread for them) on
/// quiet frames.
pub(crate) fn has_work(provider: Option<Res<AssetProvider>>) -> bool {
    provider.is_some_and(|provider| provider.has_work())
}

/// Whether an image arrived since sprites were last refreshed.
pub(crate) fn has_swapped_images(provider: Option<Res<AssetProvider>>) -> bool {
    provider.is_some_and(|provider| provider.has_swapped_images())
}

/// Adds the provider's messages, types, systems and observers to `app`.
pub(crate) fn add_to(app: &mut App) {
    use crate::AssetProviderSystems;
    use crate::request::{CachingStrategy, GenerationPurpose, MediaKind, RequestKey};
    use crate::source::SourceKind;
    app.add_message::<RequestAsset>()
        .add_message::<AssetRequested>()
        .add_message::<AssetReady>()
        .add_message::<AssetFailed>()
        .add_message::<AssetCancelled>()
        .add_message::<ChoiceCountsLoaded>()
        .register_type::<AssetProvider>()
        .register_type::<AssetRequest>()
        .register_type::<GenerationTask>()
        .register_type::<PlaySession>()
        .register_type::<crate::provider::ProviderStats>()
        .register_type::<(MediaKind, CachingStrategy, GenerationPurpose, RequestKey)>()
        .register_type::<(TaskStatus, SourceKind, MediaHandle, crate::provider::JobId)>()
        .register_type::<(crate::AssetError, crate::AssetErrorKind)>()
        .add_systems(
            PreUpdate,
            (
                receive_results.run_if(has_work),
                refresh_swapped_sprites.run_if(has_swapped_images),
            )
                .chain()
                .in_set(AssetProviderSystems::Receive),
        )
        .add_systems(
            Update,
            spawn_requested
                .run_if(on_message::<RequestAsset>)
                .in_set(AssetProviderSystems::Request),
        )
        .add_systems(
            PostUpdate,
            flush_requests
                .run_if(has_work)
                .in_set(AssetProviderSystems::Flush),
        )
        .add_observer(on_request_inserted)
        .add_observer(on_task_removed);
}
