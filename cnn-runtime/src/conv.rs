//! 2-D convolution, as im2col followed by one matrix product over the whole batch.

use crate::activation::{relu_backward, relu_in_place};
use crate::dot::dot_products;
use crate::gemm::{gemm, Op};
use crate::geom::{Conv2dGeom, Conv2dSpec};
use crate::im2col::{col2im, im2col};

/// Scratch elements that [`conv2d_forward`] needs for `n` samples of layer `G`.
pub const fn conv2d_forward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    n * (spec.col_len() + spec.out_len())
}

/// Convolves `n` NCHW samples: `output = conv2d(input, weight) + bias`, then ReLU when `relu`.
///
/// `weight` has PyTorch's layout `[c_out, c_in, kh, kw]`; `scratch` holds the im2col matrix and
/// the product before it is scattered back to NCHW (see [`conv2d_forward_scratch_len`]).
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn conv2d_forward<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
    relu: bool,
) {
    let spec = G::SPEC;
    check_len("input", input.len(), n * spec.in_len());
    check_len("weight", weight.len(), spec.weight_len());
    check_len("bias", bias.len(), spec.c_out);
    check_len("output", output.len(), n * spec.out_len());
    check_len("scratch", scratch.len(), conv2d_forward_scratch_len(&spec, n));
    forward_core(&spec, n, input, weight, bias, output, scratch, relu);
}

#[track_caller]
pub(crate) fn check_len(what: &str, got: usize, need: usize) {
    assert!(got >= need, "{what} has {got} elements, the layer needs {need}");
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn forward_core(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    output: &mut [f32],
    scratch: &mut [f32],
    relu: bool,
) {
    let hw = spec.h_out() * spec.w_out();
    let k = spec.col_rows();
    let (col, product) = scratch.split_at_mut(n * spec.col_len());
    // A 1x1 kernel at stride 1 without padding reads the input as it lies, and for one sample
    // NCHW already is the [c_in, h·w] matrix the product wants.
    let col: &[f32] = if n == 1 && spec.kh == 1 && spec.kw == 1 && spec.sh == 1 && spec.sw == 1 && spec.ph == 0 && spec.pw == 0 {
        &input[..spec.in_len()]
    } else {
        im2col(spec, n, input, col);
        col
    };
    let output = &mut output[..n * spec.out_len()];
    if n == 1 {
        // One sample: the [c_out, h·w] product is the NCHW output itself.
        gemm(spec.c_out, k, hw, weight, Op::N, col, Op::N, 0.0, output);
        for (plane, b) in output.chunks_exact_mut(hw).zip(bias) {
            plane.iter_mut().for_each(|v| *v += b);
        }
    } else {
        // The product is [c_out, n·h·w]; scatter it to [n, c_out, h·w] and add the bias on the way.
        let product = &mut product[..spec.c_out * n * hw];
        gemm(spec.c_out, k, n * hw, weight, Op::N, col, Op::N, 0.0, product);
        for (co, (row, b)) in product.chunks_exact(n * hw).zip(bias).enumerate() {
            for (s, src) in row.chunks_exact(hw).enumerate() {
                let dst = &mut output[(s * spec.c_out + co) * hw..(s * spec.c_out + co + 1) * hw];
                for (d, v) in dst.iter_mut().zip(src) {
                    *d = v + b;
                }
            }
        }
    }
    if relu {
        relu_in_place(output);
    }
}

/// Scratch elements that [`conv2d_backward`] needs for `n` samples of layer `spec`.
pub const fn conv2d_backward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    n * (spec.col_len() + spec.out_len())
}

