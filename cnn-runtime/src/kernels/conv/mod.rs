//! 2-D convolution (grouped, dilated, any padding), as im2col followed by one matrix product per
//! group over the whole batch, or by the direct kernels where the layer's geometry suits them.

mod depthwise;
mod depthwise_channels;
pub(crate) mod direct_channels;
pub(crate) mod direct_pixels;
pub mod im2col;
pub mod packed_weights;
mod pointwise;
mod small_maps;
mod winograd;

use crate::geom::{Conv2dGeom, Conv2dSpec};
use crate::kernels::activation::{act_in_place, Act};
use crate::kernels::conv::im2col::{col2im, im2col};
use crate::kernels::conv::packed_weights::PackSlot;
use crate::kernels::dot::dot_products;
use crate::kernels::gemm::{gemm, Op};

/// Scratch elements that [`conv2d_forward`] needs for `n` samples of layer `spec`.
pub const fn conv2d_forward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    if depthwise::applies(spec) {
        return depthwise::scratch_len(spec, n, false);
    }
    // The pointwise path needs no scratch; the small-map path's im2col matrix and product are
    // what every layer has for the packed product.
    let direct = if pointwise::applies(spec) || small_maps::applies(spec) {
        0
    } else if direct_channels::applies(spec) {
        direct_channels::scratch_len(spec)
    } else if direct_pixels::applies(spec) {
        direct_pixels::scratch_len(spec)
    } else {
        0
    };
    let base = n * (spec.col_len() + spec.out_len()) + direct;
    if winograd::applies(spec) && winograd::scratch_len(spec, n) > base {
        winograd::scratch_len(spec, n)
    } else {
        base
    }
}

/// Scratch elements per sample that cover [`conv2d_forward`] and [`conv2d_backward`] on tiles
/// of any number of samples: what a network sizes its tiles' scratch by.
pub const fn conv2d_scratch_per_sample(spec: &Conv2dSpec) -> usize {
    let (f, b) = (conv2d_forward_scratch_len(spec, 1), conv2d_backward_scratch_len(spec, 1));
    if f > b {
        f
    } else {
        b
    }
}

/// Output planes that the parts of one call write in disjoint pieces from several threads.
#[derive(Clone, Copy)]
pub(crate) struct DisjointPlanes(pub *mut f32);

// SAFETY: the kernels share a `DisjointPlanes` only among the parts of one call, which write
// disjoint pieces of the planes and read nothing another part writes, while the call keeps the
// output borrowed mutably until every part is done.
unsafe impl Send for DisjointPlanes {}
// SAFETY: as above.
unsafe impl Sync for DisjointPlanes {}

/// What happens to each output channel after the product: `y = act(acc · scale[c] + shift[c])`,
/// where a missing `scale` is 1 and a missing `shift` is 0. A bias is a `shift`; a batch norm
/// folded into the layer before it at inference is a `scale` and a `shift`.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Per-channel factor.
    pub scale: Option<&'a [f32]>,
    /// Per-channel offset (the bias).
    pub shift: Option<&'a [f32]>,
    /// The activation applied last.
    pub act: Act,
}

impl<'a> Epilogue<'a> {
    /// A bias (or none) and no activation.
    pub const fn bias(bias: Option<&'a [f32]>) -> Self {
        Epilogue { scale: None, shift: bias, act: Act::Identity }
    }

    #[track_caller]
    pub(crate) fn check(&self, channels: usize) {
        for (what, v) in [("scale", self.scale), ("shift", self.shift)] {
            if let Some(v) = v {
                check_len(what, v.len(), channels);
            }
        }
    }

    /// Scales and shifts one channel `c`'s plane in place.
    #[inline(always)]
    pub(crate) fn channel_in_place(&self, c: usize, plane: &mut [f32]) {
        let s = self.scale.map_or(1.0, |v| v[c]);
        let b = self.shift.map_or(0.0, |v| v[c]);
        if self.scale.is_some() {
            plane.iter_mut().for_each(|v| *v = *v * s + b);
        } else if self.shift.is_some() {
            plane.iter_mut().for_each(|v| *v += b);
        }
    }

    /// Writes one channel `c`'s plane scaled and shifted: `dst = src · scale + shift`.
    #[inline(always)]
    fn channel(&self, c: usize, src: &[f32], dst: &mut [f32]) {
        let s = self.scale.map_or(1.0, |v| v[c]);
        let b = self.shift.map_or(0.0, |v| v[c]);
        if self.scale.is_some() {
            dst.iter_mut().zip(src).for_each(|(d, v)| *d = v * s + b);
        } else {
            dst.iter_mut().zip(src).for_each(|(d, v)| *d = v + b);
        }
    }
}

/// Convolves `n` NCHW samples: `output = act(conv2d(input, weight) · scale + shift)` per output
/// channel (see [`Epilogue`]).
///
/// `weight` has PyTorch's layout `[c_out, c_in / groups, kh, kw]`; `scratch` holds the im2col
/// matrix and the product before it is scattered back to NCHW (see
/// [`conv2d_forward_scratch_len`]).
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn conv2d_forward<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    forward_checked(&G::SPEC, n, input, weight, None, Sums::Fast, epilogue, output, scratch);
}

/// [`conv2d_forward`] with the weights packed for the direct kernels kept in `cache` from call
/// to call (see [`crate::kernels::conv::packed_weights`]): one slot per layer, cleared whenever `weight` changes, which
/// [`Params`](crate::kernels::conv::packed_weights::Params) does by itself. A slot that holds another layer's or older
/// weights gives wrong numbers (never undefined behaviour).
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_cached<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    cache: &PackSlot,
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    forward_checked(&G::SPEC, n, input, weight, Some(cache), Sums::Fast, epilogue, output, scratch);
}

