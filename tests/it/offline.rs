//! Offline mode: nothing generated, no network source asked; what the disk tier holds (whoever
//! made it) and pre-made files are served, and anything else keeps its placeholder with an error
//! that names the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
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
