//! How long jobs take when they take as long as on a hosted service: a log-normal time per media
//! kind, fitted to a median and a 95th percentile, drawn per job from the builder's seed.

use std::str::FromStr;
use std::time::Duration;

use bevy_asset_provider::MediaKind;

/// The standard normal's 95th percentile: a log-normal's p95 is `p50 · e^(σ · Z95)`.
const Z95: f64 = 1.644_853_626_951_472_2;

/// How long one kind's jobs take: a log-normal with this median and 95th percentile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLatency {
    /// Half the jobs take less.
    pub p50: Duration,
    /// 95 in 100 jobs take less (at least `p50`).
    pub p95: Duration,
}

impl JobLatency {
    /// A median and a 95th percentile; a `p95` below `p50` is taken as `p50` (every job then
    /// takes `p50`).
    #[must_use]
    pub fn new(p50: Duration, p95: Duration) -> Self {
        Self {
            p50,
            p95: p95.max(p50),
        }
    }

    /// One job's time, drawn with `rng`.
    pub(crate) fn draw(&self, rng: &mut fastrand::Rng) -> Duration {
        let p50 = self.p50.as_secs_f64();
        if p50 <= 0.0 {
            return Duration::ZERO;
        }
        let sigma = (self.p95.as_secs_f64() / p50).ln() / Z95;
        let seconds = p50 * (sigma * standard_normal(rng)).exp();
        Duration::try_from_secs_f64(seconds).unwrap_or(self.p95)
    }
}

/// A standard normal draw (Box–Muller), kept within ±8 so a time never overflows.
fn standard_normal(rng: &mut fastrand::Rng) -> f64 {
    // `1 - f64()` is in (0, 1]: the logarithm stays finite.
    let radius = (-2.0 * (1.0 - rng.f64()).ln()).sqrt();
    let angle = std::f64::consts::TAU * rng.f64();
    (radius * angle.cos()).clamp(-8.0, 8.0)
}

/// Job times per media kind; see
/// [`DevBackendBuilder::latency_profile`](crate::DevBackendBuilder::latency_profile). A kind
/// without a time keeps the builder's [`job_delays`](crate::DevBackendBuilder::job_delays).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyProfile {
    kinds: [Option<JobLatency>; 3],
}

impl LatencyProfile {
    /// A hosted generation service's times: pictures p50 8 s / p95 20 s, video clips
    /// p50 60 s / p95 150 s, sound cues p50 3 s / p95 6 s.
    #[must_use]
    pub fn hosted() -> Self {
        let s = Duration::from_secs;
        Self::default()
            .kind(MediaKind::Image, s(8), s(20))
            .kind(MediaKind::Video, s(60), s(150))
            .kind(MediaKind::Audio, s(3), s(6))
    }

    /// Sets `kind`'s jobs to a median of `p50` and a 95th percentile of `p95`.
    #[must_use]
    pub fn kind(mut self, kind: MediaKind, p50: Duration, p95: Duration) -> Self {
        self.kinds[index(kind)] = Some(JobLatency::new(p50, p95));
        self
    }

    /// Every time multiplied by `factor` (0.02 plays a minute in 1.2 s); a factor that is not
    /// a positive number is taken as 1.
    #[must_use]
    pub fn scaled(mut self, factor: f64) -> Self {
        let factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        for latency in self.kinds.iter_mut().flatten() {
            *latency = JobLatency::new(latency.p50.mul_f64(factor), latency.p95.mul_f64(factor));
        }
        self
    }

    /// `kind`'s job time, if set.
    pub fn get(&self, kind: MediaKind) -> Option<JobLatency> {
        self.kinds[index(kind)]
    }
}

