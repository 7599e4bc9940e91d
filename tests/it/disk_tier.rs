//! The disk tier inside the plugin: results survive a restart, scopes and expiry hold, damaged
//! files are never served, and a job submitted before a crash is followed, not paid for again.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::common::*;
use bevy::prelude::*;
use bevy_asset_provider::backend::PixSimSource;
use bevy_asset_provider::cache::DiskCacheConfig;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use pixsim_dev::{DevBackend, DevBackendBuilder};

fn backend() -> DevBackendBuilder {
    DevBackend::builder().job_delays(Duration::from_millis(5), Duration::from_millis(20))
}

fn fast_client(dev: &DevBackend) -> PixSimSource {
    client(dev)
        .poll_interval(Duration::from_millis(20), Duration::from_millis(200))
        // One backend as far as the disk tier knows, though each test server has its own port.
        .source_id("story-backend")
        .build()
        .unwrap()
}

/// Requests everything in `requests` as entities and steps until all have ended.
fn run_all(app: &mut App, requests: &[AssetRequest]) -> Vec<GenerationTask> {
    let entities: Vec<Entity> = requests
        .iter()
        .map(|request| app.world_mut().spawn(request.clone()).id())
        .collect();
    update_until(app, "every request ends", |app| {
        entities
            .iter()
            .all(|e| task(app, *e).status().is_terminal())
    });
    entities.iter().map(|e| task(app, *e)).collect()
}

fn app_with(plugin: AssetProviderPlugin, session: PlaySession) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(plugin.with_session(session));
    app.finish();
    app.cleanup();
    app.update();
    app
}

/// The media of the example's scripted path (harbour, boat, landing, stairs).
fn story_path_requests() -> Vec<AssetRequest> {
    let graph = SceneGraph::from_json(
        include_bytes!("../../assets/story/lighthouse.scene.json"),
        "lighthouse.scene.json",
    )
    .unwrap();
    let mut requests = graph.node_media(&graph.start_node_id, None);
    let mut at = graph.start_node_id.clone();
    for pick in [1, 2, 1] {
        let edge = graph.choices(&at).nth(pick - 1).unwrap().clone();
        requests.extend(graph.node_media(&edge.to, Some(&edge)));
        at = edge.to.clone();
    }
    requests
}

#[test]
fn a_second_run_of_the_story_path_is_served_from_disk_with_no_creates() {
    let dir = TempDir::new("second-run");
    let requests = story_path_requests();
    let first = backend().spawn().unwrap();
    {
        let plugin = AssetProviderPlugin::new()
            .with_backend(fast_client(&first))
            .with_disk_cache_dir(dir.path());
        let mut app = app_with(plugin, PlaySession::default());
        for done in run_all(&mut app, &requests) {
            assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
        }
    }
    assert!(first.stats().creates > 0);

    let second = backend().spawn().unwrap();
    let plugin = AssetProviderPlugin::new()
        .with_backend(fast_client(&second))
        .with_disk_cache_dir(dir.path());
    let mut app = app_with(plugin, PlaySession::default());
    for done in run_all(&mut app, &requests) {
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
        // Pre-made files are read from the game's assets; everything else from the disk tier.
        assert_ne!(
            done.source(),
            Some(SourceKind::Generated),
            "{:?}",
            done.origin()
        );
    }
    let stats = second.stats();
    assert_eq!((stats.creates, stats.downloads), (0, 0), "{stats:?}");
    let disk = app
        .world()
        .resource::<AssetProvider>()
        .disk()
        .stats()
        .unwrap();
    assert!(disk.hits >= 4, "{disk:?}");
}

#[test]
fn a_job_submitted_before_a_crash_is_followed_after_restart_not_submitted_again() {
    let dir = TempDir::new("journal");
    // Long enough to stop the game in the middle of the job.
    let dev = DevBackend::builder()
        .job_delays(Duration::from_millis(5), Duration::from_millis(1500))
        .spawn()
        .unwrap();
    let request = AssetRequest::image()
        .scene("harbor")
        .prompt("a ship in the night");
    {
        let plugin = AssetProviderPlugin::new()
            .with_source(fast_client(&dev))
            .with_disk_cache_dir(dir.path());
        let mut app = app_with(plugin, PlaySession::default());
        let entity = app.world_mut().spawn(request.clone()).id();
        // Progress moves past the create once the job is journalled.
        update_until(&mut app, "the job is submitted and journalled", |app| {
            task(app, entity).progress() >= 0.1
        });
        assert_eq!(dev.stats().creates, 1);
        // The game stops here: its runtime and every job in it are dropped.
    }
    assert_eq!(dev.stats().cancels, 0, "stopping the game cancels nothing");

    let plugin = AssetProviderPlugin::new()
        .with_source(fast_client(&dev))
        .with_disk_cache_dir(dir.path());
    let mut app = app_with(plugin, PlaySession::default());
    let done = &run_all(&mut app, std::slice::from_ref(&request))[0];
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    let stats = dev.stats();
    assert_eq!((stats.creates, stats.new_generations), (1, 1), "{stats:?}");
    assert_eq!(
        app.world()
            .resource::<AssetProvider>()
            .disk()
            .resumed_jobs(),
        1
    );
    assert!(
        done.origin().unwrap().starts_with("disk cache"),
        "{:?}",
        done.origin()
    );
}

