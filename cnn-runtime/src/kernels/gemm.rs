//! Dense single-precision matrix products with packing memory that is reused, never
//! reallocated in the steady state.
//!
//! [`gemm`] is a blocked, packed product in the BLIS style: a `KC × NC` block of `b` and an
//! `MC × KC` block of `a` are copied into panel order, and a register-tiled micro-kernel
//! (AVX-512, AVX2+FMA, or portable Rust, chosen once at run time) multiplies panel by panel. The
//! packing buffers live in a thread-local vector that grows to the largest block once and is
//! then reused, so a product allocates nothing after its thread's first call. (This is why the
//! runtime has its own kernels rather than `matrixmultiply`, which allocates its packing buffer
//! on every call.)
//!
//! Every element of the result is the same sum, in the same order, whatever the matrix sizes
//! and wherever the element falls in a tile: a sequential multiply-add chain over each `KC`
//! block of the inner dimension, blocks added in order. So one sample's output does not depend
//! on which other samples share its product, and results are bit-identical across batch sizes
//! and thread counts.

use crate::isa::{isa, Isa};
use crate::vector::{isa_entry, Portable, Vector};
use rayon::prelude::*;
use std::cell::RefCell;

/// How a row-major operand is read: as stored, or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read the matrix as stored.
    N,
    /// Read the transpose of the stored matrix.
    T,
}

/// A register-blocked micro-kernel and the blocking that suits it: the one place that states a
/// kernel's tile (`MR × NR`) and its cache blocks (`KC`, `MC`, `NC`), from which the packing,
/// the loops and the packing buffer's size all follow.
trait MicroKernel {
    /// Rows of `a` (and of the tile) per call.
    const MR: usize;
    /// Columns of `b` (and of the tile) per call.
    const NR: usize;
    /// Steps of the inner dimension per packed block: a `KC × NR` panel of `b` stays in L1.
    const KC: usize = 256;
    /// Rows of `a` per packed block, a multiple of `MR`: an `MC × KC` block stays in L2.
    const MC: usize = 144;
    /// Columns of `b` per packed block.
    const NC: usize = 2048;

    /// `tile[r][c] = Σ_p a[p][r] · b[p][c]` over `kc` packed steps, written to an `MR × NR`
    /// row-major tile.
    ///
    /// # Safety
    /// `a` must hold `MR·kc`, `b` `NR·kc` and `tile` `MR·NR` values, and the CPU must have the
    /// instructions the kernel is compiled for.
    unsafe fn run(kc: usize, a: *const f32, b: *const f32, tile: *mut f32);

    /// Packing-buffer elements for one block of each operand.
    fn pack_len() -> usize {
        Self::MC.div_ceil(Self::MR) * Self::MR * Self::KC + Self::NC.div_ceil(Self::NR) * Self::NR * Self::KC
    }
}

/// The largest micro-tile (`MR × NR` accumulators) of any kernel: the size of the stack buffer
/// a micro-tile is written to.
const MAX_MICRO_TILE: usize = 256;
/// The widest panel of any kernel.
const MAX_PANEL: usize = 32;

