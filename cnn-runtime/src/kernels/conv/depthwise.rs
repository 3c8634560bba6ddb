//! Depthwise convolution (every group reads one input channel, MobileNet's and EfficientNet's
//! 3x3 and 5x5 layers, ConvNeXt's 7x7), computed directly: a product per group would be a
//! single row, so unfolding the input costs more than the arithmetic.
//!
//! Each plane is first placed inside a zero border in scratch memory, so the tap loops need no
//! bounds tests. At stride 1 the output is computed as one flat run over rows of the bordered
//! width (the columns past the output's width are computed and dropped), so that narrow maps
//! (ResNet's and MobileNet's 7x7, 4x4 and 2x2) still fill whole vectors; at other strides row by
//! row. Every output lane sums its taps in one fixed order, so a value does not depend on where
//! it falls in a vector, on the batch or on the threads. The loops are compiled once per
//! instruction set (AVX-512, AVX2 + FMA, portable) and chosen at run time.
//!
//! The input gradient at stride 1 is the same kernel run on the output gradient with the kernel
//! flipped (a transposed convolution is a convolution); at other strides it is a scatter into a
//! bordered plane. The weight gradient is one dot product per tap over the bordered planes.
//!
//! Planes are shared among rayon's threads in contiguous groups, each with its own part of the
//! scratch memory; a plane is computed the same way whichever group holds it.
//!
//! The forward pass on small maps whose channels fill whole vectors goes to
//! [`super::depthwise_channels`] instead, which gives the same bits with the channels in the
//! lanes.

use super::im2col::copy_short;
use super::{depthwise_channels, Epilogue};
use crate::geom::Conv2dSpec;
use crate::isa::{by_isa, isa};
use crate::kernels::activation::act_in_place;
use crate::vector::{madd, PORTABLE_FMA};

/// Whether every group has one input channel (a depthwise convolution, possibly with a channel
/// multiplier): then a direct loop beats unfolding the input for products of one row each.
pub(super) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups > 1 && spec.group_in() == 1
}

/// Output values computed together, one vector of AVX-512 (two of AVX2).
const LANES: usize = 16;

/// Groups of planes, each with its own scratch, that a call shares among threads at most.
const MAX_GROUPS: usize = 8;

/// Multiply-adds above which a call shares its planes among the threads. A depthwise layer does
/// little arithmetic per byte, so it splits at a smaller size than the dense kernels.
const PAR_MIN_WORK: usize = 1 << 18;

/// A plane's geometry as the loops read it: an `h × w` input placed at `(top, left)` inside a
/// zero border, `hp` rows of `wp` floats, giving an `ho × wo` output.
#[derive(Clone, Copy, Debug)]
struct Plane {
    h: usize,
    w: usize,
    top: usize,
    left: usize,
    hp: usize,
    wp: usize,
    ho: usize,
    wo: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    dh: usize,
    dw: usize,
}

impl Plane {
    /// The layer's own convolution.
    const fn forward(spec: &Conv2dSpec) -> Self {
        Plane {
            h: spec.h_in,
            w: spec.w_in,
            top: spec.ph,
            left: spec.pw,
            hp: spec.h_in + spec.ph + spec.ph_end,
            wp: spec.w_in + spec.pw + spec.pw_end,
            ho: spec.h_out(),
            wo: spec.w_out(),
            kh: spec.kh,
            kw: spec.kw,
            sh: spec.sh,
            sw: spec.sw,
            dh: spec.dh,
            dw: spec.dw,
        }
    }

    /// At stride 1, the input gradient as a convolution of the output gradient with the flipped
    /// kernel, bordered by the kernel's reach less the layer's padding; `None` at other strides
    /// or where a padding exceeds the reach (a tap that sees only padding).
    const fn input_gradient(spec: &Conv2dSpec) -> Option<Self> {
        let (rh, rw) = ((spec.kh - 1) * spec.dh, (spec.kw - 1) * spec.dw);
        if spec.sh != 1 || spec.sw != 1 || spec.ph > rh || spec.ph_end > rh || spec.pw > rw || spec.pw_end > rw {
            return None;
        }
        let (ho, wo) = (spec.h_out(), spec.w_out());
        Some(Plane {
            h: ho,
            w: wo,
            top: rh - spec.ph,
            left: rw - spec.pw,
            hp: spec.h_in + rh,
            wp: spec.w_in + rw,
            ho: spec.h_in,
            wo: spec.w_in,
            kh: spec.kh,
            kw: spec.kw,
            sh: 1,
            sw: 1,
            dh: spec.dh,
            dw: spec.dw,
        })
    }

