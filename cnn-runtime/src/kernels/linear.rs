//! Fully connected layer.

use crate::geom::LinearGeom;
use crate::kernels::activation::{act_in_place, Act};
use crate::kernels::conv::check_len;
use crate::kernels::dot::dot_products;
use crate::kernels::gemm::{gemm, Op};

/// Rows per sample from which the forward pass runs as a packed matrix product rather than as
/// dot products.
const PACKED_MIN_ROWS: usize = 16;

/// `output = act(input · weightᵀ + bias)` for `n` samples; `weight` has PyTorch's layout
/// `[out_features, in_features]`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn linear_forward<G: LinearGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    act: Act,
    output: &mut [f32],
) {
    let spec = G::SPEC;
    let (fi, fo) = (spec.in_features, spec.out_features);
    check_len("input", input.len(), n * fi);
    check_len("weight", weight.len(), spec.weight_len());
    check_len("output", output.len(), n * fo);
    let output = &mut output[..n * fo];
    if G::ROWS_PER_SAMPLE >= PACKED_MIN_ROWS {
        // Many rows per sample: the weight is reused by every row, so packing it pays, and the
        // packed product splits across threads. The choice depends on the layer alone, and
        // each row's sum does not depend on the other rows, so a sample's output is the same
        // bits in any batch.
        gemm(n, fi, fo, input, Op::N, weight, Op::T, 0.0, output);
    } else {
        dot_products(n, fo, fi, input, weight, 0.0, output);
    }
    if let Some(bias) = bias {
        check_len("bias", bias.len(), fo);
        for row in output.chunks_exact_mut(fo) {
            row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
        }
    }
    act_in_place(act, output);
}

