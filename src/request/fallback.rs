//! What a request shows while its real media is on its way, when the game names something
//! better than the bare placeholder: [`Fallback`].

use bevy::prelude::*;

/// A picture to show behind a request's handle until its real media arrives, chosen by the
/// game with [`AssetRequest::fallback`](crate::AssetRequest::fallback).
///
/// Only image and video requests (whose handle is an image handle) show a fallback; an audio
/// request ignores it. The fallback is not part of the request's
/// [`RequestKey`](crate::RequestKey): two requests that differ only in their fallback ask for
/// the same media and share one job.
///
/// While the request waits, a copy of the fallback's pixels is behind the request's handle, so
/// every sprite, UI image or video player holding the handle shows it; the real media replaces
/// it behind the same handle, as it replaces the placeholder. When the fallback is not there
/// yet (a handle still loading, no pre-made picture loaded), the bare placeholder shows, and the
/// fallback goes behind the handle when it loads while the request still waits. A request that
/// fails, times out or is cancelled keeps showing what it showed: its fallback, if it had one by
/// then.
///
/// Time spent on the fallback and on the bare placeholder is measured apart (see
/// [`ProviderStats`](crate::ProviderStats) and
/// [`AssetProviderDiagnostics`](crate::observe::AssetProviderDiagnostics)).
///
/// ```
/// # use bevy::prelude::*;
/// # use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::Fallback;
/// # let previous: Handle<Image> = Handle::default();
/// // The picture the player looked at before, until the new one arrives.
/// let next = AssetRequest::image().scene("harbor").fallback(Fallback::Image(previous));
/// // A still picture from the game's pre-made assets for a clip being generated.
/// let clip = AssetRequest::video()
///     .scene("storm")
///     .fallback(Fallback::pre_made_tags(["loc:harbor", "weather:storm"]));
/// ```
#[derive(Clone, Debug, PartialEq, Reflect)]
pub enum Fallback {
    /// An image the game already has: the previous node's picture, a still for a video, a
    /// loading card. Shown once it is loaded in `Assets<Image>` with its pixels in the main
    /// world (an image kept only for the GPU cannot be copied, and the placeholder stays).
    Image(Handle<Image>),
    /// A picture from the game's pre-made assets: among the image entries of the pre-made
    /// manifests read through the app's asset server (see
    /// [`PreMadeSource`](crate::source::PreMadeSource)), the one whose tags score best against
    /// these tags, as pre-made files are scored for requests
    /// ([`scoring`](crate::source::scoring): each tag given is a required tag, the first
    /// `role:` tag the wanted role). It is looked up on the frame in the manifests already
    /// loaded (nothing is read then) and its file is loaded through the app's `AssetServer`
    /// (which needs an image loader, as Bevy's render plugins register). No entry scoring above
    /// 0, or no manifest loaded yet: the bare placeholder shows.
    PreMadeTags(Vec<String>),
}

impl Fallback {
    /// [`Fallback::PreMadeTags`] from any list of tags.
    #[must_use]
    pub fn pre_made_tags<I, S>(tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::PreMadeTags(tags.into_iter().map(Into::into).collect())
    }
}