    /// The bordered plane, with room after it for the lanes past the last output to read.
    const fn padded_len(&self) -> usize {
        self.hp * self.wp + (LANES + 1) * self.sw + self.wp + (self.kw - 1) * self.dw
    }

    /// Output rows as the vector loops write them: `wp` wide at stride 1 (one flat run), whole
    /// vectors wide otherwise; the weight gradient reads the output gradient laid out the same.
    const fn row_len(&self) -> usize {
        if self.flat() {
            self.wp
        } else {
            self.wo.div_ceil(LANES) * LANES
        }
    }

    const fn wide_len(&self) -> usize {
        (self.ho * self.row_len()).div_ceil(LANES) * LANES
    }

    const fn flat(&self) -> bool {
        self.sh == 1 && self.sw == 1
    }
}

/// Scratch per group: the bordered input and the wide output (forward); plus the input
/// gradient's bordered output gradient and wide result, or its bordered scatter target
/// (backward).
const fn slot_len(spec: &Conv2dSpec, backward: bool) -> usize {
    let p = Plane::forward(spec);
    // Either kernel may take the forward pass: room for the larger.
    let channels = if depthwise_channels::applies(spec) { depthwise_channels::slot_len(spec) } else { 0 };
    let forward = crate::tiling::max_of(&[p.padded_len() + p.wide_len(), channels]);
    if !backward {
        return forward;
    }
    forward
        + match Plane::input_gradient(spec) {
            Some(t) => t.padded_len() + t.wide_len(),
            None => p.padded_len(),
        }
}

/// How many groups of planes a call on `n` samples may split into: by the work of one sample
/// (1 below what pays for a split), so that the scratch a call needs does not grow with `n`
/// (batches run in tiles across threads already). Backward splits only single samples, by input
/// channel.
const fn max_groups(spec: &Conv2dSpec, n: usize, backward: bool) -> usize {
    let work = spec.c_out * spec.kh * spec.kw * spec.h_out() * spec.w_out();
    let units = if backward { spec.c_in } else { spec.c_out };
    if work < PAR_MIN_WORK || (backward && n != 1) {
        1
    } else if units < MAX_GROUPS {
        units
    } else {
        MAX_GROUPS
    }
}

/// Scratch elements the forward (`backward == false`) or backward pass needs for `n` samples.
pub(super) const fn scratch_len(spec: &Conv2dSpec, n: usize, backward: bool) -> usize {
    max_groups(spec, n, backward) * slot_len(spec, backward)
}

/// The groups a call actually uses: no more than the threads.
fn groups(spec: &Conv2dSpec, n: usize, backward: bool) -> usize {
    max_groups(spec, n, backward).min(rayon::current_num_threads()).max(1)
}

/// Runs `f(first unit, its outputs, its other outputs, scratch)` on `units` units of work in
/// `groups` contiguous groups (in parallel when more than one), where unit `u` owns
/// `out[u * a..][..a]` and `other[u * b..][..b]`.
#[allow(clippy::too_many_arguments)]
fn for_groups(
    units: usize,
    groups: usize,
    (out, a): (&mut [f32], usize),
    (other, b): (&mut [f32], usize),
    scratch: &mut [f32],
    slot: usize,
    f: impl Fn(usize, &mut [f32], &mut [f32], &mut [f32]) + Sync,
) {
    use rayon::prelude::*;
    let per = units.div_ceil(groups);
    let (out, other) = (&mut out[..units * a], &mut other[..units * b]);
    if groups == 1 {
        return f(0, out, other, &mut scratch[..slot]);
    }
    // A zero-length part (no second output) still has to give each group a chunk.
    let other_chunk = (per * b).max(1);
    let mut spare = [0.0f32; MAX_GROUPS];
    let other: &mut [f32] = if b == 0 { &mut spare[..groups] } else { other };
    out.par_chunks_mut(per * a)
        .zip(other.par_chunks_mut(other_chunk))
        .zip(scratch.par_chunks_mut(slot))
        .enumerate()
        .for_each(|(g, ((out, other), buf))| f(g * per, out, if b == 0 { &mut [] } else { other }, buf));
}

