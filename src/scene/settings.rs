//! What a game chooses for the scene add-on: [`SceneSettings`], with the [`SceneFallback`] a
//! node's picture shows while it waits; and the picture the scene last showed, which
//! [`SceneFallback::PreviousPicture`] shows.

use bevy::prelude::*;

use crate::request::Fallback;

/// What a node's picture (an image or video request) shows while its real media is on its way,
/// when the scene add-on requests it. See [`Fallback`] for how a fallback is shown and measured.
#[derive(Clone, Debug, Default, PartialEq, Reflect)]
pub enum SceneFallback {
    /// The bare placeholder, as requests without a fallback show.
    #[default]
    None,
    /// The picture the scene last showed: the newest picture (image or video request) of a
    /// node whose real media arrived while the player was there; when the player left a node
    /// before its picture arrived, the one before, which that node showed as its fallback. The
    /// story's first picture has none, and shows the placeholder.
    PreviousPicture,
    /// A pre-made picture by tags ([`Fallback::PreMadeTags`]).
    PreMadeTags(Vec<String>),
}

/// The scene add-on's settings, a resource: insert your own before or after adding the plugin,
/// or change it while the game runs (it applies to the nodes entered afterwards).
///
/// ```no_run
/// # use bevy::prelude::*;
/// use bevy_asset_provider::scene::{SceneFallback, SceneSettings};
///
/// App::new().insert_resource(SceneSettings::default().with_fallback(SceneFallback::PreviousPicture));
/// ```
#[derive(Resource, Clone, Debug, Default, PartialEq, Reflect)]
#[reflect(Resource, Debug, Default)]
pub struct SceneSettings {
    fallback: SceneFallback,
}

impl SceneSettings {
    /// Shows `fallback` on a node's picture while it waits (the default is
    /// [`SceneFallback::None`]).
    #[must_use]
    pub fn with_fallback(mut self, fallback: SceneFallback) -> Self {
        self.fallback = fallback;
        self
    }

    /// What a node's picture shows while it waits.
    pub fn fallback(&self) -> &SceneFallback {
        &self.fallback
    }

    /// The request fallback for a node's picture, given the picture the scene last showed.
    pub(crate) fn picture_fallback(&self, previous: Option<&Handle<Image>>) -> Option<Fallback> {
        match &self.fallback {
            SceneFallback::None => None,
            SceneFallback::PreviousPicture => previous.cloned().map(Fallback::Image),
            SceneFallback::PreMadeTags(tags) => Some(Fallback::PreMadeTags(tags.clone())),
        }
    }
}

/// The picture the scene last showed: the handle of the newest scene picture whose real media
/// arrived (kept by the provider's systems, which hear of results).
#[derive(Resource, Default)]
pub(crate) struct LastScenePicture(pub(crate) Option<Handle<Image>>);
