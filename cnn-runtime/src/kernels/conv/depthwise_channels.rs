//! Depthwise convolution of small maps with channels in the vector lanes: the forward kernel
//! for MobileNet's and EfficientNet's layers on maps of 28x28 and below, where a plane-at-a-time kernel
//! (see [`super::depthwise`]) spends more on each plane's set-up, border and partial vectors than
//! on its arithmetic (measured on an AVX2 EPYC: 960 planes of 7x7 at 5 GFLOP/s).
//!
//! A unit is one vector's worth of channels of one sample (8 on AVX2 and the portable path, 16
//! on AVX-512). Its planes are interleaved into a bordered scratch map of channel vectors, so
//! that every tap of every output pixel is one vector load and one fused multiply-add for all
//! the unit's channels, at any stride or dilation, with no partial vectors; the results are
//! spread back to the planes with the scale and shift applied, and the activation runs over the
//! unit's planes. Each output sums its taps in row-major order from zero with the path's
//! multiply-add, exactly as the plane kernel does, so the two give the same bits and the choice
//! between them (by map size) changes nothing.

use super::Epilogue;
use crate::geom::Conv2dSpec;
use crate::vector::{isa_entry, Vector};

/// Input pixels of a map at most for this kernel: above, the plane kernel's vectors are full
/// and its set-up is paid over enough pixels, while interleaving the planes costs as much as
/// here (measured on an AVX2 EPYC, 3x3 layers: 1.4-2x faster than the plane kernel at 28x28 and
/// below, 10% slower at 56x56 with stride 2, 30-40% slower at 56x56 and 112x112).
const MAX_PIXELS: usize = 28 * 28;

/// Lanes of the widest vector: units hold this many channels at most, and channel counts that
/// are a multiple of it divide into whole units on every path.
const MAX_LANES: usize = 16;

/// Output pixels a register tile computes at once, each tap's weights loaded once for them.
const TILE: usize = 4;

/// Whether this kernel takes the (depthwise) layer.
pub(super) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.c_out.is_multiple_of(MAX_LANES) && spec.h_in * spec.w_in <= MAX_PIXELS
}

/// Scratch one unit needs: the bordered interleaved map, the interleaved taps and the
/// interleaved output.
pub(super) const fn slot_len(spec: &Conv2dSpec) -> usize {
    let bordered = (spec.h_in + spec.ph + spec.ph_end) * (spec.w_in + spec.pw + spec.pw_end);
    (bordered + spec.kh * spec.kw + spec.h_out() * spec.w_out()) * MAX_LANES
}

isa_entry! {
    /// [`unit`] compiled for `isa`.
    pub(super) unsafe fn unit_on(
        spec: &Conv2dSpec,
        x: &[f32],
        weight: &[f32],
        c0: usize,
        epilogue: &Epilogue<'_>,
        out: &mut [f32],
        buf: &mut [f32],
    ) => unit;
}

/// Output channels `c0..c0 + V::LANES` of one sample: `x` is the sample's input, `out` the
/// unit's output planes (written, with the scale and shift applied but not the activation),
/// `buf` at least [`slot_len`] of scratch.
///
/// # Safety
/// The CPU must have `V`'s instruction set.
///
/// # Panics
/// If a slice is shorter than the unit needs.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn unit<V: Vector>(
    spec: &Conv2dSpec,
    x: &[f32],
    weight: &[f32],
    c0: usize,
    epilogue: &Epilogue<'_>,
    out: &mut [f32],
    buf: &mut [f32],
) {
    let l = V::LANES;
    let (hp, wp) = (spec.h_in + spec.ph + spec.ph_end, spec.w_in + spec.pw + spec.pw_end);
    let (ho, wo, hw_in) = (spec.h_out(), spec.w_out(), spec.h_in * spec.w_in);
    let (taps, og) = (spec.kh * spec.kw, spec.group_out());
    let (xi, rest) = buf.split_at_mut(hp * wp * l);
    let (wi, rest) = rest.split_at_mut(taps * l);
    let yi = &mut rest[..ho * wo * l];
    assert!(x.len() >= spec.in_len() && weight.len() >= (c0 + l) * taps && out.len() >= l * ho * wo);
    // The border stays zero; the interior is overwritten below.
    xi.fill(0.0);
    for k in 0..l {
        let src = &x[(c0 + k) / og * hw_in..][..hw_in];
        for (r, row) in src.chunks_exact(spec.w_in).enumerate() {
            let at = ((spec.ph + r) * wp + spec.pw) * l + k;
            for (q, &v) in row.iter().enumerate() {
                xi[at + q * l] = v;
            }
        }
        for t in 0..taps {
            wi[t * l + k] = weight[(c0 + k) * taps + t];
        }
    }
    let (xi, wi) = (&*xi, &*wi);
    for oh in 0..ho {
        let mut ow = 0;
        while ow + TILE <= wo {
            // SAFETY: pixels ow..ow + TILE of row oh are inside the map; `xi`, `wi` and `yi`
            // hold the interleaved map, taps and output.
            unsafe { pixels::<V, TILE>(spec, wp, xi, wi, oh, ow, yi) };
            ow += TILE;
        }
        while ow < wo {
            // SAFETY: as above, one pixel.
            unsafe { pixels::<V, 1>(spec, wp, xi, wi, oh, ow, yi) };
            ow += 1;
        }
    }
    let hw = ho * wo;
    for (k, plane) in out[..l * hw].chunks_exact_mut(hw).enumerate() {
        let c = c0 + k;
        let (s, b) = (epilogue.scale.map_or(1.0, |v| v[c]), epilogue.shift.map_or(0.0, |v| v[c]));
        let values = yi.iter().skip(k).step_by(l);
        // As `Epilogue::channel_in_place` computes it, for the same bits.
        if epilogue.scale.is_some() {
            plane.iter_mut().zip(values).for_each(|(o, &v)| *o = v * s + b);
        } else if epilogue.shift.is_some() {
            plane.iter_mut().zip(values).for_each(|(o, &v)| *o = v + b);
        } else {
            plane.iter_mut().zip(values).for_each(|(o, &v)| *o = v);
        }
    }
}

