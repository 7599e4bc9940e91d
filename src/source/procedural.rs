//! Deterministic procedural media: small painted landscapes as PNG and soft chimes as WAV.
//!
//! The embedded [`LocalGenerator`](crate::source::LocalGenerator) uses these so a game
//! shows plausible media with no backend configured; a dev backend can serve the same bytes. The
//! same seed always gives the same bytes, and different seeds give visibly (and audibly)
//! different media.
//!
//! ```
//! use bevy_asset_provider::source::procedural::{procedural_png, procedural_wav};
//!
//! let png = procedural_png(7, 64, 36);
//! assert_eq!(&png[1..4], b"PNG");
//! let wav = procedural_wav(7, 0.5);
//! assert_eq!(&wav[..4], b"RIFF");
//! ```

use std::f32::consts::TAU;

use crate::request::RequestKey;

/// Sample rate of [`procedural_wav`]'s output, in Hz.
pub const WAV_SAMPLE_RATE: u32 = 22_050;

/// Largest width or height [`procedural_png`] paints; larger requests are clamped so a bad
/// request cannot ask for gigabytes.
pub const MAX_IMAGE_SIDE: u32 = 4096;

/// Longest sound [`procedural_wav`] makes, in seconds; longer requests are clamped.
pub const MAX_WAV_SECONDS: f32 = 60.0;

/// A seed for the procedural painters from a request's key.
///
/// The key is a SHA-256, so its first eight bytes are already well mixed.
pub(crate) fn seed_from_key(key: &RequestKey) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.0[..8]);
    u64::from_le_bytes(first)
}

/// A SplitMix64 generator: tiny, fast and the same on every platform, which is all a painter
/// needs (the output must not change when a dependency's RNG does).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // Mix once so that nearby seeds (0, 1, 2, ...) start far apart.
        let mut rng = Self(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `0.0..1.0`.
    fn unit(&mut self) -> f32 {
        // 24 bits fill an f32's mantissa exactly.
        (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32
    }

    fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// An index in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, probability: f32) -> bool {
        self.unit() < probability
    }
}

type Rgb = [f32; 3];

