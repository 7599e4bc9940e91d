//! Landscapes as PNG files.

use super::landscape::paint_landscape;

/// Largest width or height [`procedural_png`] paints; larger requests are clamped so a bad
/// request cannot ask for gigabytes.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// A small painted landscape as an RGBA PNG of `width` × `height` pixels (each clamped to
/// `1..=4096`).
///
/// The seed picks a time of day (dawn, noon, dusk, night, mist, autumn), where the sun or moon
/// sits, three layered ridges (one of them sometimes a sea with the light's reflection), clouds
/// or stars, and a few trees, birds and a tower with a lit window. The same seed always gives the
/// same bytes.
pub fn procedural_png(seed: u64, width: u32, height: u32) -> Vec<u8> {
    let width = width.clamp(1, MAX_IMAGE_SIDE);
    let height = height.clamp(1, MAX_IMAGE_SIDE);
    let rgba = paint_landscape(seed, width as usize, height as usize);

    encode_png(width, height, &rgba)
}

/// Encodes `rgba` (8-bit RGBA rows, `width * height * 4` bytes) as a PNG.
///
/// # Panics
/// If `rgba` does not hold exactly `width * height` pixels: a caller's bug, not bad input.
pub fn encode_png(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing to a Vec cannot fail; only a buffer of the wrong size can, which is a bug.
    let mut writer = encoder
        .write_header()
        .expect("PNG header for a valid size into a Vec");
    writer
        .write_image_data(rgba)
        .expect("PNG data of the declared size into a Vec");
    writer.finish().expect("PNG end into a Vec");
    bytes
}
