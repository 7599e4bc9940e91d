//! [`MediaLimits`]: how large an image or a video frame the plugin accepts.

/// The largest image (or video frame) the plugin decodes, checked from the file's header before
/// any pixel is decoded. Media over a limit fails its request with a
/// [`Decode`](crate::error::AssetErrorKind::Decode) error naming its size and the limit; the
/// placeholder stays.
///
/// The defaults keep a decoded image within common GPU limits (8192 pixels a side) and within
/// 64 MiB as RGBA8 (16,777,216 pixels: 4096 × 4096, or 8192 × 2048). An image the GPU cannot take
/// would otherwise fail its upload, which stops a Bevy app.
///
/// ```
/// use bevy_asset_provider::prelude::*;
/// use bevy_asset_provider::MediaLimits;
///
/// let plugin = AssetProviderPlugin::new()
///     .with_media_limits(MediaLimits::default().max_image_side(4096).max_pixels(2048 * 2048));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub struct MediaLimits {
    max_side: u32,
    max_pixels: u64,
}

impl MediaLimits {
    /// The default longest side: 8192 pixels.
    pub const DEFAULT_MAX_SIDE: u32 = 8192;
    /// The default most pixels: 16,777,216 (4096 × 4096).
    pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

    /// Sets the longest width or height accepted, in pixels (at least 1).
    pub fn max_image_side(mut self, pixels: u32) -> Self {
        self.max_side = pixels.max(1);
        self
    }

    /// Sets the most pixels (width × height) accepted (at least 1).
    pub fn max_pixels(mut self, pixels: u64) -> Self {
        self.max_pixels = pixels.max(1);
        self
    }

    /// The longest width or height accepted.
    pub fn image_side(&self) -> u32 {
        self.max_side
    }

    /// The most pixels accepted.
    pub fn pixels(&self) -> u64 {
        self.max_pixels
    }

    /// Whether an image of `width` × `height` is within the limits; the error says what is over.
    pub(crate) fn check(&self, width: u32, height: u32) -> Result<(), String> {
        let pixels = u64::from(width) * u64::from(height);
        if width == 0 || height == 0 {
            Err(format!("{width} × {height} pixels is empty"))
        } else if width > self.max_side || height > self.max_side {
            Err(format!(
                "{width} × {height} pixels is over the limit of {} pixels a side",
                self.max_side
            ))
        } else if pixels > self.max_pixels {
            Err(format!(
                "{width} × {height} pixels ({pixels} pixels) is over the limit of {} pixels",
                self.max_pixels
            ))
        } else {
            Ok(())
        }
    }
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self {
            max_side: Self::DEFAULT_MAX_SIDE,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_pixels_are_checked_separately() {
        let limits = MediaLimits::default();
        assert!(limits.check(8192, 2048).is_ok());
        assert!(limits.check(4096, 4096).is_ok());
        let side = limits.check(8193, 1).unwrap_err();
        assert!(side.contains("8193 × 1") && side.contains("8192"), "{side}");
        let pixels = limits.check(8192, 4096).unwrap_err();
        assert!(pixels.contains("16777216"), "{pixels}");
        assert!(limits.check(0, 10).is_err());
        let tiny = MediaLimits::default().max_image_side(0).max_pixels(0);
        assert_eq!((tiny.image_side(), tiny.pixels()), (1, 1));
        assert!(tiny.check(1, 1).is_ok());
    }
}
