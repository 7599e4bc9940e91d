//! Nothing from outside hangs a request: a panicking source or job fails it, no wait setting
//! overflows, a session change keys every later request, and the same request inserted again
//! keeps its job.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use bevy_asset_provider::source::{LocalGenerator, SourceKind};
use bevy_asset_provider::{AssetCancelled, AssetRequested, RequestKey};

fn provider(app: &App) -> &AssetProvider {
    app.world().resource::<AssetProvider>()
}

#[test]
fn a_source_that_panics_fails_the_request_and_no_later_request_joins_it() {
    let source = FakeGenerator::new(Behaviour::Panic);
    let mut app = headless_app(plugin_with(source.clone()));
    collect::<AssetFailed>(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("a broken painter");
    let first = app.world_mut().spawn(request.clone()).id();
    until_status(&mut app, first, TaskStatus::Failed);
    let error = task(&app, first).error().cloned().expect("an error");
    assert_eq!(error.kind(), AssetErrorKind::Generation);
    assert!(error.message().contains("panicked"), "{error}");
    assert!(error.message().contains("fake_generator"), "{error}");
    assert!(
        error.message().contains("the fake generator broke"),
        "{error}"
    );
    let key = task(&app, first).key();
    assert_eq!(provider(&app).status(&key), None, "nothing left pending");
    assert_eq!(provider(&app).in_flight(), 0);
    assert_eq!(collected::<AssetFailed>(&app).len(), 1);

    // The same request again gets a job of its own.
    let second = app.world_mut().spawn(request).id();
    until_status(&mut app, second, TaskStatus::Failed);
    assert_eq!(source.calls(), 2);
}

/// Serves an image, then panics when asked whether its results may be kept: a panic in the
/// job outside any source's `resolve`.
struct PanicsAfterServing;

#[async_trait]
impl AssetSource for PanicsAfterServing {
    fn name(&self) -> &str {
        "panics_after_serving"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        Ok(Some(SourcedMedia::new(
            png(2, 2, [1, 2, 3, 255]),
            "image/png",
            "panics_after_serving",
        )))
    }

    fn caches_results(&self) -> bool {
        panic!("bookkeeping bug")
    }
}

#[test]
fn a_panic_elsewhere_in_the_job_fails_it_and_frees_a_prefetch() {
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(PanicsAfterServing),
    );
    app.update();
    let key = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .prefetch(AssetRequest::image().prompt("next room"));
    assert_eq!(provider(&app).prefetches_in_flight(), 1);
    update_until(&mut app, "the prefetch to end", |app| {
        provider(app).in_flight() == 0
    });
    assert_eq!(provider(&app).prefetches_in_flight(), 0);
    assert_eq!(provider(&app).status(&key), None);

    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("this room"))
        .id();
    until_status(&mut app, entity, TaskStatus::Failed);
    let error = task(&app, entity).error().cloned().unwrap();
    assert!(error.message().contains("image job panicked"), "{error}");
    assert!(error.message().contains("bookkeeping bug"), "{error}");
}

#[test]
fn no_wait_setting_overflows_a_deadline() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_shared_source(source)
            .with_default_timeout(Duration::MAX),
    );
    app.update();
    let by_default = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("one"))
        .id();
    let mut forever = AssetRequest::image().prompt("two").max_wait(Duration::MAX);
    let explicit = app.world_mut().spawn(forever.clone()).id();
    // Set past the builder, as reflection or a deserialised request could.
    forever.prompt = Some("three".into());
    forever.max_wait = Some(Duration::MAX);
    let raw = app.world_mut().spawn(forever).id();
    for entity in [by_default, explicit, raw] {
        until_status(&mut app, entity, TaskStatus::Completed);
    }

    // A generator that would take forever still ends at the request's own deadline.
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_source(LocalGenerator::new().latency(Duration::MAX)),
    );
    app.update();
    let slow = app
        .world_mut()
        .spawn(
            AssetRequest::image()
                .prompt("four")
                .max_wait(Duration::from_millis(50)),
        )
        .id();
    until_status(&mut app, slow, TaskStatus::TimedOut);
}

fn gated_plugin() -> (
    AssetProviderPlugin,
    Arc<FakeGenerator>,
    Arc<tokio::sync::Semaphore>,
) {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 4,
        height: 4,
    });
    (plugin_with(source.clone()), source, gate)
}

fn scoped(prompt: &str) -> AssetRequest {
    AssetRequest::image()
        .prompt(prompt)
        .strategy(CachingStrategy::PerPlaythrough)
}

