//! [`Trend`]: a robust slope of one run's memory over time.
//!
//! The history keeps at most [`MAX_SAMPLES`] samples evenly spread over the
//! run's whole life: when it is full every second sample is dropped and the
//! spacing between kept samples doubles, so a run of days costs the same as a
//! run of minutes. With enough samples the estimate reads the *floor* of the
//! usage: the least sample in each of [`BUCKETS`] equal slices of the span,
//! which is what is left after each garbage collection, so a GC's sawtooth
//! whose teeth are shorter than a slice reads as flat. The slope is
//! Theil–Sen's (the median of the slopes between every pair of points),
//! which a one-off spike does not move; whether there is a trend at all is
//! Mann–Kendall's test (the sum of the signs of every pair, against its
//! spread under "no trend"), so noise around a flat line is never a leak.

use std::time::{Duration, Instant};

/// Samples kept; Theil–Sen costs `n²/2` slopes (≈ 8,000 at 128).
pub(super) const MAX_SAMPLES: usize = 128;
/// Fewest samples for any estimate.
const MIN_SAMPLES: usize = 8;
/// Slices whose floors are fitted, once there are twice as many samples.
const BUCKETS: usize = 16;
/// Mann–Kendall z-score a trend must pass (one-sided, p ≈ 0.001).
const Z_TREND: f64 = 3.09;

/// The memory samples of one run.
#[derive(Debug, Clone)]
pub(super) struct Trend {
    start: Instant,
    /// (seconds since `start`, bytes).
    samples: Vec<(f64, f64)>,
    /// The least spacing between kept samples, doubled at every thinning.
    gap: f64,
}

/// What the history says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Estimate {
    /// Bytes per second (Theil–Sen).
    pub slope: f64,
    /// Whether the samples rise beyond chance (Mann–Kendall).
    pub rising: bool,
    /// The time the samples span.
    pub span: Duration,
}

impl Trend {
    pub(super) fn new(start: Instant) -> Trend {
        Trend { start, samples: Vec::new(), gap: 0.0 }
    }

    /// Add the usage `bytes` read at `now`.
    pub(super) fn push(&mut self, now: Instant, bytes: u64) {
        let t = now.saturating_duration_since(self.start).as_secs_f64();
        if self.samples.last().is_some_and(|(last, _)| t - last < self.gap) {
            return;
        }
        self.samples.push((t, bytes as f64));
        if self.samples.len() > MAX_SAMPLES {
            let kept: Vec<_> = self.samples.iter().copied().step_by(2).collect();
            self.samples = kept;
            self.gap = self.samples.windows(2).map(|w| w[1].0 - w[0].0).fold(f64::MAX, f64::min);
        }
    }

    /// The trend, once there are enough samples.
    pub(super) fn estimate(&self) -> Option<Estimate> {
        if self.samples.len() < MIN_SAMPLES {
            return None;
        }
        let points = self.points();
        let n = points.len();
        let mut slopes = Vec::with_capacity(n * (n - 1) / 2);
        let mut s = 0i64;
        for (i, (ti, yi)) in points.iter().enumerate() {
            for (tj, yj) in &points[i + 1..] {
                s += (yj - yi).partial_cmp(&0.0).map_or(0, |o| o as i64);
                if tj > ti {
                    slopes.push((yj - yi) / (tj - ti));
                }
            }
        }
        if slopes.is_empty() {
            return None;
        }
        slopes.sort_by(f64::total_cmp);
        let mid = slopes.len() / 2;
        let slope =
            if slopes.len() % 2 == 1 { slopes[mid] } else { (slopes[mid - 1] + slopes[mid]) / 2.0 };
        let nf = n as f64;
        let variance = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
        let z = (s as f64 - 1.0) / variance.sqrt();
        let span = self.samples[self.samples.len() - 1].0 - self.samples[0].0;
        Some(Estimate { slope, rising: z > Z_TREND, span: Duration::from_secs_f64(span) })
    }

