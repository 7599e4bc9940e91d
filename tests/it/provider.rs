//! The spine end to end, headless: request → placeholder → real media behind the same handle.

use std::time::Duration;

use crate::common::*;
use bevy::camera::primitives::Aabb;
use bevy::prelude::*;
use bevy_asset_provider::observe::{
    AnalyticsEvent, AnalyticsKind, AssetPlayed, AssetProviderDiagnostics,
};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::{AssetCancelled, AssetRequested, SpendCap};

const PLACEHOLDER_SIZE: UVec2 = UVec2::new(32, 18);

fn image_size(app: &App, handle: &Handle<Image>) -> Option<UVec2> {
    app.world()
        .resource::<Assets<Image>>()
        .get(handle)
        .map(Image::size)
}

#[test]
fn request_shows_placeholder_in_the_same_frame_then_real_image_behind_the_same_handle() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 64,
        height: 40,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    collect::<AssetRequested>(&mut app);
    collect::<AssetReady>(&mut app);
    app.update();

    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().scene("park").prompt("a park at dusk"))
        .id();
    // The observer gives it a task at once; the placeholder is behind the handle by frame end.
    let first = task(&app, entity);
    let handle = first.handle().image().expect("an image handle").clone();
    app.update();
    assert_eq!(image_size(&app, &handle), Some(PLACEHOLDER_SIZE));
    assert_eq!(collected::<AssetRequested>(&app).len(), 1);

    gate.add_permits(1);
    until_status(&mut app, entity, TaskStatus::Completed);
    let done = task(&app, entity);
    assert_eq!(done.handle(), first.handle(), "the handle stays the same");
    assert_eq!(done.source(), Some(SourceKind::Generated));
    assert!(done.finished_after().is_some());
    assert_eq!(image_size(&app, &handle), Some(UVec2::new(64, 40)));
    let ready = collected::<AssetReady>(&app);
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].entity, Some(entity));
    assert_eq!(source.calls(), 1);
}

#[test]
fn a_sprite_holding_the_handle_gets_the_new_size() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 64,
        height: 40,
    });
    let mut app = headless_app(plugin_with(source));
    app.init_asset::<bevy::mesh::Mesh>()
        .init_asset::<TextureAtlasLayout>()
        .add_systems(PostUpdate, bevy::sprite::calculate_bounds_2d);
    app.update();

    let handle = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::image().prompt("a lighthouse"));
    let sprite = app
        .world_mut()
        .spawn(Sprite::from_image(handle.clone()))
        .id();
    update_until(&mut app, "the sprite has bounds", |app| {
        app.world().get::<Aabb>(sprite).is_some()
    });
    assert_eq!(
        app.world().get::<Aabb>(sprite).unwrap().half_extents.x,
        PLACEHOLDER_SIZE.x as f32 / 2.0
    );
    gate.add_permits(1);
    update_until(
        &mut app,
        "the sprite's bounds follow the real image",
        |app| app.world().get::<Aabb>(sprite).unwrap().half_extents.x == 32.0,
    );
    assert_eq!(
        app.world().get::<Aabb>(sprite).unwrap().half_extents.y,
        20.0
    );
    assert_eq!(image_size(&app, &handle), Some(UVec2::new(64, 40)));
}

#[test]
fn an_image_node_holding_the_handle_gets_the_new_size() {
    use bevy::ui::ContentSize;
    use bevy::ui::widget::{ImageNodeSize, update_image_content_size_system};
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 64,
        height: 40,
    });
    let mut app = headless_app(plugin_with(source));
    app.init_asset::<TextureAtlasLayout>()
        .add_systems(PostUpdate, update_image_content_size_system);
    app.update();
    let handle = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_image(AssetRequest::image().prompt("a window"));
    let node = app
        .world_mut()
        .spawn((ImageNode::new(handle), ContentSize::default()))
        .id();
    let size = |app: &App| app.world().get::<ImageNodeSize>(node).unwrap().size();
    update_until(&mut app, "the node measures the placeholder", |app| {
        size(app) == PLACEHOLDER_SIZE
    });
    gate.add_permits(1);
    update_until(&mut app, "the node measures the real image", |app| {
        size(app) == UVec2::new(64, 40)
    });
}

