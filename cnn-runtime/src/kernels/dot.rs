//! Products `c = a · bᵀ` of two row-major matrices that share their inner dimension, computed as
//! dot products with no packing: the shape of a linear layer's forward pass (`x · Wᵀ` with `W`
//! stored `[out, in]`), where packing the weight would cost as much as using it at small batch.
//!
//! The inner dimension is taken in chunks of `KB` (512) and the rows of `b` in blocks of `JB` (128), so
//! that the rows a block reads stay in cache while every row of `a` passes over them (the
//! weight gradient of a convolution has rows as long as the batch's pixels). Each element is the
//! same sum in the same order (SIMD lanes over a chunk, a fixed reduction, chunks added in
//! order), whatever `m` and `n`, so results do not depend on the batch.

use crate::isa::{isa, Isa};

/// The sum of `x` in a fixed order that vectorizes: sixteen running lane sums, added pairwise at
/// the end, then the tail (a sequential sum is a chain of dependent additions, about four
/// cycles each). The order depends on the length alone.
pub(crate) fn sum(x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = x.chunks_exact(16);
    let tail = chunks.remainder();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, v)| *l += v);
    }
    let mut width = 8;
    while width > 0 {
        let (lo, hi) = lanes.split_at_mut(width);
        lo.iter_mut().zip(&hi[..width]).for_each(|(l, h)| *l += *h);
        width /= 2;
    }
    tail.iter().fold(lanes[0], |s, v| s + v)
}

/// Lanes of the `f64` sums of [`lane_sums`] and [`lane_sums_by`].
const SUM_LANES: usize = 8;

/// `(Σ f(a_i, b_i).0, Σ f(a_i, b_i).1)` over two slices of one length, in `f64`: term `i` adds
/// to lane `i % 8` and the lanes are added pairwise at the end, so that the sums vectorize (a
/// single running sum is one dependent add after another) and their order depends on the
/// length alone: the same bits on every path and thread count. The statistics of batch and
/// layer norm.
#[inline(always)]
pub(crate) fn lane_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f64, f64)) -> (f64, f64) {
    let (mut s, mut q) = ([0.0f64; SUM_LANES], [0.0f64; SUM_LANES]);
    let (ac, bc) = (a.chunks_exact(SUM_LANES), b[..a.len()].chunks_exact(SUM_LANES));
    let (at, bt) = (ac.remainder(), bc.remainder());
    for (a, b) in ac.zip(bc) {
        for l in 0..SUM_LANES {
            let (u, v) = f(a[l], b[l]);
            s[l] += u;
            q[l] += v;
        }
    }
    for (l, (&a, &b)) in at.iter().zip(bt).enumerate() {
        let (u, v) = f(a, b);
        s[l] += u;
        q[l] += v;
    }
    (fold(s), fold(q))
}

/// [`lane_sums`] over terms `f(i)`, `i < len`, for values that do not lie in a slice (the
/// channels of a position of `[C, H, W]`), in the same order.
#[inline(always)]
pub(crate) fn lane_sums_by(len: usize, f: impl Fn(usize) -> (f64, f64)) -> (f64, f64) {
    let (mut s, mut q) = ([0.0f64; SUM_LANES], [0.0f64; SUM_LANES]);
    for i in 0..len {
        let (u, v) = f(i);
        s[i % SUM_LANES] += u;
        q[i % SUM_LANES] += v;
    }
    (fold(s), fold(q))
}

/// The lanes of [`lane_sums`] added pairwise.
#[inline(always)]
fn fold(v: [f64; SUM_LANES]) -> f64 {
    ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))
}