thread_local! {
    static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Sizes this thread's packing buffer for the largest block, as the first product on the thread
/// would. The batch runners call it on every thread of the pool when they first size their own
/// buffers, so that no later product allocates, whichever thread it lands on.
pub fn reserve_packing() {
    let len = match isa() {
        Isa::Avx512 => Wide::<WideVector>::pack_len(),
        Isa::Avx2 => Narrow::<NarrowVector>::pack_len(),
        Isa::Portable => Slim::<Portable>::pack_len(),
    };
    PACK.with_borrow_mut(|pack| {
        if pack.len() < len {
            pack.resize(len, 0.0);
        }
    });
}

/// `c = a · b + beta · c` for row-major `c` of `m × n`.
///
/// `a` is read as `m × k` (stored `m × k` for [`Op::N`], `k × m` for [`Op::T`]) and `b` as
/// `k × n` (stored `k × n` or `n × k`). With `beta == 0` the old contents of `c` are ignored,
/// NaN included.
///
/// # Panics
/// If a slice is shorter than its matrix.
#[track_caller]
#[allow(clippy::too_many_arguments)]
pub fn gemm(m: usize, k: usize, n: usize, a: &[f32], op_a: Op, b: &[f32], op_b: Op, beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k, "gemm: a has {} elements, needs {m} x {k}", a.len());
    assert!(b.len() >= k * n, "gemm: b has {} elements, needs {k} x {n}", b.len());
    assert!(c.len() >= m * n, "gemm: c has {} elements, needs {m} x {n}", c.len());
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    if k == 0 {
        scale(c, beta);
        return;
    }
    let a = Strided::new(a, op_a, m, k);
    let bt = Strided::new(b, op_b, k, n).transposed();
    let out = Out { ptr: c.as_mut_ptr(), ldc: n };
    // A large product is split by columns across rayon's threads (one sample's convolution at
    // batch 1, say); each element's sum is the same whichever part computes it.
    let big = m * n * k >= PAR_MIN_WORK;
    let threads = rayon::current_num_threads();
    let parts = if big { threads.min(n / PAR_MIN_COLS) } else { 1 };
    if parts <= 1 {
        // Few columns (a small map at batch 1): split the rows instead, if there are enough.
        let row_parts = if big { threads.min(m / PAR_MIN_ROWS) } else { 1 };
        if row_parts > 1 {
            let rows = m.div_ceil(row_parts).next_multiple_of(16);
            (0..row_parts).into_par_iter().for_each(|p| {
                let r0 = p * rows;
                if r0 < m {
                    let m_part = rows.min(m - r0);
                    // SAFETY: rows r0..r0+m_part of `c` belong to this part alone, and `c` is
                    // borrowed mutably for the whole call.
                    unsafe { dispatch(Shape { m: m_part, k, n, beta }, &a.rows_from(r0), &bt, out.rows_from(r0)) };
                }
            });
            return;
        }
        // SAFETY: `out` covers `c`, which this call borrows mutably.
        unsafe { dispatch(Shape { m, k, n, beta }, &a, &bt, out) };
        return;
    }
    let cols = n.div_ceil(parts).next_multiple_of(64);
    (0..parts).into_par_iter().for_each(|p| {
        let c0 = p * cols;
        if c0 < n {
            let n_part = cols.min(n - c0);
            let part = out.columns_from(c0);
            // SAFETY: columns c0..c0+n_part of `c` belong to this part alone, and `c` is borrowed
            // mutably for the whole call.
            unsafe { dispatch(Shape { m, k, n: n_part, beta }, &a, &bt.rows_from(c0), part) };
        }
    });
}

/// Products at least this large (in multiply-adds) are split across threads.
const PAR_MIN_WORK: usize = 1 << 22;
/// Each part of a split product gets at least this many columns.
const PAR_MIN_COLS: usize = 64;
/// ... or, split by rows, this many rows.
const PAR_MIN_ROWS: usize = 64;

/// Where a product writes: `m` rows `ldc` apart.
#[derive(Clone, Copy)]
struct Out {
    ptr: *mut f32,
    ldc: usize,
}

impl Out {
    /// The same rows from column `c0` on. (A method, so that closures capture the whole `Out`,
    /// which is `Sync`, rather than its raw pointer.)
    fn columns_from(self, c0: usize) -> Out {
        Out { ptr: self.ptr.wrapping_add(c0), ldc: self.ldc }
    }

    /// The rows from row `r0` on.
    fn rows_from(self, r0: usize) -> Out {
        Out { ptr: self.ptr.wrapping_add(r0 * self.ldc), ldc: self.ldc }
    }
}

// SAFETY: `Out` is a pointer into a matrix that the parts of one product write in disjoint
// column ranges; `gemm` keeps the matrix borrowed mutably until they are all done.
unsafe impl Send for Out {}
// SAFETY: as above; no part reads what another writes.
unsafe impl Sync for Out {}

/// The blocked product with the kernel of the instruction set in use.
///
/// # Safety
/// `out` must point to `s.m` rows of at least `s.n` writable values, `out.ldc` apart, that
/// nothing else reads or writes during the call.
unsafe fn dispatch(s: Shape, a: &Strided, bt: &Strided, out: Out) {
    // SAFETY: `isa()` is an instruction set this CPU has; the caller vouches for `out`.
    unsafe { blocked_on(isa(), s, a, bt, out) }
}

isa_entry! {
    /// [`blocked_with`] compiled for `isa`.
    unsafe fn blocked_on(s: Shape, a: &Strided, bt: &Strided, out: Out) => blocked_with;
}