#[test]
fn an_audio_player_on_the_placeholder_handle_gets_the_real_sound() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 1,
        height: 1,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    app.update();
    let handle = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .request_audio(AssetRequest::audio().prompt("a bell"));
    let player = app.world_mut().spawn(AudioPlayer(handle.clone())).id();
    // No placeholder sound by default: the player waits on an empty handle and starts on arrival.
    assert!(
        app.world()
            .resource::<Assets<AudioSource>>()
            .get(&handle)
            .is_none()
    );

    update_until(&mut app, "the sound arrives", |app| {
        app.world()
            .resource::<Assets<AudioSource>>()
            .get(&handle)
            .is_some()
    });
    let held = &app.world().get::<AudioPlayer>(player).unwrap().0;
    let sound = app
        .world()
        .resource::<Assets<AudioSource>>()
        .get(held)
        .unwrap();
    assert_eq!(&sound.bytes[..], &wav(2205)[..]);
    assert_eq!(source.calls(), 1);
}

#[test]
fn a_hundred_identical_requests_in_one_frame_make_one_generator_call() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 16,
        height: 16,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    collect::<AssetReady>(&mut app);
    app.update();
    let request = AssetRequest::image().scene("harbor").choice("sail").seed(7);
    let entities: Vec<Entity> = (0..100)
        .map(|_| app.world_mut().spawn(request.clone()).id())
        .collect();
    update_until(&mut app, "all 100 complete", |app| {
        entities
            .iter()
            .all(|&e| task(app, e).status() == TaskStatus::Completed)
    });
    assert_eq!(source.calls(), 1);
    let handle = task(&app, entities[0]).handle().clone();
    assert!(entities.iter().all(|&e| *task(&app, e).handle() == handle));
    assert_eq!(collected::<AssetReady>(&app).len(), 100);
    let stats = app.world().resource::<AssetProvider>().stats().clone();
    assert_eq!((stats.requests, stats.jobs, stats.joined), (100, 1, 99));

    // Later identical requests are answered from memory on the frame.
    let late = app.world_mut().spawn(request).id();
    assert_eq!(task(&app, late).status(), TaskStatus::Completed);
    assert_eq!(task(&app, late).source(), Some(SourceKind::Cached));
    assert_eq!(source.calls(), 1);
}

#[test]
fn strategy_always_is_never_joined_nor_served_from_memory() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 8,
        height: 8,
    });
    let mut app = headless_app(plugin_with(source.clone()));
    app.update();
    let request = AssetRequest::image()
        .prompt("weather")
        .strategy(CachingStrategy::Always);
    let a = app.world_mut().spawn(request.clone()).id();
    let b = app.world_mut().spawn(request.clone()).id();
    assert_ne!(task(&app, a).handle(), task(&app, b).handle());
    update_until(&mut app, "both complete", |app| {
        [a, b]
            .iter()
            .all(|&e| task(app, e).status() == TaskStatus::Completed)
    });
    let c = app.world_mut().spawn(request).id();
    assert_eq!(task(&app, c).status(), TaskStatus::Pending);
    until_status(&mut app, c, TaskStatus::Completed);
    assert_eq!(source.calls(), 3);
}

#[test]
fn a_generator_error_fails_the_task_with_a_message_and_keeps_the_placeholder() {
    let source = FakeGenerator::new(Behaviour::Fail(AssetError::new(
        AssetErrorKind::Rejected,
        "content_prompt_rejected: the prompt was refused",
    )));
    let mut app = headless_app(plugin_with(source));
    collect::<AssetFailed>(&mut app);
    app.update();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("something refused"))
        .id();
    let handle = task(&app, entity).handle().image().unwrap().clone();
    until_status(&mut app, entity, TaskStatus::Failed);
    let failed = task(&app, entity);
    assert_eq!(failed.error().unwrap().kind(), AssetErrorKind::Rejected);
    assert!(
        failed
            .error()
            .unwrap()
            .message()
            .contains("content_prompt_rejected")
    );
    assert_eq!(image_size(&app, &handle), Some(PLACEHOLDER_SIZE));
    app.update();
    let messages = collected::<AssetFailed>(&app);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].status, TaskStatus::Failed);
    assert_eq!(messages[0].entity, Some(entity));
    assert_eq!(app.world().resource::<AssetProvider>().stats().failed, 1);
}

