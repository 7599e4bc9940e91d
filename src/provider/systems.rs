//! The plugin's systems and observers. Each does a frame's share of work in proportion to what
//! happened this frame: new requests, finished jobs. Waiting requests cost nothing.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use crate::chain::decode::DecodedMedia;
use crate::provider::AssetProvider;
use crate::provider::jobs::Outcome;
use crate::provider::messages::RequestAsset;
use crate::provider::messages::{AssetCancelled, AssetFailed, AssetReady, AssetRequested};
use crate::provider::outbox::ProviderMessages;
use crate::provider::task::{GenerationTask, MediaHandle, TaskStatus, status_of};
use crate::request::AssetRequest;
use crate::request::PlaySession;
use crate::runtime::{Delivered, JobId, RuntimeEvent};

/// The asset collections media is inserted into.
#[derive(SystemParam)]
pub(crate) struct MediaAssets<'w, 's> {
    images: ResMut<'w, Assets<Image>>,
    #[cfg(feature = "audio")]
    sounds: Option<ResMut<'w, Assets<AudioSource>>>,
    /// Puts an add-on's part of decoded media in the world.
    commands: Commands<'w, 's>,
}

impl MediaAssets<'_, '_> {
    /// Puts the placeholder behind every handle reserved since the last call.
    fn insert_placeholders(&mut self, provider: &mut AssetProvider) {
        let slots = &mut provider.desk.slots;
        for handle in slots.take_new() {
            match handle {
                MediaHandle::Image(handle) => {
                    // Err means every holder already dropped the handle: nothing to show.
                    let _ = self
                        .images
                        .insert(handle.id(), slots.placeholders().image.clone());
                }
                #[cfg(feature = "audio")]
                MediaHandle::Audio(handle) => {
                    if let (Some(sounds), Some(placeholder)) =
                        (self.sounds.as_mut(), slots.placeholders().audio.as_ref())
                    {
                        let _ = sounds.insert(handle.id(), placeholder.clone());
                    }
                }
            }
        }
    }

    /// Puts the fallback of each job given one since the last call behind its handle, shown
    /// from when its holder got the handle; a fallback not loaded yet is waited for.
    fn show_fresh_fallbacks(&mut self, provider: &mut AssetProvider) {
        let desk = &mut provider.desk;
        for (id, asked_at) in desk.fallbacks.take_fresh() {
            if let Some(job) = desk.jobs.get_mut(id)
                && desk.fallbacks.show(id, job, &mut self.images, asked_at)
            {
                desk.slots.swapped(&job.handle);
            }
        }
    }

