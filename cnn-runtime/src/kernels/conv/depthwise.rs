//! Depthwise convolution (every group reads one input channel, MobileNet's and EfficientNet's
//! 3x3 and 5x5 layers, ConvNeXt's 7x7), computed directly: a product per group would be a
//! single row, so unfolding the input costs more than the arithmetic.

use super::im2col::valid_range;
use super::Epilogue;
use crate::geom::Conv2dSpec;
use crate::kernels::activation::act_in_place;

/// Whether every group has one input channel (a depthwise convolution, possibly with a channel
/// multiplier): then a direct loop beats unfolding the input for products of one row each.
pub(super) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups > 1 && spec.group_in() == 1
}

/// The output pixels `(oh, ow)` that kernel tap `(i, j)` reaches inside the input, with the
/// input row and first input column: calls `f(oh, ih, ow_lo, ow_hi, iw_lo)` per output row.
#[inline(always)]
fn tap_rows(spec: &Conv2dSpec, i: usize, j: usize, mut f: impl FnMut(usize, usize, usize, usize, usize)) {
    let (ho, wo) = (spec.h_out(), spec.w_out());
    let (oh_lo, oh_hi) = valid_range(spec.h_in, ho, spec.sh, i * spec.dh, spec.ph);
    let (ow_lo, ow_hi) = valid_range(spec.w_in, wo, spec.sw, j * spec.dw, spec.pw);
    if ow_lo >= ow_hi {
        return;
    }
    for oh in oh_lo..oh_hi {
        let ih = oh * spec.sh + i * spec.dh - spec.ph;
        f(oh, ih, ow_lo, ow_hi, ow_lo * spec.sw + j * spec.dw - spec.pw);
    }
}

/// Depthwise convolution, directly: each output plane is a sum of shifted, scaled copies of its
/// one input plane, one per kernel tap, accumulated row by row (vector loops along the row at
/// stride 1).
pub(super) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
) {
    let (hw_in, hw) = (spec.h_in * spec.w_in, spec.h_out() * spec.w_out());
    let (wo, taps, og) = (spec.w_out(), spec.kh * spec.kw, spec.group_out());
    for s in 0..n {
        for co in 0..spec.c_out {
            let plane = &input[s * spec.in_len() + (co / og) * hw_in..][..hw_in];
            let out = &mut output[(s * spec.c_out + co) * hw..][..hw];
            out.fill(0.0);
            for i in 0..spec.kh {
                for j in 0..spec.kw {
                    let wv = weight[co * taps + i * spec.kw + j];
                    tap_rows(spec, i, j, |oh, ih, lo, hi, iw| {
                        let row = &mut out[oh * wo + lo..oh * wo + hi];
                        let src = &plane[ih * spec.w_in + iw..];
                        if spec.sw == 1 {
                            row.iter_mut().zip(src).for_each(|(o, x)| *o += wv * x);
                        } else {
                            row.iter_mut().zip(src.iter().step_by(spec.sw)).for_each(|(o, x)| *o += wv * x);
                        }
                    });
                }
            }
            epilogue.channel_in_place(co, out);
            act_in_place(epilogue.act, out);
        }
    }
}

/// The backward pass of [`forward`]: weight and bias gradients added to, the input
/// gradient written or added to.
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    mut grad_input: Option<(&mut [f32], bool)>,
    grad_weight: &mut [f32],
    grad_bias: Option<&mut [f32]>,
) {
    let (hw_in, hw) = (spec.h_in * spec.w_in, spec.h_out() * spec.w_out());
    let (wo, taps, og) = (spec.w_out(), spec.kh * spec.kw, spec.group_out());
    if let Some((gx, false)) = grad_input.as_mut() {
        gx[..n * spec.in_len()].fill(0.0);
    }
    if let Some(gb) = grad_bias {
        for s in 0..n {
            for (co, b) in gb[..spec.c_out].iter_mut().enumerate() {
                *b += crate::kernels::dot::sum(&grad_output[(s * spec.c_out + co) * hw..][..hw]);
            }
        }
    }
    for s in 0..n {
        for co in 0..spec.c_out {
            let at = s * spec.in_len() + (co / og) * hw_in;
            let plane = &input[at..at + hw_in];
            let dy = &grad_output[(s * spec.c_out + co) * hw..][..hw];
            for i in 0..spec.kh {
                for j in 0..spec.kw {
                    let k = co * taps + i * spec.kw + j;
                    let mut dw = 0.0f32;
                    tap_rows(spec, i, j, |oh, ih, lo, hi, iw| {
                        let g = &dy[oh * wo + lo..oh * wo + hi];
                        let src = &plane[ih * spec.w_in + iw..];
                        dw += g.iter().zip(src.iter().step_by(spec.sw)).map(|(g, x)| g * x).sum::<f32>();
                    });
                    grad_weight[k] += dw;
                    if let Some((gx, _)) = grad_input.as_mut() {
                        let wv = weight[k];
                        let gplane = &mut gx[at..at + hw_in];
                        tap_rows(spec, i, j, |oh, ih, lo, hi, iw| {
                            let g = &dy[oh * wo + lo..oh * wo + hi];
                            let dst = &mut gplane[ih * spec.w_in + iw..];
                            if spec.sw == 1 {
                                dst.iter_mut().zip(g).for_each(|(d, g)| *d += wv * g);
                            } else {
                                dst.iter_mut().step_by(spec.sw).zip(g).for_each(|(d, g)| *d += wv * g);
                            }
                        });
                    }
                }
            }
        }
    }
}