fn generator_plugin(dir: &TempDir, source: Arc<FakeGenerator>) -> AssetProviderPlugin {
    AssetProviderPlugin::new()
        .with_shared_source(source)
        .with_disk_cache_dir(dir.path())
}

fn serve() -> Arc<FakeGenerator> {
    FakeGenerator::new(Behaviour::Serve {
        width: 4,
        height: 4,
    })
}

#[test]
fn a_playthrough_scope_is_not_served_to_another_playthrough() {
    let dir = TempDir::new("scopes");
    let request = AssetRequest::image()
        .prompt("the park")
        .strategy(CachingStrategy::PerPlaythrough);
    let generator = serve();
    let mut runs = Vec::new();
    for playthrough in ["pt-a", "pt-b", "pt-a"] {
        let session = PlaySession::new(playthrough, "player-1");
        let mut app = app_with(generator_plugin(&dir, generator.clone()), session);
        runs.push(run_all(&mut app, std::slice::from_ref(&request))[0].source());
    }
    assert_eq!(
        runs,
        [
            Some(SourceKind::Generated),
            Some(SourceKind::Generated),
            Some(SourceKind::Cached)
        ]
    );
    assert_eq!(generator.calls(), 2);
}

#[test]
fn a_player_scope_is_never_served_to_another_player() {
    let dir = TempDir::new("players");
    let request = AssetRequest::image()
        .prompt("my hero")
        .strategy(CachingStrategy::PerPlayer);
    let generator = serve();
    let mut runs = Vec::new();
    // A new playthrough of the same player still gets the player's entry.
    for (playthrough, player) in [("pt-1", "anne"), ("pt-2", "bob"), ("pt-3", "anne")] {
        let session = PlaySession::new(playthrough, player);
        let mut app = app_with(generator_plugin(&dir, generator.clone()), session);
        runs.push(run_all(&mut app, std::slice::from_ref(&request))[0].source());
    }
    assert_eq!(
        runs,
        [
            Some(SourceKind::Generated),
            Some(SourceKind::Generated),
            Some(SourceKind::Cached)
        ]
    );
}

#[test]
fn entries_expire_by_their_strategy_under_an_injected_clock() {
    let dir = TempDir::new("expiry");
    let now = Arc::new(Mutex::new(SystemTime::now()));
    let clock = {
        let now = now.clone();
        move || *now.lock().unwrap()
    };
    let request = AssetRequest::image().prompt("the old mill");
    let generator = serve();
    let mut sources = Vec::new();
    for days in [0, 364, 2] {
        *now.lock().unwrap() += Duration::from_secs(days * 24 * 3600);
        let plugin = AssetProviderPlugin::new()
            .with_shared_source(generator.clone())
            .with_disk_cache(DiskCacheConfig::new(dir.path()).clock(clock.clone()));
        let mut app = app_with(plugin, PlaySession::default());
        sources.push(run_all(&mut app, std::slice::from_ref(&request))[0].source());
    }
    // `once` keeps 365 days: still there after 364, gone after 366.
    assert_eq!(
        sources,
        [
            Some(SourceKind::Generated),
            Some(SourceKind::Cached),
            Some(SourceKind::Generated)
        ]
    );
}