/// Depthwise convolution of `n` samples with the epilogue applied per plane.
pub(super) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let p = Plane::forward(spec);
    let (hw_in, hw) = (spec.h_in * spec.w_in, spec.h_out() * spec.w_out());
    let (taps, og) = (spec.kh * spec.kw, spec.group_out());
    let groups = groups(spec, n, false);
    if depthwise_channels::applies(spec) {
        // A unit is one vector of channels on the path that runs.
        let lanes = isa().lanes();
        let per_sample = spec.c_out / lanes;
        let run = |first: usize, out: &mut [f32], _: &mut [f32], buf: &mut [f32]| {
            for (k, out) in out.chunks_exact_mut(lanes * hw).enumerate() {
                let (s, c0) = ((first + k) / per_sample, (first + k) % per_sample * lanes);
                let x = &input[s * spec.in_len()..][..spec.in_len()];
                // SAFETY: `isa()` is an instruction set this CPU has.
                unsafe { depthwise_channels::unit_on(isa(), spec, x, weight, c0, &epilogue, out, buf) };
                act_in_place(epilogue.act, out);
            }
        };
        return for_groups(
            n * per_sample,
            groups,
            (output, lanes * hw),
            (&mut [], 0),
            scratch,
            slot_len(spec, false),
            run,
        );
    }
    let units = n * spec.c_out;
    let run = |first: usize, out: &mut [f32], _: &mut [f32], buf: &mut [f32]| {
        for (k, out) in out.chunks_exact_mut(hw).enumerate() {
            let (s, co) = ((first + k) / spec.c_out, (first + k) % spec.c_out);
            let src = &input[s * spec.in_len() + (co / og) * hw_in..][..hw_in];
            plane_forward(&p, src, &weight[co * taps..][..taps], false, false, out, buf);
            epilogue.channel_in_place(co, out);
            act_in_place(epilogue.act, out);
        }
    };
    for_groups(units, groups, (output, hw), (&mut [], 0), scratch, slot_len(spec, false), run);
}

/// The backward pass of [`forward`]: weight and bias gradients added to (when asked for), the
/// input gradient written or added to (when asked for).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    mut grad_input: Option<(&mut [f32], bool)>,
    mut grad_weight: Option<&mut [f32]>,
    grad_bias: Option<&mut [f32]>,
    scratch: &mut [f32],
) {
    let p = Plane::forward(spec);
    let t = Plane::input_gradient(spec);
    let (hw_in, hw) = (spec.h_in * spec.w_in, spec.h_out() * spec.w_out());
    let (taps, og) = (spec.kh * spec.kw, spec.group_out());
    if let Some(gb) = grad_bias {
        for s in 0..n {
            for (co, b) in gb[..spec.c_out].iter_mut().enumerate() {
                *b += crate::kernels::dot::sum(&grad_output[(s * spec.c_out + co) * hw..][..hw]);
            }
        }
    }
    if grad_weight.is_none() && grad_input.is_none() {
        return;
    }
    // Input channel `ci` of sample `s`: its `og` output channels' weight gradients `gw` and its
    // input gradient plane `gx`, each when asked for.
    let channel = |s: usize, ci: usize, gw: Option<&mut [f32]>, gx: Option<(&mut [f32], bool)>, buf: &mut [f32]| {
        let (xp, rest) = buf.split_at_mut(p.padded_len());
        let (dyw, rest) = rest.split_at_mut(p.wide_len());
        let mut gw = gw;
        if gw.is_some() {
            place(&p, &input[s * spec.in_len() + ci * hw_in..][..hw_in], xp);
        }
        let mut gx = gx;
        for k in 0..og {
            let co = ci * og + k;
            let dy = &grad_output[(s * spec.c_out + co) * hw..][..hw];
            if let Some(gw) = gw.as_mut() {
                plane_weight_grad(&p, xp, dy, &mut gw[k * taps..][..taps], dyw);
            }
            if let Some((gx, accumulate)) = gx.as_mut() {
                let (w, accumulate) = (&weight[co * taps..][..taps], *accumulate || k > 0);
                match &t {
                    Some(t) => plane_forward(t, dy, w, true, accumulate, gx, rest),
                    None => scatter_input_grad(&p, dy, w, accumulate, gx, rest),
                }
            }
        }
    };
    let slot = slot_len(spec, true);
    let groups = groups(spec, n, true);
    if groups == 1 {
        let buf = &mut scratch[..slot];
        for s in 0..n {
            for ci in 0..spec.c_in {
                let gx =
                    grad_input.as_mut().map(|(gx, acc)| (&mut gx[s * spec.in_len() + ci * hw_in..][..hw_in], *acc));
                let gw = grad_weight.as_mut().map(|gw| &mut gw[ci * og * taps..][..og * taps]);
                channel(s, ci, gw, gx, buf);
            }
        }
        return;
    }
    // One sample (see `max_groups`), split by input channel.
    let (gx, accumulate, b) = match grad_input {
        Some((gx, accumulate)) => (gx, accumulate, hw_in),
        None => (&mut [][..], false, 0),
    };
    let Some(grad_weight) = grad_weight else {
        // The input's gradient alone: its planes are the units' outputs.
        let run = |first: usize, gx: &mut [f32], _: &mut [f32], buf: &mut [f32]| {
            for (k, gx) in gx.chunks_exact_mut(hw_in).enumerate() {
                channel(0, first + k, None, Some((gx, accumulate)), buf);
            }
        };
        return for_groups(spec.c_in, groups, (gx, hw_in), (&mut [], 0), scratch, slot, run);
    };
    let run = |first: usize, gw: &mut [f32], gx: &mut [f32], buf: &mut [f32]| {
        for (k, gw) in gw.chunks_exact_mut(og * taps).enumerate() {
            let gx = (b > 0).then(|| (&mut gx[k * hw_in..][..hw_in], accumulate));
            channel(0, first + k, Some(gw), gx, buf);
        }
    };
    for_groups(spec.c_in, groups, (grad_weight, og * taps), (gx, b), scratch, slot, run);
}

