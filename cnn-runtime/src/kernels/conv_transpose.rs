//! 2-D transposed convolution (`nn.ConvTranspose2d`), as the gradient of the convolution it
//! transposes: its forward pass is that convolution's input gradient (the direct or the
//! product-and-col2im path, never a scatter loop per pixel), its input gradient that
//! convolution's forward pass, and its weight gradient that convolution's weight gradient with
//! the roles of input and output gradient exchanged.
//!
//! A layer is described by the [`Conv2dSpec`] of the convolution it transposes (its *adjoint*):
//! that convolution's input is the layer's output, its output the layer's input, and its weight
//! `[c_out, c_in / groups, kh, kw]` is exactly `nn.ConvTranspose2d`'s `[in, out / groups, kh,
//! kw]`. [`conv_transpose2d_spec`] builds it from PyTorch's arguments.

use crate::geom::{Conv2dGeom, Conv2dSpec};
use crate::kernels::activation::act_in_place;
use crate::kernels::conv::{
    check_len, conv2d_backward, conv2d_backward_scratch_len, conv2d_forward, conv2d_forward_scratch_len,
    input_gradient, input_gradient_scratch_len, Epilogue,
};

/// The convolution that `nn.ConvTranspose2d(in_channels, out_channels, kernel, stride,
/// padding, output_padding, groups, dilation)` transposes, on an input of `size` (height,
/// width).
///
/// The layer's output is `(size - 1) · stride - 2 · padding + dilation · (kernel - 1) +
/// output_padding + 1` per axis; the convolution over it with the same kernel, stride, padding
/// and dilation gives `size` back when the padding after the output is `padding -
/// output_padding` (or none, where `output_padding` exceeds `padding`: the extra rows then lie
/// past every tap and stay at the bias).
///
/// # Panics
/// If the arguments break PyTorch's rules (`output_padding` not below the stride or the
/// dilation, an empty output, channels not divisible by `groups`), or `output_padding - padding`
/// reaches the stride (which only a dilation above the stride allows, and this kernel does not
/// take). In a constant, that is a compile error.
#[allow(clippy::too_many_arguments)]
pub const fn conv_transpose2d_spec(
    in_channels: usize,
    out_channels: usize,
    size: (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    output_padding: (usize, usize),
    dilation: (usize, usize),
    groups: usize,
) -> Conv2dSpec {
    assert!(groups > 0 && in_channels.is_multiple_of(groups) && out_channels.is_multiple_of(groups));
    let (h_out, ph_end) = axis(size.0, kernel.0, stride.0, padding.0, output_padding.0, dilation.0);
    let (w_out, pw_end) = axis(size.1, kernel.1, stride.1, padding.1, output_padding.1, dilation.1);
    Conv2dSpec {
        c_in: out_channels,
        c_out: in_channels,
        h_in: h_out,
        w_in: w_out,
        kh: kernel.0,
        kw: kernel.1,
        sh: stride.0,
        sw: stride.1,
        ph: padding.0,
        pw: padding.1,
        ph_end,
        pw_end,
        dh: dilation.0,
        dw: dilation.1,
        groups,
    }
}

/// One axis of [`conv_transpose2d_spec`]: the output length and the adjoint's padding after.
const fn axis(len: usize, k: usize, s: usize, p: usize, op: usize, d: usize) -> (usize, usize) {
    assert!(len > 0 && k > 0 && s > 0 && d > 0 && (op < s || op < d));
    let full = (len - 1) * s + d * (k - 1) + op + 1;
    assert!(full > 2 * p, "the output would be empty");
    let end = if op <= p {
        p - op
    } else {
        assert!(op - p < s, "output_padding - padding reaches the stride");
        0
    };
    (full - 2 * p, end)
}

/// Scratch elements that [`conv_transpose2d_forward`] needs for `n` samples of the layer whose
/// adjoint is `spec`.
pub const fn conv_transpose2d_forward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    input_gradient_scratch_len(spec, n)
}

