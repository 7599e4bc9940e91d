//! The asset loaders of generated media: one per asset type, picked by Bevy from the path's
//! extension (`.image`, `.audio`, `.image.json`, `.audio.json`) or the type asked for. They
//! read the description, request it through the provider and return a copy of its media.

use bevy::asset::io::Reader;
use bevy::asset::{AssetLoader, AssetPath, LoadContext};
use bevy::prelude::*;

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

use super::bridge::{CopiedMedia, Orders};
use super::path::{kind_named, parse_gen_path, parse_settings};
use super::source::GEN_SOURCE;
use crate::error::AssetError;
use crate::request::{AssetRequest, MediaKind};

/// The largest description read: a path's text or a settings file.
const MAX_DESCRIPTION: usize = 64 * 1024;

/// Loads `Image`s from `gen://name.image?...` paths and `*.image.json` settings files. Added
/// by [`AssetProviderPlugin`](crate::AssetProviderPlugin); see the [module](super).
#[derive(TypePath)]
#[type_path = "bevy_asset_provider::asset_server"]
pub(crate) struct GeneratedImageLoader {
    orders: Orders,
}

/// Loads `AudioSource`s from `gen://name.audio?...` paths and `*.audio.json` settings files.
/// Added by [`AssetProviderPlugin`](crate::AssetProviderPlugin); see the [module](super).
#[cfg(feature = "audio")]
#[derive(TypePath)]
#[type_path = "bevy_asset_provider::asset_server"]
pub(crate) struct GeneratedAudioLoader {
    orders: Orders,
}

impl GeneratedImageLoader {
    pub(crate) fn new(orders: Orders) -> Self {
        Self { orders }
    }
}

#[cfg(feature = "audio")]
impl GeneratedAudioLoader {
    pub(crate) fn new(orders: Orders) -> Self {
        Self { orders }
    }
}

impl AssetLoader for GeneratedImageLoader {
    type Asset = Image;
    type Settings = ();
    type Error = AssetError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<Image, AssetError> {
        load_generated(&self.orders, reader, load_context).await
    }

    fn extensions(&self) -> &[&str] {
        &["image", "image.json"]
    }
}

#[cfg(feature = "audio")]
impl AssetLoader for GeneratedAudioLoader {
    type Asset = AudioSource;
    type Settings = ();
    type Error = AssetError;

    async fn load(
        &self,
        reader: &mut dyn Reader,
        _settings: &(),
        load_context: &mut LoadContext<'_>,
    ) -> Result<AudioSource, AssetError> {
        load_generated(&self.orders, reader, load_context).await
    }

    fn extensions(&self) -> &[&str] {
        &["audio", "audio.json"]
    }
}

/// What differs between the loaders: the kind of media asked for, and how the asset is taken
/// out of the media the provider answered with.
trait GeneratedAsset: Sized {
    /// The kind of media this asset holds.
    const KIND: MediaKind;

    /// The asset in `media`; an error naming `path` when the provider answered with media of
    /// another kind.
    fn from_media(media: CopiedMedia, path: &AssetPath<'_>) -> Result<Self, AssetError>;
}

impl GeneratedAsset for Image {
    const KIND: MediaKind = MediaKind::Image;

    // Without audio an image is the only media there is.
    #[cfg_attr(not(feature = "audio"), allow(unused_variables))]
    fn from_media(media: CopiedMedia, path: &AssetPath<'_>) -> Result<Self, AssetError> {
        match media {
            CopiedMedia::Image(image) => Ok(*image),
            #[cfg(feature = "audio")]
            CopiedMedia::Audio(_) => Err(AssetError::invalid_data(format!(
                "{path}: a sound came back for an image request"
            ))),
        }
    }
}

#[cfg(feature = "audio")]
impl GeneratedAsset for AudioSource {
    const KIND: MediaKind = MediaKind::Audio;

    fn from_media(media: CopiedMedia, path: &AssetPath<'_>) -> Result<Self, AssetError> {
        match media {
            CopiedMedia::Audio(sound) => Ok(sound),
            CopiedMedia::Image(_) => Err(AssetError::invalid_data(format!(
                "{path}: an image came back for an audio request"
            ))),
        }
    }
}

/// A loader's work: the description read, its request served through the provider, the asset
/// taken out of the answer.
async fn load_generated<A: GeneratedAsset>(
    orders: &Orders,
    reader: &mut dyn Reader,
    load_context: &LoadContext<'_>,
) -> Result<A, AssetError> {
    let request = describe(reader, load_context, A::KIND).await?;
    A::from_media(orders.media(request).await?, load_context.path())
}

/// The request a loader of `kind` was asked for: a `gen://` path's text, or a settings file.
async fn describe(
    reader: &mut dyn Reader,
    load_context: &LoadContext<'_>,
    kind: MediaKind,
) -> Result<AssetRequest, AssetError> {
    let path = load_context.path();
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).await.map_err(|error| {
        AssetError::io(format!("could not read the description: {error}")).with_source(error)
    })?;
    if bytes.len() > MAX_DESCRIPTION {
        return Err(AssetError::invalid_data(format!(
            "the description is {} bytes, over the {MAX_DESCRIPTION} bytes a request is given",
            bytes.len()
        )));
    }
    let settings = path
        .get_full_extension()
        .and_then(|extension| extension.strip_suffix(".json"));
    let request = match settings {
        Some(kind_part) => {
            let named = kind_part.rsplit('.').next().and_then(kind_named);
            if named != Some(kind) {
                return Err(AssetError::invalid_data(format!(
                    "a settings file for {} media is named `*.{}.json`",
                    kind.as_str(),
                    kind.as_str()
                )));
            }
            parse_settings(&bytes, kind)?
        }
        None if path.source().as_str() == Some(GEN_SOURCE) => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| AssetError::invalid_data("the path is not UTF-8 text"))?;
            parse_gen_path(text)?
        }
        None => {
            return Err(AssetError::invalid_data(format!(
                "generated media is described by a {GEN_SOURCE}:// path or a `*.{}.json` \
                 settings file",
                kind.as_str()
            )));
        }
    };
    if request.kind != kind {
        return Err(AssetError::invalid_data(format!(
            "the path asks for {} but was loaded as {} (load it as a Handle<{}>)",
            request.kind.as_str(),
            kind.as_str(),
            match request.kind {
                MediaKind::Audio => "AudioSource",
                _ => "Image",
            }
        )));
    }
    Ok(request)
}