/// Copies the `h × w` plane `src` into `dst` inside its zero border, writing each element once:
/// only the border is zeroed (the rows above, then from each row's end to the next row's start,
/// then the rows below and the room after them), with short row copies and fills: calls to
/// `memset` and `memcpy` per row cost more than the rows of small maps, and zeroing the whole
/// buffer first cost MobileNetV2 a fifth of its depthwise time.
#[inline(always)]
fn place(p: &Plane, src: &[f32], dst: &mut [f32]) {
    let dst = &mut dst[..p.padded_len()];
    let mut zeros_from = 0;
    for (y, src) in src[..p.h * p.w].chunks_exact(p.w).enumerate() {
        let at = (p.top + y) * p.wp + p.left;
        zero_short(&mut dst[zeros_from..at]);
        copy_short(&mut dst[at..at + p.w], src);
        zeros_from = at + p.w;
    }
    zero_short(&mut dst[zeros_from..]);
}

/// Zeroes `dst` in blocks of 8 (see [`copy_short`]).
#[inline(always)]
fn zero_short(dst: &mut [f32]) {
    let mut d = dst.chunks_exact_mut(8);
    for d in &mut d {
        let d: &mut [f32; 8] = d.try_into().expect("8 elements");
        *d = [0.0; 8];
    }
    for d in d.into_remainder() {
        *d = 0.0;
    }
}

/// Writes `src` to `dst`, or adds it.
#[inline(always)]
fn store(dst: &mut [f32], src: &[f32], accumulate: bool) {
    if accumulate {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
    } else {
        copy_short(dst, src);
    }
}

/// The kernel tap `(i, j)`'s weight, of the kernel or (for an input gradient) its flip.
#[inline(always)]
fn tap(p: &Plane, w: &[f32], flip: bool, i: usize, j: usize) -> f32 {
    if flip {
        w[(p.kh - 1 - i) * p.kw + (p.kw - 1 - j)]
    } else {
        w[i * p.kw + j]
    }
}

/// `LANES` outputs whose first tap reads the bordered input at `base`, lane `l` at `base + l·sw`:
/// each the sum over taps in row-major order.
#[inline(always)]
fn lanes<const FMA: bool, const SW: usize>(p: &Plane, xp: &[f32], base: usize, w: &[f32], flip: bool) -> [f32; LANES] {
    let sw = if SW == 0 { p.sw } else { SW };
    let mut acc = [0.0f32; LANES];
    for i in 0..p.kh {
        for j in 0..p.kw {
            let wv = tap(p, w, flip, i, j);
            let xs = &xp[base + i * p.dh * p.wp + j * p.dw..][..(LANES - 1) * sw + 1];
            for (l, a) in acc.iter_mut().enumerate() {
                *a = madd::<FMA>(wv, xs[l * sw], *a);
            }
        }
    }
    acc
}

