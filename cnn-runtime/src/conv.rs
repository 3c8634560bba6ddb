//! 2-D convolution, as im2col followed by one matrix product over the whole batch.

use crate::activation::relu_in_place;
use crate::gemm::{gemm, Op};
use crate::geom::{Conv2dGeom, Conv2dSpec};
use crate::im2col::im2col;

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
