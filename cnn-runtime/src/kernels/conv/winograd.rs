//! Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions with enough channels
//! (VGG's, ResNet's and the U-Net's bulk): each 2x2 block of output pixels comes from a 4x4
//! patch of input through 16 products per channel pair instead of 36, so the multiply-adds fall
//! by 2.25, and the layer becomes 16 independent matrix products over the packed GEMM.
//!
//! With `B`, `G` and `A` the transforms of Lavin and Gray ("Fast Algorithms for Convolutional
//! Neural Networks", 2015):
//!
//! - the weights once per parameter change (kept in the layer's packed-weight slot, as the
//!   direct kernels keep theirs), `V[e][o][i] = (G g[o][i] Gᵀ)[e]`, computed in `f64`;
//! - each input channel's patches, `U[e][i][t] = (Bᵀ d[i][t] B)[e]`, for the tiles `t` of every
//!   sample of the call: a row of tiles at a time, its input rows split into even and odd
//!   columns first, so that both passes of the transform are whole-row vector arithmetic;
//! - `M[e] = V[e] · U[e]`, one product of `[c_out, c_in]` by `[c_in, tiles]` per `e`;
//! - each row of output tiles `Y = Aᵀ m A` the same way, then the layer's epilogue.
//!
//! Layers take it on AVX2 and the portable path, where it was measured faster than the direct
//! kernel (ResNet-18 at 224 62 -> 52 ms on one Zen 3 core, VGG at batch 64 198 -> 172); on
//! AVX-512 the direct kernel keeps them until Winograd is measured there ([`takes`]).
//! The transforms' loops are compiled for each instruction set. Every tile's value is the same
//! sum whatever the batch or the threads (the GEMM's guarantee, each column summed alone), so a
//! sample's result does not depend on its batch. F(2x2)'s transforms (coefficients ±1 and ½)
//! round as the direct sum does: measured against a float64 loop, 3.1e-6 to 3.5e-6 relative
//! where im2col and the GEMM give 2.4e-6 to 6.4e-6. F(4x4, 3x3), 36 products instead of 144,
//! measured 4.6e-5 to 5.7e-5 on the same layers (its transforms' coefficients reach 5 and 8),
//! past the float32 distance the parity tests allow, so layers do not take it.

use crate::geom::Conv2dSpec;
use crate::isa::isa;
use crate::kernels::conv::packed_weights::{PackKind, PackSlot};
use crate::kernels::gemm::{gemm, Op};
use crate::vector::{isa_entry, Vector};

/// Transformed values per tile: the 4x4 patch.
const E: usize = 16;
/// Channels (in and out) from which a layer takes Winograd: with fewer, the products are too
/// thin for the GEMM to beat the direct kernel.
const MIN_CHANNELS: usize = 32;

/// Output rows and columns from which a layer takes Winograd: ResNet's 7x7 maps at 224 ran
/// slower through it (56 against 52 ms for a ResNet-18 on one AVX2 core) than the direct kernel.
const MIN_SIDE: usize = 8;

/// Whether the Winograd path takes this layer: 3x3, stride 1, undilated, one group, enough
/// channels, and a map of at least four tiles each way.
pub(crate) const fn applies(spec: &Conv2dSpec) -> bool {
    spec.groups == 1
        && spec.kh == 3
        && spec.kw == 3
        && spec.sh == 1
        && spec.sw == 1
        && spec.dh == 1
        && spec.dw == 1
        && spec.c_in >= MIN_CHANNELS
        && spec.c_out >= MIN_CHANNELS
        && spec.h_out() >= MIN_SIDE
        && spec.w_out() >= MIN_SIDE
}

/// Whether an inference pass on `isa` takes this layer through Winograd: it [`applies`], and
/// the instruction set is one where Winograd was measured faster than the direct kernel (AVX2,
/// and the portable path tiled like it). AVX-512's direct kernel runs VGG's layers at about 90%
/// of the peak and keeps them until Winograd is measured there.
pub(crate) fn takes(spec: &Conv2dSpec, isa: crate::isa::Isa) -> bool {
    applies(spec) && isa != crate::isa::Isa::Avx512
}

/// Tiles of one sample's output: `(rows, columns)`.
const fn tiles(spec: &Conv2dSpec) -> (usize, usize) {
    (spec.h_out().div_ceil(2), spec.w_out().div_ceil(2))
}

/// Transformed weights of a layer.
const fn weights_len(spec: &Conv2dSpec) -> usize {
    E * spec.c_out * spec.c_in
}

