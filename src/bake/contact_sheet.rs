//! The contact sheet: every baked picture (a clip's first frame) in a labelled grid, one PNG, so
//! a person reviews a bake at a glance.

use bevy::image::Image;
use image::imageops::FilterType;
use image::{Rgba, RgbaImage};

use crate::error::AssetError;

/// A thumbnail's size; labels go below it.
const THUMB_WIDTH: u32 = 240;
const THUMB_HEIGHT: u32 = 135;
/// Label lines under each thumbnail, in the 8×8 font.
const LABEL_LINES: u32 = 3;
const GLYPH: u32 = 8;
const LINE_HEIGHT: u32 = 10;
const GAP: u32 = 8;
const COLUMNS: u32 = 4;
const BACKGROUND: Rgba<u8> = Rgba([24, 24, 28, 255]);
const INK: Rgba<u8> = Rgba([235, 235, 235, 255]);
const MISSING: Rgba<u8> = Rgba([70, 30, 30, 255]);

/// One picture of the sheet and its label lines.
pub(crate) struct Tile {
    pub picture: Option<RgbaImage>,
    pub label: Vec<String>,
}

impl Tile {
    /// A tile showing `image` (decoded media); an image that cannot be read shows as a dark red
    /// box, so the sheet still has a place for it.
    pub fn new(image: &Image, label: Vec<String>) -> Self {
        let picture = image.clone().try_into_dynamic().ok().map(|picture| {
            picture
                .resize(THUMB_WIDTH, THUMB_HEIGHT, FilterType::Triangle)
                .into_rgba8()
        });
        Self { picture, label }
    }

    /// A tile with no picture (a clip without the `video` feature, a file that did not decode).
    pub fn empty(label: Vec<String>) -> Self {
        Self {
            picture: None,
            label,
        }
    }
}

/// The sheet of `tiles` as PNG bytes.
pub(crate) fn contact_sheet(tiles: &[Tile]) -> Result<Vec<u8>, AssetError> {
    let count = u32::try_from(tiles.len().max(1)).unwrap_or(u32::MAX);
    let columns = COLUMNS.min(count);
    let rows = count.div_ceil(columns);
    let cell_width = THUMB_WIDTH + GAP;
    let cell_height = THUMB_HEIGHT + LABEL_LINES * LINE_HEIGHT + GAP;
    let mut sheet = RgbaImage::from_pixel(
        GAP + columns * cell_width,
        GAP + rows * cell_height,
        BACKGROUND,
    );
    for (i, tile) in tiles.iter().enumerate() {
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let (x, y) = (
            GAP + (i % columns) * cell_width,
            GAP + (i / columns) * cell_height,
        );
        match &tile.picture {
            Some(picture) => {
                // Centred in its box, whatever its aspect.
                let dx = (THUMB_WIDTH - picture.width().min(THUMB_WIDTH)) / 2;
                let dy = (THUMB_HEIGHT - picture.height().min(THUMB_HEIGHT)) / 2;
                image::imageops::overlay(&mut sheet, picture, i64::from(x + dx), i64::from(y + dy));
            }
            None => fill(&mut sheet, x, y, THUMB_WIDTH, THUMB_HEIGHT, MISSING),
        }
        let max_chars = (THUMB_WIDTH / GLYPH) as usize;
        for (line, text) in tile.label.iter().take(LABEL_LINES as usize).enumerate() {
            let line = u32::try_from(line).unwrap_or(0);
            let text_y = y + THUMB_HEIGHT + 2 + line * LINE_HEIGHT;
            draw_text(&mut sheet, x, text_y, &fit(text, max_chars));
        }
    }
    let (width, height) = sheet.dimensions();
    let bytes = crate::source::procedural::encode_png(width, height, sheet.as_raw());
    if bytes.is_empty() {
        return Err(AssetError::decode("the contact sheet could not be encoded"));
    }
    Ok(bytes)
}

/// `text` cut to `max` characters, its end kept (the most specific part of a slot), marked with
/// a leading `..`.
fn fit(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(count - max + 2).collect();
    format!("..{tail}")
}

fn fill(sheet: &mut RgbaImage, x: u32, y: u32, width: u32, height: u32, colour: Rgba<u8>) {
    for py in y..(y + height).min(sheet.height()) {
        for px in x..(x + width).min(sheet.width()) {
            sheet.put_pixel(px, py, colour);
        }
    }
}

/// Draws ASCII `text` at (`x`, `y`) in the 8×8 font; other characters show as `?`.
fn draw_text(sheet: &mut RgbaImage, x: u32, y: u32, text: &str) {
    for (i, c) in text.chars().enumerate() {
        let code = if c.is_ascii() && !c.is_ascii_control() {
            c as usize
        } else {
            '?' as usize
        };
        let glyph = font8x8::legacy::BASIC_LEGACY[code];
        let left = x + u32::try_from(i).unwrap_or(0) * GLYPH;
        for (row, bits) in (0u32..).zip(glyph) {
            for column in 0..GLYPH {
                // Bit 0 is the leftmost pixel.
                if bits & (1 << column) != 0 {
                    let (px, py) = (left + column, y + row);
                    if px < sheet.width() && py < sheet.height() {
                        sheet.put_pixel(px, py, INK);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_has_a_cell_per_tile_and_ink_in_its_labels() {
        let red = RgbaImage::from_pixel(480, 270, Rgba([200, 0, 0, 255]));
        let picture = image::DynamicImage::ImageRgba8(red)
            .resize(THUMB_WIDTH, THUMB_HEIGHT, FilterType::Triangle)
            .into_rgba8();
        let tiles: Vec<Tile> = (0..5)
            .map(|i| Tile {
                picture: Some(picture.clone()),
                label: vec![format!("slot {i}"), "image".into()],
            })
            .chain([Tile::empty(vec!["clip".into()])])
            .collect();
        let png = contact_sheet(&tiles).unwrap();
        // Bevy's `png` feature gives the `image` crate its PNG decoder.
        let sheet = image::load_from_memory(&png).unwrap().into_rgba8();
        assert_eq!(sheet.width(), GAP + 4 * (THUMB_WIDTH + GAP));
        assert_eq!(
            sheet.height(),
            GAP + 2 * (THUMB_HEIGHT + LABEL_LINES * LINE_HEIGHT + GAP)
        );
        assert_eq!(sheet.get_pixel(GAP + 10, GAP + 10), &Rgba([200, 0, 0, 255]));
        let label_row = GAP + THUMB_HEIGHT + 2;
        let ink = (label_row..label_row + GLYPH)
            .flat_map(|y| (GAP..GAP + 6 * GLYPH).map(move |x| (x, y)))
            .filter(|&(x, y)| sheet.get_pixel(x, y) == &INK)
            .count();
        assert!(ink > 20, "the label \"slot 0\" is drawn: {ink} pixels");
    }

    #[test]
    fn long_labels_keep_their_end() {
        assert_eq!(fit("short", 10), "short");
        assert_eq!(fit("lighthouse/boat/via/row_out/video", 12), ".._out/video");
    }
}
