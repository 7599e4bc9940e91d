//! The contact sheet's tiles: a request's picture, or a file's decoded as the game would, with
//! its label.

use std::path::Path;

use crate::bake::contact_sheet::Tile;
use crate::bake::plan::PlanItem;
use crate::chain::decode::{DecodedMedia, MediaDecoders};
use crate::request::{MediaKind, MediaLimits};
use crate::source::SourcedMedia;

/// The tile of the file at `file`, decoded as the game would decode it. Blocking.
pub(crate) fn tile_of_file(
    file: &Path,
    kind: MediaKind,
    label: Vec<String>,
    (limits, decoders): (&MediaLimits, &MediaDecoders),
) -> Tile {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(_) => return Tile::empty(label),
    };
    let mime = match file.extension().and_then(|extension| extension.to_str()) {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("mp4") => "video/mp4",
        _ => return Tile::empty(label),
    };
    let media = SourcedMedia::new(bytes, mime, file.to_string_lossy());
    match decoders.decode(kind, &media, limits) {
        Ok(decoded) => match picture_of(&decoded) {
            Some(image) => Tile::new(image, label),
            None => Tile::empty(label),
        },
        Err(_) => Tile::empty(label),
    }
}

/// The picture a person sees for `decoded`: the image, or a clip's first frame.
pub(crate) fn picture_of(decoded: &DecodedMedia) -> Option<&bevy::image::Image> {
    match decoded {
        DecodedMedia::Image(image) => Some(image),
        DecodedMedia::Extended { image, .. } => Some(image),
        #[cfg(feature = "audio")]
        DecodedMedia::Audio(_) => None,
    }
}

/// A tile's label: the slot, what it is and who made it, the prompt's start.
pub(crate) fn label(item: &PlanItem, by: &str) -> Vec<String> {
    let mut lines = vec![
        item.slot.clone(),
        format!("{} by {by}", item.request.kind.as_str()),
    ];
    if let Some(prompt) = &item.request.prompt {
        lines.push(prompt.chars().take(30).collect());
    }
    lines
}