/// Values of the input transform's row buffers: a bordered input row of `2·(tw + 1)`, and the
/// even and odd columns of the 4 input rows and of the 4 transformed rows, `tw + 1` each.
const fn rows_len(spec: &Conv2dSpec) -> usize {
    18 * (tiles(spec).1 + 1)
}

/// Scratch elements of a call on `n` samples: the transformed input and products, the row
/// buffers, and room for the transformed weights when no cache keeps them.
pub(crate) const fn scratch_len(spec: &Conv2dSpec, n: usize) -> usize {
    let (th, tw) = tiles(spec);
    n * th * tw * E * (spec.c_in + spec.c_out) + rows_len(spec) + weights_len(spec)
}

/// Writes `V[e][o][i] = (G g Gᵀ)[e]` for every 3x3 kernel `g = weight[o][i]` (PyTorch's layout).
fn transform_weights(spec: &Conv2dSpec, weight: &[f32], v: &mut [f32]) {
    const G: [[f64; 3]; 4] = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]];
    let (co, ci) = (spec.c_out, spec.c_in);
    for o in 0..co {
        for i in 0..ci {
            let g = &weight[(o * ci + i) * 9..][..9];
            // G g (4x3), then (G g) Gᵀ (4x4).
            let gg: [[f64; 3]; 4] =
                std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|k| G[r][k] * g[k * 3 + c] as f64).sum()));
            for (r, gg) in gg.iter().enumerate() {
                for (c, gc) in G.iter().enumerate() {
                    v[((r * 4 + c) * co + o) * ci + i] = (0..3).map(|k| gg[k] * gc[k]).sum::<f64>() as f32;
                }
            }
        }
    }
}

/// Convolves `n` samples into `output` (overwritten), then runs `finish(0, planes)` on each
/// sample's output planes (the layer's epilogue).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    spec: &Conv2dSpec,
    n: usize,
    input: &[f32],
    weight: &[f32],
    cache: Option<&PackSlot>,
    finish: crate::kernels::conv::direct_pixels::Finish<'_>,
    output: &mut [f32],
    scratch: &mut [f32],
) {
    use rayon::prelude::*;
    let (th, tw) = tiles(spec);
    let (ci, co) = (spec.c_in, spec.c_out);
    let nt = n * th * tw;
    let (u, rest) = scratch.split_at_mut(E * ci * nt);
    let (m, rest) = rest.split_at_mut(E * co * nt);
    let (rows, space) = rest.split_at_mut(rows_len(spec));
    let cached = cache.and_then(|slot| {
        slot.get_or_pack(PackKind::Winograd, 0, weights_len(spec), |dst| transform_weights(spec, weight, dst))
    });
    let v: &[f32] = match cached {
        Some(v) => v,
        None => {
            let space = &mut space[..weights_len(spec)];
            transform_weights(spec, weight, space);
            space
        }
    };
    let isa = isa();
    // SAFETY: `isa()` is an instruction set this CPU has; the body checks its slices.
    unsafe { transform_input_on(isa, spec, n, input, u, rows) };
    // The products, shared among the threads by transformed position (each is one GEMM,
    // computed the same way whoever runs it).
    let product = |(e, m): (usize, &mut [f32])| {
        gemm(co, ci, nt, &v[e * co * ci..][..co * ci], Op::N, &u[e * ci * nt..][..ci * nt], Op::N, 0.0, m);
    };
    if rayon::current_num_threads() > 1 {
        m.par_chunks_mut(co * nt).enumerate().for_each(product);
    } else {
        m.chunks_mut(co * nt).enumerate().for_each(product);
    }
    let m: &[f32] = m;
    let per_sample = |(s, planes): (usize, &mut [f32])| {
        // SAFETY: as above.
        unsafe { transform_output_on(isa, spec, n, s, m, planes) };
        finish(0, planes);
    };
    let out = &mut output[..n * spec.out_len()];
    if rayon::current_num_threads() > 1 && n > 1 {
        out.par_chunks_mut(spec.out_len()).enumerate().for_each(per_sample);
    } else {
        out.chunks_mut(spec.out_len()).enumerate().for_each(per_sample);
    }
}

isa_entry! {
    /// [`transform_input`] compiled for `isa`.
    unsafe fn transform_input_on(spec: &Conv2dSpec, n: usize, input: &[f32], u: &mut [f32], rows: &mut [f32])
        => transform_input;
}