#[test]
fn a_damaged_file_is_fetched_again_never_served() {
    let dir = TempDir::new("damaged");
    let request = AssetRequest::image().prompt("the bridge");
    let generator = serve();
    {
        let mut app = app_with(
            generator_plugin(&dir, generator.clone()),
            PlaySession::default(),
        );
        run_all(&mut app, std::slice::from_ref(&request));
    }
    // Flip a byte in every blob.
    let mut damaged = 0;
    for fan_out in std::fs::read_dir(dir.path().join("blobs")).unwrap() {
        for blob in std::fs::read_dir(fan_out.unwrap().path()).unwrap() {
            let path = blob.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[20] ^= 0xFF;
            std::fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert_eq!(damaged, 1);
    let mut app = app_with(
        generator_plugin(&dir, generator.clone()),
        PlaySession::default(),
    );
    let done = &run_all(&mut app, std::slice::from_ref(&request))[0];
    assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    assert_eq!(done.source(), Some(SourceKind::Generated));
    assert_eq!(generator.calls(), 2);
    let disk = app
        .world()
        .resource::<AssetProvider>()
        .disk()
        .stats()
        .unwrap();
    assert_eq!(disk.corrupt_evicted, 1, "{disk:?}");
}

#[test]
fn an_unusable_directory_leaves_the_plugin_memory_only() {
    let dir = TempDir::new("unusable");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let generator = serve();
    let plugin = AssetProviderPlugin::new()
        .with_shared_source(generator.clone())
        .with_disk_cache_dir(file.join("cache"));
    let mut app = app_with(plugin, PlaySession::default());
    let tasks = run_all(
        &mut app,
        &[
            AssetRequest::image().prompt("one"),
            AssetRequest::image().prompt("two"),
        ],
    );
    for done in tasks {
        assert_eq!(done.status(), TaskStatus::Completed, "{:?}", done.error());
    }
    let provider = app.world().resource::<AssetProvider>();
    assert_eq!(provider.disk().stats(), None);
    assert_eq!(generator.calls(), 2);
}

#[test]
fn clearing_a_scope_removes_its_entries() {
    let dir = TempDir::new("clear");
    let request = AssetRequest::image()
        .prompt("the gate")
        .strategy(CachingStrategy::PerPlaythrough);
    let generator = serve();
    let session = PlaySession::new("pt-9", "p");
    {
        let mut app = app_with(generator_plugin(&dir, generator.clone()), session.clone());
        run_all(&mut app, std::slice::from_ref(&request));
    }
    let mut app = app_with(generator_plugin(&dir, generator.clone()), session);
    app.world_mut()
        .resource_mut::<AssetProvider>()
        .disk()
        .clear_playthrough("pt-9");
    let done = &run_all(&mut app, std::slice::from_ref(&request))[0];
    assert_eq!(done.source(), Some(SourceKind::Generated));
    assert_eq!(generator.calls(), 2);
}

#[test]
fn purging_a_source_by_its_name_removes_its_entries_and_leaves_others() {
    use bevy_asset_provider::source::{AssetSource, LocalGenerator};

    let dir = TempDir::new("purge-source");
    let session = PlaySession::new("pt-1", "p");
    let (made_locally, made_by_fake) = (
        AssetRequest::image().prompt("a lighthouse"),
        AssetRequest::image().prompt("a harbour"),
    );
    let local = || {
        LocalGenerator::new()
            .image_size(8, 8)
            .latency(Duration::ZERO)
    };
    // Its identity is not its name: the case the purge must handle.
    assert_ne!(local().id(), local().name());
    let plugin = |sources: Vec<Arc<dyn AssetSource>>| {
        AssetProviderPlugin::new()
            .with_sources(sources)
            .with_disk_cache_dir(dir.path())
    };
    {
        let mut app = app_with(plugin(vec![Arc::new(local())]), session.clone());
        run_all(&mut app, std::slice::from_ref(&made_locally));
    }
    {
        let mut app = app_with(plugin(vec![serve()]), session.clone());
        run_all(&mut app, std::slice::from_ref(&made_by_fake));
    }
    {
        let mut app = app_with(plugin(vec![Arc::new(local()), serve()]), session.clone());
        update_until(&mut app, "the disk tier opens with both entries", |app| {
            let stats = app.world().resource::<AssetProvider>().disk().stats();
            stats.is_some_and(|stats| stats.entries == 2)
        });
        app.world_mut()
            .resource_mut::<AssetProvider>()
            .disk()
            .purge_source("local_generator");
        // The next request waits for the purge; then the disk holds the other source's entry.
        let done = run_all(&mut app, std::slice::from_ref(&made_locally));
        assert_eq!(done[0].source(), Some(SourceKind::Generated));
    }
    // What the disk holds now, as a game that may not generate reads it: each entry served
    // from disk, its origin naming the source that made it.
    let mut app = app_with(plugin(vec![Arc::new(local()), serve()]), session);
    let entries = |app: &App| {
        let provider = app.world().resource::<AssetProvider>();
        provider.disk().stats().map(|stats| stats.entries)
    };
    update_until(&mut app, "the disk tier opens", |app| {
        entries(app).is_some()
    });
    assert_eq!(entries(&app), Some(2));
    let done = run_all(
        &mut app,
        &[
            made_by_fake.allow_generation(false),
            made_locally.allow_generation(false),
        ],
    );
    assert_eq!(done[0].source(), Some(SourceKind::Cached));
    // The other source's entry is kept.
    assert_eq!(done[0].origin(), Some("disk cache (fake_generator)"));
    // Made again after the purge, by the source now asked.
    assert_eq!(done[1].source(), Some(SourceKind::Cached));
    let remade = format!("disk cache ({})", local().id());
    assert_eq!(done[1].origin(), Some(remade.as_str()));
}