    /// Inserts decoded media behind `handle`, replacing the placeholder or fallback.
    fn insert(&mut self, handle: &MediaHandle, media: DecodedMedia) {
        match (handle, media) {
            (MediaHandle::Image(handle), DecodedMedia::Image(image)) => {
                let _ = self.images.insert(handle.id(), *image);
            }
            (MediaHandle::Image(handle), DecodedMedia::Extended { image, extra }) => {
                // The image shows at once; the add-on's part follows (a clip for its player).
                if self.images.insert(handle.id(), *image).is_ok() {
                    let id = handle.id();
                    self.commands
                        .queue(move |world: &mut World| extra(world, id));
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
    let provider = &mut *provider;
    for left in provider.waiters.departed() {
        provider.desk.release_waiter(&mut provider.stats, left);
    }
    // Placeholders and fallbacks first: a result must never be overwritten by them.
    assets.insert_placeholders(provider);
    assets.show_fresh_fallbacks(provider);
    let events = provider.events.clone();
    for event in events.try_iter() {
        match event {
            RuntimeEvent::Started(job) => {
                for_holders(provider, &mut tasks, job, |task, wait| {
                    task.status = TaskStatus::Processing;
                    task.started_after = Some(wait);
                });
            }
            RuntimeEvent::GenerationStarted {
                job,
                key,
                kind,
                background,
            } => {
                provider
                    .desk
                    .generation_started(&mut provider.stats, (job, key, kind), background)
            }
            RuntimeEvent::Progress(job, fraction) => {
                provider.desk.jobs.set_progress(job, fraction);
                for_holders(provider, &mut tasks, job, |task, _| {
                    task.status = TaskStatus::Processing;
                    task.progress = fraction;
                });
            }
            RuntimeEvent::Finished(job, outcome) => {
                finished(provider, &mut assets, &mut tasks, job, *outcome);
            }
        }
    }
    messages.send(provider.desk.outbox.take());
}

/// Applies `change` to the task of each entity holding `job`, with how long it has waited.
fn for_holders(
    provider: &AssetProvider,
    tasks: &mut Query<&mut GenerationTask>,
    job: JobId,
    mut change: impl FnMut(&mut GenerationTask, std::time::Duration),
) {
    let now = std::time::Instant::now();
    for (entity, wait) in provider.desk.jobs.holder_waits(job, now) {
        if let Ok(mut task) = tasks.get_mut(entity)
            && task.job == Some(job)
        {
            change(&mut task, wait);
        }
    }
}

/// Ends `job`: its media behind the handle, its holders' tasks and messages.
fn finished(
    provider: &mut AssetProvider,
    assets: &mut MediaAssets,
    tasks: &mut Query<&mut GenerationTask>,
    job: JobId,
    result: Result<Delivered, crate::AssetError>,
) {
    let outcome: Outcome = result
        .as_ref()
        .map(|resolved| (resolved.source, resolved.origin.clone()))
        .map_err(Clone::clone);
    // None: cancelled while the result was on its way.
    let Some((handle, holders)) = provider.desk.finish(&mut provider.stats, job, &outcome) else {
        return;
    };
    if let Ok(resolved) = result {
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
        match &outcome {
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

/// Puts placeholders behind handles reserved during this frame and sends queued messages, before
/// Bevy flushes asset events.
pub(crate) fn flush_requests(
    mut provider: ResMut<AssetProvider>,
    mut assets: MediaAssets,
    mut messages: ProviderMessages,
) {
    assets.insert_placeholders(&mut provider);
    assets.show_fresh_fallbacks(&mut provider);
    messages.send(provider.desk.outbox.take());
}

/// Puts a fallback that has just loaded behind the handles of the jobs in flight that wait for
/// it, from now on. Runs only while a job waits for its fallback; its work grows with the image
/// events of the frame, not with the jobs waiting.
pub(crate) fn show_loaded_fallbacks(
    mut provider: ResMut<AssetProvider>,
    mut images: ResMut<Assets<Image>>,
    mut events: MessageReader<AssetEvent<Image>>,
) {
    let desk = &mut provider.desk;
    let now = std::time::Instant::now();
    for event in events.read() {
        let (AssetEvent::Added { id }
        | AssetEvent::Modified { id }
        | AssetEvent::LoadedWithDependencies { id }) = *event
        else {
            continue;
        };
        for job_id in desk.fallbacks.loaded(id).into_iter().flatten() {
            if let Some(job) = desk.jobs.get_mut(job_id)
                && desk.fallbacks.show(job_id, job, &mut images, now)
            {
                desk.slots.swapped(&job.handle);
            }
        }
    }
}

/// Whether a job in flight waits for its fallback to load.
pub(crate) fn waits_for_fallbacks(provider: Option<Res<AssetProvider>>) -> bool {
    provider.is_some_and(|provider| provider.desk.fallbacks.is_waiting())
}

/// Marks sprites showing a swapped image as changed, so Bevy recomputes their bounds (it does not
/// when only the image behind the handle changes). Runs only on frames where an image arrived.
#[cfg(feature = "sprite")]
pub(crate) fn refresh_swapped_sprites(
    mut provider: ResMut<AssetProvider>,
    mut sprites: Query<&mut bevy::sprite::Sprite>,
) {
    if !provider.desk.slots.has_swapped() {
        return;
    }
    let swapped: bevy::platform::collections::HashSet<_> =
        provider.desk.slots.take_swapped().into_iter().collect();
    for mut sprite in &mut sprites {
        if swapped.contains(&sprite.image.id()) {
            sprite.set_changed();
        }
    }
}

/// Without sprite support nobody needs the list; keep it from growing.
#[cfg(not(feature = "sprite"))]
pub(crate) fn refresh_swapped_sprites(mut provider: ResMut<AssetProvider>) {
    if provider.desk.slots.has_swapped() {
        provider.desk.slots.take_swapped();
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
    provider.is_some_and(|provider| provider.desk.slots.has_swapped())
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
        // Written here whether or not the observing add-on reads it.
        .add_message::<crate::provider::AnalyticsEvent>()
        .register_type::<AssetProvider>()
        .register_type::<AssetRequest>()
        .register_type::<GenerationTask>()
        .register_type::<PlaySession>()
        .register_type::<crate::provider::ProviderStats>()
        .register_type::<(MediaKind, CachingStrategy, GenerationPurpose, RequestKey)>()
        .register_type::<(TaskStatus, SourceKind, MediaHandle, crate::provider::JobId)>()
        .register_type::<(crate::AssetError, crate::AssetErrorKind)>()
        .register_type::<crate::request::Fallback>()
        .add_systems(
            PreUpdate,
            (
                receive_results.run_if(has_work),
                show_loaded_fallbacks.run_if(waits_for_fallbacks),
                refresh_swapped_sprites.run_if(has_swapped_images),
                super::scene_pictures::remember_scene_pictures
                    .run_if(resource_exists::<crate::scene::LastScenePicture>)
                    .run_if(on_message::<AssetReady>),
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