/// Output pixels `ow..ow + P` of row `oh`, every tap in row-major order.
///
/// # Safety
/// The CPU must have `V`'s instruction set; the pixels must be inside the output map, and
/// `xi`, `wi` and `yi` the interleaved bordered map (`wp` wide), taps and output.
#[inline(always)]
unsafe fn pixels<V: Vector, const P: usize>(
    spec: &Conv2dSpec,
    wp: usize,
    xi: &[f32],
    wi: &[f32],
    oh: usize,
    ow: usize,
    yi: &mut [f32],
) {
    let l = V::LANES;
    let mut acc = [V::zero(); P];
    for i in 0..spec.kh {
        let row = (oh * spec.sh + i * spec.dh) * wp;
        for j in 0..spec.kw {
            // SAFETY: tap (i, j) of `wi`, a whole vector.
            let w = unsafe { V::load(wi.as_ptr().add((i * spec.kw + j) * l)) };
            for (r, a) in acc.iter_mut().enumerate() {
                let at = (row + (ow + r) * spec.sw + j * spec.dw) * l;
                debug_assert!(at + l <= xi.len());
                // SAFETY: the tap's input lies inside the bordered map, a whole vector.
                *a = w.mul_add(unsafe { V::load(xi.as_ptr().add(at)) }, *a);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        let at = (oh * spec.w_out() + ow + r) * l;
        debug_assert!(at + l <= yi.len());
        // SAFETY: pixel ow + r of row oh of the interleaved output, a whole vector.
        unsafe { a.store(yi.as_mut_ptr().add(at)) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;
    use crate::kernels::activation::Act;
    use crate::reference;

    /// On every path this CPU has, the units together match the naive loop, scale and shift
    /// included (the plane kernel's bits: `depthwise`'s tests).
    #[test]
    fn units_match_the_naive_loop_on_every_path() {
        let specs = [
            Conv2dSpec { groups: 16, ..Conv2dSpec::simple(16, 16, 7, 7, (3, 3), (1, 1), (1, 1)) },
            Conv2dSpec { groups: 16, ..Conv2dSpec::simple(16, 16, 1, 1, (3, 3), (1, 1), (1, 1)) },
            Conv2dSpec { groups: 16, dh: 2, ph_end: 1, ..Conv2dSpec::simple(16, 32, 9, 6, (3, 3), (2, 1), (2, 1)) },
            Conv2dSpec { groups: 32, pw_end: 1, ..Conv2dSpec::simple(32, 32, 10, 11, (5, 5), (2, 2), (2, 2)) },
            Conv2dSpec { groups: 16, ..Conv2dSpec::simple(16, 16, 5, 6, (2, 2), (1, 1), (2, 2)) },
        ];
        for spec in specs {
            assert!(applies(&spec), "{spec:?}");
            let x = reference::values(spec.in_len(), 11);
            let w = reference::values(spec.weight_len(), 12);
            let (scale, shift) = (reference::values(spec.c_out, 13), reference::values(spec.c_out, 14));
            let conv = reference::conv2d(&spec, 1, &x, &w, &vec![0.0; spec.c_out]);
            let hw = spec.h_out() * spec.w_out();
            let want: Vec<f64> =
                conv.iter().enumerate().map(|(i, v)| v * scale[i / hw] as f64 + shift[i / hw] as f64).collect();
            let epilogue = Epilogue { scale: Some(&scale), shift: Some(&shift), act: Act::Identity };
            for isa in Isa::supported() {
                let l = isa.lanes();
                let mut out = vec![f32::NAN; spec.out_len()];
                let mut buf = vec![f32::NAN; slot_len(&spec)];
                for (u, out) in out.chunks_exact_mut(l * hw).enumerate() {
                    // SAFETY: `isa` is one this CPU supports.
                    unsafe { unit_on(isa, &spec, &x, &w, u * l, &epilogue, out, &mut buf) };
                }
                reference::assert_close(&format!("{isa} {spec:?}"), &out, &want);
            }
        }
    }
}
