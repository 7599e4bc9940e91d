//! The chain the bake resolves through, configured as the scene player configures the game's:
//! a backend (a real one, or a loopback dev backend started here) or the embedded generator.

use std::path::PathBuf;
use std::time::Duration;

use bevy_asset_provider::backend::{PixSimConfig, PixSimSource};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::SceneGraph;
use bevy_asset_provider::source::LocalGenerator;
use pixsim_dev::DevBackend;

use crate::cli::Options;

/// The game's plugin configuration, and the dev backend when this process runs one.
pub struct Chain {
    pub plugin: AssetProviderPlugin,
    pub backend: Option<PixSimSource>,
    pub description: String,
    /// Kept alive for the bake.
    _dev: Option<DevBackend>,
}

pub fn chain(options: &Options) -> Result<Chain, String> {
    // The scene player's game name: the bake reuses what it generated.
    let plugin = AssetProviderPlugin::new()
        .with_game_name("The Lighthouse Keeper")
        .with_default_timeout(Duration::from_secs(300));
    let plugin = match (&options.cache_dir, options.no_disk_cache) {
        (_, true) => plugin.without_disk_cache(),
        (Some(dir), false) => plugin.with_disk_cache_dir(dir),
        (None, false) => plugin,
    };
    let from_env = std::env::var_os("PIXSIM_URL").is_some_and(|url| !url.is_empty());
    let backend = options.backend.clone().unwrap_or_else(|| {
        if from_env {
            "env".into()
        } else {
            "local".into()
        }
    });
    if options.token.is_some() && matches!(backend.as_str(), "local" | "dev" | "env") {
        return Err("--token goes with --backend URL".into());
    }
    let (builder, dev, description) = match backend.as_str() {
        "local" => {
            let plugin = plugin.with_source(
                LocalGenerator::new()
                    .latency(Duration::ZERO)
                    .video_size(480, 270),
            );
            return Ok(Chain {
                plugin,
                backend: None,
                description: "the embedded generator".into(),
                _dev: None,
            });
        }
        "dev" => {
            let dev = DevBackend::builder()
                .image_size(480, 270)
                .video_size(480, 270)
                .spawn()
                .map_err(|error| format!("could not start the dev backend: {error}"))?;
            // The real service's 20 creates a minute would hold a loopback bake for a minute.
            let builder = PixSimSource::builder(dev.base_url())
                .token(dev.token())
                .source_id("pixsim-dev")
                .max_creates_per_minute(600);
            let description = format!("the dev backend {}", dev.base_url());
            (builder, Some(dev), description)
        }
        "env" => {
            let config = PixSimConfig::from_env().map_err(|error| error.to_string())?;
            let builder = config.builder().map_err(|error| error.to_string())?;
            (builder, None, "the backend of PIXSIM_URL".to_owned())
        }
        url => {
            let mut config = PixSimConfig::from_env().map_err(|error| error.to_string())?;
            config.url = Some(url.to_owned());
            if let Some(token) = &options.token {
                config = config.token(token.clone());
            }
            let builder = config.builder().map_err(|error| error.to_string())?;
            (builder, None, format!("the backend {url}"))
        }
    };
    let backend = builder.build().map_err(|error| error.to_string())?;
    Ok(Chain {
        plugin: plugin.with_backend(backend.clone()),
        backend: Some(backend),
        description,
        _dev: dev,
    })
}

/// The story to bake: a backend's scene, a scene file, or the bundled story.
pub async fn story(options: &Options, chain: &Chain) -> Result<SceneGraph, String> {
    if let Some(id) = &options.scene {
        let backend = chain
            .backend
            .as_ref()
            .ok_or("--scene bakes a backend's scene; it needs --backend")?;
        return SceneGraph::from_backend(backend, id)
            .await
            .map_err(|error| format!("scene {id:?}: {error}"));
    }
    let path = options.scene_file.clone().unwrap_or_else(|| {
        options
            .assets
            .join(PathBuf::from("story/lighthouse.scene.json"))
    });
    let bytes = std::fs::read(&path)
        .map_err(|error| format!("scene file {}: cannot read: {error}", path.display()))?;
    SceneGraph::from_json(&bytes, &path.display().to_string()).map_err(|error| error.to_string())
}
