//! The painters' random numbers: a seed from a request's key, and a generator that gives the
//! same sequence on every platform.

use crate::request::RequestKey;

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
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
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

    pub(super) fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// An index in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(super) fn chance(&mut self, probability: f32) -> bool {
        self.unit() < probability
    }
}
