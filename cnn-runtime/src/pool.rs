//! 2-D max pooling.

use crate::conv::check_len;
use crate::geom::{Pool2dGeom, Pool2dSpec};

/// Max-pools `n` NCHW samples into `output`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_forward<G: Pool2dGeom>(n: usize, input: &[f32], output: &mut [f32]) {
    let spec = G::SPEC;
    check_len("input", input.len(), n * spec.in_len());
    check_len("output", output.len(), n * spec.out_len());
    pool_core::<false>(&spec, n, input, output, &mut []);
}

/// As [`max_pool2d_forward`], and records in `argmax` where each maximum came from (its index in
/// its input channel plane, `h * w_in + w`), which is all the backward pass needs.
///
/// Ties go to the first maximum in row-major window order and a NaN wins over any number, as in
/// PyTorch.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_forward_argmax<G: Pool2dGeom>(n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let spec = G::SPEC;
    check_len("input", input.len(), n * spec.in_len());
    check_len("output", output.len(), n * spec.out_len());
    check_len("argmax", argmax.len(), n * spec.out_len());
    pool_core::<true>(&spec, n, input, output, argmax);
}

/// Routes each output gradient to the input position its maximum came from (`argmax`, from
/// [`max_pool2d_forward_argmax`]); overlapping windows add up. `grad_input` is overwritten.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn max_pool2d_backward<G: Pool2dGeom>(n: usize, grad_output: &[f32], argmax: &[u32], grad_input: &mut [f32]) {
    let spec = G::SPEC;
    let (plane_in, plane_out) = (spec.h_in * spec.w_in, spec.h_out() * spec.w_out());
    check_len("grad_output", grad_output.len(), n * spec.out_len());
    check_len("argmax", argmax.len(), n * spec.out_len());
    check_len("grad_input", grad_input.len(), n * spec.in_len());
    let grad_input = &mut grad_input[..n * spec.in_len()];
    grad_input.fill(0.0);
    for p in 0..n * spec.c {
        let dst = &mut grad_input[p * plane_in..(p + 1) * plane_in];
        let at = &argmax[p * plane_out..(p + 1) * plane_out];
        let g = &grad_output[p * plane_out..(p + 1) * plane_out];
        for (&i, &g) in at.iter().zip(g) {
            dst[i as usize] += g;
        }
    }
}

#[inline(always)]
fn pool_core<const RECORD: bool>(spec: &Pool2dSpec, n: usize, input: &[f32], output: &mut [f32], argmax: &mut [u32]) {
    let (w, ho, wo) = (spec.w_in, spec.h_out(), spec.w_out());
    let plane_in = spec.h_in * w;
    let plane_out = ho * wo;
    for p in 0..n * spec.c {
        let src = &input[p * plane_in..(p + 1) * plane_in];
        let dst = &mut output[p * plane_out..(p + 1) * plane_out];
        for oh in 0..ho {
            for ow in 0..wo {
                let (h0, w0) = (oh * spec.sh, ow * spec.sw);
                let mut best = f32::NEG_INFINITY;
                let mut at = h0 * w + w0;
                for i in h0..h0 + spec.kh {
                    for j in w0..w0 + spec.kw {
                        let v = src[i * w + j];
                        if v > best || v.is_nan() {
                            best = v;
                            at = i * w + j;
                        }
                    }
                }
                dst[oh * wo + ow] = best;
                if RECORD {
                    argmax[p * plane_out + oh * wo + ow] = at as u32;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    macro_rules! pool_geoms {
        ($($name:ident: [$c:expr, $h:expr, $w:expr, $kh:expr, $kw:expr, $sh:expr, $sw:expr];)*) => {
            $(
                struct $name;
                impl Pool2dGeom for $name {
                    const SPEC: Pool2dSpec = Pool2dSpec { c: $c, h_in: $h, w_in: $w, kh: $kh, kw: $kw, sh: $sh, sw: $sw };
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
        };
    }

    pool_geoms! {
        One: [1, 1, 1, 1, 1, 1, 1];
        Halve: [6, 28, 28, 2, 2, 2, 2];
        OddFloor: [3, 7, 9, 2, 2, 2, 2];
        Overlap: [2, 8, 8, 3, 3, 2, 2];
        TupleWindow: [2, 9, 10, 2, 3, 1, 2];
        StrideBeyondWindow: [1, 11, 11, 2, 2, 3, 4];
        Whole: [4, 5, 3, 5, 3, 1, 1];
    }

    fn check<G: Pool2dGeom>(n: usize) {
        let spec = G::SPEC;
        // Coarse values so that windows hold ties.
        let input: Vec<f32> = reference::values(n * spec.in_len(), 7).iter().map(|v| (v * 4.0).round()).collect();
        let (want, want_at) = reference::max_pool2d(&spec, n, &input);
        let mut out = vec![f32::NAN; n * spec.out_len()];
        max_pool2d_forward::<G>(n, &input, &mut out);
        assert_eq!(out, want, "{spec:?} n={n}");
        let mut out = vec![f32::NAN; n * spec.out_len()];
        let mut at = vec![u32::MAX; n * spec.out_len()];
        max_pool2d_forward_argmax::<G>(n, &input, &mut out, &mut at);
        assert_eq!(out, want);
        assert_eq!(at, want_at, "{spec:?} n={n}");
    }

    #[test]
    fn matches_naive_loop_over_swept_geometries() {
        for n in [1, 2, 3] {
            for check in ALL {
                check(n);
            }
        }
    }

    #[test]
    fn backward_routes_to_the_first_maximum_and_adds_overlaps() {
        // One 1x3x3 plane, window 2, stride 1: the centre 9 is every window's maximum.
        let input = [1.0, 2.0, 3.0, 4.0, 9.0, 9.0, 7.0, 8.0, 9.0];
        let mut out = [0.0; 4];
        let mut at = [0u32; 4];
        max_pool2d_forward_argmax::<Overlap1>(1, &input, &mut out, &mut at);
        assert_eq!(out, [9.0; 4]);
        assert_eq!(at, [4, 4, 4, 4], "ties go to the first maximum in window order");
        let mut grad = [f32::NAN; 9];
        max_pool2d_backward::<Overlap1>(1, &[1.0, 2.0, 3.0, 4.0], &at, &mut grad);
        assert_eq!(grad, [0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
    }

    struct Overlap1;
    impl Pool2dGeom for Overlap1 {
        const SPEC: Pool2dSpec = Pool2dSpec { c: 1, h_in: 3, w_in: 3, kh: 2, kw: 2, sh: 1, sw: 1 };
    }

    #[test]
    fn nan_propagates() {
        let mut input = vec![1.0; 4 * 28 * 28 * 6 / 4];
        input[1] = f32::NAN;
        let mut out = vec![0.0; 6 * 14 * 14];
        max_pool2d_forward::<Halve>(1, &input[..6 * 28 * 28], &mut out);
        assert!(out[0].is_nan());
        assert_eq!(out[1], 1.0);
    }
}