#[test]
fn bytes_that_do_not_decode_fail_the_task_and_keep_the_placeholder() {
    let source = FakeGenerator::new(Behaviour::Garbage);
    let mut app = headless_app(plugin_with(source));
    app.update();
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("x"))
        .id();
    let handle = task(&app, entity).handle().image().unwrap().clone();
    until_status(&mut app, entity, TaskStatus::Failed);
    let error = task(&app, entity).error().unwrap().clone();
    assert_eq!(error.kind(), AssetErrorKind::Decode);
    assert!(error.message().contains("did not decode"), "{error}");
    assert_eq!(image_size(&app, &handle), Some(PLACEHOLDER_SIZE));
    // A failed result is not remembered: the next identical request tries again.
    let again = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("x"))
        .id();
    assert_eq!(task(&app, again).status(), TaskStatus::Pending);
}

#[test]
fn exceeding_max_wait_times_out() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source));
    collect::<AssetFailed>(&mut app);
    app.update();
    let entity = app
        .world_mut()
        .spawn(
            AssetRequest::image()
                .prompt("slow")
                .max_wait(Duration::from_millis(50)),
        )
        .id();
    until_status(&mut app, entity, TaskStatus::TimedOut);
    assert_eq!(
        task(&app, entity).error().unwrap().kind(),
        AssetErrorKind::TimedOut
    );
    app.update();
    assert_eq!(
        collected::<AssetFailed>(&app)[0].status,
        TaskStatus::TimedOut
    );
    assert_eq!(app.world().resource::<AssetProvider>().stats().timed_out, 1);
}

#[test]
fn despawning_the_last_holder_cancels_the_job_but_a_shared_one_keeps_running() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    collect::<AssetCancelled>(&mut app);
    app.update();
    let request = AssetRequest::image().prompt("a long job");
    let a = app.world_mut().spawn(request.clone()).id();
    let b = app.world_mut().spawn(request).id();
    let key = task(&app, a).key();
    update_until(&mut app, "the source is working", |_| source.calls() == 1);

    app.world_mut().despawn(a);
    app.update();
    assert!(
        collected::<AssetCancelled>(&app).is_empty(),
        "b still holds it"
    );
    assert_eq!(task(&app, b).status(), TaskStatus::Processing);

    app.world_mut().despawn(b);
    update_until(&mut app, "the source hears of the cancellation", |_| {
        source.cancelled() == vec![key]
    });
    let cancelled = collected::<AssetCancelled>(&app);
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0].key, key);
    let provider = app.world().resource::<AssetProvider>();
    assert_eq!(provider.in_flight(), 0);
    assert_eq!(provider.stats().cancelled, 1);
}

#[test]
fn request_messages_spawn_tasks() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(plugin_with(source));
    collect::<AssetRequested>(&mut app);
    collect::<AssetReady>(&mut app);
    app.update();
    app.world_mut()
        .write_message(RequestAsset(AssetRequest::image().scene("s").choice("c")));
    app.update();
    let requested = collected::<AssetRequested>(&app);
    assert_eq!(requested.len(), 1);
    let entity = requested[0].entity.expect("message requests get an entity");
    assert_eq!(requested[0].scene_id.as_deref(), Some("s"));
    assert_eq!(requested[0].choice_id.as_deref(), Some("c"));
    until_status(&mut app, entity, TaskStatus::Completed);
}

#[test]
fn scoped_strategies_give_each_playthrough_and_player_its_own_key() {
    let mut app = headless_app(plugin_with(FakeGenerator::new(Behaviour::Stall)));
    app.update();
    let keys = |app: &App| {
        let provider = app.world().resource::<AssetProvider>();
        [
            CachingStrategy::Once,
            CachingStrategy::PerPlaythrough,
            CachingStrategy::PerPlayer,
        ]
        .map(|strategy| provider.key_for(&AssetRequest::image().scene("x").strategy(strategy)))
    };
    let before = keys(&app);
    app.world_mut()
        .resource_mut::<AssetProvider>()
        .set_session(PlaySession::new("pt-2", "local"));
    app.update();
    let new_playthrough = keys(&app);
    app.world_mut()
        .resource_mut::<AssetProvider>()
        .set_session(PlaySession::new("pt-2", "p-9"));
    app.update();
    let new_player = keys(&app);

    assert_eq!(before[0], new_playthrough[0]);
    assert_eq!(new_playthrough[0], new_player[0]);
    assert_ne!(before[1], new_playthrough[1]);
    assert_eq!(new_playthrough[1], new_player[1]);
    assert_eq!(before[2], new_playthrough[2]);
    assert_ne!(new_playthrough[2], new_player[2]);
}

