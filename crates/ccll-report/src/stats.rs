//! Summary statistics over seeds. The spread is the sample standard deviation (n - 1); it is
//! undefined for a single value and then reported as `None` (printed as "–", no error bar).

/// Per column of `rows` (one row per seed; rows may be short or hold `None`), the
/// [`mean_std`] of the values it has.
pub fn column_mean_std(rows: &[Vec<Option<f64>>]) -> Vec<Option<(f64, Option<f64>)>> {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..width)
        .map(|j| {
            let v: Vec<f64> = rows
                .iter()
                .filter_map(|row| row.get(j).copied().flatten())
                .collect();
            mean_std(&v)
        })
        .collect()
}

/// Mean and sample standard deviation of the finite values; `None` without any.
pub fn mean_std(values: &[f64]) -> Option<(f64, Option<f64>)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Some((mean, std))
}

/// "12.3M", "440.0k", "512": parameter counts at a glance.
pub fn human_count(n: f64) -> String {
    let a = n.abs();
    if a >= 1e9 {
        format!("{:.2}G", n / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", n / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_std_uses_n_minus_one() {
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m, 2.5);
        assert!((s.unwrap() - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn one_value_has_no_spread_and_nan_is_skipped() {
        assert_eq!(mean_std(&[7.0, f64::NAN]), Some((7.0, None)));
        assert_eq!(mean_std(&[]), None);
    }

    #[test]
    fn counts_read_at_a_glance() {
        assert_eq!(human_count(11_000_000.0), "11.00M");
        assert_eq!(human_count(440_000.0), "440.0k");
        assert_eq!(human_count(512.0), "512");
    }
}