/// The register tiles, each stated once: 8 rows by two vectors of 16 on AVX-512 (16
/// accumulators of its 32 registers), 6 by two vectors of 8 on AVX2 (12 of 16), and 4 rows by
/// one vector of 8 on the portable path, whose vector takes two registers of SSE2 or NEON.
type Wide<V> = Tile<V, 8, 2>;
type Narrow<V> = Tile<V, 6, 2>;
type Slim<V> = Tile<V, 4, 1>;
#[cfg(target_arch = "x86_64")]
type WideVector = crate::vector::F32x16;
#[cfg(target_arch = "x86_64")]
type NarrowVector = crate::vector::F32x8;
#[cfg(not(target_arch = "x86_64"))]
type WideVector = Portable;
#[cfg(not(target_arch = "x86_64"))]
type NarrowVector = Portable;

/// The blocked product with `V`'s tile.
///
/// # Safety
/// As [`dispatch`], on a CPU with `V`'s instruction set.
#[inline(always)]
unsafe fn blocked_with<V: Vector>(s: Shape, a: &Strided, bt: &Strided, out: Out) {
    // SAFETY: the caller's contract; the tile's vectors are `V`.
    unsafe {
        match V::ISA {
            Isa::Avx512 => blocked::<Wide<V>>(s, a, bt, out),
            Isa::Avx2 => blocked::<Narrow<V>>(s, a, bt, out),
            Isa::Portable => blocked::<Slim<V>>(s, a, bt, out),
        }
    }
}

#[derive(Clone, Copy)]
struct Shape {
    m: usize,
    k: usize,
    n: usize,
    beta: f32,
}

/// The blocked product with micro-kernel `K`; `bt` is `b` transposed, so that both operands are
/// packed along their rows. Inlined into a caller compiled for the kernel's instruction set, so
/// that packing and merging use the same wide registers.
///
/// # Safety
/// As [`dispatch`].
#[inline(always)]
unsafe fn blocked<K: MicroKernel>(s: Shape, a: &Strided, bt: &Strided, c: Out) {
    let Shape { m, k, n, beta } = s;
    let (mr, nr) = (K::MR, K::NR);
    const { assert!(K::MR * K::NR <= MAX_MICRO_TILE && K::MR <= MAX_PANEL && K::NR <= MAX_PANEL && K::MC % K::MR == 0) };
    PACK.with_borrow_mut(|pack| {
        let a_len = K::MC.div_ceil(mr) * mr * K::KC;
        if pack.len() < K::pack_len() {
            pack.resize(K::pack_len(), 0.0);
        }
        let (a_pack, b_pack) = pack.split_at_mut(a_len);
        let mut tile = [0.0f32; MAX_MICRO_TILE];
        for jc in (0..n).step_by(K::NC) {
            let nc = K::NC.min(n - jc);
            for pc in (0..k).step_by(K::KC) {
                let kc = K::KC.min(k - pc);
                pack_panels(nr, bt, jc, nc, pc, kc, b_pack);
                let first = pc == 0;
                for ic in (0..m).step_by(K::MC) {
                    let mc = K::MC.min(m - ic);
                    pack_panels(mr, a, ic, mc, pc, kc, a_pack);
                    for (jp, j0) in (0..nc).step_by(nr).enumerate() {
                        let cols = nr.min(nc - j0);
                        let bp = &b_pack[jp * nr * kc..(jp + 1) * nr * kc];
                        for (ip, i0) in (0..mc).step_by(mr).enumerate() {
                            let rows = mr.min(mc - i0);
                            let ap = &a_pack[ip * mr * kc..(ip + 1) * mr * kc];
                            // SAFETY: `ap` holds MR·kc and `bp` NR·kc packed values (the slices
                            // above), `tile` at least MR × NR, and `gemm` only picks a SIMD
                            // kernel after detecting the CPU features it needs.
                            unsafe { K::run(kc, ap.as_ptr(), bp.as_ptr(), tile.as_mut_ptr()) };
                            for (r, t) in tile.chunks_exact(nr).enumerate().take(rows) {
                                // SAFETY: row ic+i0+r < m and columns jc+j0..+cols < n of the
                                // output, which the caller hands to this call alone.
                                let row = unsafe {
                                    std::slice::from_raw_parts_mut(c.ptr.add((ic + i0 + r) * c.ldc + jc + j0), cols)
                                };
                                merge(row, &t[..cols], first, beta);
                            }
                        }
                    }
                }
            }
        }
    });
}