/// Gradients of [`conv2d_forward`] for `n` samples.
///
/// `grad_output` holds the loss gradient with respect to `output`; with `relu` it is first
/// masked in place by `output > 0` (the forward's fused ReLU). The weight and bias gradients are
/// *added* to `grad_weight` and `grad_bias`, so tiles of a batch accumulate; the input gradient,
/// if asked for, is written to `grad_input`. The im2col matrix is rebuilt from `input` rather
/// than kept from the forward pass: that costs one unfold and saves a matrix per layer.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    output: &[f32],
    weight: &[f32],
    grad_output: &mut [f32],
    grad_input: Option<&mut [f32]>,
    grad_weight: &mut [f32],
    grad_bias: &mut [f32],
    scratch: &mut [f32],
    relu: bool,
) {
    let spec = G::SPEC;
    let (out_len, hw, k) = (spec.out_len(), spec.h_out() * spec.w_out(), spec.col_rows());
    check_len("input", input.len(), n * spec.in_len());
    check_len("weight", weight.len(), spec.weight_len());
    check_len("grad_output", grad_output.len(), n * out_len);
    check_len("grad_weight", grad_weight.len(), spec.weight_len());
    check_len("grad_bias", grad_bias.len(), spec.c_out);
    check_len("scratch", scratch.len(), conv2d_backward_scratch_len(&spec, n));
    let grad_output = &mut grad_output[..n * out_len];
    if relu {
        check_len("output", output.len(), n * out_len);
        relu_backward(&output[..n * out_len], grad_output);
    }
    let (col, dy) = scratch.split_at_mut(n * spec.col_len());
    // The product wants the output gradient as [c_out, n·h·w]; gather it from [n, c_out, h·w].
    let dy = &mut dy[..n * out_len];
    for (co, row) in dy.chunks_exact_mut(n * hw).enumerate() {
        for (s, dst) in row.chunks_exact_mut(hw).enumerate() {
            dst.copy_from_slice(&grad_output[(s * spec.c_out + co) * hw..(s * spec.c_out + co + 1) * hw]);
        }
    }
    for (b, row) in grad_bias.iter_mut().zip(dy.chunks_exact(n * hw)) {
        *b += row.iter().sum::<f32>();
    }
    let col = &mut col[..n * spec.col_len()];
    im2col(&spec, n, input, col);
    // dW [c_out, k] += dY [c_out, n·h·w] · colᵀ: both operands run along n·h·w, so dot products
    // read them as they lie, where a packed product would first transpose both.
    dot_products(spec.c_out, k, n * hw, dy, col, 1.0, grad_weight);
    if let Some(grad_input) = grad_input {
        check_len("grad_input", grad_input.len(), n * spec.in_len());
        // dcol [k, n·h·w] = Wᵀ · dY, then folded back onto the input.
        gemm(k, spec.c_out, n * hw, weight, Op::T, dy, Op::N, 0.0, col);
        col2im(&spec, n, col, grad_input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    macro_rules! conv_geoms {
        ($($name:ident: [$ci:expr, $co:expr, $h:expr, $w:expr, $kh:expr, $kw:expr, $sh:expr, $sw:expr, $ph:expr, $pw:expr];)*) => {
            $(
                struct $name;
                impl Conv2dGeom for $name {
                    const SPEC: Conv2dSpec = Conv2dSpec {
                        c_in: $ci, c_out: $co, h_in: $h, w_in: $w, kh: $kh, kw: $kw, sh: $sh, sw: $sw, ph: $ph, pw: $pw,
                    };
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
            const ALL_BACKWARD: &[fn(usize)] = &[$(check_backward::<$name>),*];
        };
    }

    conv_geoms! {
        One: [1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        Pointwise: [4, 3, 5, 5, 1, 1, 1, 1, 0, 0];
        Lenet1: [1, 6, 28, 28, 5, 5, 1, 1, 2, 2];
        Odd: [3, 5, 7, 9, 3, 3, 1, 1, 1, 1];
        Strided: [2, 4, 11, 10, 3, 3, 2, 2, 0, 0];
        StridedPadded: [3, 2, 9, 9, 3, 3, 2, 3, 1, 1];
        TupleKernel: [2, 3, 8, 13, 3, 5, 2, 1, 1, 2];
        NonSquare: [1, 2, 4, 17, 2, 7, 1, 2, 0, 3];
        WholeInput: [2, 2, 3, 3, 3, 3, 1, 1, 0, 0];
        BigPad: [1, 3, 2, 2, 3, 3, 1, 1, 2, 2];
        StrideBeyondKernel: [2, 2, 10, 10, 2, 2, 3, 3, 0, 0];
    }

    fn check<G: Conv2dGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_len(), 1);
        let weight = reference::values(spec.weight_len(), 2);
        let bias = reference::values(spec.c_out, 3);
        let want = reference::conv2d(&spec, n, &input, &weight, &bias);
        for relu in [false, true] {
            let mut out = vec![f32::NAN; n * spec.out_len()];
            let mut scratch = vec![f32::NAN; conv2d_forward_scratch_len(&spec, n)];
            conv2d_forward::<G>(n, &input, &weight, &bias, &mut out, &mut scratch, relu);
            for (i, (&got, &w)) in out.iter().zip(&want).enumerate() {
                let w = if relu { w.max(0.0) } else { w };
                assert!((got as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{spec:?} n={n} relu={relu} [{i}]: {got} vs {w}");
            }
        }
    }

    fn check_backward<G: Conv2dGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_len(), 11);
        let weight = reference::values(spec.weight_len(), 12);
        let bias = reference::values(spec.c_out, 13);
        let dy = reference::values(n * spec.out_len(), 14);
        for relu in [false, true] {
            let mut out = vec![0.0; n * spec.out_len()];
            let mut scratch = vec![f32::NAN; conv2d_forward_scratch_len(&spec, n).max(conv2d_backward_scratch_len(&spec, n))];
            conv2d_forward::<G>(n, &input, &weight, &bias, &mut out, &mut scratch, relu);
            let masked: Vec<f32> = dy.iter().zip(&out).map(|(g, y)| if !relu || *y > 0.0 { *g } else { 0.0 }).collect();
            let (dx, dw, db) = reference::conv2d_grads(&spec, n, &input, &weight, &masked);
            let mut g = dy.clone();
            let mut gx = vec![f32::NAN; n * spec.in_len()];
            // Accumulation: start the weight and bias gradients at 1.
            let mut gw = vec![1.0; spec.weight_len()];
            let mut gb = vec![1.0; spec.c_out];
            conv2d_backward::<G>(n, &input, &out, &weight, &mut g, Some(&mut gx), &mut gw, &mut gb, &mut scratch, relu);
            reference::assert_close("dx", &gx, &dx);
            reference::assert_close("dw", &gw, &dw.iter().map(|v| v + 1.0).collect::<Vec<_>>());
            reference::assert_close("db", &gb, &db.iter().map(|v| v + 1.0).collect::<Vec<_>>());
        }
    }

    #[test]
    fn backward_matches_naive_loop_over_swept_geometries() {
        for n in [1, 3] {
            for check in ALL_BACKWARD {
                check(n);
            }
        }
    }

    #[test]
    fn matches_naive_loop_over_swept_geometries() {
        for n in [1, 2, 5] {
            for check in ALL {
                check(n);
            }
        }
    }

    #[test]
    #[should_panic(expected = "weight has 3 elements, the layer needs 150")]
    fn short_weight_panics() {
        let mut out = vec![0.0; 6 * 28 * 28];
        let mut scratch = vec![0.0; conv2d_forward_scratch_len(&Lenet1::SPEC, 1)];
        conv2d_forward::<Lenet1>(1, &[0.0; 784], &[0.0; 3], &[0.0; 6], &mut out, &mut scratch, false);
    }
}
