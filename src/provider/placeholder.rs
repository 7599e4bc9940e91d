//! What a handle shows before the real media arrives.

use bevy::asset::RenderAssetUsages;
use bevy::image::{CompressedImageFormats, Image, ImageSampler, ImageType};

#[cfg(feature = "audio")]
use bevy::audio::AudioSource;

/// Placeholder media per kind, copied behind every new request's handle.
///
/// Keep placeholder images small: each waiting request holds its own copy, so that the real media
/// can later replace it behind the same handle without touching other requests.
#[derive(Clone, Debug)]
pub struct Placeholders {
    /// Shown for image and video requests.
    pub image: Image,
    /// Behind audio requests until the real sound arrives. `None` (the default) leaves the
    /// handle empty, so an `AudioPlayer` holding it starts playing when the real sound arrives.
    #[cfg(feature = "audio")]
    pub audio: Option<AudioSource>,
}

impl Default for Placeholders {
    fn default() -> Self {
        Self {
            image: default_placeholder_image(),
            #[cfg(feature = "audio")]
            audio: None,
        }
    }
}

/// A 32×18 soft slate gradient with a lighter middle: reads as "loading" when stretched to any
/// size, and costs 2.3 KB per waiting request.
pub fn default_placeholder_image() -> Image {
    const W: u32 = 32;
    const H: u32 = 18;
    let mut rgba = Vec::with_capacity((W * H * 4) as usize);
    for y in 0..H {
        for x in 0..W {
            let dx = (x as f32 + 0.5) / W as f32 - 0.5;
            let dy = (y as f32 + 0.5) / H as f32 - 0.5;
            let glow = (1.0 - (dx * dx + dy * dy).sqrt() * 1.6).max(0.0);
            let shade = |base: f32| (base + 40.0 * glow).min(255.0) as u8;
            rgba.extend_from_slice(&[shade(48.0), shade(54.0), shade(68.0), 255]);
        }
    }
    let png_bytes = crate::source::procedural::encode_png(W, H, &rgba);
    Image::from_buffer(
        &png_bytes,
        ImageType::MimeType("image/png"),
        CompressedImageFormats::NONE,
        true,
        ImageSampler::linear(),
        RenderAssetUsages::default(),
    )
    .expect("a PNG made just above decodes")
}