#[test]
fn the_provider_answers_get_is_available_and_status() {
    let gate = gate();
    let source = FakeGenerator::new(Behaviour::Gated {
        gate: gate.clone(),
        width: 8,
        height: 8,
    });
    let mut app = headless_app(plugin_with(source));
    app.update();
    let request = AssetRequest::image().scene("lookout");
    let mut provider = app.world_mut().resource_mut::<AssetProvider>();
    let key = provider.key_for(&request);
    assert_eq!(provider.status(&key), None);
    let handle = provider.request(request.clone());
    assert_eq!(provider.status(&key), Some(TaskStatus::Pending));
    assert!(!provider.is_available(&request));
    assert!(provider.get(&key).is_none());

    gate.add_permits(1);
    update_until(&mut app, "the request completes", |app| {
        app.world().resource::<AssetProvider>().get(&key).is_some()
    });
    let provider = app.world().resource::<AssetProvider>();
    assert_eq!(provider.get(&key), Some(handle));
    assert!(provider.is_available(&request));
    assert_eq!(provider.status(&key), Some(TaskStatus::Completed));
    assert_eq!(provider.stats().generated, 1);
}

#[test]
fn cancelling_a_direct_request_stops_its_job() {
    let source = FakeGenerator::new(Behaviour::Stall);
    let mut app = headless_app(plugin_with(source.clone()));
    app.update();
    let request = AssetRequest::image().scene("far away");
    let key = {
        let mut provider = app.world_mut().resource_mut::<AssetProvider>();
        let _ = provider.request(request.clone());
        provider.key_for(&request)
    };
    update_until(&mut app, "the source is working", |_| source.calls() == 1);
    assert!(app.world_mut().resource_mut::<AssetProvider>().cancel(&key));
    update_until(&mut app, "the source hears of it", |_| {
        source.cancelled() == vec![key]
    });
    assert_eq!(app.world().resource::<AssetProvider>().in_flight(), 0);
    assert!(!app.world_mut().resource_mut::<AssetProvider>().cancel(&key));
}

#[test]
fn the_memory_tier_forgets_the_least_recently_used_first() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = headless_app(plugin_with(source.clone()).with_memory_capacity(2));
    app.update();
    let requests = ["a", "b", "c"].map(|scene| AssetRequest::image().scene(scene));
    let complete = |app: &mut App, request: &AssetRequest| {
        let entity = app.world_mut().spawn(request.clone()).id();
        until_status(app, entity, TaskStatus::Completed);
    };
    complete(&mut app, &requests[0]);
    complete(&mut app, &requests[1]);
    // Using `a` again makes `b` the least recently used.
    complete(&mut app, &requests[0]);
    complete(&mut app, &requests[2]);
    let provider = app.world().resource::<AssetProvider>();
    assert!(provider.is_available(&requests[0]));
    assert!(!provider.is_available(&requests[1]));
    assert!(provider.is_available(&requests[2]));
    assert_eq!(source.calls(), 3);
    assert_eq!(provider.stats().memory_hits, 1);
}

#[test]
fn analytics_follow_a_request_from_requested_to_played_as_messages_and_events() {
    let generator = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = headless_app(plugin_with(generator));
    collect::<AnalyticsEvent>(&mut app);
    app.init_resource::<Observed>().add_observer(
        |event: On<AnalyticsEvent>, mut seen: ResMut<Observed>| {
            seen.0.push(event.kind);
        },
    );
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("a kite"))
        .id();
    until_status(&mut app, entity, TaskStatus::Completed);
    let key = task(&app, entity).key();
    app.world_mut().write_message(AssetPlayed {
        key,
        kind: MediaKind::Image,
    });
    app.update();
    // The same request again is a memory hit.
    app.world_mut()
        .spawn(AssetRequest::image().prompt("a kite"));
    for _ in 0..3 {
        app.update();
    }
    let kinds: Vec<AnalyticsKind> = collected::<AnalyticsEvent>(&app)
        .iter()
        .map(|event| event.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            AnalyticsKind::Requested,
            AnalyticsKind::GenerationStarted,
            AnalyticsKind::Completed,
            AnalyticsKind::Played,
            AnalyticsKind::Requested,
            AnalyticsKind::ServedFromCache,
        ]
    );
    let memory_hit = &collected::<AnalyticsEvent>(&app)[5];
    assert_eq!(
        memory_hit.tier,
        Some(bevy_asset_provider::observe::CacheTier::Memory)
    );
    assert_eq!(app.world().resource::<Observed>().0, kinds);
}