/// [`conv2d_forward_cached`] for a training pass: every output is the direct sum of its
/// products (no Winograd transform), so that a training run stays as close to float64 as
/// PyTorch's own float32 run. (Winograd's results are as accurate for one pass, but its
/// different rounding, fed back through many steps of an optimizer whose gradients switch at
/// ReLUs and pools, took a ResNet-18's Adam trajectory 12 times further from float64 than
/// PyTorch's.)
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_train<G: Conv2dGeom>(
    n: usize,
    input: &[f32],
    weight: &[f32],
    cache: &PackSlot,
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    forward_checked(&G::SPEC, n, input, weight, Some(cache), Sums::Direct, epilogue, output, scratch);
}

/// Which sums a forward pass may take.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sums {
    /// The fastest kernel for the layer, Winograd's transforms included.
    Fast,
    /// Every output the direct sum of its products (in chains), as training wants.
    Direct,
}

#[track_caller]
#[allow(clippy::too_many_arguments)]
fn forward_checked(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    cache: Option<&PackSlot>,
    sums: Sums,
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let spec = *spec;
    check_len("input", input.len(), n * spec.in_len());
    check_len("weight", weight.len(), spec.weight_len());
    epilogue.check(spec.c_out);
    check_len("output", output.len(), n * spec.out_len());
    check_len("scratch", scratch.len(), conv2d_forward_scratch_len(&spec, n));
    // The kernel is chosen by the layer's geometry (and the CPU) alone, never by the batch, so
    // a sample's result does not depend on what it is batched with.
    let direct_scratch = n * (spec.col_len() + spec.out_len());
    let hw = spec.h_out() * spec.w_out();
    // The direct kernels run the epilogue on each block of output planes as they finish it.
    let finish = |first: usize, planes: &mut [f32]| {
        for (c, plane) in planes.chunks_exact_mut(hw).enumerate() {
            epilogue.channel_in_place(first + c, plane);
            act_in_place(epilogue.act, plane);
        }
    };
    if depthwise::applies(&spec) {
        return depthwise::forward(&spec, n, input, weight, epilogue, output, scratch);
    }
    if pointwise::applies(&spec) {
        return pointwise::forward(&spec, n, input, weight, epilogue, output);
    }
    let call = direct_pixels::Call { spec: &spec, n, input, weight, cache, finish: &finish };
    if small_maps::applies(&spec) {
        return small_maps::forward(&call, epilogue, output, scratch);
    }
    if sums == Sums::Fast && winograd::takes(&spec, crate::isa::isa()) {
        return winograd::forward(&spec, n, input, weight, cache, &finish, output, scratch);
    }
    let direct = &mut scratch[direct_scratch..];
    if direct_channels::applies(&spec) {
        direct_channels::forward(&call, output, direct);
    } else if direct_pixels::applies(&spec) {
        direct_pixels::forward(&call, output, direct);
    } else {
        forward_core(&spec, n, input, weight, epilogue, output, scratch);
    }
}

#[track_caller]
pub(crate) fn check_len(what: &str, got: usize, need: usize) {
    assert!(got >= need, "{what} has {got} elements, the layer needs {need}");
}

#[inline(always)]
fn forward_core(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    epilogue: Epilogue<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    let hw = spec.h_out() * spec.w_out();
    let (kg, og) = (spec.group_rows(), spec.group_out());
    let (col, product) = scratch.split_at_mut(n * spec.col_len());
    // A pointwise kernel reads the input as it lies: for one sample NCHW already is the
    // [c_in, h·w] matrix the product wants.
    let col: &[f32] = if n == 1 && spec.is_pointwise() {
        &input[..spec.in_len()]
    } else {
        im2col(spec, n, input, col);
        col
    };
    let output = &mut output[..n * spec.out_len()];
    let cols = n * hw;
    let products = |dst: &mut [f32]| {
        for g in 0..spec.groups {
            let w = &weight[g * og * kg..(g + 1) * og * kg];
            let b = &col[g * kg * cols..(g + 1) * kg * cols];
            gemm(og, kg, cols, w, Op::N, b, Op::N, 0.0, &mut dst[g * og * cols..(g + 1) * og * cols]);
        }
    };
    if n == 1 {
        // One sample: the [c_out, h·w] product is the NCHW output itself.
        products(output);
        for (co, plane) in output.chunks_exact_mut(hw).enumerate() {
            epilogue.channel_in_place(co, plane);
            act_in_place(epilogue.act, plane);
        }
    } else {
        // The product is [c_out, n·h·w]; the epilogue scatters it to [n, c_out, h·w].
        let product = &mut product[..spec.c_out * cols];
        products(product);
        for (co, row) in product.chunks_exact(cols).enumerate() {
            for (s, src) in row.chunks_exact(hw).enumerate() {
                let dst = &mut output[(s * spec.c_out + co) * hw..(s * spec.c_out + co + 1) * hw];
                epilogue.channel(co, src, dst);
                act_in_place(epilogue.act, dst);
            }
        }
    }
}

/// Output channels (of a group) from which the weight gradient is a packed product rather than
/// dot products.
const PACKED_WEIGHT_GRAD_MIN_CHANNELS: usize = 64;