/// One plane: `out` (`ho × wo`) is written, or added to when `accumulate`, with the convolution
/// of `src` (`h × w`) by the taps `w` (flipped when `flip`). `buf` holds the bordered input and
/// the wide output.
#[inline(always)]
fn forward_plane<const FMA: bool>(
    p: &Plane,
    src: &[f32],
    w: &[f32],
    flip: bool,
    accumulate: bool,
    out: &mut [f32],
    buf: &mut [f32],
) {
    let (xp, rest) = buf.split_at_mut(p.padded_len());
    place(p, src, xp);
    if p.flat() {
        let wide = &mut rest[..p.wide_len()];
        for (c, chunk) in wide.chunks_exact_mut(LANES).enumerate() {
            chunk.copy_from_slice(&lanes::<FMA, 1>(p, xp, c * LANES, w, flip));
        }
        for (out, wide) in out[..p.ho * p.wo].chunks_exact_mut(p.wo).zip(wide.chunks_exact(p.wp)) {
            store(out, &wide[..p.wo], accumulate);
        }
        return;
    }
    if p.sw == 2 {
        strided_rows::<FMA, 2>(p, xp, w, flip, accumulate, out);
    } else {
        strided_rows::<FMA, 0>(p, xp, w, flip, accumulate, out);
    }
}

/// [`forward_plane`] at a stride above 1 (`SW` the horizontal one, or 0 for "read `p.sw`"): each
/// output row in vectors of lanes, the last one partly stored.
#[inline(always)]
fn strided_rows<const FMA: bool, const SW: usize>(
    p: &Plane,
    xp: &[f32],
    w: &[f32],
    flip: bool,
    accumulate: bool,
    out: &mut [f32],
) {
    for (oh, out) in out[..p.ho * p.wo].chunks_exact_mut(p.wo).enumerate() {
        for (c, out) in out.chunks_mut(LANES).enumerate() {
            let acc = lanes::<FMA, SW>(p, xp, oh * p.sh * p.wp + c * LANES * p.sw, w, flip);
            store(out, &acc[..out.len()], accumulate);
        }
    }
}

/// Adds to `gw` (one per tap) the weight gradient of one plane: per tap, the dot product of the
/// output gradient `dy` with the bordered input `xp` shifted to the tap. `dyw` receives `dy` laid
/// out in the wide rows the lanes read, zero past each row's end.
///
/// The zeros meet input values a row further on: with a non-finite input those products are NaN
/// where the naive sum skips them; such an input has made the loss non-finite already.
#[inline(always)]
fn weight_grad<const FMA: bool>(p: &Plane, xp: &[f32], dy: &[f32], gw: &mut [f32], dyw: &mut [f32]) {
    let row = p.row_len();
    let dyw = &mut dyw[..p.wide_len()];
    dyw.fill(0.0);
    for (dst, src) in dyw.chunks_exact_mut(row).zip(dy[..p.ho * p.wo].chunks_exact(p.wo)) {
        dst[..p.wo].copy_from_slice(src);
    }
    // At stride 1 the wide rows continue one another: one run over the whole plane.
    let (rows, row, x_row) = if p.flat() { (1, dyw.len(), 0) } else { (p.ho, row, p.sh * p.wp) };
    let sw = p.sw;
    for i in 0..p.kh {
        for j in 0..p.kw {
            let mut acc = [0.0f32; LANES];
            for r in 0..rows {
                for (c, g) in dyw[r * row..][..row].chunks_exact(LANES).enumerate() {
                    let base = r * x_row + c * LANES * sw + i * p.dh * p.wp + j * p.dw;
                    let xs = &xp[base..][..(LANES - 1) * sw + 1];
                    if sw == 1 {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a = madd::<FMA>(g[l], xs[l], *a);
                        }
                    } else {
                        for (l, a) in acc.iter_mut().enumerate() {
                            *a = madd::<FMA>(g[l], xs[l * sw], *a);
                        }
                    }
                }
            }
            gw[i * p.kw + j] += acc.iter().sum::<f32>();
        }
    }
}