/// Gradients of [`linear_forward`] (without activation) for `n` samples.
///
/// The weight and bias gradients, each if asked for (a frozen layer's are not), are *added* to
/// `grad_weight` and `grad_bias`; the input gradient, if asked for, is written to `grad_input`,
/// or added to it when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn linear_backward<G: LinearGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    grad_input: Option<(&mut [f32], bool)>,
    grad_weight: Option<&mut [f32]>,
    grad_bias: Option<&mut [f32]>,
) {
    let spec = G::SPEC;
    let (fi, fo) = (spec.in_features, spec.out_features);
    check_len("input", input.len(), n * fi);
    check_len("weight", weight.len(), spec.weight_len());
    check_len("grad_output", grad_output.len(), n * fo);
    let grad_output = &grad_output[..n * fo];
    if let Some(grad_bias) = grad_bias {
        check_len("grad_bias", grad_bias.len(), fo);
        for row in grad_output.chunks_exact(fo) {
            grad_bias[..fo].iter_mut().zip(row).for_each(|(b, g)| *b += g);
        }
    }
    if let Some(grad_weight) = grad_weight {
        check_len("grad_weight", grad_weight.len(), spec.weight_len());
        // dW [out, in] += dYᵀ [out, n] · X [n, in]
        gemm(fo, n, fi, grad_output, Op::T, input, Op::N, 1.0, grad_weight);
    }
    if let Some((grad_input, accumulate)) = grad_input {
        check_len("grad_input", grad_input.len(), n * fi);
        // dX [n, in] = dY [n, out] · W [out, in]
        gemm(n, fo, fi, grad_output, Op::N, weight, Op::N, if accumulate { 1.0 } else { 0.0 }, grad_input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::LinearSpec;
    use crate::reference;

    macro_rules! linear_geoms {
        ($($name:ident: [$i:expr, $o:expr];)*) => {
            $(
                struct $name;
                impl LinearGeom for $name {
                    const SPEC: LinearSpec = LinearSpec { in_features: $i, out_features: $o };
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
            const ALL_BACKWARD: &[fn(usize)] = &[$(check_backward::<$name>),*];
        };
    }

    linear_geoms! {
        Scalar: [1, 1];
        Wide: [400, 120];
        Narrow: [7, 33];
        Odd: [13, 3];
    }

    fn check<G: LinearGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_features, 4);
        let weight = reference::values(spec.weight_len(), 5);
        let bias = reference::values(spec.out_features, 6);
        let want = reference::linear(&spec, n, &input, &weight, &bias);
        for relu in [false, true] {
            let mut out = vec![f32::NAN; n * spec.out_features];
            let act = if relu { Act::Relu } else { Act::Identity };
            linear_forward::<G>(n, &input, &weight, Some(&bias), act, &mut out);
            for (&got, &w) in out.iter().zip(&want) {
                let w = if relu { w.max(0.0) } else { w };
                assert!((got as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{spec:?} n={n}: {got} vs {w}");
            }
        }
    }

    fn check_backward<G: LinearGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_features, 21);
        let weight = reference::values(spec.weight_len(), 22);
        let dy = reference::values(n * spec.out_features, 24);
        let (dx, dw, db) = reference::linear_grads(&spec, n, &input, &weight, &dy);
        for accumulate in [false, true] {
            let start = if accumulate { 1.0 } else { 0.0 };
            let mut gx = vec![if accumulate { 1.0 } else { f32::NAN }; n * spec.in_features];
            let mut gw = vec![0.0; spec.weight_len()];
            let mut gb = vec![0.0; spec.out_features];
            linear_backward::<G>(n, &input, &weight, &dy, Some((&mut gx, accumulate)), Some(&mut gw), Some(&mut gb));
            reference::assert_close("dx", &gx, &dx.iter().map(|v| v + start).collect::<Vec<_>>());
            reference::assert_close("dw", &gw, &dw);
            reference::assert_close("db", &gb, &db);
            // A frozen layer: the same input gradient, bit for bit, without the others.
            let mut frozen_gx = vec![if accumulate { 1.0 } else { f32::NAN }; n * spec.in_features];
            linear_backward::<G>(n, &input, &weight, &dy, Some((&mut frozen_gx, accumulate)), None, None);
            assert_eq!(frozen_gx, gx, "a frozen layer's input gradient");
        }
    }

    #[test]
    fn backward_matches_naive_loop() {
        for n in [1, 3, 64] {
            for check in ALL_BACKWARD {
                check(n);
            }
        }
    }

    /// A per-pixel layer (49 rows a sample, through the packed product) against the naive loop,
    /// and one sample alone against the same sample in a batch, bit for bit.
    #[test]
    fn per_pixel_layer_matches_naive_loop_and_its_batch() {
        struct PerPixel;
        impl LinearGeom for PerPixel {
            const SPEC: LinearSpec = LinearSpec { in_features: 37, out_features: 75 };
            const ROWS_PER_SAMPLE: usize = 49;
        }
        let spec = PerPixel::SPEC;
        for samples in [1, 3] {
            let rows = samples * PerPixel::ROWS_PER_SAMPLE;
            let input = reference::values(rows * spec.in_features, 7);
            let weight = reference::values(spec.weight_len(), 8);
            let bias = reference::values(spec.out_features, 9);
            let want = reference::linear(&spec, rows, &input, &weight, &bias);
            let mut out = vec![f32::NAN; rows * spec.out_features];
            linear_forward::<PerPixel>(rows, &input, &weight, Some(&bias), Act::Identity, &mut out);
            reference::assert_close("per-pixel linear", &out, &want);
            let last = (samples - 1) * PerPixel::ROWS_PER_SAMPLE;
            let mut alone = vec![f32::NAN; PerPixel::ROWS_PER_SAMPLE * spec.out_features];
            let x = &input[last * spec.in_features..];
            linear_forward::<PerPixel>(PerPixel::ROWS_PER_SAMPLE, x, &weight, Some(&bias), Act::Identity, &mut alone);
            let batch = &out[last * spec.out_features..];
            assert!(alone.iter().zip(batch).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }

    #[test]
    fn matches_naive_loop() {
        for n in [1, 3, 64] {
            for check in ALL {
                check(n);
            }
        }
    }
}