#[derive(Resource, Default)]
struct Observed(Vec<AnalyticsKind>);

/// The latest value of the diagnostic at `path`.
fn diagnostic(app: &App, path: &bevy::diagnostic::DiagnosticPath) -> Option<f64> {
    app.world()
        .resource::<bevy::diagnostic::DiagnosticsStore>()
        .get(path)
        .and_then(|diagnostic| diagnostic.value())
}

#[test]
fn the_spend_cap_refuses_the_players_third_generation_and_counts_only_generations() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(
        plugin_with(source.clone()).with_spend_cap(SpendCap::default().max_per_session(2)),
    );
    app.update();
    // A prefetch is not the player's: it has its own budget.
    let ahead = app
        .world_mut()
        .resource_mut::<AssetProvider>()
        .prefetch(AssetRequest::image().prompt("ahead of the player"));
    update_until(&mut app, "the prefetch is generated", |app| {
        app.world()
            .resource::<AssetProvider>()
            .prefetch_status(&ahead)
            == Some(TaskStatus::Completed)
    });
    // Two holders of one job: one generation.
    let first = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("first"))
        .id();
    let joined = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("first"))
        .id();
    until_status(&mut app, first, TaskStatus::Completed);
    until_status(&mut app, joined, TaskStatus::Completed);
    let second = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("second"))
        .id();
    until_status(&mut app, second, TaskStatus::Completed);
    let third = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("third"))
        .id();
    until_status(&mut app, third, TaskStatus::Failed);
    let error = task(&app, third).error().cloned().expect("an error");
    assert_eq!(error.kind(), AssetErrorKind::SpendCapReached);
    assert!(
        error.message().contains("2 generations per play session"),
        "{error}"
    );
    assert_eq!(
        source.calls(),
        3,
        "the prefetch, first and second; the third asked no generator"
    );

    // A cached repeat costs nothing and still works.
    let repeat = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("first"))
        .id();
    assert_eq!(task(&app, repeat).status(), TaskStatus::Completed);
    app.update();
    assert_eq!(
        app.world().resource::<AssetProvider>().player_generations(),
        2
    );
    assert_eq!(
        diagnostic(&app, &AssetProviderDiagnostics::PLAYER_GENERATIONS),
        Some(2.0)
    );

    // A new play session starts a new count.
    app.world_mut()
        .resource_mut::<AssetProvider>()
        .set_session(PlaySession::new("second playthrough", "player"));
    let fourth = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("fourth"))
        .id();
    until_status(&mut app, fourth, TaskStatus::Completed);
    assert_eq!(
        app.world().resource::<AssetProvider>().player_generations(),
        1
    );
}

#[test]
fn the_per_minute_spend_cap_refuses_a_burst() {
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    });
    let mut app = headless_app(
        plugin_with(source.clone()).with_spend_cap(SpendCap::default().max_per_minute(1)),
    );
    app.update();
    let first = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("one"))
        .id();
    until_status(&mut app, first, TaskStatus::Completed);
    let second = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("two"))
        .id();
    until_status(&mut app, second, TaskStatus::Failed);
    let error = task(&app, second).error().cloned().expect("an error");
    assert_eq!(error.kind(), AssetErrorKind::SpendCapReached);
    assert!(error.message().contains("per minute"), "{error}");
    assert_eq!(source.calls(), 1);
}

#[test]
fn the_plugin_group_runs_without_the_add_ons_a_game_disables() {
    use bevy_asset_provider::AssetProviderPlugins;
    use bevy_asset_provider::observe::ObservePlugin;
    use bevy_asset_provider::prediction::{PredictionPlugin, PredictionState};
    use bevy_asset_provider::scene::ScenePlugin;
    let source = FakeGenerator::new(Behaviour::Serve {
        width: 2,
        height: 2,
    });
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(
            AssetProviderPlugins::from(plugin_with(source.clone()))
                .build()
                .disable::<ObservePlugin>()
                .disable::<ScenePlugin>()
                .disable::<PredictionPlugin>(),
        );
    app.finish();
    app.cleanup();
    assert!(!app.is_plugin_added::<ScenePlugin>());
    assert!(app.world().get_resource::<PredictionState>().is_none());
    let entity = app
        .world_mut()
        .spawn(AssetRequest::image().prompt("core only"))
        .id();
    until_status(&mut app, entity, TaskStatus::Completed);
    assert_eq!(source.calls(), 1);
}