/// `#rrggbb` as a color with channels in `0.0..=1.0`.
const fn hex(rgb: u32) -> Rgb {
    [
        ((rgb >> 16) & 0xFF) as f32 / 255.0,
        ((rgb >> 8) & 0xFF) as f32 / 255.0,
        (rgb & 0xFF) as f32 / 255.0,
    ]
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

fn scale(color: Rgb, factor: f32) -> Rgb {
    [color[0] * factor, color[1] * factor, color[2] * factor]
}

fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The colors of one time of day.
struct Palette {
    sky_top: Rgb,
    horizon: Rgb,
    light: Rgb,
    /// Hill colors, far to near.
    layers: [Rgb; 3],
    night: bool,
    clouds: bool,
}

/// Dawn, noon, dusk, night, mist and a dry autumn afternoon: hand-picked so every seed gets a
/// coherent mood rather than random colors.
static PALETTES: [Palette; 6] = [
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

/// One hill (or sea) silhouette: a baseline and a few summed sines.
struct Ridge {
    base: f32,
    waves: [(f32, f32, f32); 3],
    sea: bool,
}

impl Ridge {
    fn new(rng: &mut Rng, base: f32, amplitude: f32, sea: bool) -> Self {
        let amplitude = if sea { 0.0 } else { amplitude };
        Self {
            base,
            waves: [
                (rng.range(0.6, 1.8), rng.range(0.0, TAU), amplitude),
                (rng.range(2.5, 5.0), rng.range(0.0, TAU), amplitude * 0.4),
                (rng.range(7.0, 13.0), rng.range(0.0, TAU), amplitude * 0.12),
            ],
            sea,
        }
    }

    /// The silhouette's top at horizontal position `u` (0..1), as a fraction of the height.
    fn top(&self, u: f32) -> f32 {
        let lift: f32 = self
            .waves
            .iter()
            .map(|&(frequency, phase, amplitude)| {
                amplitude * (0.5 + 0.5 * (u * frequency * TAU + phase).sin())
            })
            .sum();
        self.base - lift
    }
}

/// A float RGB canvas with coverage-blended drawing.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![[0.0; 3]; width * height],
        }
    }

    fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f32) {
        if alpha <= 0.0 {
            return;
        }
        let pixel = &mut self.pixels[y * self.width + x];
        *pixel = mix(*pixel, color, alpha.min(1.0));
    }

    fn add(&mut self, x: usize, y: usize, color: Rgb, amount: f32) {
        let pixel = &mut self.pixels[y * self.width + x];
        for (channel, light) in pixel.iter_mut().zip(color) {
            *channel += light * amount;
        }
    }

    /// Fills what `inside` says is inside, within the box `(x0, y0)..(x1, y1)` in pixels,
    /// sampling each pixel 4×4 times so small shapes get smooth edges.
    fn fill(
        &mut self,
        bounds: [f32; 4],
        color: Rgb,
        alpha: f32,
        inside: impl Fn(f32, f32) -> bool,
    ) {
        let [x0, y0, x1, y1] = bounds;
        let column_start = x0.floor().max(0.0) as usize;
        let column_end = (x1.ceil().max(0.0) as usize).min(self.width);
        let row_start = y0.floor().max(0.0) as usize;
        let row_end = (y1.ceil().max(0.0) as usize).min(self.height);
        for y in row_start..row_end {
            for x in column_start..column_end {
                let mut hits = 0u32;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let px = x as f32 + (sx as f32 + 0.5) / 4.0;
                        let py = y as f32 + (sy as f32 + 0.5) / 4.0;
                        hits += u32::from(inside(px, py));
                    }
                }
                self.blend(x, y, color, alpha * hits as f32 / 16.0);
            }
        }
    }

    fn circle(&mut self, cx: f32, cy: f32, radius: f32, color: Rgb, alpha: f32) {
        let bounds = [cx - radius, cy - radius, cx + radius, cy + radius];
        self.fill(bounds, color, alpha, |x, y| {
            (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius
        });
    }

    /// A triangle pointing up: apex at `(cx, top)`, base from `cx - half` to `cx + half` at
    /// `bottom`.
    fn spike(&mut self, cx: f32, top: f32, bottom: f32, half: f32, color: Rgb) {
        let bounds = [cx - half, top, cx + half, bottom];
        self.fill(bounds, color, 1.0, |x, y| {
            let t = (y - top) / (bottom - top);
            (0.0..=1.0).contains(&t) && (x - cx).abs() <= half * t
        });
    }

    fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Rgb) {
        self.fill([x0, y0, x1, y1], color, 1.0, |x, y| {
            x >= x0 && x <= x1 && y >= y0 && y <= y1
        });
    }

    /// A thick line segment with round ends.
    fn line(&mut self, from: (f32, f32), to: (f32, f32), thickness: f32, color: Rgb) {
        let half = thickness / 2.0;
        let bounds = [
            from.0.min(to.0) - half,
            from.1.min(to.1) - half,
            from.0.max(to.0) + half,
            from.1.max(to.1) + half,
        ];
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let length_sq = (dx * dx + dy * dy).max(f32::EPSILON);
        self.fill(bounds, color, 1.0, |x, y| {
            let t = (((x - from.0) * dx + (y - from.1) * dy) / length_sq).clamp(0.0, 1.0);
            let (nx, ny) = (from.0 + dx * t - x, from.1 + dy * t - y);
            nx * nx + ny * ny <= half * half
        });
    }

    /// RGBA8 bytes, with a soft vignette that frames the scene.
    fn to_rgba(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pixels.len() * 4);
        let (w, h) = (self.width as f32, self.height as f32);
        for (i, pixel) in self.pixels.iter().enumerate() {
            let u = (i % self.width) as f32 / w - 0.5;
            let v = (i / self.width) as f32 / h - 0.5;
            let shade = 1.0 - 0.35 * (u * u + v * v);
            for channel in pixel {
                out.push(((channel * shade).clamp(0.0, 1.0) * 255.0).round() as u8);
            }
            out.push(255);
        }
        out
    }
}

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