isa_entry! {
    /// [`transform_output`] compiled for `isa`.
    unsafe fn transform_output_on(spec: &Conv2dSpec, n: usize, s: usize, m: &[f32], planes: &mut [f32])
        => transform_output;
}

/// `U[e][i][t] = (Bᵀ d B)[e]` for every input channel `i` and tile `t` of the `n` samples, `d`
/// the 4x4 patch at the tile's corner (`2·ty - ph`, `2·tx - pw`), zero outside the input.
///
/// `Bᵀ x = [x0 - x2, x1 + x2, x2 - x1, x1 - x3]`. A row of tiles reads 4 input rows; with each
/// row's even and odd columns apart (`E[k] = row[2k]`, `O[k] = row[2k + 1]`), tile `tx`'s patch
/// columns are `E[tx], O[tx], E[tx + 1], O[tx + 1]`, so both passes run along whole rows.
///
/// # Safety
/// None beyond `V`'s instruction set (a compilation context only: the loops are plain Rust).
#[inline(always)]
unsafe fn transform_input<V: Vector>(spec: &Conv2dSpec, n: usize, input: &[f32], u: &mut [f32], rows: &mut [f32]) {
    let (th, tw) = tiles(spec);
    let (ci, h, w) = (spec.c_in, spec.h_in, spec.w_in);
    let nt = n * th * tw;
    let k = tw + 1;
    let (bordered, rest) = rows[..rows_len(spec)].split_at_mut(2 * k);
    let (split, t) = rest.split_at_mut(8 * k);
    for i in 0..ci {
        for s in 0..n {
            let plane = &input[(s * ci + i) * h * w..][..h * w];
            for ty in 0..th {
                for r in 0..4 {
                    let y = (2 * ty + r) as isize - spec.ph as isize;
                    bordered.fill(0.0);
                    if (0..h as isize).contains(&y) {
                        let len = w.min(2 * k - spec.pw);
                        bordered[spec.pw..spec.pw + len].copy_from_slice(&plane[y as usize * w..][..len]);
                    }
                    let (even, odd) = split[2 * r * k..2 * (r + 1) * k].split_at_mut(k);
                    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(bordered.chunks_exact(2)) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                }
                // Bᵀ over the rows, even and odd columns alike: t[r'][parity][k].
                for parity in 0..2 {
                    let x = |r: usize| &split[(2 * r + parity) * k..][..k];
                    let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
                    let mut out = t.chunks_exact_mut(2 * k).map(|o| &mut o[parity * k..][..k]);
                    let (t0, t1, t2, t3) =
                        (out.next().unwrap(), out.next().unwrap(), out.next().unwrap(), out.next().unwrap());
                    for j in 0..k {
                        t0[j] = x0[j] - x2[j];
                        t1[j] = x1[j] + x2[j];
                        t2[j] = x2[j] - x1[j];
                        t3[j] = x1[j] - x3[j];
                    }
                }
                // Bᵀ over the columns, into the 16 planes of U.
                let t0 = (s * th + ty) * tw;
                for r in 0..4 {
                    let (even, odd) = t[2 * r * k..2 * (r + 1) * k].split_at(k);
                    let (e0, e1, o0, o1) = (&even[..tw], &even[1..], &odd[..tw], &odd[1..]);
                    let at = |c: usize| ((r * 4 + c) * ci + i) * nt + t0;
                    let (a, rest) = u[at(0)..].split_at_mut(ci * nt);
                    let (b, rest) = rest.split_at_mut(ci * nt);
                    let (c, d) = rest.split_at_mut(ci * nt);
                    let (a, b, c, d) = (&mut a[..tw], &mut b[..tw], &mut c[..tw], &mut d[..tw]);
                    for j in 0..tw {
                        a[j] = e0[j] - e1[j];
                        b[j] = o0[j] + e1[j];
                        c[j] = e1[j] - o0[j];
                        d[j] = o0[j] - o1[j];
                    }
                }
            }
        }
    }
}

