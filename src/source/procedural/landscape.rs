//! The landscape painter, layer by layer from the back: sky, stars, the sun or moon, clouds,
//! the ridges (with a tower on one), trees, birds.
//!
//! Every layer draws its random numbers from one generator, in this order: changing the order
//! or the number of draws changes every picture after it, and cached pictures hold the pixels
//! (`landscape_pixels_stay_the_same` pins them).

use std::f32::consts::TAU;

use super::canvas::{Canvas, Rgb, hex, mix, scale, smoothstep};
use super::palette::{PALETTES, Palette};
use super::rng::Rng;

/// Paints the landscape for `seed` and returns its RGBA8 pixels.
pub(crate) fn paint_landscape(seed: u64, width: usize, height: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let scene = Scene::new(&mut rng, width, height);
    let mut canvas = Canvas::new(width, height);
    paint_sky(&mut canvas, &scene);
    // Decided before the stars so the random sequence does not depend on how many there are.
    let crescent = scene.crescent(&mut rng);
    if scene.palette.night {
        paint_stars(&mut canvas, &scene, &mut rng);
    }
    paint_light(&mut canvas, &scene, crescent);
    if scene.palette.clouds {
        paint_clouds(&mut canvas, &scene, &mut rng);
    }
    let ground = Ground::new(&mut rng, &scene);
    paint_ridges(&mut canvas, &scene, &ground);
    paint_trees(&mut canvas, &scene, &ground, &mut rng);
    if !scene.palette.night {
        paint_birds(&mut canvas, &scene, &mut rng);
    }
    canvas.to_rgba()
}

/// What a seed decides first and every layer reads: the time of day, its tint, the size and
/// where the sun or moon sits.
struct Scene {
    palette: &'static Palette,
    /// A slight per-seed tint keeps two scenes of the same palette from looking identical.
    tint: Rgb,
    sky_top: Rgb,
    horizon: Rgb,
    width: usize,
    height: usize,
    w: f32,
    h: f32,
    /// The shorter side, which sizes round things.
    unit: f32,
    light_x: f32,
    light_y: f32,
    light_radius: f32,
}

impl Scene {
    fn new(rng: &mut Rng, width: usize, height: usize) -> Self {
        let palette = &PALETTES[rng.below(PALETTES.len())];
        let tint = [
            rng.range(-0.04, 0.04),
            rng.range(-0.04, 0.04),
            rng.range(-0.04, 0.04),
        ];
        let (w, h) = (width as f32, height as f32);
        let unit = w.min(h);
        let mut scene = Self {
            palette,
            tint,
            sky_top: palette.sky_top,
            horizon: palette.horizon,
            width,
            height,
            w,
            h,
            unit,
            light_x: 0.0,
            light_y: 0.0,
            light_radius: 0.0,
        };
        scene.sky_top = scene.tinted(palette.sky_top);
        scene.horizon = scene.tinted(palette.horizon);
        // Placed before the sky is painted, since the sky glows around it.
        scene.light_x = rng.range(0.15, 0.85) * w;
        scene.light_y = rng.range(0.16, 0.42) * h;
        scene.light_radius = rng.range(0.05, 0.08) * unit;
        scene
    }

    fn tinted(&self, color: Rgb) -> Rgb {
        [
            (color[0] + self.tint[0]).clamp(0.0, 1.0),
            (color[1] + self.tint[1]).clamp(0.0, 1.0),
            (color[2] + self.tint[2]).clamp(0.0, 1.0),
        ]
    }

    fn light(&self) -> Rgb {
        self.palette.light
    }

    /// At night, sometimes a crescent: the centre of the disc that shades the moon, offset
    /// toward the sky.
    fn crescent(&self, rng: &mut Rng) -> Option<(f32, f32)> {
        (self.palette.night && rng.chance(0.6)).then(|| {
            let angle = rng.range(0.0, TAU);
            (
                self.light_x + angle.cos() * self.light_radius * 0.45,
                self.light_y + angle.sin() * self.light_radius * 0.45,
            )
        })
    }
}

/// Sky: a smooth gradient toward the horizon, warmed around the light.
fn paint_sky(canvas: &mut Canvas, scene: &Scene) {
    let night = scene.palette.night;
    let glow_radius = scene.light_radius * if night { 2.5 } else { 4.5 };
    let glow_strength = if night { 0.12 } else { 0.32 };
    for y in 0..scene.height {
        let t = smoothstep(0.0, 0.72, y as f32 / scene.h);
        let row = mix(scene.sky_top, scene.horizon, t);
        for x in 0..scene.width {
            let (dx, dy) = (
                x as f32 + 0.5 - scene.light_x,
                y as f32 + 0.5 - scene.light_y,
            );
            let falloff = (-(dx * dx + dy * dy) / (glow_radius * glow_radius)).exp();
            canvas.set(x, y, row);
            canvas.add(x, y, scene.light(), glow_strength * falloff);
        }
    }
}

