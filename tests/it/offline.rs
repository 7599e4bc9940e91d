//! Offline mode: nothing generated, no network source asked; what the disk tier holds (whoever
//! made it) and pre-made files are served, and anything else keeps its placeholder with an error
//! that names the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};

/// A library behind the network that counts the times it is asked.
#[derive(Default)]
struct NetworkLibrary(AtomicUsize);

#[async_trait]
impl AssetSource for NetworkLibrary {
    fn name(&self) -> &str {
        "network_library"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::PreMade
    }

    fn uses_network(&self) -> bool {
        true
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Some(SourcedMedia::new(
            png(3, 3, [0, 0, 0, 255]),
            "image/png",
            "net",
        )))
    }
}

fn ended(app: &mut App, request: AssetRequest) -> GenerationTask {
    let entity = app.world_mut().spawn(request).id();
    update_until(app, "the request ends", |app| {
        task(app, entity).status().is_terminal()
    });
    task(app, entity)
}

#[test]
fn offline_serves_the_disk_and_names_what_is_missing() {
    let cache = TempDir::new("offline-cache");
    let kept = AssetRequest::image()
        .scene("harbor")
        .prompt("boats at dawn");
    // Online, a generator makes the harbour; the disk tier keeps it.
    let generator = FakeGenerator::new(Behaviour::Serve {
        width: 7,
        height: 5,
    });
    {
        let plugin = AssetProviderPlugin::new()
            .with_disk_cache_dir(cache.path())
            .with_shared_source(generator.clone());
        let mut app = headless_app(plugin);
        let task = ended(&mut app, kept.clone());
        assert_eq!(task.source(), Some(SourceKind::Generated));
    }
    assert_eq!(generator.calls(), 1);

    // Offline, with another generator and a network library in the chain: neither is asked,
    // and the disk serves what the first generator made.
    let library = Arc::new(NetworkLibrary::default());
    let other = FakeGenerator::new(Behaviour::Serve {
        width: 9,
        height: 9,
    });
    let plugin = AssetProviderPlugin::new()
        .with_disk_cache_dir(cache.path())
        .with_memory_capacity(0)
        .with_offline(true)
        .with_shared_source(library.clone())
        .with_shared_source(other.clone());
    assert!(plugin.is_offline());
    let mut app = headless_app(plugin);
    let task = ended(&mut app, kept);
    assert_eq!(task.status(), TaskStatus::Completed);
    assert_eq!(task.source(), Some(SourceKind::Cached));

    for _ in 0..2 {
        let task = ended(
            &mut app,
            AssetRequest::image()
                .scene("cave")
                .choice("swim")
                .prompt("green light"),
        );
        assert_eq!(task.status(), TaskStatus::Failed);
        let error = task.error().unwrap();
        assert_eq!(error.kind(), AssetErrorKind::NoSource);
        assert!(
            error.message().starts_with(
                "offline: no cached or pre-made image media for scene \"cave\" choice \"swim\" \
                 \"green light\" (key "
            ),
            "{error}"
        );
    }
    assert_eq!(other.calls(), 0, "nothing is generated offline");
    assert_eq!(
        library.0.load(Ordering::SeqCst),
        0,
        "no network source is asked"
    );
}

/// A pre-made source that reads nothing from the network but does not say so: it keeps the
/// trait's default for `uses_network`.
#[derive(Default)]
struct UndeclaredLibrary(AtomicUsize);

#[async_trait]
impl AssetSource for UndeclaredLibrary {
    fn name(&self) -> &str {
        "undeclared_library"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::PreMade
    }

    async fn resolve(&self, _: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Some(SourcedMedia::new(
            png(3, 3, [0, 0, 0, 255]),
            "image/png",
            "undeclared",
        )))
    }
}

#[test]
fn offline_a_recorded_network_source_is_never_asked() {
    let dir = TempDir::new("offline-recorded");
    let recorder = bevy_asset_provider::source::Recorder::create(dir.path()).unwrap();
    let library = Arc::new(NetworkLibrary::default());
    let recorded = recorder.wrap_shared(library.clone()).unwrap();
    // Wrapped twice: the outer wrapper still knows.
    let twice = recorder.wrap(recorded).unwrap();
    let says_networked = twice.uses_network();
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_offline(true)
        .with_source(twice);
    let mut app = headless_app(plugin);
    let task = ended(
        &mut app,
        AssetRequest::image().scene("pier").prompt("gulls"),
    );
    assert_eq!(
        library.0.load(Ordering::SeqCst),
        0,
        "offline, a recorded network source reached the network"
    );
    assert_eq!(task.status(), TaskStatus::Failed, "{:?}", task.error());
    assert_eq!(task.error().unwrap().kind(), AssetErrorKind::NoSource);
    assert_eq!(recorder.recorded(), 0);
    assert!(says_networked, "the wrapper says what it wraps");
}

#[test]
fn offline_a_source_that_does_not_say_it_is_local_is_not_asked() {
    let library = Arc::new(UndeclaredLibrary::default());
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_offline(true)
        .with_shared_source(library.clone());
    let mut app = headless_app(plugin);
    let task = ended(
        &mut app,
        AssetRequest::image().scene("pier").prompt("boats"),
    );
    assert_eq!(
        library.0.load(Ordering::SeqCst),
        0,
        "offline, a source that does not say it is local was asked"
    );
    assert_eq!(task.status(), TaskStatus::Failed, "{:?}", task.error());
    assert!(
        library.uses_network(),
        "a source that does not say counts as networked"
    );
}

#[test]
fn offline_a_replay_and_local_files_are_still_served() {
    let dir = TempDir::new("offline-replay");
    let request = AssetRequest::image().scene("pier").prompt("a lantern");
    {
        let recorder = bevy_asset_provider::source::Recorder::create(dir.path()).unwrap();
        let mut app = headless_app(
            AssetProviderPlugin::new().without_disk_cache().with_source(
                recorder
                    .wrap_shared(Arc::new(NetworkLibrary::default()))
                    .unwrap(),
            ),
        );
        assert_eq!(
            ended(&mut app, request.clone()).status(),
            TaskStatus::Completed
        );
    }
    let recording = bevy_asset_provider::source::Recording::open(dir.path()).unwrap();
    let replay = recording.source("network_library").unwrap();
    assert!(!replay.uses_network(), "a replay reads files");
    let mut app = headless_app(
        AssetProviderPlugin::new()
            .without_disk_cache()
            .with_offline(true)
            .with_source(replay),
    );
    let task = ended(&mut app, request);
    assert_eq!(task.status(), TaskStatus::Completed, "{:?}", task.error());
    assert_eq!(task.source(), Some(SourceKind::PreMade));
}