/// Sample `s`'s output planes from the products `M[e][o][t]`: each tile `Aᵀ m A`, with
/// `Aᵀ x = [x0 + x1 + x2, x1 - x2 - x3]`, for a row of tiles at a time (tiles in the inner
/// loops), written inside the map.
///
/// # Safety
/// None beyond `V`'s instruction set (a compilation context only: the loops are plain Rust).
#[inline(always)]
unsafe fn transform_output<V: Vector>(spec: &Conv2dSpec, n: usize, s: usize, m: &[f32], planes: &mut [f32]) {
    const CHUNK: usize = 64;
    let (th, tw) = tiles(spec);
    let (co, ho, wo) = (spec.c_out, spec.h_out(), spec.w_out());
    let nt = n * th * tw;
    let mut ys = [[0.0f32; CHUNK]; 4];
    for (o, plane) in planes[..co * ho * wo].chunks_exact_mut(ho * wo).enumerate() {
        for ty in 0..th {
            let t0 = (s * th + ty) * tw;
            for c0 in (0..tw).step_by(CHUNK) {
                let count = CHUNK.min(tw - c0);
                let at = |e: usize| &m[(e * co + o) * nt + t0 + c0..][..count];
                let mv: [&[f32]; E] = std::array::from_fn(at);
                // Aᵀ over the columns of each row r of m, then over the rows.
                for j in 0..count {
                    let z = |r: usize| {
                        let (a, b, c, d) = (mv[4 * r][j], mv[4 * r + 1][j], mv[4 * r + 2][j], mv[4 * r + 3][j]);
                        (a + b + c, b - c - d)
                    };
                    let (z0, z1, z2, z3) = (z(0), z(1), z(2), z(3));
                    ys[0][j] = z0.0 + z1.0 + z2.0;
                    ys[1][j] = z0.1 + z1.1 + z2.1;
                    ys[2][j] = z1.0 - z2.0 - z3.0;
                    ys[3][j] = z1.1 - z2.1 - z3.1;
                }
                // Output rows 2·ty and 2·ty + 1, columns 2·(c0 + j) and one past, inside the map.
                for y in 0..2.min(ho - 2 * ty) {
                    let x0 = 2 * c0;
                    let row = &mut plane[(2 * ty + y) * wo + x0..][..(2 * count).min(wo - x0)];
                    let (left, right) = (&ys[2 * y][..count], &ys[2 * y + 1][..count]);
                    let mut pairs = row.chunks_exact_mut(2);
                    for (pair, (l, r)) in pairs.by_ref().zip(left.iter().zip(right)) {
                        pair[0] = *l;
                        pair[1] = *r;
                    }
                    if let [last] = pairs.into_remainder() {
                        *last = left[count - 1];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    /// Against the float64 loop over geometries with partial tiles at the bottom and right,
    /// no, uneven and large padding, and several samples, within the GEMM's own rounding; one
    /// sample's bits do not depend on the batch or the threads.
    #[test]
    fn matches_naive_loop_and_is_batch_independent() {
        let specs = [
            Conv2dSpec::simple(32, 32, 8, 8, (3, 3), (1, 1), (1, 1)),
            Conv2dSpec::simple(33, 40, 13, 11, (3, 3), (1, 1), (1, 1)),
            Conv2dSpec::simple(40, 35, 10, 17, (3, 3), (1, 1), (0, 0)),
            Conv2dSpec { ph_end: 2, pw_end: 0, ..Conv2dSpec::simple(32, 48, 9, 12, (3, 3), (1, 1), (2, 1)) },
            Conv2dSpec::simple(32, 33, 21, 150, (3, 3), (1, 1), (1, 1)),
        ];
        for spec in specs {
            assert!(applies(&spec), "{spec:?}");
            let n = 3;
            let x = reference::values(n * spec.in_len(), 1);
            let w = reference::values(spec.weight_len(), 2);
            let want = reference::conv2d(&spec, n, &x, &w, &vec![0.0; spec.c_out]);
            let run = |n: usize, x: &[f32], threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut out = vec![f32::NAN; n * spec.out_len()];
                let mut scratch = vec![f32::NAN; scratch_len(&spec, n)];
                pool.install(|| forward(&spec, n, x, &w, None, &|_, _| {}, &mut out, &mut scratch));
                out
            };
            let got = run(n, &x, 1);
            let worst = got.iter().zip(&want).map(|(g, w)| (*g as f64 - w).abs() / (1.0 + w.abs())).fold(0.0, f64::max);
            assert!(worst < 1e-5, "{spec:?}: {worst}");
            let second = &x[spec.in_len()..2 * spec.in_len()];
            let alone = run(1, second, 2);
            let batched = &got[spec.out_len()..2 * spec.out_len()];
            assert!(alone.iter().zip(batched).all(|(a, b)| a.to_bits() == b.to_bits()), "{spec:?}");
            assert!(run(n, &x, 3).iter().zip(&got).all(|(a, b)| a.to_bits() == b.to_bits()), "{spec:?} threads");
        }
    }
}
