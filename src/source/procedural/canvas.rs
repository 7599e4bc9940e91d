//! A float RGB canvas the landscape is painted on, with the few shapes it is drawn from.

/// A color: red, green and blue in `0.0..=1.0` (light added may go over).
pub(super) type Rgb = [f32; 3];

/// `#rrggbb` as a color with channels in `0.0..=1.0`.
pub(super) const fn hex(rgb: u32) -> Rgb {
    [
        ((rgb >> 16) & 0xFF) as f32 / 255.0,
        ((rgb >> 8) & 0xFF) as f32 / 255.0,
        (rgb & 0xFF) as f32 / 255.0,
    ]
}

/// `a` blended toward `b` by `t`.
pub(super) fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// `color` darkened (or brightened) by `factor`.
pub(super) fn scale(color: Rgb, factor: f32) -> Rgb {
    [color[0] * factor, color[1] * factor, color[2] * factor]
}

/// 0 below `edge0`, 1 above `edge1`, a smooth ramp between.
pub(super) fn smoothstep(edge0: f32, edge1: f32, x: f32) -> f32 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A float RGB canvas with coverage-blended drawing.
pub(super) struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<Rgb>,
}

impl Canvas {
    /// A black canvas of `width` × `height` pixels.
    pub(super) fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![[0.0; 3]; width * height],
        }
    }

    /// Sets the pixel at `(x, y)` to `color`.
    pub(super) fn set(&mut self, x: usize, y: usize, color: Rgb) {
        self.pixels[y * self.width + x] = color;
    }

    /// Blends `color` over the pixel at `(x, y)` by `alpha` (at most 1).
    pub(super) fn blend(&mut self, x: usize, y: usize, color: Rgb, alpha: f32) {
        if alpha <= 0.0 {
            return;
        }
        let pixel = &mut self.pixels[y * self.width + x];
        *pixel = mix(*pixel, color, alpha.min(1.0));
    }

    /// Adds `color` times `amount` to the pixel at `(x, y)`, as light does.
    pub(super) fn add(&mut self, x: usize, y: usize, color: Rgb, amount: f32) {
        let pixel = &mut self.pixels[y * self.width + x];
        for (channel, light) in pixel.iter_mut().zip(color) {
            *channel += light * amount;
        }
    }

    /// Fills what `inside` says is inside, within the box `(x0, y0)..(x1, y1)` in pixels,
    /// sampling each pixel 4×4 times so small shapes get smooth edges.
    pub(super) fn fill(
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

    /// A disc of `radius` around `(cx, cy)`.
    pub(super) fn circle(&mut self, cx: f32, cy: f32, radius: f32, color: Rgb, alpha: f32) {
        let bounds = [cx - radius, cy - radius, cx + radius, cy + radius];
        self.fill(bounds, color, alpha, |x, y| {
            (x - cx).powi(2) + (y - cy).powi(2) <= radius * radius
        });
    }

    /// A triangle pointing up: apex at `(cx, top)`, base from `cx - half` to `cx + half` at
    /// `bottom`.
    pub(super) fn spike(&mut self, cx: f32, top: f32, bottom: f32, half: f32, color: Rgb) {
        let bounds = [cx - half, top, cx + half, bottom];
        self.fill(bounds, color, 1.0, |x, y| {
            let t = (y - top) / (bottom - top);
            (0.0..=1.0).contains(&t) && (x - cx).abs() <= half * t
        });
    }

    /// The box `(x0, y0)..(x1, y1)`, opaque.
    pub(super) fn rect(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, color: Rgb) {
        self.fill([x0, y0, x1, y1], color, 1.0, |x, y| {
            x >= x0 && x <= x1 && y >= y0 && y <= y1
        });
    }

    /// A thick line segment with round ends.
    pub(super) fn line(&mut self, from: (f32, f32), to: (f32, f32), thickness: f32, color: Rgb) {
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
    pub(super) fn to_rgba(&self) -> Vec<u8> {
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