/// `c[i][j] = beta · c[i][j] + Σ_p a[i][p] · b[j][p]` for `a` of `m × k`, `b` of `n × k` and `c`
/// of `m × n`, all row-major. With `beta == 0` the old contents of `c` are ignored.
///
/// # Panics
/// If a slice is shorter than its matrix.
#[track_caller]
pub fn dot_products(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], beta: f32, c: &mut [f32]) {
    assert!(a.len() >= m * k, "dot_products: a has {} elements, needs {m} x {k}", a.len());
    assert!(b.len() >= n * k, "dot_products: b has {} elements, needs {n} x {k}", b.len());
    assert!(c.len() >= m * n, "dot_products: c has {} elements, needs {m} x {n}", c.len());
    let run = kernel();
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v = if beta == 0.0 { 0.0 } else { beta * *v });
        return;
    }
    for p0 in (0..k).step_by(KB) {
        let len = KB.min(k - p0);
        let first = p0 == 0;
        for jb in (0..n).step_by(JB) {
            for i0 in (0..m).step_by(4) {
                let mi = 4.min(m - i0);
                for j0 in (jb..(jb + JB).min(n)).step_by(4) {
                    let nj = 4.min(n - j0);
                    let mut sums = [[0.0f32; 4]; 4];
                    // SAFETY: rows i0..i0+mi of a and j0..j0+nj of b, columns p0..p0+len, lie
                    // inside the slices, checked above; `kernel()` picks a SIMD kernel only after
                    // detecting its CPU features.
                    unsafe { run(mi, nj, len, k, a[i0 * k + p0..].as_ptr(), b[j0 * k + p0..].as_ptr(), &mut sums) };
                    for (r, sums) in sums.iter().enumerate().take(mi) {
                        let row = &mut c[(i0 + r) * n + j0..][..nj];
                        for (v, s) in row.iter_mut().zip(sums) {
                            *v = if !first {
                                *v + s
                            } else if beta == 0.0 {
                                *s
                            } else {
                                beta * *v + s
                            };
                        }
                    }
                }
            }
        }
    }
}

/// Columns of the inner dimension one pass covers.
const KB: usize = 512;
/// Rows of `b` one pass covers.
const JB: usize = 128;

/// Fills `sums[r][c]` with the dot product of row `r` of `a` and row `c` of `b` (`k` long,
/// rows `ld` apart), for `r < mi <= 4`, `c < nj <= 4`.
type DotKernel =
    unsafe fn(mi: usize, nj: usize, k: usize, ld: usize, a: *const f32, b: *const f32, sums: &mut [[f32; 4]; 4]);

fn kernel() -> DotKernel {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::dots_avx512,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::dots_avx2,
        _ => dots_portable,
    }
}

