//! Pre-made pictures found by tags on the frame, for requests that fall back to one: looked up
//! in the manifests the app's asset server has loaded, and loaded through it.

use std::any::Any;
use std::sync::Arc;

use bevy::asset::AssetPath;
use bevy::asset::io::AssetSourceId;
use bevy::prelude::*;

use super::link::AppLink;
use super::source::PreMadeSource;
use crate::request::MediaKind;
use crate::source::AssetSource;

/// The chain's pre-made sources, as far as the frame can see them: their manifests as the
/// app's asset server last loaded them.
#[derive(Default)]
pub(crate) struct PreMadeStills {
    /// Each source's link and the asset source its manifest's paths are in.
    sources: Vec<(Arc<AppLink>, AssetSourceId<'static>)>,
}

impl PreMadeStills {
    /// The pre-made sources among `sources` (a source inside a wrapper is not seen).
    pub fn for_sources(sources: &[Arc<dyn AssetSource>]) -> Self {
        let sources = sources
            .iter()
            .filter_map(|source| (source.as_ref() as &dyn Any).downcast_ref::<PreMadeSource>())
            .map(|premade| {
                (
                    premade.link.clone(),
                    premade.manifest.source().clone_owned(),
                )
            })
            .collect();
        Self { sources }
    }

    /// The picture whose tags score best against `tags` in the first manifest (in chain order)
    /// that has one, loaded through the app's asset server. `None` when no source is served
    /// through the app, no manifest has loaded yet, or nothing matches. Reads nothing: the
    /// manifest is in memory, and the asset server loads the file on its own tasks.
    pub fn find(&self, tags: &[String]) -> Option<Handle<Image>> {
        self.sources.iter().find_map(|(link, source)| {
            let server = link.server()?;
            let manifest = link.newest()?;
            let entry = manifest.find_by_tags(MediaKind::Image, tags)?;
            let path = AssetPath::from(entry.path.clone()).with_source(source.clone());
            Some(server.load::<Image>(path))
        })
    }
}