/// Paints the landscape for `seed` and returns its RGBA8 pixels.
pub(crate) fn paint_landscape(seed: u64, width: usize, height: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let palette = &PALETTES[rng.below(PALETTES.len())];
    // A slight per-seed tint keeps two scenes of the same palette from looking identical.
    let tint = [
        rng.range(-0.04, 0.04),
        rng.range(-0.04, 0.04),
        rng.range(-0.04, 0.04),
    ];
    let tinted = |color: Rgb| -> Rgb {
        [
            (color[0] + tint[0]).clamp(0.0, 1.0),
            (color[1] + tint[1]).clamp(0.0, 1.0),
            (color[2] + tint[2]).clamp(0.0, 1.0),
        ]
    };
    let sky_top = tinted(palette.sky_top);
    let horizon = tinted(palette.horizon);
    let light = palette.light;

    let mut canvas = Canvas::new(width, height);
    let (w, h) = (width as f32, height as f32);
    let unit = w.min(h);

    // The sun or moon: position and size decided before the sky, since the sky glows around it.
    let light_x = rng.range(0.15, 0.85) * w;
    let light_y = rng.range(0.16, 0.42) * h;
    let light_radius = rng.range(0.05, 0.08) * unit;
    let glow_radius = light_radius * if palette.night { 2.5 } else { 4.5 };
    let glow_strength = if palette.night { 0.12 } else { 0.32 };

    // Sky: a smooth gradient toward the horizon, warmed around the light.
    for y in 0..height {
        let t = smoothstep(0.0, 0.72, y as f32 / h);
        let row = mix(sky_top, horizon, t);
        for x in 0..width {
            let (dx, dy) = (x as f32 + 0.5 - light_x, y as f32 + 0.5 - light_y);
            let falloff = (-(dx * dx + dy * dy) / (glow_radius * glow_radius)).exp();
            canvas.pixels[y * width + x] = row;
            canvas.add(x, y, light, glow_strength * falloff);
        }
    }

    // A crescent is the moon minus a disc offset toward the sky; decided before the stars so
    // the random sequence does not depend on how many stars there are.
    let crescent = (palette.night && rng.chance(0.6)).then(|| {
        let angle = rng.range(0.0, TAU);
        (
            light_x + angle.cos() * light_radius * 0.45,
            light_y + angle.sin() * light_radius * 0.45,
        )
    });

    if palette.night {
        let count = (w * h / 1800.0) as usize + rng.below(30);
        for _ in 0..count {
            let (sx, sy) = (rng.range(0.0, w), rng.range(0.0, h * 0.6));
            let brightness = rng.range(0.35, 1.0) * (1.0 - sy / (h * 0.6));
            let radius = if rng.chance(0.12) { 1.3 } else { 0.75 };
            canvas.circle(sx, sy, radius, light, brightness);
        }
    }

    // The sun, or a full or crescent moon; the crescent's dark side shows the glowing sky.
    match crescent {
        Some((shadow_x, shadow_y)) => {
            let r = light_radius;
            let shadow_r = r * 0.92;
            let bounds = [light_x - r, light_y - r, light_x + r, light_y + r];
            canvas.fill(bounds, light, 1.0, |x, y| {
                let lit = (x - light_x).powi(2) + (y - light_y).powi(2) <= r * r;
                let shaded = (x - shadow_x).powi(2) + (y - shadow_y).powi(2) <= shadow_r * shadow_r;
                lit && !shaded
            });
        }
        None => canvas.circle(light_x, light_y, light_radius, light, 1.0),
    }

    if palette.clouds {
        for _ in 0..2 + rng.below(3) {
            let cx = rng.range(-0.05, 1.05) * w;
            let cy = rng.range(0.08, 0.35) * h;
            let size = rng.range(0.04, 0.07) * unit;
            let color = mix([1.0, 1.0, 1.0], horizon, 0.25);
            let puffs: Vec<(f32, f32, f32)> = (0..5)
                .map(|i| {
                    let spread = (i as f32 - 2.0) * size * 0.9;
                    let r = size * (1.0 - (i as f32 - 2.0).abs() * 0.22) * rng.range(0.85, 1.15);
                    (cx + spread, cy - r * 0.35, r)
                })
                .collect();
            let bounds = [
                cx - size * 3.5,
                cy - size * 2.0,
                cx + size * 3.5,
                cy + size * 0.2,
            ];
            // Flat-bottomed puffs: the union of circles, cut at the cloud's base.
            canvas.fill(bounds, color, 0.75, |x, y| {
                y <= cy
                    && puffs
                        .iter()
                        .any(|&(px, py, r)| (x - px).powi(2) + (y - py).powi(2) <= r * r)
            });
        }
    }

    // Three ridges, far to near; the middle one is sometimes a sea.
    let sea_in_middle = rng.chance(0.45);
    let far_base = rng.range(0.52, 0.6);
    let middle_base = if sea_in_middle {
        0.66
    } else {
        rng.range(0.68, 0.73)
    };
    let near_base = rng.range(0.84, 0.89);
    let ridges = [
        Ridge::new(&mut rng, far_base, 0.16, false),
        Ridge::new(&mut rng, middle_base, 0.09, sea_in_middle),
        Ridge::new(&mut rng, near_base, 0.08, false),
    ];
    let top_of = |layer: usize, x: f32| ridges[layer].top(x / w) * h;
    // A tower on the middle ridge (or the near one when the middle is sea): which ridge, where,
    // how tall.
    let tower = rng.chance(0.6).then(|| {
        let layer = if sea_in_middle { 2 } else { 1 };
        (layer, rng.range(0.1, 0.9) * w, rng.range(0.12, 0.2) * h)
    });
    // Far ridges fade into the horizon's color: distance reads as depth.
    let haze = [0.45, 0.2, 0.0];
    let sea_color = mix(scale(horizon, 0.75), sky_top, 0.35);
    for (layer, ridge) in ridges.iter().enumerate() {
        let color = mix(tinted(palette.layers[layer]), horizon, haze[layer]);
        for x in 0..width {
            let edge = top_of(layer, x as f32 + 0.5);
            let first_row = edge.floor().max(0.0) as usize;
            for y in first_row..height {
                let coverage = (y as f32 + 1.0 - edge).clamp(0.0, 1.0);
                let depth = ((y as f32 - edge) / (h - edge).max(1.0)).clamp(0.0, 1.0);
                if ridge.sea {
                    // Water: darker with depth, a shimmering path under the light.
                    let water = mix(sea_color, scale(sea_color, 0.7), depth);
                    canvas.blend(x, y, water, coverage);
                    let dx = (x as f32 - light_x) / (light_radius * 1.6);
                    let ripple = 0.5 + 0.5 * (y as f32 * 1.7 + (x as f32 * 0.05).sin() * 3.0).sin();
                    let path = (-dx * dx).exp() * ripple * (1.0 - depth * 0.6);
                    canvas.add(x, y, light, 0.35 * path * coverage);
                } else {
                    let ground = mix(color, scale(color, 0.78), depth);
                    canvas.blend(x, y, ground, coverage);
                }
            }
        }
        // Right after its own ridge, so nearer ridges stand in front of the tower.
        if let Some((tower_layer, tx, tower_height)) = tower
            && tower_layer == layer
        {
            let half = tower_height * 0.11;
            let base = top_of(layer, tx) + half;
            paint_tower(
                &mut canvas,
                tx,
                base,
                tower_height,
                scale(color, 0.8),
                palette.night,
            );
        }
    }

    // Pines and round trees on the near ridge.
    let tree_color = scale(tinted(palette.layers[2]), 0.8);
    for _ in 0..2 + rng.below(6) {
        let x = rng.range(0.02, 0.98) * w;
        let base = top_of(2, x) + 2.0;
        let size = rng.range(0.06, 0.13) * h;
        canvas.rect(
            x - size * 0.04,
            base - size * 0.35,
            x + size * 0.04,
            base,
            tree_color,
        );
        if rng.chance(0.65) {
            for tier in 0..3 {
                let tier = tier as f32;
                let bottom = base - size * (0.2 + tier * 0.22);
                canvas.spike(
                    x,
                    bottom - size * 0.45,
                    bottom,
                    size * (0.3 - tier * 0.06),
                    tree_color,
                );
            }
        } else {
            canvas.circle(x, base - size * 0.55, size * 0.3, tree_color, 1.0);
        }
    }

    // A few birds in daylight.
    if !palette.night {
        let bird_color = scale(sky_top, 0.45);
        for _ in 0..rng.below(5) {
            let bx = rng.range(0.1, 0.9) * w;
            let by = rng.range(0.12, 0.4) * h;
            let span = rng.range(0.008, 0.016) * w;
            let thickness = (unit * 0.006).max(1.0);
            canvas.line(
                (bx - span, by - span * 0.4),
                (bx, by),
                thickness,
                bird_color,
            );
            canvas.line(
                (bx, by),
                (bx + span, by - span * 0.4),
                thickness,
                bird_color,
            );
        }
    }

    canvas.to_rgba()
}

