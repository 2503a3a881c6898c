//! Zombie-time distribution: log-linear buckets (8 per power of two, so any percentile is within
//! 12.5% of the truth), exact count, sum, min and max; memory grows only with the largest value.

/// Sub-buckets per power of two (3 bits of precision).
const SUB_BITS: u32 = 3;
const SUB: u64 = 1 << SUB_BITS;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exp = 63 - value.leading_zeros(); // ≥ SUB_BITS
    let mantissa = value >> (exp - SUB_BITS); // in [SUB, 2·SUB)
    ((exp - SUB_BITS + 1) as u64 * SUB + (mantissa - SUB)) as usize
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = i / SUB - 1 + SUB_BITS as u64;
    let mantissa = SUB + i % SUB;
    let next = ((mantissa + 1) as u128) << (exp - SUB_BITS as u64);
    u64::try_from(next - 1).unwrap_or(u64::MAX)
}

impl Histogram {
    pub fn record(&mut self, value: u64) {
        let i = index(value);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        if self.count == 0 || value < self.min {
            self.min = value;
        }
        self.max = self.max.max(value);
        self.count += 1;
        self.sum += value as u128;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1): the upper edge of its bucket, never above the max.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return upper_bound(i).min(self.max).max(self.min);
            }
        }
        self.max
    }

    /// Counts per power of two, as bcc's runqlat prints them: `(low, high, count)` with
    /// `low ≤ value < high`, from the first non-empty bucket to the last.
    pub fn log2_buckets(&self) -> Vec<(u64, u64, u64)> {
        let mut by_pow: Vec<u64> = Vec::new();
        for (i, &n) in self.counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let v = upper_bound(i);
            let pow = if v == 0 {
                0
            } else {
                64 - v.leading_zeros() as usize
            };
            if by_pow.len() <= pow {
                by_pow.resize(pow + 1, 0);
            }
            by_pow[pow] += n;
        }
        let first = by_pow.iter().position(|&n| n > 0).unwrap_or(0);
        by_pow
            .iter()
            .enumerate()
            .skip(first)
            .map(|(pow, &n)| {
                let low = if pow == 0 { 0 } else { 1u64 << (pow - 1) };
                let high = 1u64.checked_shl(pow as u32).unwrap_or(u64::MAX);
                (low, high, n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..10_000u64).chain([u32::MAX as u64, u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(i >= last, "index is monotonic at {v}");
            last = i;
            assert!(upper_bound(i) >= v, "bucket {i} holds {v}");
            if i > 0 {
                assert!(upper_bound(i - 1) < v, "{v} is not in the previous bucket");
            }
        }
    }

    #[test]
    fn quantiles_are_within_an_eighth() {
        let mut h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(ms * 1_000_000);
        }
        for (q, exact) in [(0.5, 500e6), (0.9, 900e6), (0.99, 990e6)] {
            let got = h.quantile(q) as f64;
            assert!(
                got >= exact && got <= exact * 1.125,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.quantile(1.0), 1_000_000_000);
        assert_eq!(h.max(), 1_000_000_000);
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in [0, 1, 2, 3, 7] {
            h.record(v);
        }
        assert_eq!(h.quantile(0.0), 0);
        assert_eq!(h.quantile(0.5), 2);
        assert_eq!(h.quantile(1.0), 7);
    }

    #[test]
    fn log2_view() {
        let mut a = Histogram::default();
        a.record(5); // [4, 8)
        a.record(6);
        a.record(1000); // [512, 1024)
        let buckets = a.log2_buckets();
        assert_eq!(buckets.first(), Some(&(4, 8, 2)));
        assert_eq!(buckets.last(), Some(&(512, 1024, 1)));
        assert_eq!(buckets.iter().map(|b| b.2).sum::<u64>(), 3);
        assert_eq!((a.count(), a.max(), a.quantile(0.0)), (3, 1000, 5));
    }
}