/// Scratch elements that [`conv2d_backward`] needs for `n` samples of layer `spec`.
pub const fn conv2d_backward_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    if depthwise::applies(spec) {
        return depthwise::scratch_len(spec, n, true);
    }
    input_gradient_scratch_len(spec, n)
}

/// Gradients of [`conv2d_forward`] (without epilogue activation) for `n` samples.
///
/// `grad_output` holds the loss gradient with respect to `output`. The weight and bias
/// gradients, each if asked for (a frozen layer's are not), are *added* to `grad_weight` and
/// `grad_bias`, so tiles of a batch accumulate; the input gradient, if asked for, is written to
/// `grad_input`, or added to it when `accumulate`.
/// The im2col matrix is rebuilt from `input` rather than kept from the forward pass: that costs
/// one unfold and saves a matrix per layer.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward<G: Conv2dGeom>(
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
    let (out_len, hw) = (spec.out_len(), spec.h_out() * spec.w_out());
    check_len("input", input.len(), n * spec.in_len());
    check_len("weight", weight.len(), spec.weight_len());
    check_len("grad_output", grad_output.len(), n * out_len);
    if let Some(gw) = &grad_weight {
        check_len("grad_weight", gw.len(), spec.weight_len());
    }
    check_len("scratch", scratch.len(), conv2d_backward_scratch_len(&spec, n));
    if let Some((gx, _)) = &grad_input {
        check_len("grad_input", gx.len(), n * spec.in_len());
    }
    if depthwise::applies(&spec) {
        return depthwise::backward(&spec, n, input, weight, grad_output, grad_input, grad_weight, grad_bias, scratch);
    }
    let (scratch, direct_scratch) = scratch.split_at_mut(n * (spec.col_len() + out_len));
    let (col, dy) = scratch.split_at_mut(n * spec.col_len());
    let (col, dy) = (&mut col[..n * spec.col_len()], &mut dy[..n * out_len]);
    if grad_weight.is_none() && grad_bias.is_none() {
        // A frozen layer: the input's gradient alone, which gathers the output gradient only
        // where its direct kernel does not apply.
        if let Some((grad_input, accumulate)) = grad_input {
            let rows = Rows::Room(dy);
            input_gradient_of(&spec, n, grad_output, rows, weight, grad_input, accumulate, col, direct_scratch);
        }
        return;
    }
    gather_channel_rows(&spec, n, grad_output, dy);
    let cols = n * hw;
    if let Some(grad_bias) = grad_bias {
        check_len("grad_bias", grad_bias.len(), spec.c_out);
        for (b, row) in grad_bias.iter_mut().zip(dy.chunks_exact(cols)) {
            *b += crate::kernels::dot::sum(row);
        }
    }
    if let Some(grad_weight) = grad_weight {
        im2col(&spec, n, input, col);
        weight_gradient(&spec, n, dy, col, grad_weight);
    }
    if let Some((grad_input, accumulate)) = grad_input {
        input_gradient_of(
            &spec,
            n,
            grad_output,
            Rows::Gathered(dy),
            weight,
            grad_input,
            accumulate,
            col,
            direct_scratch,
        );
    }
}

/// dW [og, kg] += dY [og, n·h·w] · colᵀ per group, from the gathered output gradient and the
/// im2col matrix.
fn weight_gradient(spec: &Conv2dSpec, n: usize, dy: &[f32], col: &[f32], grad_weight: &mut [f32]) {
    let (kg, og, cols) = (spec.group_rows(), spec.group_out(), n * spec.h_out() * spec.w_out());
    for g in 0..spec.groups {
        let dy_g = &dy[g * og * cols..(g + 1) * og * cols];
        let col_g = &col[g * kg * cols..(g + 1) * kg * cols];
        // dW [og, kg] += dY [og, n·h·w] · colᵀ. Both operands run along n·h·w: with many
        // output channels the packed product wins (it reuses each packed block of col across 8
        // channels at a time); with few, dot products read both as they lie. The choice
        // depends on the layer alone.
        let dw = &mut grad_weight[g * og * kg..(g + 1) * og * kg];
        if og >= PACKED_WEIGHT_GRAD_MIN_CHANNELS {
            gemm(og, cols, kg, dy_g, Op::N, col_g, Op::T, 1.0, dw);
        } else {
            dot_products(og, kg, cols, dy_g, col_g, 1.0, dw);
        }
    }
}

/// The output gradient `[n, c_out, h·w]` as the products want it, `[c_out, n·h·w]`.
fn gather_channel_rows(spec: &Conv2dSpec, n: usize, grad_output: &[f32], dy: &mut [f32]) {
    let hw = spec.h_out() * spec.w_out();
    for (co, row) in dy.chunks_exact_mut(n * hw).enumerate() {
        for (s, dst) in row.chunks_exact_mut(hw).enumerate() {
            dst.copy_from_slice(&grad_output[(s * spec.c_out + co) * hw..][..hw]);
        }
    }
}

/// Scratch elements that [`input_gradient`] needs for `n` samples of layer `spec`.
pub(crate) const fn input_gradient_scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    let direct = match direct_pixels::transposed(spec) {
        Some(t) => direct_pixels::scratch_len(&t),
        None => 0,
    };
    n * (spec.col_len() + spec.out_len()) + direct
}