/// A slightly tapered tower (a lighthouse or a keep) standing on `base`, with a pointed roof
/// and a window that is lit at night.
fn paint_tower(
    canvas: &mut Canvas,
    tx: f32,
    base: f32,
    tower_height: f32,
    color: Rgb,
    night: bool,
) {
    let half = tower_height * 0.11;
    let top = base - tower_height;
    canvas.fill([tx - half, top, tx + half, base], color, 1.0, |x, y| {
        let t = (y - top) / tower_height;
        (0.0..=1.0).contains(&t) && (x - tx).abs() <= half * (0.75 + 0.25 * t)
    });
    canvas.spike(
        tx,
        top - half * 1.6,
        top + 0.5,
        half * 1.1,
        scale(color, 0.85),
    );
    let window = if night {
        hex(0xFFE08A)
    } else {
        scale(color, 0.6)
    };
    canvas.rect(
        tx - half * 0.3,
        top + half * 0.8,
        tx + half * 0.3,
        top + half * 1.8,
        window,
    );
}

/// Pentatonic scales as semitone steps: major, minor and the "Egyptian" suspended one.
const PENTATONIC: [[u8; 5]; 3] = [[0, 2, 4, 7, 9], [0, 3, 5, 7, 10], [0, 2, 5, 7, 10]];