#[test]
fn set_session_keys_a_direct_request_in_the_same_system() {
    let (plugin, source, gate) = gated_plugin();
    let mut app = headless_app(plugin);
    app.update();
    // Playthrough A's media is in memory.
    gate.add_permits(1);
    let first = app.world_mut().spawn(scoped("the attic")).id();
    until_status(&mut app, first, TaskStatus::Completed);
    let key_a = task(&app, first).key();

    #[derive(Resource)]
    struct Got(RequestKey, Handle<Image>);
    app.add_systems(
        Update,
        |mut provider: ResMut<AssetProvider>, mut commands: Commands, mut done: Local<bool>| {
            if std::mem::replace(&mut *done, true) {
                return;
            }
            provider.set_session(PlaySession::new("pt-b", "local"));
            let request = scoped("the attic");
            let key = provider.key_for(&request);
            let handle = provider.request_image(request);
            commands.insert_resource(Got(key, handle));
        },
    );
    app.update();
    let session_b = PlaySession::new("pt-b", "local");
    let got = app.world().resource::<Got>();
    assert_eq!(got.0, scoped("the attic").fingerprint(&session_b));
    assert_ne!(got.0, key_a);
    assert_ne!(
        provider(&app).get(&key_a).and_then(|h| h.image().cloned()),
        Some(got.1.clone()),
        "not playthrough A's media"
    );
    assert_eq!(provider(&app).session(), &session_b);
    gate.add_permits(1);
    update_until(&mut app, "B's media to be made", |_| source.calls() == 2);
}

#[test]
fn a_changed_session_keys_requests_later_in_the_same_frame() {
    let (plugin, source, gate) = gated_plugin();
    let mut app = headless_app(plugin);
    app.update();
    gate.add_permits(1);
    let first = app.world_mut().spawn(scoped("the cellar")).id();
    until_status(&mut app, first, TaskStatus::Completed);

    #[derive(Resource, Default)]
    struct Spawned(Vec<Entity>);
    app.init_resource::<Spawned>();
    let change = |mut provider: ResMut<AssetProvider>, mut done: Local<bool>| {
        if !std::mem::replace(&mut *done, true) {
            provider.set_session(PlaySession::new("pt-b", "local"));
        }
    };
    // The same system changes the session and spawns a request; a later one spawns another
    // and sends a message.
    let same_system = |mut provider: ResMut<AssetProvider>,
                       mut commands: Commands,
                       mut spawned: ResMut<Spawned>,
                       mut done: Local<bool>| {
        if !std::mem::replace(&mut *done, true) {
            provider.set_session(PlaySession::new("pt-c", "local"));
            spawned.0.push(commands.spawn(scoped("the cellar")).id());
        }
    };
    let later = |mut commands: Commands,
                 mut spawned: ResMut<Spawned>,
                 mut messages: MessageWriter<RequestAsset>,
                 mut done: Local<bool>| {
        if !std::mem::replace(&mut *done, true) {
            spawned.0.push(commands.spawn(scoped("the cellar")).id());
            messages.write(RequestAsset(scoped("the cellar").tag("by message")));
        }
    };
    app.add_systems(
        Update,
        (change, same_system, later)
            .chain()
            .before(AssetProviderSystems::Request),
    );
    app.update();
    let session_c = PlaySession::new("pt-c", "local");
    let spawned = app.world().resource::<Spawned>().0.clone();
    for entity in &spawned {
        assert_eq!(
            task(&app, *entity).key(),
            scoped("the cellar").fingerprint(&session_c)
        );
        assert_ne!(task(&app, *entity).status(), TaskStatus::Completed);
    }
    let by_message = scoped("the cellar").tag("by message");
    let mut tasks = app.world_mut().query::<&GenerationTask>();
    assert!(
        tasks
            .iter(app.world())
            .any(|task| task.key() == by_message.fingerprint(&session_c)),
        "the message's request is keyed with the new session"
    );
    assert_eq!(provider(&app).session(), &session_c);
    gate.add_permits(2);
    update_until(&mut app, "C's media to be made", |app| {
        spawned
            .iter()
            .all(|e| task(app, *e).status() == TaskStatus::Completed)
    });
    assert_eq!(
        source.calls(),
        3,
        "A once, C once (joined), the tagged one once"
    );
}

#[test]
fn the_same_request_inserted_again_keeps_its_job() {
    let (plugin, source, gate) = gated_plugin();
    let mut app = headless_app(plugin);
    collect::<AssetRequested>(&mut app);
    collect::<AssetCancelled>(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("the harbour");
    let entity = app.world_mut().spawn(request.clone()).id();
    update_until(&mut app, "the job to start", |app| {
        task(app, entity).status() == TaskStatus::Processing
    });
    let before = task(&app, entity);
    // Inserted again, as a system re-applying its state each frame would.
    app.world_mut().entity_mut(entity).insert(request.clone());
    app.update();
    let after = task(&app, entity);
    assert_eq!(after.status(), TaskStatus::Processing);
    assert_eq!(after.handle(), before.handle());
    assert!(collected::<AssetCancelled>(&app).is_empty());
    assert_eq!(collected::<AssetRequested>(&app).len(), 1);
    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(source.calls(), 1);
    assert!(source.cancelled().is_empty());

    // Another request on the entity replaces the job.
    let other = AssetRequest::image().prompt("the lighthouse");
    app.world_mut().entity_mut(entity).insert(other.clone());
    app.update();
    assert_eq!(
        task(&app, entity).key(),
        other.fingerprint(&PlaySession::default())
    );
    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(source.calls(), 2);
}