/// The input gradient of layer `spec` alone, written to `grad_input` (added to it when
/// `accumulate`): what a transposed convolution computes as its forward pass.
///
/// # Panics
/// If a slice is shorter than `spec` and `n` need.
#[track_caller]
pub(crate) fn input_gradient(
    spec: &Conv2dSpec,
    n: usize,
    grad_output: &[f32],
    weight: &[f32],
    grad_input: &mut [f32],
    accumulate: bool,
    scratch: &mut [f32],
) {
    check_len("grad_output", grad_output.len(), n * spec.out_len());
    check_len("weight", weight.len(), spec.weight_len());
    check_len("grad_input", grad_input.len(), n * spec.in_len());
    check_len("scratch", scratch.len(), input_gradient_scratch_len(spec, n));
    let (rows, direct) = scratch.split_at_mut(n * (spec.col_len() + spec.out_len()));
    let (col, dy) = rows.split_at_mut(n * spec.col_len());
    input_gradient_of(spec, n, grad_output, Rows::Room(dy), weight, grad_input, accumulate, col, direct);
}

/// The output gradient in the products' layout `[c_out, n·h·w]`: gathered already, or room to
/// gather it in when it is needed.
enum Rows<'a> {
    Gathered(&'a [f32]),
    Room(&'a mut [f32]),
}

/// The input gradient: a direct convolution where the layer and the CPU allow (never depending
/// on the batch); otherwise dcol [kg, n·h·w] = Wᵀ · dY per group, in `col`, folded back by
/// col2im.
#[allow(clippy::too_many_arguments)]
fn input_gradient_of(
    spec: &Conv2dSpec,
    n: usize,
    grad_output: &[f32],
    rows: Rows<'_>,
    weight: &[f32],
    grad_input: &mut [f32],
    accumulate: bool,
    col: &mut [f32],
    direct: &mut [f32],
) {
    if direct_pixels::backward_input(spec, n, grad_output, weight, grad_input, accumulate, direct) {
        return;
    }
    let dy: &[f32] = match rows {
        Rows::Gathered(dy) => dy,
        Rows::Room(room) => {
            let room = &mut room[..n * spec.out_len()];
            gather_channel_rows(spec, n, grad_output, room);
            room
        }
    };
    let (kg, og, cols) = (spec.group_rows(), spec.group_out(), n * spec.h_out() * spec.w_out());
    for g in 0..spec.groups {
        let w_g = &weight[g * og * kg..(g + 1) * og * kg];
        let dy_g = &dy[g * og * cols..(g + 1) * og * cols];
        gemm(kg, og, cols, w_g, Op::T, dy_g, Op::N, 0.0, &mut col[g * kg * cols..(g + 1) * kg * cols]);
    }
    col2im(spec, n, col, grad_input, accumulate);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    macro_rules! conv_geoms {
        ($($name:ident: $spec:expr;)*) => {
            $(
                struct $name;
                impl Conv2dGeom for $name {
                    const SPEC: Conv2dSpec = $spec;
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
            const ALL_BACKWARD: &[fn(usize)] = &[$(check_backward::<$name>),*];
        };
    }

    const fn spec(c: [usize; 4], k: (usize, usize), s: (usize, usize), p: (usize, usize)) -> Conv2dSpec {
        Conv2dSpec::simple(c[0], c[1], c[2], c[3], k, s, p)
    }

    conv_geoms! {
        One: spec([1, 1, 1, 1], (1, 1), (1, 1), (0, 0));
        Pointwise: spec([4, 3, 5, 5], (1, 1), (1, 1), (0, 0));
        Lenet1: spec([1, 6, 28, 28], (5, 5), (1, 1), (2, 2));
        Odd: spec([3, 5, 7, 9], (3, 3), (1, 1), (1, 1));
        Strided: spec([2, 4, 11, 10], (3, 3), (2, 2), (0, 0));
        StridedPadded: spec([3, 2, 9, 9], (3, 3), (2, 3), (1, 1));
        TupleKernel: spec([2, 3, 8, 13], (3, 5), (2, 1), (1, 2));
        NonSquare: spec([1, 2, 4, 17], (2, 7), (1, 2), (0, 3));
        WholeInput: spec([2, 2, 3, 3], (3, 3), (1, 1), (0, 0));
        BigPad: spec([1, 3, 2, 2], (3, 3), (1, 1), (2, 2));
        StrideBeyondKernel: spec([2, 2, 10, 10], (2, 2), (3, 3), (0, 0));
        Grouped: Conv2dSpec { groups: 2, ..spec([4, 6, 6, 5], (3, 3), (1, 2), (1, 1)) };
        Depthwise: Conv2dSpec { groups: 3, ..spec([3, 3, 7, 7], (3, 3), (2, 2), (1, 1)) };
        DepthMultiplier: Conv2dSpec { groups: 2, ..spec([2, 6, 5, 4], (2, 3), (1, 1), (0, 1)) };
        Wide: spec([3, 13, 9, 37], (3, 3), (1, 1), (1, 1));
        // Enough output channels for the packed weight-gradient product.
        ManyChannels: spec([5, 70, 6, 9], (3, 3), (1, 1), (1, 1));
        // Direct kernel, two rows of 16 lanes (narrow maps), odd and even heights.
        NarrowMap: spec([5, 9, 20, 10], (3, 3), (1, 1), (1, 1));
        NarrowOddRows: spec([3, 17, 11, 8], (3, 3), (1, 1), (1, 1));
        // Stride 2 through the direct kernel's two-phase rows.
        StridedDirect: spec([3, 10, 20, 22], (3, 3), (2, 2), (1, 1));
        StridedDirectWide: spec([2, 9, 9, 75], (3, 3), (2, 2), (1, 1));
        StemLike: spec([3, 8, 32, 30], (7, 7), (2, 2), (3, 3));
        StridedEvenKernel: spec([2, 5, 17, 16], (4, 2), (2, 2), (1, 0));
        // Maps 8 wide or narrower.
        EightWide: spec([6, 10, 12, 8], (3, 3), (1, 1), (1, 1));
        SixWideOddRows: spec([3, 9, 9, 6], (3, 3), (1, 1), (1, 1));
        SevenWideSame: Conv2dSpec { ph_end: 1, pw_end: 2, ..spec([4, 8, 10, 7], (2, 4), (1, 1), (0, 1)) };
        NarrowSameEven: Conv2dSpec { ph_end: 2, pw_end: 1, ..spec([4, 6, 13, 8], (4, 2), (1, 1), (1, 0)) };
        Narrow: spec([5, 9, 6, 5], (2, 3), (1, 1), (1, 0));
        TallOdd: spec([2, 17, 13, 18], (5, 4), (1, 1), (2, 3));
        DepthwiseDilatedSame: Conv2dSpec { groups: 4, dh: 2, dw: 2, ph_end: 3, pw_end: 2, ..spec([4, 4, 7, 6], (3, 3), (1, 1), (1, 2)) };
        DepthwiseStridedOdd: Conv2dSpec { groups: 2, ..spec([2, 2, 9, 8], (2, 3), (3, 2), (0, 1)) };
        // Depthwise, bordered planes: flat runs over several vectors at stride 1, rows of
        // vectors with partial ones at stride 2 and 3, 5x5 and 7x7 kernels, a padding past the
        // kernel's reach (input gradient by scatter), a multiplier with a stride.
        DepthwiseWide: Conv2dSpec { groups: 3, ..spec([3, 3, 13, 37], (3, 3), (1, 1), (1, 1)) };
        DepthwiseStridedWide: Conv2dSpec { groups: 2, ..spec([2, 2, 19, 40], (3, 3), (2, 2), (1, 1)) };
        DepthwiseFiveStrided: Conv2dSpec { groups: 3, ..spec([3, 3, 17, 35], (5, 5), (2, 2), (2, 2)) };
        DepthwiseSeven: Conv2dSpec { groups: 2, ..spec([2, 2, 9, 7], (7, 7), (1, 1), (3, 3)) };
        DepthwiseStrideThree: Conv2dSpec { groups: 2, ..spec([2, 2, 11, 50], (3, 3), (3, 3), (1, 1)) };
        DepthwisePastReach: Conv2dSpec { groups: 2, ..spec([2, 2, 5, 6], (2, 2), (1, 1), (2, 2)) };
        DepthwiseMultiplierStrided: Conv2dSpec { groups: 2, ..spec([2, 6, 10, 21], (3, 3), (2, 1), (1, 1)) };
        DepthwiseOnePixel: Conv2dSpec { groups: 4, ..spec([4, 4, 1, 1], (3, 3), (1, 1), (1, 1)) };
        // Small maps of whole vectors of channels (the channel-lane depthwise kernel): 3x3 at
        // 7x7; a channel multiplier with stride 2 by 1, dilation and uneven padding; 5x5 strided.
        DepthwiseLanes: Conv2dSpec { groups: 16, ..spec([16, 16, 7, 7], (3, 3), (1, 1), (1, 1)) };
        DepthwiseLanesMultiplier: Conv2dSpec { groups: 16, dh: 2, ph_end: 1, ..spec([16, 32, 9, 6], (3, 3), (2, 1), (2, 1)) };
        DepthwiseLanesFive: Conv2dSpec { groups: 32, pw_end: 1, ..spec([32, 32, 10, 11], (5, 5), (2, 2), (2, 2)) };
        GroupedPointwise: Conv2dSpec { groups: 4, ..spec([8, 4, 3, 3], (1, 1), (1, 1), (0, 0)) };
        Dilated: Conv2dSpec { dh: 2, dw: 3, ..spec([2, 3, 9, 11], (3, 3), (1, 1), (2, 3)) };
        SameEven: Conv2dSpec { ph_end: 2, pw_end: 1, ..spec([2, 2, 6, 7], (4, 2), (1, 1), (1, 0)) };
        // Output channels across the lanes: strided, 1x1, dilated, small or narrow maps, with
        // partial 32-channel blocks, rows longer than a call's 12 pixels and several chains.
        LanesStrided: spec([5, 16, 9, 13], (3, 3), (2, 2), (1, 1));
        LanesPointwiseStrided: spec([7, 33, 8, 7], (1, 1), (2, 2), (0, 0));
        LanesPointwise: spec([6, 20, 5, 9], (1, 1), (1, 1), (0, 0));
        LanesSmallMap: spec([9, 40, 7, 7], (3, 3), (1, 1), (1, 1));
        LanesEightWide: spec([4, 20, 10, 8], (3, 3), (1, 1), (1, 1));
        LanesStem: spec([3, 16, 23, 21], (7, 7), (2, 2), (3, 3));
        LanesDilated: Conv2dSpec { dh: 2, dw: 2, ..spec([3, 17, 9, 10], (3, 3), (1, 1), (2, 2)) };
        LanesAsymmetric: Conv2dSpec { ph_end: 2, pw_end: 0, ..spec([3, 16, 6, 8], (3, 2), (1, 1), (1, 1)) };
        LanesLongRows: spec([2, 16, 9, 60], (3, 3), (2, 2), (1, 1));
        LanesManyInputs: spec([40, 16, 6, 7], (3, 3), (1, 1), (1, 1));
        LanesTallStride: spec([3, 18, 11, 7], (3, 3), (3, 1), (1, 1));
        // Pointwise: a partial channel block and two chunks of two vectors (7x7); several
        // chains with one masked vector; a row of chunks of three vectors and a last of two.
        PointwiseSevenBySeven: spec([5, 13, 7, 7], (1, 1), (1, 1), (0, 0));
        PointwiseLongChains: spec([300, 9, 3, 5], (1, 1), (1, 1), (0, 0));
        PointwiseWide: spec([3, 17, 10, 21], (1, 1), (1, 1), (0, 0));
        // Two tiles of pixels (1024 a tile at 4 input channels), the second of many chunks and
        // a partial last vector.
        PointwiseTiles: spec([4, 7, 37, 31], (1, 1), (1, 1), (0, 0));
        // Small maps: a partial 32-channel block over 4x4; stride 2 down to 2x2 with several
        // chains; a 2x2 map whose pixel runs cross samples; a dilated 1x3 row.
        SmallMapFour: spec([20, 40, 4, 4], (3, 3), (1, 1), (1, 1));
        SmallMapStridedChains: spec([300, 17, 4, 3], (3, 3), (2, 2), (1, 1));
        SmallMapTwo: spec([8, 33, 2, 2], (3, 3), (1, 1), (1, 1));
        SmallMapDilatedRow: Conv2dSpec { dh: 2, dw: 2, ..spec([3, 16, 3, 5], (2, 2), (1, 1), (1, 0)) };
    }

    #[test]
    fn lane_geometries_take_the_channel_lane_kernel() {
        for spec in [
            LanesStrided::SPEC,
            LanesSmallMap::SPEC,
            LanesEightWide::SPEC,
            LanesDilated::SPEC,
            LanesLongRows::SPEC,
            LanesTallStride::SPEC,
            LanesAsymmetric::SPEC,
            LanesManyInputs::SPEC,
        ] {
            assert!(direct_channels::applies(&spec), "{spec:?}");
        }
        assert!(!direct_channels::applies(&Strided::SPEC), "too few output channels");
        assert!(!direct_channels::applies(&NarrowMap::SPEC), "the pixel-lane kernel's");
        assert!(!direct_channels::applies(&LanesPointwiseStrided::SPEC), "rows too short");
    }

    #[test]
    fn pointwise_geometries_take_the_pointwise_kernel() {
        for spec in [
            One::SPEC,
            Pointwise::SPEC,
            LanesPointwise::SPEC,
            PointwiseSevenBySeven::SPEC,
            PointwiseLongChains::SPEC,
            PointwiseWide::SPEC,
            PointwiseTiles::SPEC,
        ] {
            assert!(pointwise::applies(&spec), "{spec:?}");
        }
        for spec in [LanesPointwiseStrided::SPEC, GroupedPointwise::SPEC, Lenet1::SPEC] {
            assert!(!pointwise::applies(&spec), "{spec:?}");
        }
    }

    #[test]
    fn small_geometries_take_the_small_map_path() {
        for spec in [SmallMapFour::SPEC, SmallMapStridedChains::SPEC, SmallMapTwo::SPEC, SmallMapDilatedRow::SPEC] {
            assert!(small_maps::applies(&spec) && !pointwise::applies(&spec), "{spec:?}");
        }
        assert!(!small_maps::applies(&LanesSmallMap::SPEC), "7 wide: the channel-lane kernel's");
        assert!(!small_maps::applies(&GroupedPointwise::SPEC), "grouped");
    }

    fn check<G: Conv2dGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_len(), 1);
        let weight = reference::values(spec.weight_len(), 2);
        let bias = reference::values(spec.c_out, 3);
        let scale = reference::values(spec.c_out, 4);
        let want = reference::conv2d(&spec, n, &input, &weight, &bias);
        let hw = spec.h_out() * spec.w_out();
        let epilogues = [
            Epilogue::bias(Some(&bias)),
            Epilogue { scale: None, shift: Some(&bias), act: Act::Relu },
            Epilogue { scale: Some(&scale), shift: Some(&bias), act: Act::Tanh },
            Epilogue::bias(None),
            Epilogue { scale: Some(&scale), shift: None, act: Act::Relu6 },
        ];
        for (e, epilogue) in epilogues.into_iter().enumerate() {
            let mut out = vec![f32::NAN; n * spec.out_len()];
            let mut scratch = vec![f32::NAN; conv2d_forward_scratch_len(&spec, n)];
            conv2d_forward::<G>(n, &input, &weight, epilogue, &mut out, &mut scratch);
            for (i, (&got, &w)) in out.iter().zip(&want).enumerate() {
                let c = i / hw % spec.c_out;
                let w = match e {
                    0 => w,
                    1 => w.max(0.0),
                    2 => ((w - bias[c] as f64) * scale[c] as f64 + bias[c] as f64).tanh(),
                    3 => w - bias[c] as f64,
                    _ => ((w - bias[c] as f64) * scale[c] as f64).clamp(0.0, 6.0),
                };
                assert!(
                    (got as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{spec:?} n={n} epilogue {e} [{i}]: {got} vs {w}"
                );
            }
        }
    }

    fn check_backward<G: Conv2dGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_len(), 11);
        let weight = reference::values(spec.weight_len(), 12);
        let dy = reference::values(n * spec.out_len(), 14);
        let (dx, dw, db) = reference::conv2d_grads(&spec, n, &input, &weight, &dy);
        for accumulate in [false, true] {
            let mut scratch = vec![f32::NAN; conv2d_backward_scratch_len(&spec, n)];
            let mut gx = vec![if accumulate { 1.0 } else { f32::NAN }; n * spec.in_len()];
            // The weight and bias gradients always accumulate: start them at 1.
            let mut gw = vec![1.0; spec.weight_len()];
            let mut gb = vec![1.0; spec.c_out];
            conv2d_backward::<G>(
                n,
                &input,
                &weight,
                &dy,
                Some((&mut gx, accumulate)),
                Some(&mut gw),
                Some(&mut gb),
                &mut scratch,
            );
            let shift = |v: &[f64], by: f64| v.iter().map(|x| x + by).collect::<Vec<_>>();
            reference::assert_close("dx", &gx, &shift(&dx, if accumulate { 1.0 } else { 0.0 }));
            reference::assert_close("dw", &gw, &shift(&dw, 1.0));
            reference::assert_close("db", &gb, &shift(&db, 1.0));
            // A frozen layer: the same input gradient, bit for bit, without the others.
            let mut frozen_gx = vec![if accumulate { 1.0 } else { f32::NAN }; n * spec.in_len()];
            let frozen = Some((&mut frozen_gx[..], accumulate));
            conv2d_backward::<G>(n, &input, &weight, &dy, frozen, None, None, &mut scratch);
            assert_eq!(frozen_gx, gx, "{spec:?}: a frozen layer's input gradient");
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

    /// A layer large enough that one sample's channel blocks (direct kernel) or units
    /// (pointwise kernel and small-map path, with a partial block and a masked last vector) are
    /// shared among
    /// threads gives the same bits on any thread count, forward and backward, and matches the
    /// naive loop.
    #[test]
    fn large_layers_split_among_threads_bit_for_bit() {
        struct Big;
        impl Conv2dGeom for Big {
            const SPEC: Conv2dSpec = Conv2dSpec::simple(32, 40, 24, 20, (3, 3), (1, 1), (1, 1));
        }
        struct BigPointwise;
        impl Conv2dGeom for BigPointwise {
            const SPEC: Conv2dSpec = Conv2dSpec::simple(64, 44, 30, 33, (1, 1), (1, 1), (0, 0));
        }
        struct BigSmallMap;
        impl Conv2dGeom for BigSmallMap {
            const SPEC: Conv2dSpec = Conv2dSpec::simple(256, 72, 4, 4, (3, 3), (1, 1), (1, 1));
        }
        fn same<G: Conv2dGeom>() {
            let spec = G::SPEC;
            let input = reference::values(spec.in_len(), 31);
            let weight = reference::values(spec.weight_len(), 32);
            let dy = reference::values(spec.out_len(), 33);
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| {
                    let mut out = vec![0.0; spec.out_len()];
                    let mut scratch =
                        vec![0.0; conv2d_forward_scratch_len(&spec, 1).max(conv2d_backward_scratch_len(&spec, 1))];
                    conv2d_forward::<G>(1, &input, &weight, Epilogue::bias(None), &mut out, &mut scratch);
                    let (mut gx, mut gw) = (vec![0.0; spec.in_len()], vec![0.0; spec.weight_len()]);
                    conv2d_backward::<G>(
                        1,
                        &input,
                        &weight,
                        &dy,
                        Some((&mut gx, false)),
                        Some(&mut gw),
                        None,
                        &mut scratch,
                    );
                    (out, gx)
                })
            };
            let one = run(1);
            let zeros = vec![0.0; spec.c_out];
            reference::assert_close("y", &one.0, &reference::conv2d(&spec, 1, &input, &weight, &zeros));
            reference::assert_close("dx", &one.1, &reference::conv2d_grads(&spec, 1, &input, &weight, &dy).0);
            for threads in [2, 3] {
                let other = run(threads);
                assert!(
                    one.0.iter().zip(&other.0).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "forward, {threads} threads"
                );
                assert!(
                    one.1.iter().zip(&other.1).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "input gradient, {threads} threads"
                );
            }
        }
        same::<Big>();
        same::<BigPointwise>();
        same::<BigSmallMap>();
    }

    /// ReLU and ReLU6 fused into the pointwise kernel keep NaN, as `torch.relu` does.
    #[test]
    fn fused_relus_keep_nan() {
        for act in [Act::Relu, Act::Relu6] {
            let mut input = reference::values(PointwiseWide::SPEC.in_len(), 61);
            input[5] = f32::NAN;
            let weight = reference::values(PointwiseWide::SPEC.weight_len(), 62);
            let mut out = vec![0.0; PointwiseWide::SPEC.out_len()];
            let mut scratch = vec![0.0; conv2d_forward_scratch_len(&PointwiseWide::SPEC, 1)];
            let epilogue = Epilogue { scale: None, shift: None, act };
            conv2d_forward::<PointwiseWide>(1, &input, &weight, epilogue, &mut out, &mut scratch);
            let hw = 10 * 21;
            for (i, v) in out.iter().enumerate() {
                assert_eq!(v.is_nan(), i % hw == 5, "{act:?} [{i}] = {v}");
                assert!(v.is_nan() || (0.0..=if act == Act::Relu { f32::MAX } else { 6.0 }).contains(v));
            }
        }
    }

    /// A small-map layer gives each sample the same bits alone (the channel-lane kernel, packed
    /// weights) as in a batch (the pointwise product over the batch's pixels), with and without
    /// a cache, across several chains, a partial block and every epilogue part.
    #[test]
    fn small_maps_give_the_same_bits_alone_and_batched() {
        struct Small;
        impl Conv2dGeom for Small {
            const SPEC: Conv2dSpec = Conv2dSpec::simple(60, 40, 5, 6, (3, 3), (2, 2), (1, 1));
        }
        let spec = Small::SPEC;
        assert!(small_maps::applies(&spec) && spec.c_in * 9 > 2 * crate::kernels::conv::pointwise::CHAIN);
        let n = 3;
        let input = reference::values(n * spec.in_len(), 51);
        let weight = reference::values(spec.weight_len(), 52);
        let (scale, shift) = (reference::values(spec.c_out, 53), reference::values(spec.c_out, 54));
        let epilogue = Epilogue { scale: Some(&scale), shift: Some(&shift), act: Act::Silu };
        let mut batched = vec![0.0; n * spec.out_len()];
        let mut scratch = vec![f32::NAN; conv2d_forward_scratch_len(&spec, n)];
        conv2d_forward::<Small>(n, &input, &weight, epilogue, &mut batched, &mut scratch);
        let slot = PackSlot::default();
        for s in 0..n {
            let x = &input[s * spec.in_len()..(s + 1) * spec.in_len()];
            let mut alone = vec![0.0; spec.out_len()];
            let mut scratch = vec![f32::NAN; conv2d_forward_scratch_len(&spec, 1)];
            conv2d_forward::<Small>(1, x, &weight, epilogue, &mut alone, &mut scratch);
            let mut cached = vec![0.0; spec.out_len()];
            conv2d_forward_cached::<Small>(1, x, &weight, &slot, epilogue, &mut cached, &mut scratch);
            let want = &batched[s * spec.out_len()..(s + 1) * spec.out_len()];
            for got in [&alone, &cached] {
                assert!(got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()), "sample {s}");
            }
        }
    }

    /// A depthwise layer large enough to share its planes among threads (forward) and its
    /// channels (backward, one sample) gives the same bits on any thread count and matches the
    /// naive loop.
    #[test]
    fn depthwise_planes_split_among_threads_bit_for_bit() {
        struct Dw;
        impl Conv2dGeom for Dw {
            const SPEC: Conv2dSpec =
                Conv2dSpec { groups: 40, ..Conv2dSpec::simple(40, 40, 30, 33, (3, 3), (1, 1), (1, 1)) };
        }
        struct DwStrided;
        impl Conv2dGeom for DwStrided {
            const SPEC: Conv2dSpec =
                Conv2dSpec { groups: 40, ..Conv2dSpec::simple(40, 40, 61, 66, (5, 5), (2, 2), (2, 2)) };
        }
        fn run<G: Conv2dGeom>(threads: usize) -> [Vec<f32>; 3] {
            let spec = G::SPEC;
            let input = reference::values(spec.in_len(), 41);
            let weight = reference::values(spec.weight_len(), 42);
            let dy = reference::values(spec.out_len(), 43);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut out = vec![0.0; spec.out_len()];
                let mut scratch = vec![f32::NAN; conv2d_scratch_per_sample(&spec)];
                conv2d_forward::<G>(1, &input, &weight, Epilogue::bias(None), &mut out, &mut scratch);
                let (mut gx, mut gw) = (vec![0.0; spec.in_len()], vec![0.0; spec.weight_len()]);
                conv2d_backward::<G>(
                    1,
                    &input,
                    &weight,
                    &dy,
                    Some((&mut gx, false)),
                    Some(&mut gw),
                    None,
                    &mut scratch,
                );
                if threads == 1 {
                    let (dx, dw, _) = reference::conv2d_grads(&spec, 1, &input, &weight, &dy);
                    let zeros = vec![0.0; spec.c_out];
                    reference::assert_close("y", &out, &reference::conv2d(&spec, 1, &input, &weight, &zeros));
                    reference::assert_close("dx", &gx, &dx);
                    reference::assert_close("dw", &gw, &dw);
                }
                [out, gx, gw]
            })
        }
        fn same<G: Conv2dGeom>() {
            assert!(
                super::depthwise::scratch_len(&G::SPEC, 1, true) > super::depthwise::scratch_len(&G::SPEC, 2, true)
            );
            let one = run::<G>(1);
            for threads in [2, 3] {
                for (what, (a, b)) in ["y", "dx", "dw"].iter().zip(one.iter().zip(&run::<G>(threads))) {
                    assert!(a.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()), "{what}, {threads} threads");
                }
            }
        }
        struct DwLanes;
        impl Conv2dGeom for DwLanes {
            const SPEC: Conv2dSpec =
                Conv2dSpec { groups: 96, ..Conv2dSpec::simple(96, 96, 28, 27, (3, 3), (1, 1), (1, 1)) };
        }
        assert!(super::depthwise_channels::applies(&DwLanes::SPEC));
        same::<Dw>();
        same::<DwStrided>();
        same::<DwLanes>();
    }

    #[test]
    #[should_panic(expected = "weight has 3 elements, the layer needs 150")]
    fn short_weight_panics() {
        let mut out = vec![0.0; 6 * 28 * 28];
        let mut scratch = vec![0.0; conv2d_forward_scratch_len(&Lenet1::SPEC, 1)];
        conv2d_forward::<Lenet1>(1, &[0.0; 784], &[0.0; 3], Epilogue::bias(Some(&[0.0; 6])), &mut out, &mut scratch);
    }
}