/// A soft chime of 2 or 3 notes, as a 16-bit PCM mono WAV at 22,050 Hz, `seconds` long
/// (clamped to `0..=60`; not-a-number is 0).
///
/// The seed picks a pentatonic scale, a root note and the notes; each note is a bell-like tone
/// with a short attack and an exponential decay. The mix is scaled to half of full scale, so it
/// never clips, and fades to silence at the end, so it never clicks.
pub fn procedural_wav(seed: u64, seconds: f32) -> Vec<u8> {
    let seconds = if seconds.is_finite() {
        seconds.clamp(0.0, MAX_WAV_SECONDS)
    } else {
        0.0
    };
    let rate = WAV_SAMPLE_RATE as f32;
    let count = (seconds * rate).round() as usize;

    let mut rng = Rng::new(seed ^ 0xC41E_0000_0000_0001);
    let scale_steps = &PENTATONIC[rng.below(PENTATONIC.len())];
    // G4 to F#5 roots keep the chime bright but not shrill.
    let root = 67.0 + rng.below(12) as f32;
    let note_count = 2 + rng.below(2);
    let spacing = (seconds / (note_count as f32 + 1.5)).min(0.18);
    let decay = rng.range(0.18, 0.32) * seconds.clamp(0.4, 3.0);
    let mut degree = rng.below(3);
    let notes: Vec<(f32, f32)> = (0..note_count)
        .map(|i| {
            let octave = (degree / 5) as f32 * 12.0;
            let midi = root + f32::from(scale_steps[degree % 5]) + octave;
            let frequency = 440.0 * 2f32.powf((midi - 69.0) / 12.0);
            // Rising arpeggio: each note a step or two above the last.
            degree += 1 + rng.below(2);
            (i as f32 * spacing, frequency)
        })
        .collect();

    // Partials of a small bell: (frequency ratio, level, how much faster it fades).
    const PARTIALS: [(f32, f32, f32); 4] = [
        (1.0, 1.0, 1.0),
        (2.0, 0.3, 1.8),
        (2.76, 0.16, 2.6),
        (5.4, 0.05, 4.0),
    ];
    let mut samples = vec![0.0f32; count];
    for &(onset, frequency) in &notes {
        let start = (onset * rate) as usize;
        for (n, sample) in samples.iter_mut().enumerate().skip(start) {
            let t = (n - start) as f32 / rate;
            let attack = (t / 0.004).min(1.0);
            let mut value = 0.0;
            for &(ratio, level, speed) in &PARTIALS {
                value += level * (TAU * frequency * ratio * t).sin() * (-t * speed / decay).exp();
            }
            *sample += value * attack;
        }
    }

    let fade = ((0.03 * rate) as usize).min(count);
    for i in 0..fade {
        samples[count - 1 - i] *= i as f32 / fade as f32;
    }
    let peak = samples.iter().fold(0.0f32, |peak, s| peak.max(s.abs()));
    let gain = if peak > 0.0 { 0.5 / peak } else { 0.0 };

    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: WAV_SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(44 + count * 2));
    // Writing at most MAX_WAV_SECONDS of samples into a Vec cannot fail.
    let mut writer = hound::WavWriter::new(&mut bytes, spec).expect("WAV header into a Vec");
    for sample in samples {
        let value = (sample * gain * f32::from(i16::MAX)).round() as i16;
        writer.write_sample(value).expect("WAV sample into a Vec");
    }
    writer.finalize().expect("WAV end into a Vec");
    bytes.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_png(bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut pixels).expect("PNG frame");
        (info, pixels)
    }

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }

    #[test]
    fn png_is_deterministic_and_differs_by_seed() {
        let a = procedural_png(1, 96, 54);
        assert_eq!(a, procedural_png(1, 96, 54));
        let images: Vec<_> = (0..8).map(|seed| procedural_png(seed, 96, 54)).collect();
        for i in 0..images.len() {
            for j in i + 1..images.len() {
                assert_ne!(
                    images[i], images[j],
                    "seeds {i} and {j} painted the same image"
                );
            }
        }
    }

    #[test]
    fn png_decodes_to_the_requested_size() {
        for (width, height) in [(480, 270), (33, 17), (1, 1)] {
            let (info, pixels) = decode_png(&procedural_png(42, width, height));
            assert_eq!((info.width, info.height), (width, height));
            assert_eq!(info.color_type, png::ColorType::Rgba);
            assert_eq!(pixels.len(), (width * height * 4) as usize);
            assert!(pixels.chunks(4).all(|p| p[3] == 255), "opaque");
        }
    }

    #[test]
    fn png_is_a_picture_not_a_flat_fill() {
        let (_, pixels) = decode_png(&procedural_png(9, 120, 68));
        let mut colors: Vec<&[u8]> = pixels.chunks(4).collect();
        colors.sort();
        colors.dedup();
        assert!(colors.len() > 200, "only {} distinct colors", colors.len());
    }

    #[test]
    fn png_clamps_zero_size() {
        let (info, _) = decode_png(&procedural_png(3, 0, 0));
        assert_eq!((info.width, info.height), (1, 1));
    }

    #[test]
    fn wav_is_deterministic_and_differs_by_seed() {
        assert_eq!(procedural_wav(5, 0.8), procedural_wav(5, 0.8));
        let sounds: Vec<_> = (0..8).map(|seed| procedural_wav(seed, 0.8)).collect();
        for i in 0..sounds.len() {
            for j in i + 1..sounds.len() {
                assert_ne!(
                    sounds[i], sounds[j],
                    "seeds {i} and {j} made the same sound"
                );
            }
        }
    }

    #[test]
    fn wav_header_and_sample_count() {
        let wav = procedural_wav(11, 0.8);
        let samples = (0.8f32 * WAV_SAMPLE_RATE as f32).round() as usize;
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(u32_at(&wav, 4) as usize, wav.len() - 8);
        assert_eq!(&wav[8..12], b"WAVE");
        assert_eq!(&wav[12..16], b"fmt ");
        assert_eq!(u32_at(&wav, 16), 16);
        assert_eq!(u16_at(&wav, 20), 1, "PCM");
        assert_eq!(u16_at(&wav, 22), 1, "mono");
        assert_eq!(u32_at(&wav, 24), WAV_SAMPLE_RATE);
        assert_eq!(u32_at(&wav, 28), WAV_SAMPLE_RATE * 2);
        assert_eq!(u16_at(&wav, 32), 2);
        assert_eq!(u16_at(&wav, 34), 16);
        assert_eq!(&wav[36..40], b"data");
        assert_eq!(u32_at(&wav, 40) as usize, samples * 2);
        assert_eq!(wav.len(), 44 + samples * 2);
    }

    #[test]
    fn wav_is_audible_soft_and_ends_in_silence() {
        let wav = procedural_wav(12, 1.0);
        let samples: Vec<i16> = wav[44..]
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak > 8_000 && peak < 20_000, "peak {peak}");
        assert_eq!(samples.last().copied(), Some(0));
    }

    #[test]
    fn wav_handles_degenerate_lengths() {
        for seconds in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let wav = procedural_wav(1, seconds);
            assert_eq!(wav.len(), 44, "{seconds}");
            assert_eq!(u32_at(&wav, 40), 0);
        }
    }

    #[test]
    fn wav_bytes_stay_the_same() {
        // Cached cues hold these bytes: the same seed must keep giving them, header included.
        use sha2::{Digest, Sha256};
        for (seed, seconds, sha256) in [
            (
                7,
                0.5,
                "4c896b45b98e6baaa1233805b5a714c74e402c30e8ef93435e518c7c08d7cdae",
            ),
            (
                12,
                1.0,
                "5d109df3a7b2e41383a7a97d0f83944c774d6c90ab84350aa48d2045706b3b9f",
            ),
            (
                3,
                2.0,
                "a68a13d30093d103f13a093bb0dbb993db354311ee301093de8cbb9fce4ec879",
            ),
        ] {
            let digest = hex::encode(Sha256::digest(procedural_wav(seed, seconds)));
            assert_eq!(digest, sha256, "seed {seed}, {seconds} s");
        }
    }

    #[test]
    fn landscape_pixels_stay_the_same() {
        // Cached pictures hold these pixels: the same seed and size must keep painting them.
        // 64 seeds reach every palette, the crescent, the sea, the tower, trees and birds.
        use sha2::{Digest, Sha256};
        for (width, height, sha256) in [
            (
                64,
                36,
                "d4e6b0cb36dac457f6eebe083ada75b94d29cea8c736edff5b09ee15c42ae43c",
            ),
            (
                480,
                270,
                "b0683fbd312fc3c834bc79cd329f94fac0c92d4aec2228d8b7f8a6fc77d6608f",
            ),
            (
                33,
                17,
                "dfcf391de49757497ad755323fa3155890f9d1c61f4535430fda71184176c5da",
            ),
        ] {
            let mut digest = Sha256::new();
            for seed in 0..64 {
                digest.update(paint_landscape(seed, width, height));
            }
            let digest = hex::encode(digest.finalize());
            assert_eq!(digest, sha256, "{width}×{height}");
        }
    }

    #[test]
    fn seed_from_key_reads_the_key() {
        let mut a = RequestKey([0; 32]);
        let b = RequestKey([0; 32]);
        assert_eq!(seed_from_key(&a), seed_from_key(&b));
        a.0[0] = 1;
        assert_eq!(seed_from_key(&a), 1);
        assert_ne!(seed_from_key(&a), seed_from_key(&b));
    }

    /// Writes sample images and cues to the temp dir to look at: `cargo test --lib
    /// procedural::tests::write_samples -- --ignored`.
    #[test]
    #[ignore]
    fn write_samples() {
        let dir = std::env::temp_dir().join("procedural_samples");
        std::fs::create_dir_all(&dir).expect("temp dir");
        for seed in 0..12 {
            std::fs::write(
                dir.join(format!("scene_{seed}.png")),
                procedural_png(seed, 480, 270),
            )
            .expect("write png");
            std::fs::write(
                dir.join(format!("chime_{seed}.wav")),
                procedural_wav(seed, 0.8),
            )
            .expect("write wav");
        }
    }
}