/// Reads `hosted` or `hosted:SCALE` (`hosted:0.1` is ten times faster), as the command lines
/// take it.
impl FromStr for LatencyProfile {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, scale) = match text.split_once(':') {
            Some((name, scale)) => (name, Some(scale)),
            None => (text, None),
        };
        let profile = match name.trim() {
            "hosted" => Self::hosted(),
            other => return Err(format!("unknown latency profile {other:?} (known: hosted)")),
        };
        let Some(scale) = scale else {
            return Ok(profile);
        };
        match scale.trim().parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(profile.scaled(factor)),
            _ => Err(format!(
                "latency scale {scale:?} is not a positive number (as in hosted:0.1)"
            )),
        }
    }
}

/// Where a kind sits in per-kind arrays.
fn index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Image => 0,
        MediaKind::Audio => 1,
        MediaKind::Video => 2,
    }
}

/// The random source of job `id`'s `attempt`-th run: the same for the same seed, whatever order
/// jobs run in.
pub(crate) fn job_rng(seed: u64, id: u64, attempt: u32) -> fastrand::Rng {
    let mixed = seed
        ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ u64::from(attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    fastrand::Rng::with_seed(mixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `q`-quantile of sorted `times`.
    fn quantile(times: &[Duration], q: f64) -> Duration {
        times[((times.len() - 1) as f64 * q).round() as usize]
    }

    fn draws(latency: JobLatency, count: u64) -> Vec<Duration> {
        let mut times: Vec<Duration> = (0..count)
            .map(|id| latency.draw(&mut job_rng(0x0DEF_ACED, id, 1)))
            .collect();
        times.sort();
        times
    }

    #[test]
    fn draws_have_the_asked_median_and_tail_within_five_percent() {
        for (kind, p50, p95) in [
            (MediaKind::Image, 8.0, 20.0),
            (MediaKind::Video, 60.0, 150.0),
            (MediaKind::Audio, 3.0, 6.0),
        ] {
            let latency = LatencyProfile::hosted().get(kind).expect("a hosted time");
            let times = draws(latency, 20_000);
            for (q, asked) in [(0.5, p50), (0.95, p95)] {
                let drawn = quantile(&times, q).as_secs_f64();
                assert!(
                    (drawn / asked - 1.0).abs() < 0.05,
                    "{kind:?}: p{} drawn {drawn:.2} s, asked {asked} s",
                    q * 100.0
                );
            }
        }
    }

    #[test]
    fn draws_repeat_with_the_seed_and_differ_between_jobs() {
        let latency = JobLatency::new(Duration::from_secs(8), Duration::from_secs(20));
        assert_eq!(draws(latency, 100), draws(latency, 100));
        let one = latency.draw(&mut job_rng(1, 1, 1));
        assert_eq!(one, latency.draw(&mut job_rng(1, 1, 1)));
        assert_ne!(one, latency.draw(&mut job_rng(1, 2, 1)));
        assert_ne!(one, latency.draw(&mut job_rng(2, 1, 1)));
    }

    #[test]
    fn a_tail_below_the_median_makes_every_job_take_the_median() {
        let latency = JobLatency::new(Duration::from_secs(3), Duration::from_secs(1));
        assert_eq!(latency.p95, Duration::from_secs(3));
        assert!(
            draws(latency, 50)
                .iter()
                .all(|t| *t == Duration::from_secs(3))
        );
    }

    #[test]
    fn profiles_scale_and_read_from_the_command_line() {
        let scaled = LatencyProfile::hosted().scaled(0.1);
        let image = scaled.get(MediaKind::Image).expect("pictures");
        assert_eq!(image.p50, Duration::from_millis(800));
        assert_eq!(image.p95, Duration::from_secs(2));
        assert_eq!("hosted".parse(), Ok(LatencyProfile::hosted()));
        assert_eq!("hosted:0.1".parse(), Ok(scaled));
        assert!(LatencyProfile::default().get(MediaKind::Video).is_none());
        let unknown = "cloud".parse::<LatencyProfile>().unwrap_err();
        assert!(unknown.contains("cloud"), "{unknown}");
        let bad = "hosted:-2".parse::<LatencyProfile>().unwrap_err();
        assert!(bad.contains("-2"), "{bad}");
        assert!("hosted:fast".parse::<LatencyProfile>().is_err());
    }
}