/// Scratch elements that [`conv_transpose2d_backward`] needs for `n` samples: the adjoint's
/// forward pass (with room for an input gradient to be added), or its weight gradient.
pub const fn conv_transpose2d_backward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    let forward = conv2d_forward_scratch_len(spec, n) + n * spec.out_len();
    let weights = conv2d_backward_scratch_len(spec, n);
    if forward > weights {
        forward
    } else {
        weights
    }
}

/// Scratch elements per sample that cover both passes on tiles of any number of samples.
pub const fn conv_transpose2d_scratch_per_sample(spec: &Conv2dSpec) -> usize {
    let (f, b) = (conv_transpose2d_forward_scratch_len(spec, 1), conv_transpose2d_backward_scratch_len(spec, 1));
    if f > b {
        f
    } else {
        b
    }
}

/// Transposed convolution of `n` NCHW samples, `G::SPEC` being the adjoint (see the module):
/// `output = act(conv_transpose2d(input, weight) · scale + shift)` per output channel.
///
/// `input` is `[n, spec.c_out, spec.h_out(), spec.w_out()]`, `output` `[n, spec.c_in, spec.h_in,
/// spec.w_in]`, `weight` PyTorch's `[in, out / groups, kh, kw]`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn conv_transpose2d_forward<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let spec = G::SPEC;
    epilogue.check(spec.c_in);
    let output = &mut output[..n * spec.in_len()];
    input_gradient(&spec, n, input, weight, output, false, scratch);
    let hw = spec.h_in * spec.w_in;
    for (i, plane) in output.chunks_exact_mut(hw).enumerate() {
        epilogue.channel_in_place(i % spec.c_in, plane);
        act_in_place(epilogue.act, plane);
    }
}