#[inline(always)]
fn merge(row: &mut [f32], tile: &[f32], first: bool, beta: f32) {
    if !first || beta == 1.0 {
        row.iter_mut().zip(tile).for_each(|(c, t)| *c += t);
    } else if beta == 0.0 {
        row.copy_from_slice(tile);
    } else {
        row.iter_mut().zip(tile).for_each(|(c, t)| *c = beta * *c + t);
    }
}

fn scale(c: &mut [f32], beta: f32) {
    if beta == 0.0 {
        c.fill(0.0);
    } else if beta != 1.0 {
        c.iter_mut().for_each(|v| *v *= beta);
    }
}

/// A row-major matrix of `rows × cols` read through strides.
struct Strided<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Strided<'a> {
    fn new(data: &'a [f32], op: Op, rows: usize, cols: usize) -> Self {
        match op {
            Op::N => Strided { data, rs: cols, cs: 1 },
            Op::T => Strided { data, rs: 1, cs: rows },
        }
    }

    fn transposed(&self) -> Strided<'a> {
        Strided { data: self.data, rs: self.cs, cs: self.rs }
    }

    /// The matrix from row `r` on.
    fn rows_from(&self, r: usize) -> Strided<'a> {
        Strided { data: &self.data[r * self.rs..], rs: self.rs, cs: self.cs }
    }
}

/// Packs rows `r0..r0+rows` and columns `p0..p0+kc` of `src` into panels of `w` rows, each
/// panel stored column by column (`w` values per step of the inner dimension), zero-padded to a
/// whole panel. For `b`, the caller passes its transpose so that panels run along its columns.
/// (`w` is a kernel's constant: inlined, the loops are compiled for it.)
#[inline(always)]
fn pack_panels(w: usize, src: &Strided, r0: usize, rows: usize, p0: usize, kc: usize, dst: &mut [f32]) {
    for (panel, i0) in (0..rows).step_by(w).enumerate() {
        let dst = &mut dst[panel * w * kc..(panel + 1) * w * kc];
        let live = w.min(rows - i0);
        if src.rs == 1 && live == w {
            // The panel's rows are adjacent in memory at each step: copy runs of `w`.
            for (p, d) in dst.chunks_exact_mut(w).enumerate() {
                let at = (p0 + p) * src.cs + r0 + i0;
                d.copy_from_slice(&src.data[at..at + w]);
            }
        } else if src.cs == 1 {
            // Each row runs along the inner dimension: transpose 8-step blocks through a small
            // buffer, so both the reads and the writes are contiguous.
            const B: usize = 8;
            let at = |r: usize| (r0 + i0 + r.min(live - 1)) * src.rs + p0;
            let starts: [usize; MAX_PANEL] = std::array::from_fn(at);
            let mut p = 0;
            while p < kc {
                let steps = B.min(kc - p);
                let mut block = [[0.0f32; B]; MAX_PANEL];
                for (r, row) in block.iter_mut().enumerate().take(live) {
                    let run = &src.data[starts[r] + p..starts[r] + p + steps];
                    if steps == B {
                        *row = run.try_into().expect("B elements");
                    } else {
                        row[..steps].copy_from_slice(run);
                    }
                }
                for q in 0..steps {
                    let d = &mut dst[(p + q) * w..(p + q + 1) * w];
                    for (r, d) in d.iter_mut().enumerate() {
                        *d = block[r][q];
                    }
                }
                p += steps;
            }
        } else {
            for r in 0..w {
                let rows_at = (r0 + i0 + r) * src.rs + p0 * src.cs;
                for (p, d) in dst.chunks_exact_mut(w).enumerate() {
                    d[r] = if r < live { src.data[rows_at + p * src.cs] } else { 0.0 };
                }
            }
        }
    }
}

/// The micro-kernel of `MR` rows by `NV` vectors of `V`: `MR·NV` accumulators, one broadcast of
/// `a` and `NV` loads of `b` per row and step.
struct Tile<V, const MR: usize, const NV: usize>(std::marker::PhantomData<V>);

impl<V: Vector, const MR: usize, const NV: usize> MicroKernel for Tile<V, MR, NV> {
    const MR: usize = MR;
    const NR: usize = NV * V::LANES;