/// Stars, fainter toward the horizon.
fn paint_stars(canvas: &mut Canvas, scene: &Scene, rng: &mut Rng) {
    let (w, h) = (scene.w, scene.h);
    let count = (w * h / 1800.0) as usize + rng.below(30);
    for _ in 0..count {
        let (sx, sy) = (rng.range(0.0, w), rng.range(0.0, h * 0.6));
        let brightness = rng.range(0.35, 1.0) * (1.0 - sy / (h * 0.6));
        let radius = if rng.chance(0.12) { 1.3 } else { 0.75 };
        canvas.circle(sx, sy, radius, scene.light(), brightness);
    }
}

/// The sun, or a full or crescent moon; the crescent's dark side shows the glowing sky.
fn paint_light(canvas: &mut Canvas, scene: &Scene, crescent: Option<(f32, f32)>) {
    let (light_x, light_y) = (scene.light_x, scene.light_y);
    match crescent {
        Some((shadow_x, shadow_y)) => {
            let r = scene.light_radius;
            let shadow_r = r * 0.92;
            let bounds = [light_x - r, light_y - r, light_x + r, light_y + r];
            canvas.fill(bounds, scene.light(), 1.0, |x, y| {
                let lit = (x - light_x).powi(2) + (y - light_y).powi(2) <= r * r;
                let shaded = (x - shadow_x).powi(2) + (y - shadow_y).powi(2) <= shadow_r * shadow_r;
                lit && !shaded
            });
        }
        None => canvas.circle(light_x, light_y, scene.light_radius, scene.light(), 1.0),
    }
}

