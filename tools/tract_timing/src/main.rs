//! Times one ONNX model in tract (sonos's pure-Rust inference engine) the way
//! `benches/timing.rs` times cnn's networks, and prints one JSON line for `tools/compare.py`:
//!
//! ```text
//! tract_timing MODEL.onnx BATCH C H W THREADS   # {"ms": median of 20 samples, "threads": ...}
//! ```
//!
//! The model is loaded with its input's shape fixed, then `into_optimized()` (tract's graph
//! optimizations and kernel choice) and `into_runnable()`, as tract's documentation runs a
//! model. THREADS above 1 sets tract's default executor to a pool of that many threads.

use std::time::Instant;
use tract_onnx::prelude::*;

/// Median milliseconds of 20 samples, each repeating `f` for at least 2 ms, after a warm-up:
/// the method of `benches/timing.rs`.
fn median_ms(mut f: impl FnMut()) -> f64 {
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

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 6 {
        eprintln!("usage: tract_timing MODEL.onnx BATCH C H W THREADS");
        std::process::exit(2);
    }
    let dims: Vec<usize> = args[1..5].iter().map(|a| a.parse()).collect::<Result<_, _>>()?;
    let threads: usize = args[5].parse()?;
    if threads > 1 {
        use tract_linalg::multithread::{set_default_executor, Executor};
        set_default_executor(Executor::multithread(threads));
    }
    let model = tract_onnx::onnx()
        .model_for_path(&args[0])?
        .with_input_fact(0, f32::fact(&dims).into())?
        .into_optimized()?
        .into_runnable()?;
    let len: usize = dims.iter().product();
    let x: Tensor = tract_ndarray::Array::from_shape_vec(
        dims.clone(),
        (0..len).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect(),
    )?
    .into();
    let ms = median_ms(|| {
        let out = model.run(tvec!(x.clone().into())).expect("tract runs the model");
        std::hint::black_box(out);
    });
    println!("{{\"ms\": {ms:.6}, \"threads\": {threads}}}");
    Ok(())
}
