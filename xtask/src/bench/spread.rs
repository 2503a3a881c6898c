//! Median and range of a set of measurements.

use serde_json::{Value, json};

/// Median, min and max of some numbers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        if values.is_empty() {
            return Spread::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// `min–max` with three decimals, as the tables print a ratio's range.
    pub fn range(self) -> String {
        format!("{:.3}–{:.3}", self.min, self.max)
    }

    pub fn to_json(self) -> Value {
        json!({"median": self.median, "min": self.min, "max": self.max})
    }
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn median_and_range() {
        let odd = Spread::of(&[0.97, 0.91, 1.02]);
        assert_eq!((odd.median, odd.min, odd.max), (0.97, 0.91, 1.02));
        let even = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((even.median, even.min, even.max), (2.5, 1.0, 4.0));
        let none = Spread::of(&[]);
        assert_eq!((none.median, none.min, none.max), (0.0, 0.0, 0.0));
    }
}
