//! Results seen the ways a game waits for them besides messages: observers on the request's
//! entity, global observers, and the `MediaReady` future.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bevy::prelude::*;
use bevy::tasks::{AsyncComputeTaskPool, block_on, futures_lite::future::poll_once};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::{AssetCancelled, RequestCancelled, RequestFailed, RequestReady};

use crate::common::*;

/// Counts of what observers on one entity saw.
#[derive(Resource, Default)]
struct Seen {
    ready: usize,
    failed: usize,
    cancelled: usize,
    ready_on: Vec<Entity>,
}

fn observed_request(app: &mut App, request: AssetRequest) -> Entity {
    app.world_mut()
        .spawn(request)
        .observe(|ready: On<RequestReady>, mut seen: ResMut<Seen>| {
            seen.ready += 1;
            seen.ready_on.push(ready.event_target());
            assert_eq!(
                ready.ready.entity,
                Some(ready.entity),
                "the message it carries"
            );
        })
        .observe(|_: On<RequestFailed>, mut seen: ResMut<Seen>| seen.failed += 1)
        .observe(|_: On<RequestCancelled>, mut seen: ResMut<Seen>| seen.cancelled += 1)
        .id()
}

#[test]
fn an_observer_on_the_request_entity_fires_once_when_the_media_is_ready() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 8,
        height: 8,
    });
    let mut app = headless_app(plugin_with(source));
    app.init_resource::<Seen>();
    app.update();
    let entity = observed_request(&mut app, AssetRequest::image().prompt("observed"));
    // A second holder of the same job without observers, and a direct one: their results
    // must not reach ours.
    let other = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("observed"))
        .id();
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::image().prompt("observed"));
    until_status(&mut app, entity, TaskStatus::Completed);
    until_status(&mut app, other, TaskStatus::Completed);
    for _ in 0..3 {
        app.update();
    }
    let seen = app.world().resource::<Seen>();
    assert_eq!((seen.ready, seen.failed, seen.cancelled), (1, 0, 0));
    assert_eq!(seen.ready_on, vec![entity]);
}

#[test]
fn an_observer_on_a_memory_hit_fires_too() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 8,
        height: 8,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    app.init_resource::<Seen>();
    app.update();
    let first = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("twice"))
        .id();
    until_status(&mut app, first, TaskStatus::Completed);
    let second = observed_request(&mut app, AssetRequest::image().prompt("twice"));
    assert_eq!(task(&app, second).status(), TaskStatus::Completed);
    app.update();
    app.update();
    assert_eq!(app.world().resource::<Seen>().ready, 1);
    assert_eq!(source.calls(), 1, "the second came from memory");
}

#[test]
fn an_observer_on_the_request_entity_fires_once_when_it_fails() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "refused",
    )));
    let mut app = headless_app(plugin_with(source));
    app.init_resource::<Seen>();
    app.update();
    let entity = observed_request(&mut app, AssetRequest::image().prompt("refused"));
    until_status(&mut app, entity, TaskStatus::Failed);
    for _ in 0..3 {
        app.update();
    }
    let seen = app.world().resource::<Seen>();
    assert_eq!((seen.ready, seen.failed, seen.cancelled), (0, 1, 0));
}

#[test]
fn replacing_the_request_on_an_entity_triggers_cancelled_on_it() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    app.init_resource::<Seen>();
    app.update();
    let entity = observed_request(&mut app, AssetRequest::image().prompt("first"));
    update_until(&mut app, "the source is working", |_| source.calls() == 1);
    app.world_mut()
        .entity_mut(entity)
        .insert(AssetRequest::image().prompt("second"));
    update_until(&mut app, "the first job is cancelled", |app| {
        app.world().resource::<Seen>().cancelled == 1
    });
    let seen = app.world().resource::<Seen>();
    assert_eq!((seen.ready, seen.failed), (0, 0));
}

/// Polls `ready` once per frame until it resolves.
fn step_until_resolved(app: &mut App, ready: &mut MediaReady) -> Result<MediaHandle, AssetError> {
    let mut result = None;
    update_until(app, "the future to resolve", |_| {
        if let Some(done) = block_on(poll_once(&mut *ready)) {
            result = Some(done);
        }
        result.is_some()
    });
    result.expect("resolved")
}

