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

use tract_onnx::prelude::*;

// The method of `benches/timing.rs`, from the same file.
#[path = "../../../benches/common/median.rs"]
mod median;
use median::median_ms;

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