/// Two to four flat-bottomed clouds.
fn paint_clouds(canvas: &mut Canvas, scene: &Scene, rng: &mut Rng) {
    let (w, h) = (scene.w, scene.h);
    for _ in 0..2 + rng.below(3) {
        let cx = rng.range(-0.05, 1.05) * w;
        let cy = rng.range(0.08, 0.35) * h;
        let size = rng.range(0.04, 0.07) * scene.unit;
        let color = mix([1.0, 1.0, 1.0], scene.horizon, 0.25);
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

/// A tower: the ridge it stands on, where, how tall (in pixels).
#[derive(Clone, Copy)]
struct Tower {
    layer: usize,
    x: f32,
    height: f32,
}

/// The three ridges, far to near (the middle one sometimes a sea), and the tower on one.
struct Ground {
    ridges: [Ridge; 3],
    tower: Option<Tower>,
    /// The scene's size, to turn a ridge's fractions into pixels.
    w: f32,
    h: f32,
}

impl Ground {
    fn new(rng: &mut Rng, scene: &Scene) -> Self {
        let sea_in_middle = rng.chance(0.45);
        let far_base = rng.range(0.52, 0.6);
        let middle_base = if sea_in_middle {
            0.66
        } else {
            rng.range(0.68, 0.73)
        };
        let near_base = rng.range(0.84, 0.89);
        let ridges = [
            Ridge::new(rng, far_base, 0.16, false),
            Ridge::new(rng, middle_base, 0.09, sea_in_middle),
            Ridge::new(rng, near_base, 0.08, false),
        ];
        // On the middle ridge, or the near one when the middle is sea.
        let tower = rng.chance(0.6).then(|| Tower {
            layer: if sea_in_middle { 2 } else { 1 },
            x: rng.range(0.1, 0.9) * scene.w,
            height: rng.range(0.12, 0.2) * scene.h,
        });
        Self {
            ridges,
            tower,
            w: scene.w,
            h: scene.h,
        }
    }

    /// The top of ridge `layer` at pixel column `x`, in pixels from the top.
    fn top_of(&self, layer: usize, x: f32) -> f32 {
        self.ridges[layer].top(x / self.w) * self.h
    }
}

/// The ridges, far to near, each with the tower right after it if it stands there, so nearer
/// ridges stand in front of the tower.
fn paint_ridges(canvas: &mut Canvas, scene: &Scene, ground: &Ground) {
    // Far ridges fade into the horizon's color: distance reads as depth.
    let haze = [0.45, 0.2, 0.0];
    let sea_color = mix(scale(scene.horizon, 0.75), scene.sky_top, 0.35);
    for (layer, ridge) in ground.ridges.iter().enumerate() {
        let color = mix(
            scene.tinted(scene.palette.layers[layer]),
            scene.horizon,
            haze[layer],
        );
        for x in 0..scene.width {
            let edge = ground.top_of(layer, x as f32 + 0.5);
            if ridge.sea {
                paint_water(canvas, scene, x, edge, sea_color);
            } else {
                paint_hill(canvas, scene, x, edge, color);
            }
        }
        if let Some(tower) = ground.tower
            && tower.layer == layer
        {
            let half = tower.height * 0.11;
            let base = ground.top_of(layer, tower.x) + half;
            paint_tower(
                canvas,
                tower.x,
                base,
                tower.height,
                scale(color, 0.8),
                scene.palette.night,
            );
        }
    }
}

/// How much of pixel row `y` lies below `edge`, and how far below it the row is (0 at the
/// edge, 1 at the picture's bottom).
fn coverage_and_depth(scene: &Scene, y: usize, edge: f32) -> (f32, f32) {
    let coverage = (y as f32 + 1.0 - edge).clamp(0.0, 1.0);
    let depth = ((y as f32 - edge) / (scene.h - edge).max(1.0)).clamp(0.0, 1.0);
    (coverage, depth)
}

/// Column `x` of a hill from `edge` down, darker with depth.
fn paint_hill(canvas: &mut Canvas, scene: &Scene, x: usize, edge: f32, color: Rgb) {
    let first_row = edge.floor().max(0.0) as usize;
    for y in first_row..scene.height {
        let (coverage, depth) = coverage_and_depth(scene, y, edge);
        let ground = mix(color, scale(color, 0.78), depth);
        canvas.blend(x, y, ground, coverage);
    }
}

/// Column `x` of the sea from `edge` down: darker with depth, a shimmering path under the
/// light.
fn paint_water(canvas: &mut Canvas, scene: &Scene, x: usize, edge: f32, sea_color: Rgb) {
    let first_row = edge.floor().max(0.0) as usize;
    for y in first_row..scene.height {
        let (coverage, depth) = coverage_and_depth(scene, y, edge);
        let water = mix(sea_color, scale(sea_color, 0.7), depth);
        canvas.blend(x, y, water, coverage);
        let dx = (x as f32 - scene.light_x) / (scene.light_radius * 1.6);
        let ripple = 0.5 + 0.5 * (y as f32 * 1.7 + (x as f32 * 0.05).sin() * 3.0).sin();
        let path = (-dx * dx).exp() * ripple * (1.0 - depth * 0.6);
        canvas.add(x, y, scene.light(), 0.35 * path * coverage);
    }
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

/// Two to seven pines and round trees on the near ridge.
fn paint_trees(canvas: &mut Canvas, scene: &Scene, ground: &Ground, rng: &mut Rng) {
    let tree_color = scale(scene.tinted(scene.palette.layers[2]), 0.8);
    for _ in 0..2 + rng.below(6) {
        let x = rng.range(0.02, 0.98) * scene.w;
        let base = ground.top_of(2, x) + 2.0;
        let size = rng.range(0.06, 0.13) * scene.h;
        let pine = rng.chance(0.65);
        paint_tree(canvas, (x, base), size, tree_color, pine);
    }
}

/// A trunk standing at `foot`, under three tiers of a pine or a round crown.
fn paint_tree(canvas: &mut Canvas, foot: (f32, f32), size: f32, color: Rgb, pine: bool) {
    let (x, base) = foot;
    canvas.rect(
        x - size * 0.04,
        base - size * 0.35,
        x + size * 0.04,
        base,
        color,
    );
    if pine {
        for tier in 0..3 {
            let tier = tier as f32;
            let bottom = base - size * (0.2 + tier * 0.22);
            canvas.spike(
                x,
                bottom - size * 0.45,
                bottom,
                size * (0.3 - tier * 0.06),
                color,
            );
        }
    } else {
        canvas.circle(x, base - size * 0.55, size * 0.3, color, 1.0);
    }
}

/// Up to four birds, as two strokes each.
fn paint_birds(canvas: &mut Canvas, scene: &Scene, rng: &mut Rng) {
    let (w, h) = (scene.w, scene.h);
    let bird_color = scale(scene.sky_top, 0.45);
    for _ in 0..rng.below(5) {
        let bx = rng.range(0.1, 0.9) * w;
        let by = rng.range(0.12, 0.4) * h;
        let span = rng.range(0.008, 0.016) * w;
        let thickness = (scene.unit * 0.006).max(1.0);
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