#[test]
fn the_future_resolves_to_the_handle_with_the_real_media() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 12,
        height: 6,
    });
    let mut app = headless_app(plugin_with(source));
    app.update();
    let mut ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(AssetRequest::image().prompt("awaited"));
    assert!(
        block_on(poll_once(&mut ready)).is_none(),
        "nothing is ready before the app runs"
    );
    let handle = step_until_resolved(&mut app, &mut ready).expect("real media");
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(handle.image().unwrap())
        .expect("an image behind the handle");
    assert_eq!(image.size(), UVec2::new(12, 6));

    // Now in memory: a future for the same key resolves at once.
    let key = ready.key();
    let again = app.world_mut().resource_mut::<AssetProvider>().ready(&key);
    assert!(matches!(block_on(again), Ok(MediaHandle::Image(_))));
}

#[test]
fn the_future_resolves_from_a_bevy_task_while_the_app_runs() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(plugin_with(source));
    app.update();
    let ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(AssetRequest::image().prompt("from a task"));
    let done = Arc::new(AtomicUsize::new(0));
    let seen = done.clone();
    let task = AsyncComputeTaskPool::get().spawn(async move {
        let result = ready.await;
        seen.store(if result.is_ok() { 1 } else { 2 }, Ordering::SeqCst);
    });
    update_until(&mut app, "the task to see the media", |_| {
        done.load(Ordering::SeqCst) != 0
    });
    assert_eq!(done.load(Ordering::SeqCst), 1);
    block_on(task);
}

#[test]
fn the_future_resolves_to_the_error_when_the_request_fails_or_times_out() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "refused",
    )));
    let mut app = headless_app(plugin_with(source));
    app.update();
    let mut ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(AssetRequest::image().prompt("refused"));
    let error = step_until_resolved(&mut app, &mut ready).expect_err("it fails");
    assert_eq!(error.kind(), AssetErrorKind::Rejected);

    let stalled = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(stalled));
    app.update();
    let mut ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(
            AssetRequest::image()
                .prompt("too slow")
                .max_wait(Duration::from_millis(50)),
        );
    let error = step_until_resolved(&mut app, &mut ready).expect_err("it times out");
    assert_eq!(error.kind(), AssetErrorKind::TimedOut);
}

#[test]
fn a_future_for_an_unknown_key_is_not_found() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source));
    app.update();
    let key = app
        .world()
        .resource::<AssetProvider>()
        .key_for(&AssetRequest::image().prompt("never asked"));
    let ready = app.world_mut().resource_mut::<AssetProvider>().ready(&key);
    let error = block_on(ready).expect_err("unknown");
    assert_eq!(error.kind(), AssetErrorKind::NotFound);
}

#[test]
fn dropping_the_future_releases_its_hold_and_cancels_a_job_nobody_else_holds() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    collect::<AssetCancelled>(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("given up");
    let ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(request.clone());
    let key = ready.key();
    // An entity holds the same job: the future leaving must not cancel it.
    let entity = app.world_mut().spawn(request).id();
    update_until(&mut app, "the source is working", |_| source.calls() == 1);
    drop(ready);
    for _ in 0..3 {
        app.update();
    }
    assert!(collected::<AssetCancelled>(&app).is_empty());
    assert_eq!(task(&app, entity).status(), TaskStatus::Processing);

    // A second future, then the entity leaves: the future alone holds the job.
    let ready = app.world_mut().resource_mut::<AssetProvider>().ready(&key);
    app.world_mut().despawn(entity);
    for _ in 0..3 {
        app.update();
    }
    assert!(
        collected::<AssetCancelled>(&app).is_empty(),
        "the future holds it"
    );
    drop(ready);
    update_until(&mut app, "the source hears of the cancellation", |_| {
        source.cancelled() == vec![key]
    });
    let provider = app.world().resource::<AssetProvider>();
    assert_eq!(provider.in_flight(), 0);
    assert_eq!(provider.stats().cancelled, 1);
    assert_eq!(collected::<AssetCancelled>(&app).len(), 1);
}

#[test]
fn the_future_ends_with_shutdown_when_the_app_goes_away() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source));
    app.update();
    let ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(AssetRequest::image().prompt("never"));
    drop(app);
    let error = block_on(ready).expect_err("the provider is gone");
    assert_eq!(error.kind(), AssetErrorKind::Shutdown);
}

#[test]
fn a_polled_out_future_does_not_panic() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = headless_app(plugin_with(source));
    app.update();
    let mut ready = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_ready(AssetRequest::image().prompt("twice polled"));
    step_until_resolved(&mut app, &mut ready).expect("ready");
    let again = block_on(poll_once(&mut ready)).expect("answers at once");
    assert_eq!(
        again.expect_err("already taken").kind(),
        AssetErrorKind::Cancelled
    );
}

