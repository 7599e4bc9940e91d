//! What joins a pre-made source on the provider's runtime to the system that hears the app's
//! asset server on the frame.

use std::sync::{Arc, OnceLock};

use bevy::prelude::*;
use tokio::sync::watch;

use super::manifest::PreMadeManifest;
use crate::error::AssetError;

/// What a source served through the app's asset server reads from: the server (its readers,
/// set when the plugin finishes) and the manifest as the server last loaded it. Shared between
/// the source (on the provider's runtime) and the system that hears the asset server (on the
/// frame).
#[derive(Debug)]
pub(crate) struct AppLink {
    server: OnceLock<AssetServer>,
    /// `None` until the asset server's first load of the manifest ends.
    manifest: watch::Sender<Option<Result<Arc<PreMadeManifest>, AssetError>>>,
}

impl Default for AppLink {
    fn default() -> Self {
        Self {
            server: OnceLock::new(),
            manifest: watch::Sender::new(None),
        }
    }
}

impl AppLink {
    /// Hands the app's asset server over; `false` when it was handed over already (the same
    /// source twice in the chain).
    pub(super) fn set_server(&self, server: AssetServer) -> bool {
        self.server.set(server).is_ok()
    }

    /// The app's asset server, once the plugin has handed it over.
    pub(crate) fn server(&self) -> Option<&AssetServer> {
        self.server.get()
    }

    /// The manifest as the asset server loaded it: waits for its first load to end (on the
    /// frame, a few frames at most), then the newest good version, or what its first load
    /// failed with.
    pub(crate) async fn manifest(&self) -> Result<Arc<PreMadeManifest>, AssetError> {
        let mut updates = self.manifest.subscribe();
        match updates.wait_for(Option::is_some).await {
            Ok(state) => state
                .clone()
                .unwrap_or_else(|| unreachable!("waited for Some")),
            // The sender lives in `self`: it cannot have closed while borrowed.
            Err(_) => Err(AssetError::io(
                "pre-made manifest: the asset server went away",
            )),
        }
    }

    /// The newest good version, if one has loaded.
    pub(super) fn newest(&self) -> Option<Arc<PreMadeManifest>> {
        self.manifest
            .borrow()
            .as_ref()
            .and_then(|state| state.clone().ok())
    }

    pub(super) fn set(&self, state: Result<Arc<PreMadeManifest>, AssetError>) {
        self.manifest.send_replace(Some(state));
    }
}
