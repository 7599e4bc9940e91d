//! The times of day a landscape is painted in.

use super::canvas::{Rgb, hex};

/// The colors of one time of day.
pub(super) struct Palette {
    pub(super) sky_top: Rgb,
    pub(super) horizon: Rgb,
    pub(super) light: Rgb,
    /// Hill colors, far to near.
    pub(super) layers: [Rgb; 3],
    pub(super) night: bool,
    pub(super) clouds: bool,
}

/// Dawn, noon, dusk, night, mist and a dry autumn afternoon: hand-picked so every seed gets a
/// coherent mood rather than random colors.
pub(super) static PALETTES: [Palette; 6] = [
    Palette {
        sky_top: hex(0x3B4A7A),
        horizon: hex(0xF6B38E),
        light: hex(0xFFF1C9),
        layers: [hex(0x9A87A8), hex(0x6D5F86), hex(0x3D3553)],
        night: false,
        clouds: true,
    },
    Palette {
        sky_top: hex(0x4D8FD6),
        horizon: hex(0xC4E6F2),
        light: hex(0xFFFBE6),
        layers: [hex(0x8FB9A8), hex(0x5C9270), hex(0x2F5E45)],
        night: false,
        clouds: true,
    },
    Palette {
        sky_top: hex(0x2A1E4A),
        horizon: hex(0xF08A5D),
        light: hex(0xFFD27F),
        layers: [hex(0xB0607A), hex(0x6E3A63), hex(0x2B1B36)],
        night: false,
        clouds: false,
    },
    Palette {
        sky_top: hex(0x0B1330),
        horizon: hex(0x2E4272),
        light: hex(0xE8ECF5),
        layers: [hex(0x34466E), hex(0x22304F), hex(0x121A2E)],
        night: true,
        clouds: false,
    },
    Palette {
        sky_top: hex(0x8AA1B1),
        horizon: hex(0xE3E7E2),
        light: hex(0xFFFFFF),
        layers: [hex(0xA9B8B9), hex(0x7D9295), hex(0x4D6266)],
        night: false,
        clouds: true,
    },
    Palette {
        sky_top: hex(0x5B7FB0),
        horizon: hex(0xF3D6A4),
        light: hex(0xFFF4D6),
        layers: [hex(0xD39C6B), hex(0xA8643F), hex(0x5E3424)],
        night: false,
        clouds: true,
    },
];