/// The input gradient of one plane at a stride above 1: each output gradient value scattered to
/// the inputs its taps read, in a bordered plane `gp`, whose inside is then written to `gx` or
/// added to it.
fn scatter_input_grad(p: &Plane, dy: &[f32], w: &[f32], accumulate: bool, gx: &mut [f32], gp: &mut [f32]) {
    let gp = &mut gp[..p.hp * p.wp];
    gp.fill(0.0);
    for (oh, dy) in dy[..p.ho * p.wo].chunks_exact(p.wo).enumerate() {
        for i in 0..p.kh {
            for j in 0..p.kw {
                let wv = w[i * p.kw + j];
                let row = &mut gp[(oh * p.sh + i * p.dh) * p.wp + j * p.dw..];
                for (ow, g) in dy.iter().enumerate() {
                    row[ow * p.sw] += wv * g;
                }
            }
        }
    }
    for (y, gx) in gx[..p.h * p.w].chunks_exact_mut(p.w).enumerate() {
        store(gx, &gp[(p.top + y) * p.wp + p.left..][..p.w], accumulate);
    }
}

#[inline(always)]
fn forward_portable(p: &Plane, src: &[f32], w: &[f32], flip: bool, accumulate: bool, out: &mut [f32], buf: &mut [f32]) {
    forward_plane::<PORTABLE_FMA>(p, src, w, flip, accumulate, out, buf)
}

#[inline(always)]
fn weight_grad_portable(p: &Plane, xp: &[f32], dy: &[f32], gw: &mut [f32], dyw: &mut [f32]) {
    weight_grad::<PORTABLE_FMA>(p, xp, dy, gw, dyw)
}

/// [`forward_plane`] compiled for the best instruction set this CPU has.
fn plane_forward(p: &Plane, src: &[f32], w: &[f32], flip: bool, accumulate: bool, out: &mut [f32], buf: &mut [f32]) {
    by_isa!(forward_avx512, forward_avx2, forward_portable(p, src, w, flip, accumulate, out, buf));
}