/// Gradients of [`conv_transpose2d_forward`] (without epilogue activation) for `n` samples:
/// the weight and bias gradients, each if asked for (a frozen layer's are not), are added to
/// `grad_weight` and `grad_bias`; the input gradient, if asked for, is written to `grad_input`,
/// or added to it when `accumulate`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_backward<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    grad_input: Option<(&mut [f32], bool)>,
    grad_weight: Option<&mut [f32]>,
    grad_bias: Option<&mut [f32]>,
    scratch: &mut [f32],
) {
    let spec = G::SPEC;
    check_len("grad_output", grad_output.len(), n * spec.in_len());
    check_len("scratch", scratch.len(), conv_transpose2d_backward_scratch_len(&spec, n));
    if let Some(grad_bias) = grad_bias {
        check_len("grad_bias", grad_bias.len(), spec.c_in);
        let hw = spec.h_in * spec.w_in;
        for (i, plane) in grad_output[..n * spec.in_len()].chunks_exact(hw).enumerate() {
            grad_bias[i % spec.c_in] += crate::kernels::dot::sum(plane);
        }
    }
    // The adjoint's weight gradient pairs its input (our output gradient) with its output
    // gradient (our input): the same sums over the same taps.
    if grad_weight.is_some() {
        conv2d_backward::<G>(n, grad_output, weight, input, None, grad_weight, None, scratch);
    }
    if let Some((grad_input, accumulate)) = grad_input {
        check_len("grad_input", grad_input.len(), n * spec.out_len());
        let grad_input = &mut grad_input[..n * spec.out_len()];
        if accumulate {
            let (scratch, sum) = scratch.split_at_mut(conv2d_forward_scratch_len(&spec, n));
            let sum = &mut sum[..n * spec.out_len()];
            conv2d_forward::<G>(n, grad_output, weight, Epilogue::bias(None), sum, scratch);
            grad_input.iter_mut().zip(sum.iter()).for_each(|(g, v)| *g += v);
        } else {
            conv2d_forward::<G>(n, grad_output, weight, Epilogue::bias(None), grad_input, scratch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::activation::Act;
    use crate::reference;

    /// `nn.ConvTranspose2d`'s arguments, for the naive loop.
    #[derive(Clone, Copy, Debug)]
    struct Args {
        c_in: usize,
        c_out: usize,
        size: (usize, usize),
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
        op: (usize, usize),
        d: (usize, usize),
        g: usize,
    }

    impl Args {
        const fn spec(self) -> Conv2dSpec {
            conv_transpose2d_spec(self.c_in, self.c_out, self.size, self.k, self.s, self.p, self.op, self.d, self.g)
        }
    }

    const fn args(c: (usize, usize), size: (usize, usize), k: usize, s: usize, p: usize, op: usize) -> Args {
        Args { c_in: c.0, c_out: c.1, size, k: (k, k), s: (s, s), p: (p, p), op: (op, op), d: (1, 1), g: 1 }
    }

    macro_rules! geoms {
        ($($name:ident: $args:expr;)*) => {
            $(
                struct $name;
                impl Conv2dGeom for $name {
                    const SPEC: Conv2dSpec = $args.spec();
                }
            )*
            const ALL: &[(fn(usize, Args), Args)] = &[$((check::<$name>, $args)),*];
        };
    }

    geoms! {
        One: args((1, 1), (1, 1), 1, 1, 0, 0);
        UNetUp: args((8, 4), (5, 6), 2, 2, 0, 0);
        Padded: args((3, 5), (7, 4), 3, 2, 1, 1);
        StrideOne: args((4, 3), (6, 6), 3, 1, 1, 0);
        // Stride 1 over maps of 64 pixels or more: the direct input-gradient kernel's.
        StrideOneDirect: args((8, 16), (10, 12), 3, 1, 1, 0);
        OddStride: args((2, 3), (4, 5), 4, 3, 2, 2);
        Big: args((6, 40), (9, 11), 4, 2, 1, 0);
        PaddingBelowOutputPadding: args((2, 2), (3, 4), 3, 3, 0, 2);
        NonSquare: Args { k: (3, 2), s: (2, 1), p: (1, 0), op: (1, 0), ..args((3, 4), (5, 3), 1, 1, 0, 0) };
        Grouped: Args { g: 2, ..args((4, 6), (5, 5), 3, 2, 1, 1) };
        Depthwise: Args { g: 3, ..args((3, 3), (4, 6), 3, 2, 1, 0) };
        Dilated: Args { d: (2, 3), op: (1, 2), ..args((2, 3), (4, 5), 3, 1, 2, 0) };
    }

    /// `nn.ConvTranspose2d` from its definition: every input pixel scatters its kernel. Calls
    /// `f(input index, weight index, output index)` for every tap that lands inside the output.
    fn taps(a: Args, n: usize, mut f: impl FnMut(usize, usize, usize)) {
        let spec = a.spec();
        let (h, wd, ho, wo) = (a.size.0, a.size.1, spec.h_in, spec.w_in);
        let (cig, cog) = (a.c_in / a.g, a.c_out / a.g);
        for s in 0..n {
            for ci in 0..a.c_in {
                for i in 0..h {
                    for j in 0..wd {
                        let xi = ((s * a.c_in + ci) * h + i) * wd + j;
                        for cl in 0..cog {
                            let co = ci / cig * cog + cl;
                            for ki in 0..a.k.0 {
                                for kj in 0..a.k.1 {
                                    let oh = (i * a.s.0 + ki * a.d.0) as isize - a.p.0 as isize;
                                    let ow = (j * a.s.1 + kj * a.d.1) as isize - a.p.1 as isize;
                                    if oh < 0 || ow < 0 || oh >= ho as isize || ow >= wo as isize {
                                        continue;
                                    }
                                    let wi = ((ci * cog + cl) * a.k.0 + ki) * a.k.1 + kj;
                                    f(xi, wi, ((s * a.c_out + co) * ho + oh as usize) * wo + ow as usize);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn check<G: Conv2dGeom>(n: usize, a: Args) {
        let spec = G::SPEC;
        let x = reference::values(n * spec.out_len(), 21);
        let w = reference::values(spec.weight_len(), 22);
        let b = reference::values(a.c_out, 23);
        let plane = a.spec().h_in * a.spec().w_in;
        let mut want: Vec<f64> = (0..n * spec.in_len()).map(|i| b[i / plane % a.c_out] as f64).collect();
        taps(a, n, |xi, wi, yi| want[yi] += x[xi] as f64 * w[wi] as f64);
        // The output sizes PyTorch gives.
        let size =
            |l: usize, k: usize, s: usize, p: usize, op: usize, d: usize| (l - 1) * s + d * (k - 1) + op + 1 - 2 * p;
        assert_eq!(spec.h_in, size(a.size.0, a.k.0, a.s.0, a.p.0, a.op.0, a.d.0));
        assert_eq!(spec.w_in, size(a.size.1, a.k.1, a.s.1, a.p.1, a.op.1, a.d.1));
        assert_eq!((spec.h_out(), spec.w_out()), a.size, "the adjoint gives the input size back");

        let mut y = vec![f32::NAN; n * spec.in_len()];
        let mut scratch = vec![f32::NAN; conv_transpose2d_forward_scratch_len(&spec, n)];
        let epilogue = Epilogue { scale: None, shift: Some(&b), act: Act::Identity };
        conv_transpose2d_forward::<G>(n, &x, &w, epilogue, &mut y, &mut scratch);
        reference::assert_close(&format!("{a:?} n={n} forward"), &y, &want);
        let relu = Epilogue { act: Act::Relu, ..epilogue };
        conv_transpose2d_forward::<G>(n, &x, &w, relu, &mut y, &mut scratch);
        let want_relu: Vec<f64> = want.iter().map(|v| v.max(0.0)).collect();
        reference::assert_close(&format!("{a:?} n={n} relu"), &y, &want_relu);

        // Gradients of Σ y · dy from the same taps.
        let dy = reference::values(n * spec.in_len(), 24);
        let (mut dx, mut dw) = (vec![0.0f64; x.len()], vec![0.0f64; w.len()]);
        taps(a, n, |xi, wi, yi| {
            dx[xi] += dy[yi] as f64 * w[wi] as f64;
            dw[wi] += dy[yi] as f64 * x[xi] as f64;
        });
        let mut db = vec![0.0f64; a.c_out];
        for (i, v) in dy.iter().enumerate() {
            db[i / plane % a.c_out] += *v as f64;
        }
        for accumulate in [false, true] {
            let mut scratch = vec![f32::NAN; conv_transpose2d_backward_scratch_len(&spec, n)];
            let mut gx = vec![if accumulate { 1.0 } else { f32::NAN }; x.len()];
            let (mut gw, mut gb) = (vec![1.0; w.len()], vec![1.0; a.c_out]);
            conv_transpose2d_backward::<G>(
                n,
                &x,
                &w,
                &dy,
                Some((&mut gx, accumulate)),
                Some(&mut gw),
                Some(&mut gb),
                &mut scratch,
            );
            let shift = |v: &[f64], by: f64| v.iter().map(|x| x + by).collect::<Vec<_>>();
            reference::assert_close(&format!("{a:?} dx"), &gx, &shift(&dx, if accumulate { 1.0 } else { 0.0 }));
            reference::assert_close(&format!("{a:?} dw"), &gw, &shift(&dw, 1.0));
            reference::assert_close(&format!("{a:?} db"), &gb, &shift(&db, 1.0));
            // A frozen layer: the same input gradient, bit for bit, without the others.
            let mut frozen_gx = vec![if accumulate { 1.0 } else { f32::NAN }; x.len()];
            let frozen = Some((&mut frozen_gx[..], accumulate));
            conv_transpose2d_backward::<G>(n, &x, &w, &dy, frozen, None, None, &mut scratch);
            assert_eq!(frozen_gx, gx, "{a:?}: a frozen layer's input gradient");
        }
    }

    #[test]
    fn matches_the_definition_over_swept_geometries() {
        for n in [1, 3] {
            for (check, args) in ALL {
                check(n, *args);
            }
        }
    }

    #[test]
    fn output_padding_beyond_the_stride_is_refused() {
        // Dilation 3 lets PyTorch take output_padding 2 at stride 1, which this kernel cannot.
        let refused =
            std::panic::catch_unwind(|| conv_transpose2d_spec(1, 1, (4, 4), (3, 3), (1, 1), (0, 0), (2, 2), (3, 3), 1));
        assert!(refused.is_err());
    }
}
