//! Where the media comes from: the dev backend this process starts, a real PixSim7, or the
//! embedded generator alone.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use bevy_asset_provider::DEFAULT_MANIFEST;
use bevy_asset_provider::backend::{PixSimConfig, PixSimSource, PixSimSourceBuilder};
use bevy_asset_provider::prediction::{GenerationTime, Planner, PredictionSettings};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneGraph;
use bevy_asset_provider::source::{
    AssetSource, LocalGenerator, PreMadeSource, Recorder, Recording,
};
use pixsim_dev::{DevBackend, LatencyProfile};

use crate::cli::{Backend, Options};

/// The media sources, and the dev backend when this process runs one (kept alive with the app).
pub fn provider_plugin(
    options: &Options,
) -> Result<
    (
        AssetProviderPlugin,
        Option<DevBackend>,
        Option<PixSimSourceBuilder>,
    ),
    String,
> {
    let plugin = AssetProviderPlugin::new()
        .with_game_name("The Lighthouse Keeper")
        .with_default_timeout(Duration::from_secs(60))
        .with_offline(options.offline);
    if let Some(dir) = &options.replay {
        // Every request reaches the recorded answers, as it reached the backend when recording.
        let recording = Recording::open(dir).map_err(|error| error.to_string())?;
        let replayed = recording
            .sources()
            .into_iter()
            .map(|source| Arc::new(source) as _);
        let plugin = plugin
            .without_disk_cache()
            .with_sources(backend_chain(replayed.collect()));
        return Ok((plugin, None, None));
    }
    let plugin = match (&options.cache_dir, options.disk_cache) {
        // A recording holds only what reaches the backend: nothing may come from the disk tier.
        _ if options.record.is_some() => plugin.without_disk_cache(),
        (_, false) => plugin.without_disk_cache(),
        (Some(dir), true) => plugin.with_disk_cache_dir(dir),
        (None, true) => plugin,
    };
    let (builder, dev) = match &options.backend {
        Backend::Local => {
            let plugin = plugin
                .with_source(PreMadeSource::from_manifest(DEFAULT_MANIFEST))
                .with_source(
                    LocalGenerator::new()
                        .latency(options.latency)
                        .video_size(480, 270),
                );
            return Ok((plugin, None, None));
        }
        Backend::Dev | Backend::DevReal => {
            let (dev, id) = if options.backend == Backend::DevReal {
                (DevBackend::like_real_service(), "pixsim-dev-real")
            } else {
                (DevBackend::builder(), "pixsim-dev")
            };
            let dev = dev.job_delays(options.latency / 4, options.latency * 3 / 4);
            let dev = match options.dev_latency {
                Some(profile) => dev.latency_profile(profile),
                None => dev,
            };
            let dev = dev
                .image_size(480, 270)
                .video_size(480, 270)
                .spawn()
                .map_err(|error| format!("could not start the dev backend: {error}"))?;
            // Each run starts its own server on a free port; the disk tier should know it as
            // the same backend, whose media it is.
            let builder = PixSimSource::builder(dev.base_url())
                .token(dev.token())
                .source_id(id);
            (builder, Some(dev))
        }
        Backend::Remote(url) => {
            let mut config = PixSimConfig::from_env().map_err(|error| error.to_string())?;
            config.url = Some(url.clone());
            if let Some(token) = &options.token {
                config = config.token(token.clone());
            }
            (config.builder().map_err(|error| error.to_string())?, None)
        }
    };
    let builder = match &options.provider {
        Some(provider) => builder.provider_id(provider.clone()),
        None => builder,
    };
    let backend = builder.clone().build().map_err(|error| error.to_string())?;
    let plugin = match &options.record {
        Some(dir) => {
            let recorder = Recorder::create(dir).map_err(|error| error.to_string())?;
            let wrap = |source: Arc<dyn AssetSource>| {
                recorder
                    .wrap_shared(source)
                    .map(|source| Arc::new(source) as Arc<dyn AssetSource>)
                    .map_err(|error| error.to_string())
            };
            let recorded = vec![wrap(Arc::new(backend.library()))?, wrap(Arc::new(backend))?];
            plugin.with_sources(backend_chain(recorded))
        }
        None => plugin.with_backend(backend),
    };
    let plugin = match &options.dev_latency {
        Some(profile) => plugin.with_prediction(against_time(profile)),
        None => plugin,
    };
    Ok((plugin, dev, Some(builder)))
}

/// Where generating is slower than reading, prediction plans against time, starting from the
/// backend's times (it then learns its own) and within three prefetches per node reached.
fn against_time(profile: &LatencyProfile) -> PredictionSettings {
    let mut settings = PredictionSettings::default()
        .planner(Planner::AgainstTime)
        .max_per_visited_node(3.0);
    for kind in [MediaKind::Image, MediaKind::Audio, MediaKind::Video] {
        if let Some(time) = profile.get(kind) {
            settings = settings.expect_generation(kind, GenerationTime::new(time.p50, time.p95));
        }
    }
    settings
}

/// The chain `AssetProviderPlugin::with_backend` builds, around the backend's sources (its
/// library and its generations, recorded or replayed).
fn backend_chain(backend: Vec<Arc<dyn AssetSource>>) -> Vec<Arc<dyn AssetSource>> {
    let premade = PreMadeSource::from_manifest(DEFAULT_MANIFEST).optional();
    std::iter::once(Arc::new(premade) as Arc<dyn AssetSource>)
        .chain(backend)
        .chain([Arc::new(LocalGenerator::new().latency(Duration::ZERO)) as Arc<dyn AssetSource>])
        .collect()
}

/// Fetches the backend's scene `id` before the game starts, on a runtime of its own.
pub fn fetch_scene(builder: PixSimSourceBuilder, id: &str) -> Result<SceneGraph, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("could not start a runtime to fetch the scene: {error}"))?;
    let backend = builder.build().map_err(|error| error.to_string())?;
    runtime
        .block_on(SceneGraph::from_backend(&backend, id))
        .map_err(|error| format!("scene {id:?}: {error}"))
}

/// A scene fetched from the backend, played instead of the bundled story.
#[derive(Resource)]
pub struct FetchedScene(pub SceneGraph);

/// The dev backend this process runs, kept for as long as the app.
#[derive(Resource)]
pub struct InProcessBackend(pub DevBackend);