    /// The points fitted: every sample, or with enough of them the floor
    /// (least sample, at its time) of each of [`BUCKETS`] equal slices.
    fn points(&self) -> Vec<(f64, f64)> {
        let n = self.samples.len();
        if n < 2 * BUCKETS {
            return self.samples.clone();
        }
        let (first, last) = (self.samples[0].0, self.samples[n - 1].0);
        let width = (last - first) / BUCKETS as f64;
        let mut floors: Vec<Option<(f64, f64)>> = vec![None; BUCKETS];
        for &(t, y) in &self.samples {
            let b = (((t - first) / width) as usize).min(BUCKETS - 1);
            if floors[b].is_none_or(|(_, least)| y < least) {
                floors[b] = Some((t, y));
            }
        }
        floors.into_iter().flatten().collect()
    }

    /// The newest sample, bytes.
    pub(super) fn last(&self) -> Option<u64> {
        self.samples.last().map(|(_, y)| *y as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1024.0 * 1024.0;

    /// A deterministic "random" in [-1, 1): a linear congruential generator.
    fn noise(seed: &mut u64) -> f64 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    fn fill(f: impl Fn(f64, &mut u64) -> f64, seconds: u64, every: u64) -> Trend {
        let t0 = Instant::now();
        let mut trend = Trend::new(t0);
        let mut seed = 7;
        for s in (0..=seconds).step_by(every as usize) {
            let bytes = f(s as f64, &mut seed).max(0.0) as u64;
            trend.push(t0 + Duration::from_secs(s), bytes);
        }
        trend
    }

    #[test]
    fn a_steady_leak_under_noise_is_found_at_its_rate() {
        // 40 MiB/h from 500 MiB, ±20 MiB of noise, sampled every 5 s for 2 h.
        let rate = 40.0 * MIB / 3600.0;
        let trend = fill(|t, seed| 500.0 * MIB + rate * t + 20.0 * MIB * noise(seed), 7200, 5);
        let e = trend.estimate().unwrap();
        assert!(e.rising);
        let per_hour = e.slope * 3600.0 / MIB;
        assert!((per_hour - 40.0).abs() < 4.0, "{per_hour} MiB/h");
        assert!(trend.samples.len() <= MAX_SAMPLES);
        assert!(e.span >= Duration::from_secs(7000), "thinning keeps the whole span: {e:?}");
    }

    #[test]
    fn noise_around_a_flat_line_is_no_trend() {
        for seed0 in [1, 2, 3, 99] {
            let trend = fill(
                |_, seed| {
                    *seed ^= seed0;
                    800.0 * MIB + 50.0 * MIB * noise(seed)
                },
                3600,
                5,
            );
            let e = trend.estimate().unwrap();
            assert!(!e.rising, "seed {seed0}: {e:?}");
            assert!((e.slope * 3600.0 / MIB).abs() < 10.0, "seed {seed0}: {e:?}");
        }
    }

    #[test]
    fn a_gc_sawtooth_is_flat_and_a_rising_sawtooth_is_its_floor_rate() {
        // Climb 100 MiB in 5 min, collect back to 300 MiB, for 3 h.
        let tooth = |t: f64| 300.0 * MIB + 100.0 * MIB * ((t % 300.0) / 300.0);
        let flat = fill(|t, _| tooth(t), 3 * 3600, 5).estimate().unwrap();
        assert!(
            (flat.slope * 3600.0 / MIB).abs() < 5.0,
            "a sawtooth that returns to its floor does not grow: {flat:?}"
        );
        let rate = 30.0 * MIB / 3600.0;
        let rising = fill(|t, _| tooth(t) + rate * t, 3 * 3600, 5).estimate().unwrap();
        assert!(rising.rising);
        let per_hour = rising.slope * 3600.0 / MIB;
        assert!((per_hour - 30.0).abs() < 8.0, "{per_hour} MiB/h");
    }

    #[test]
    fn too_few_samples_say_nothing() {
        let trend = fill(|t, _| t * MIB, 30, 5);
        assert_eq!(trend.estimate(), None, "7 samples");
        assert_eq!(trend.last(), Some((30.0 * MIB) as u64));
    }
}