    #[inline(always)]
    unsafe fn run(kc: usize, a: *const f32, b: *const f32, tile: *mut f32) {
        let nr = NV * V::LANES;
        let mut acc = [[V::zero(); NV]; MR];
        for p in 0..kc {
            let mut bv = [V::zero(); NV];
            for (q, v) in bv.iter_mut().enumerate() {
                // SAFETY: p < kc, so this read stays inside the packed panel the caller vouches for.
                *v = unsafe { V::load(b.add(p * nr + q * V::LANES)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above, in `a`'s panel.
                let av = V::splat(unsafe { *a.add(p * MR + r) });
                for (acc, bv) in acc.iter_mut().zip(&bv) {
                    *acc = av.mul_add(*bv, *acc);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, v) in acc.iter().enumerate() {
                // SAFETY: the tile holds MR rows of NR.
                unsafe { v.store(tile.add(r * nr + q * V::LANES)) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::values;

    /// A fresh seed for each operand.
    fn next(seed: &mut u64) -> u64 {
        *seed += 1;
        *seed
    }

    pub(crate) fn naive(m: usize, k: usize, n: usize, a: &[f32], op_a: Op, b: &[f32], op_b: Op) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    let av = match op_a {
                        Op::N => a[i * k + p],
                        Op::T => a[p * m + i],
                    };
                    let bv = match op_b {
                        Op::N => b[p * n + j],
                        Op::T => b[j * k + p],
                    };
                    c[i * n + j] += av as f64 * bv as f64;
                }
            }
        }
        c
    }

    #[test]
    fn matches_naive_for_every_transpose_beta_and_blocking_edge() {
        let mut seed = 1u64;
        // Sizes straddle the micro-tile (8x32, 6x16, 4x8) and block (MC, KC, NC) edges.
        let sizes = [
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 9),
            (6, 25, 1568),
            (64, 300, 5),
            (145, 257, 40),
            (9, 513, 2049),
            (1, 1024, 500),
        ];
        for &(m, k, n) in &sizes {
            for op_a in [Op::N, Op::T] {
                for op_b in [Op::N, Op::T] {
                    let a = values(m * k, next(&mut seed));
                    let b = values(k * n, next(&mut seed));
                    let c0 = values(m * n, next(&mut seed));
                    let want = naive(m, k, n, &a, op_a, &b, op_b);
                    for beta in [0.0f32, 1.0, 0.5] {
                        let mut c = if beta == 0.0 { vec![f32::NAN; m * n] } else { c0.clone() };
                        gemm(m, k, n, &a, op_a, &b, op_b, beta, &mut c);
                        for i in 0..m * n {
                            let w = want[i] + if beta == 0.0 { 0.0 } else { beta as f64 * c0[i] as f64 };
                            // f32 sums of k products of values in [-1, 1): rounding grows like sqrt(k).
                            let tol = 2e-6 * (k as f64).sqrt() * (1.0 + w.abs());
                            assert!(
                                (c[i] as f64 - w).abs() < tol,
                                "{m}x{k}x{n} {op_a:?} {op_b:?} beta {beta} [{i}]: {} vs {w}",
                                c[i]
                            );
                        }
                    }
                }
            }
        }
        let mut c = vec![3.0; 6];
        gemm(2, 0, 3, &[], Op::N, &[], Op::N, 0.5, &mut c);
        assert_eq!(c, [1.5; 6]);
    }

    /// `matrixmultiply::sgemm`, the reference implementation the kernels are held to, over
    /// random shapes from 1 up past every blocking edge, both layouts of each operand, and beta.
    #[test]
    fn matches_matrixmultiply_over_random_shapes() {
        let mut seed = 0x5eedu64;
        let mut dim = |max: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            1 + (seed >> 33) as usize % max
        };
        for case in 0..60 {
            let (m, k, n) = if case < 10 { (dim(3), dim(3), dim(3)) } else { (dim(160), dim(600), dim(300)) };
            for (op_a, op_b) in [(Op::N, Op::N), (Op::T, Op::N), (Op::N, Op::T), (Op::T, Op::T)] {
                let a = values(m * k, case * 4 + 1);
                let b = values(k * n, case * 4 + 2);
                let c0 = values(m * n, case * 4 + 3);
                let beta = [0.0f32, 1.0, -0.5][case as usize % 3];
                let mut ours = c0.clone();
                gemm(m, k, n, &a, op_a, &b, op_b, beta, &mut ours);
                let mut theirs = c0.clone();
                let (rsa, csa) = if op_a == Op::N { (k as isize, 1) } else { (1, m as isize) };
                let (rsb, csb) = if op_b == Op::N { (n as isize, 1) } else { (1, k as isize) };
                // SAFETY: each operand's strides address exactly its m·k, k·n or m·n elements.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        beta,
                        theirs.as_mut_ptr(),
                        n as isize,
                        1,
                    );
                }
                let tol = 4e-6 * (k as f32).sqrt();
                for (i, (x, y)) in ours.iter().zip(&theirs).enumerate() {
                    assert!(
                        (x - y).abs() <= tol * (1.0 + y.abs()),
                        "{m}x{k}x{n} {op_a:?} {op_b:?} beta {beta} [{i}]: {x} vs {y}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_column_does_not_depend_on_its_neighbours() {
        // The product of a with the first column of b equals that column of a wider product,
        // bit for bit: what makes batch results independent of the batch.
        let mut seed = 7u64;
        let (m, k) = (13, 700);
        let a = values(m * k, next(&mut seed));
        let b = values(k * 300, next(&mut seed));
        let mut wide = vec![0.0; m * 300];
        gemm(m, k, 300, &a, Op::N, &b, Op::N, 0.0, &mut wide);
        let col: Vec<f32> = (0..k).map(|p| b[p * 300 + 37]).collect();
        let mut narrow = vec![0.0; m];
        gemm(m, k, 1, &a, Op::N, &col, Op::N, 0.0, &mut narrow);
        for i in 0..m {
            assert_eq!(narrow[i].to_bits(), wide[i * 300 + 37].to_bits());
        }
    }

    #[test]
    fn split_products_equal_whole_ones_bit_for_bit() {
        let mut seed = 9u64;
        let (m, k, n) = (37, 300, 1500);
        let a = values(m * k, next(&mut seed));
        let b = values(k * n, next(&mut seed));
        let run = |threads: usize, op_b: Op| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0.0; m * n];
            pool.install(|| gemm(m, k, n, &a, Op::N, &b, op_b, 0.0, &mut c));
            c
        };
        for op_b in [Op::N, Op::T] {
            let one = run(1, op_b);
            let want = naive(m, k, n, &a, Op::N, &b, op_b);
            assert!(one.iter().zip(&want).all(|(c, w)| (*c as f64 - w).abs() < 1e-4 * (1.0 + w.abs())));
            for threads in [2, 3, 4] {
                assert!(
                    run(threads, op_b).iter().zip(&one).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{threads} threads"
                );
            }
        }
    }

    #[test]
    fn products_split_by_rows_equal_whole_ones_bit_for_bit() {
        let mut seed = 19u64;
        let (m, k, n) = (300, 1200, 49);
        let a = values(m * k, next(&mut seed));
        let b = values(k * n, next(&mut seed));
        let run = |threads: usize, op_a: Op| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut c = vec![0.0; m * n];
            pool.install(|| gemm(m, k, n, &a, op_a, &b, Op::N, 0.0, &mut c));
            c
        };
        for op_a in [Op::N, Op::T] {
            let one = run(1, op_a);
            let want = naive(m, k, n, &a, op_a, &b, Op::N);
            assert!(one.iter().zip(&want).all(|(c, w)| (*c as f64 - w).abs() < 1e-4 * (1.0 + w.abs())));
            for threads in [2, 3] {
                assert!(
                    run(threads, op_a).iter().zip(&one).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{threads} threads"
                );
            }
        }
    }

    #[test]
    fn portable_kernel_matches_naive() {
        let mut seed = 3u64;
        let kc = 19;
        let a = values(4 * kc, next(&mut seed));
        let b = values(8 * kc, next(&mut seed));
        let mut tile = [0.0f32; 32];
        // SAFETY: the lengths are exactly what the kernel reads and writes; the portable kernel
        // runs on any CPU.
        unsafe { Slim::<Portable>::run(kc, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr()) };
        for r in 0..4 {
            for c in 0..8 {
                let want: f64 = (0..kc).map(|p| a[p * 4 + r] as f64 * b[p * 8 + c] as f64).sum();
                assert!((tile[r * 8 + c] as f64 - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    #[should_panic(expected = "b has 5 elements, needs 2 x 3")]
    fn short_operand_panics_with_sizes() {
        gemm(1, 2, 3, &[0.0; 2], Op::N, &[0.0; 5], Op::N, 0.0, &mut [0.0; 3]);
    }
}