/// # Safety
/// `a` must hold `mi` rows and `b` `nj` rows of `k` values, `ld` apart.
unsafe fn dots_portable(
    mi: usize,
    nj: usize,
    k: usize,
    ld: usize,
    a: *const f32,
    b: *const f32,
    sums: &mut [[f32; 4]; 4],
) {
    const L: usize = 8;
    for (r, row) in sums.iter_mut().enumerate().take(mi) {
        // SAFETY: the caller guarantees mi rows of k values.
        let ar = unsafe { std::slice::from_raw_parts(a.add(r * ld), k) };
        for (c, sum) in row.iter_mut().enumerate().take(nj) {
            // SAFETY: the caller guarantees nj rows of k values.
            let br = unsafe { std::slice::from_raw_parts(b.add(c * ld), k) };
            let mut acc = [0.0f32; L];
            for (x, y) in ar.chunks(L).zip(br.chunks(L)) {
                for l in 0..x.len() {
                    acc[l] = crate::vector::portable_mul_add(x[l], y[l], acc[l]);
                }
            }
            *sum = acc.iter().sum();
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F; `a` must hold `mi` rows and `b` `nj` rows of `k` values,
    /// `ld` apart.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dots_avx512(
        mi: usize,
        nj: usize,
        k: usize,
        ld: usize,
        a: *const f32,
        b: *const f32,
        sums: &mut [[f32; 4]; 4],
    ) {
        // A tile of known size keeps its accumulators in registers.
        macro_rules! tile {
            ($($m:literal $n:literal),*) => {
                match (mi, nj) {
                    $(
                        // SAFETY: the caller's guarantees, passed on.
                        ($m, $n) => unsafe { dots_avx512_tile::<$m, $n>(k, ld, a, b, sums) },
                    )*
                    _ => unreachable!("tiles are at most 4 x 4"),
                }
            };
        }
        tile!(1 1, 1 2, 1 3, 1 4, 2 1, 2 2, 2 3, 2 4, 3 1, 3 2, 3 3, 3 4, 4 1, 4 2, 4 3, 4 4)
    }

    /// # Safety
    /// As [`dots_avx512`], with `MI` and `NJ` rows.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn dots_avx512_tile<const MI: usize, const NJ: usize>(
        k: usize,
        ld: usize,
        a: *const f32,
        b: *const f32,
        sums: &mut [[f32; 4]; 4],
    ) {
        let mut acc = [[_mm512_setzero_ps(); NJ]; MI];
        let mut p = 0;
        while p < k {
            let live = (k - p).min(16);
            let mask: __mmask16 = if live == 16 { 0xffff } else { (1u16 << live) - 1 };
            // SAFETY: the mask limits each load to the `live` values left in its row.
            let bv: [__m512; NJ] = std::array::from_fn(|c| unsafe { _mm512_maskz_loadu_ps(mask, b.add(c * ld + p)) });
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above, for row r of a.
                let av = unsafe { _mm512_maskz_loadu_ps(mask, a.add(r * ld + p)) };
                for c in 0..NJ {
                    acc[c] = _mm512_fmadd_ps(av, bv[c], acc[c]);
                }
            }
            p += 16;
        }
        for r in 0..MI {
            for c in 0..NJ {
                sums[r][c] = _mm512_reduce_add_ps(acc[r][c]);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` must hold `mi` rows and `b` `nj` rows of `k` values,
    /// `ld` apart.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dots_avx2(
        mi: usize,
        nj: usize,
        k: usize,
        ld: usize,
        a: *const f32,
        b: *const f32,
        sums: &mut [[f32; 4]; 4],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 4]; 4];
        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let mut p = 0;
        while p < k {
            let live = (k - p).min(8) as i32;
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(live), lanes);
            let mut bv = [_mm256_setzero_ps(); 4];
            for (c, v) in bv.iter_mut().enumerate().take(nj) {
                // SAFETY: the mask limits the load to the `live` values left in row c.
                *v = unsafe { _mm256_maskload_ps(b.add(c * ld + p), mask) };
            }
            for (r, acc) in acc.iter_mut().enumerate().take(mi) {
                // SAFETY: the mask limits the load to the `live` values left in row r.
                let av = unsafe { _mm256_maskload_ps(a.add(r * ld + p), mask) };
                for c in 0..nj {
                    acc[c] = _mm256_fmadd_ps(av, bv[c], acc[c]);
                }
            }
            p += 8;
        }
        for r in 0..mi {
            for c in 0..nj {
                let v = acc[r][c];
                let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
                let one = _mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1));
                sums[r][c] = _mm_cvtss_f32(one);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    /// The two forms of the lane sums give the same bits, close to a sum taken one by one.
    #[test]
    fn lane_sums_agree() {
        for len in [0, 1, 7, 8, 9, 100] {
            let a: Vec<f32> = (0..len).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.7).sin()).collect();
            let f = |x: f32, y: f32| (x as f64, x as f64 * y as f64);
            let sliced = lane_sums(&a, &b, f);
            let by = lane_sums_by(len, |i| f(a[i], b[i]));
            assert_eq!((sliced.0.to_bits(), sliced.1.to_bits()), (by.0.to_bits(), by.1.to_bits()), "{len}");
            let naive: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((sliced.1 - naive).abs() <= 1e-12 * naive.abs().max(1.0), "{len}");
        }
    }
    use super::*;
    use crate::reference::values;

    /// A fresh seed for each operand.
    fn next(seed: &mut u64) -> u64 {
        *seed += 1;
        *seed
    }

    fn check(run: DotKernel, m: usize, n: usize, k: usize, seed: &mut u64) {
        let a = values(m * k, next(seed));
        let b = values(n * k, next(seed));
        let mut sums = [[f32::NAN; 4]; 4];
        // SAFETY: a and b hold m and n rows of k values; the callers pass kernels this CPU has.
        unsafe { run(m, n, k, k, a.as_ptr(), b.as_ptr(), &mut sums) };
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[j * k + p] as f64).sum();
                assert!((sums[i][j] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()), "{m}x{n}x{k}");
            }
        }
    }

    #[test]
    fn lane_sum_matches_a_wide_sum() {
        for len in (0..70).chain([255, 1024, 1031]) {
            let x = values(len, len as u64);
            let want: f64 = x.iter().map(|v| *v as f64).sum();
            let got = sum(&x);
            assert!(
                (got as f64 - want).abs() <= 1e-6 * (1.0 + x.iter().map(|v| v.abs() as f64).sum::<f64>()),
                "len {len}: {got} vs {want}"
            );
        }
        assert_eq!(sum(&[1.0; 33]), 33.0);
    }

    #[test]
    fn every_kernel_matches_naive_sums() {
        let mut seed = 11u64;
        let mut kernels: Vec<DotKernel> = vec![dots_portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(x86::dots_avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                kernels.push(x86::dots_avx2);
            }
        }
        for run in kernels {
            for (m, n) in [(1, 1), (4, 4), (3, 2), (1, 4)] {
                for k in [1, 7, 8, 15, 16, 17, 33, 400] {
                    check(run, m, n, k, &mut seed);
                }
            }
        }
    }

    #[test]
    fn rows_do_not_depend_on_their_neighbours() {
        let mut seed = 5u64;
        let (m, n, k) = (7, 10, 123);
        let a = values(m * k, next(&mut seed));
        let b = values(n * k, next(&mut seed));
        let mut all = vec![0.0; m * n];
        dot_products(m, n, k, &a, &b, 0.0, &mut all);
        for i in 0..m {
            let mut one = vec![0.0; n];
            dot_products(1, n, k, &a[i * k..(i + 1) * k], &b, 0.0, &mut one);
            assert_eq!(one, all[i * n..(i + 1) * n]);
        }
        let mut c = vec![1.0; m * n];
        dot_products(m, n, k, &a, &b, 2.0, &mut c);
        for i in 0..m * n {
            assert_eq!(c[i], 2.0 + all[i]);
        }
    }

    /// Across chunk and block edges (k past `KB`, n past `JB`) and with beta, against
    /// matrixmultiply's `a · bᵀ`.
    #[test]
    fn chunked_products_match_matrixmultiply() {
        for (m, n, k) in [(9, 300, 1500), (4, 129, 513), (1, 1, 1), (3, 7, 1024), (5, 2, 0)] {
            let a = values(m * k, 41);
            let b = values(n * k, 42);
            for beta in [0.0f32, 1.0, 0.25] {
                let c0 = values(m * n, 43);
                let mut ours = c0.clone();
                dot_products(m, n, k, &a, &b, beta, &mut ours);
                let mut theirs = c0.clone();
                // SAFETY: a is m x k and b, read transposed, k x n, as their strides say.
                unsafe {
                    matrixmultiply::sgemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        k as isize,
                        1,
                        b.as_ptr(),
                        1,
                        k as isize,
                        beta,
                        theirs.as_mut_ptr(),
                        n as isize,
                        1,
                    )
                };
                for (x, y) in ours.iter().zip(&theirs) {
                    assert!(
                        (x - y).abs() <= 1e-5 * (k as f32).sqrt().max(1.0) * (1.0 + y.abs()),
                        "{m}x{n}x{k} beta {beta}: {x} vs {y}"
                    );
                }
            }
        }
    }
}
