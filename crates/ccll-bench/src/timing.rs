//! Measuring on a shared machine: two contenders timed in alternation, back to back, several
//! rounds, reported as medians and as the median of the per-round ratios (a slow spell of the
//! machine hits both sides of a round alike and cancels out of its ratio).

use std::time::Instant;

/// Median of a sample (mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// CPU time (user + system, all threads) this process has used, in seconds.
pub fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Seconds that `f` takes.
pub fn seconds<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64(), out)
}

/// The outcome of an alternating comparison. Values are "bigger is better" rates or
/// "smaller is better" times, as the caller measured them; `ratios` are a / b per round.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub ratios: Vec<f64>,
}

impl Paired {
    /// Pairs two samples round by round.
    pub fn new(a: Vec<f64>, b: Vec<f64>) -> Self {
        let ratios = a.iter().zip(&b).map(|(x, y)| x / y).collect();
        Self { a, b, ratios }
    }

    pub fn median_a(&self) -> f64 {
        median(&self.a)
    }

    pub fn median_b(&self) -> f64 {
        median(&self.b)
    }

    /// Median of the per-round ratios a / b.
    pub fn ratio(&self) -> f64 {
        median(&self.ratios)
    }

    /// `min..max` of the per-round ratios, for the notes.
    pub fn spread(&self) -> String {
        let lo = self.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = self
            .ratios
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        format!("{} rounds, ratio {lo:.3}..{hi:.3}", self.ratios.len())
    }
}

/// Runs `a` and `b` alternately for `rounds` rounds (a first in even rounds, b first in odd
/// ones) and pairs their values round by round.
pub fn alternate<E>(
    rounds: usize,
    mut a: impl FnMut() -> Result<f64, E>,
    mut b: impl FnMut() -> Result<f64, E>,
) -> Result<Paired, E> {
    let mut out = Paired {
        a: Vec::with_capacity(rounds),
        b: Vec::with_capacity(rounds),
        ratios: Vec::with_capacity(rounds),
    };
    for r in 0..rounds {
        let (va, vb) = if r % 2 == 0 {
            let va = a()?;
            (va, b()?)
        } else {
            let vb = b()?;
            (a()?, vb)
        };
        out.a.push(va);
        out.b.push(vb);
        out.ratios.push(va / vb);
    }
    Ok(out)
}

/// Steps per timed block so that a block lasts about `block_seconds`, from the time of one
/// step; at least 1, at most `max`.
pub fn steps_for(step_seconds: f64, block_seconds: f64, max: usize) -> usize {
    if step_seconds.is_nan() || step_seconds <= 0.0 {
        return max;
    }
    ((block_seconds / step_seconds).ceil() as usize).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn alternation_pairs_rounds_and_swaps_order() {
        let order = std::cell::RefCell::new(Vec::new());
        let p = alternate::<()>(
            3,
            || {
                order.borrow_mut().push('a');
                Ok(2.0)
            },
            || {
                order.borrow_mut().push('b');
                Ok(1.0)
            },
        )
        .unwrap();
        assert_eq!(order.into_inner(), vec!['a', 'b', 'b', 'a', 'a', 'b']);
        assert_eq!(p.ratios, vec![2.0; 3]);
        assert_eq!(p.ratio(), 2.0);
    }

    #[test]
    fn step_counts() {
        assert_eq!(steps_for(0.01, 1.0, 1000), 100);
        assert_eq!(steps_for(3.0, 1.0, 1000), 1);
        assert_eq!(steps_for(0.0001, 1.0, 50), 50);
    }
}
