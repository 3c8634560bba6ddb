//! The timing method every benchmark side of `tools/compare.py` shares (cnn's `timing` bench
//! and tract's `tools/tract_timing`), so that their medians mean the same thing.

use std::time::Instant;

/// Median milliseconds of 20 samples, each repeating `f` for at least 2 ms, after a warm-up.
pub fn median_ms(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut reps = 0;
    while start.elapsed().as_secs_f64() < 0.2 || reps < 3 {
        f();
        reps += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / reps as f64;
    let inner = ((0.002 / per_call) as usize).max(1);
    let mut samples: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..inner {
                f();
            }
            t.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    (samples[9] + samples[10]) / 2.0 * 1e3
}