/// [`weight_grad`] compiled for the best instruction set this CPU has.
fn plane_weight_grad(p: &Plane, xp: &[f32], dy: &[f32], gw: &mut [f32], dyw: &mut [f32]) {
    by_isa!(weight_grad_avx512, weight_grad_avx2, weight_grad_portable(p, xp, dy, gw, dyw));
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Plane;

    macro_rules! versions {
        ($feature:literal, $forward:ident, $weight_grad:ident) => {
            /// # Safety
            /// The CPU must have the target feature.
            #[target_feature(enable = $feature)]
            pub unsafe fn $forward(
                p: &Plane,
                src: &[f32],
                w: &[f32],
                flip: bool,
                accumulate: bool,
                out: &mut [f32],
                buf: &mut [f32],
            ) {
                super::forward_plane::<true>(p, src, w, flip, accumulate, out, buf)
            }

            /// # Safety
            /// The CPU must have the target feature.
            #[target_feature(enable = $feature)]
            pub unsafe fn $weight_grad(p: &Plane, xp: &[f32], dy: &[f32], gw: &mut [f32], dyw: &mut [f32]) {
                super::weight_grad::<true>(p, xp, dy, gw, dyw)
            }
        };
    }

    versions!("avx512f", forward_avx512, weight_grad_avx512);
    versions!("avx2,fma", forward_avx2, weight_grad_avx2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    type PlaneFn = unsafe fn(&Plane, &[f32], &[f32], bool, bool, &mut [f32], &mut [f32]);
    type GradFn = unsafe fn(&Plane, &[f32], &[f32], &mut [f32], &mut [f32]);

    /// Every instruction set's copy this CPU can run (the dispatch picks only the best one, so
    /// the others are tested here): each plane's output and weight gradient against the naive
    /// loop, at stride 1 (flat runs), 2 and 3 (rows), with dilation and uneven padding.
    /// The channel-lane kernel for small maps gives every output the plane kernel's bits on the
    /// same path, so choosing between them by map size changes nothing.
    #[test]
    fn channel_lanes_give_the_plane_kernels_bits() {
        use crate::isa::Isa;
        let mut versions: Vec<(Isa, PlaneFn)> = vec![(Isa::Portable, forward_portable)];
        #[cfg(target_arch = "x86_64")]
        {
            if Isa::Avx2.is_supported() {
                versions.push((Isa::Avx2, x86::forward_avx2));
            }
            if Isa::Avx512.is_supported() {
                versions.push((Isa::Avx512, x86::forward_avx512));
            }
        }
        let specs = [
            Conv2dSpec { groups: 32, ..Conv2dSpec::simple(32, 32, 7, 7, (3, 3), (1, 1), (1, 1)) },
            Conv2dSpec { groups: 16, dh: 2, ph_end: 1, ..Conv2dSpec::simple(16, 32, 9, 6, (3, 3), (2, 1), (2, 1)) },
            Conv2dSpec { groups: 16, pw_end: 1, ..Conv2dSpec::simple(16, 16, 14, 11, (5, 5), (2, 2), (2, 2)) },
        ];
        for spec in specs {
            let p = Plane::forward(&spec);
            let (x, w) = (reference::values(spec.in_len(), 21), reference::values(spec.weight_len(), 22));
            let (hw, hw_in, taps) = (spec.h_out() * spec.w_out(), spec.h_in * spec.w_in, spec.kh * spec.kw);
            for (isa, plane) in &versions {
                let mut want = vec![f32::NAN; spec.out_len()];
                let mut buf = vec![f32::NAN; slot_len(&spec, false)];
                for (co, out) in want.chunks_exact_mut(hw).enumerate() {
                    let src = &x[co / spec.group_out() * hw_in..][..hw_in];
                    // SAFETY: only the versions this CPU supports were listed.
                    unsafe { plane(&p, src, &w[co * taps..][..taps], false, false, out, &mut buf) };
                }
                let mut got = vec![f32::NAN; spec.out_len()];
                let l = isa.lanes();
                for (u, out) in got.chunks_exact_mut(l * hw).enumerate() {
                    // SAFETY: as above.
                    unsafe {
                        depthwise_channels::unit_on(*isa, &spec, &x, &w, u * l, &Epilogue::bias(None), out, &mut buf)
                    };
                }
                assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{isa} {spec:?}");
            }
        }
    }

    #[test]
    fn every_instruction_set_matches_naive_loop() {
        let mut versions: Vec<(&str, PlaneFn, GradFn)> = vec![("portable", forward_portable, weight_grad_portable)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                versions.push(("avx2", x86::forward_avx2, x86::weight_grad_avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                versions.push(("avx512", x86::forward_avx512, x86::weight_grad_avx512));
            }
        }
        let specs = [
            Conv2dSpec::simple(1, 1, 9, 23, (3, 3), (1, 1), (1, 1)),
            Conv2dSpec::simple(1, 1, 4, 4, (3, 3), (1, 1), (1, 1)),
            Conv2dSpec::simple(1, 1, 15, 38, (5, 5), (2, 2), (2, 2)),
            Conv2dSpec::simple(1, 1, 10, 20, (3, 2), (3, 3), (1, 0)),
            Conv2dSpec {
                dh: 2,
                dw: 3,
                ph_end: 3,
                pw_end: 1,
                ..Conv2dSpec::simple(1, 1, 8, 19, (3, 3), (1, 1), (2, 2))
            },
        ];
        for spec in specs {
            let p = Plane::forward(&spec);
            let x = reference::values(spec.in_len(), 5);
            let w = reference::values(spec.weight_len(), 6);
            let dy = reference::values(spec.out_len(), 7);
            let want = reference::conv2d(&spec, 1, &x, &w, &[0.0]);
            let (_, want_dw, _) = reference::conv2d_grads(&spec, 1, &x, &w, &dy);
            for (name, forward, grad) in &versions {
                let mut buf = vec![f32::NAN; slot_len(&spec, true)];
                let mut out = vec![f32::NAN; spec.out_len()];
                let mut gw = vec![0.0; spec.weight_len()];
                // SAFETY: only the versions this CPU supports were listed.
                unsafe { forward(&p, &x, &w, false, false, &mut out, &mut buf) };
                reference::assert_close(&format!("{name} {spec:?} y"), &out, &want);
                let (xp, dyw) = buf.split_at_mut(p.padded_len());
                place(&p, &x, xp);
                // SAFETY: as above.
                unsafe { grad(&p, xp, &dy, &mut gw, dyw) };
                reference::assert_close(&format!("{name} {spec:?} dw"), &gw, &want_dw);
            }
        }
    }
}