/// The holders' entities each global observer saw, in order (`None`: a direct request).
#[derive(Resource, Default)]
struct SeenGlobally {
    ready: Vec<Option<Entity>>,
    failed: Vec<Option<Entity>>,
    cancelled: Vec<Option<Entity>>,
}

fn observe_globally(app: &mut App) {
    app.init_resource::<SeenGlobally>()
        .add_observer(|ready: On<AssetReady>, mut seen: ResMut<SeenGlobally>| {
            seen.ready.push(ready.entity);
        })
        .add_observer(|failed: On<AssetFailed>, mut seen: ResMut<SeenGlobally>| {
            seen.failed.push(failed.entity);
        })
        .add_observer(
            |cancelled: On<AssetCancelled>, mut seen: ResMut<SeenGlobally>| {
                seen.cancelled.push(cancelled.entity);
            },
        );
}

#[test]
fn a_global_observer_sees_a_direct_request_become_ready() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(plugin_with(source));
    observe_globally(&mut app);
    app.update();
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::image().prompt("direct and observed"));
    update_until(&mut app, "a global observer to see it ready", |app| {
        !app.world().resource::<SeenGlobally>().ready.is_empty()
    });
    let seen = app.world().resource::<SeenGlobally>();
    assert_eq!(seen.ready, vec![None]);
    assert!(seen.failed.is_empty() && seen.cancelled.is_empty());
}

#[test]
fn a_global_observer_sees_a_direct_request_fail() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "refused",
    )));
    let mut app = headless_app(plugin_with(source));
    observe_globally(&mut app);
    app.update();
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::image().prompt("direct and refused"));
    update_until(&mut app, "a global observer to see it fail", |app| {
        !app.world().resource::<SeenGlobally>().failed.is_empty()
    });
    let seen = app.world().resource::<SeenGlobally>();
    assert_eq!(seen.failed, vec![None]);
    assert!(seen.ready.is_empty() && seen.cancelled.is_empty());
}

#[test]
fn a_global_observer_sees_a_direct_request_cancelled() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    observe_globally(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("direct and given up");
    let key = app.world().resource::<AssetProvider>().key_for(&request);
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(request);
    update_until(&mut app, "the source is working", |_| source.calls() == 1);
    assert!(app.world_mut().resource_mut::<AssetProvider>().cancel(&key));
    update_until(&mut app, "a global observer to see it cancelled", |app| {
        !app.world().resource::<SeenGlobally>().cancelled.is_empty()
    });
    let seen = app.world().resource::<SeenGlobally>();
    assert_eq!(seen.cancelled, vec![None]);
    assert!(seen.ready.is_empty() && seen.failed.is_empty());
}

#[test]
fn a_global_observer_sees_every_holder_the_messages_name() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    observe_globally(&mut app);
    collect::<AssetReady>(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("held twice");
    let entity = app.world_mut().spawn(request.clone()).id();
    let _ = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(request);
    until_status(&mut app, entity, TaskStatus::Completed);
    update_until(&mut app, "both messages", |app| {
        collected::<AssetReady>(app).len() == 2
    });
    let mut messages: Vec<_> = collected::<AssetReady>(&app)
        .iter()
        .map(|ready| ready.entity)
        .collect();
    messages.sort();
    assert_eq!(messages, vec![None, Some(entity)], "one message per holder");
    let mut observed = app.world().resource::<SeenGlobally>().ready.clone();
    observed.sort();
    assert_eq!(
        observed, messages,
        "the observer sees what the messages say"
    );
    assert_eq!(source.calls(), 1);
}

#[test]
fn despawning_a_request_entity_is_seen_as_cancelled_by_global_observers() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    observe_globally(&mut app);
    let on_entities = Arc::new(AtomicUsize::new(0));
    let count = on_entities.clone();
    app.add_observer(move |_: On<RequestCancelled>| {
        count.fetch_add(1, Ordering::SeqCst);
    });
    app.update();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("left behind"))
        .id();
    update_until(&mut app, "the source is working", |_| source.calls() == 1);
    app.world_mut().despawn(entity);
    update_until(&mut app, "the cancellation", |app| {
        !app.world().resource::<SeenGlobally>().cancelled.is_empty()
    });
    assert_eq!(
        app.world().resource::<SeenGlobally>().cancelled,
        vec![Some(entity)]
    );
    assert_eq!(on_entities.load(Ordering::SeqCst), 1);
}
