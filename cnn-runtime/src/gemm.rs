//! Dense single-precision matrix product, a checked front to `matrixmultiply::sgemm`.

/// How a row-major operand is read: as stored, or transposed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read the matrix as stored.
    N,
    /// Read the transpose of the stored matrix.
    T,
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
    let (rsa, csa) = match op_a {
        Op::N => (k, 1),
        Op::T => (1, m),
    };
    let (rsb, csb) = match op_b {
        Op::N => (n, 1),
        Op::T => (1, k),
    };
    // SAFETY: the asserts above make every element that a (m × k), b (k × n) and c (m × n) address
    // through these strides lie inside its slice; `c` is borrowed mutably, so it aliases neither
    // input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], op_a: Op, b: &[f32], op_b: Op) -> Vec<f64> {
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
    fn matches_naive_for_every_transpose_and_beta() {
        let mut seed = 1u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for &(m, k, n) in &[(1, 1, 1), (3, 5, 7), (17, 33, 9), (6, 25, 1568), (64, 300, 5)] {
            for op_a in [Op::N, Op::T] {
                for op_b in [Op::N, Op::T] {
                    let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
                    let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
                    let c0: Vec<f32> = (0..m * n).map(|_| next()).collect();
                    let want = naive(m, k, n, &a, op_a, &b, op_b);
                    let mut c = c0.clone();
                    gemm(m, k, n, &a, op_a, &b, op_b, 1.0, &mut c);
                    for i in 0..m * n {
                        let w = want[i] + c0[i] as f64;
                        assert!((c[i] as f64 - w).abs() < 1e-5 * (1.0 + w.abs()), "{m}x{k}x{n} {i}");
                    }
                    let mut c = vec![f32::NAN; m * n];
                    gemm(m, k, n, &a, op_a, &b, op_b, 0.0, &mut c);
                    for i in 0..m * n {
                        assert!((c[i] as f64 - want[i]).abs() < 1e-5 * (1.0 + want[i].abs()));
                    }
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "b has 5 elements, needs 2 x 3")]
    fn short_operand_panics_with_sizes() {
        gemm(1, 2, 3, &[0.0; 2], Op::N, &[0.0; 5], Op::N, 0.0, &mut [0.0; 3]);
    }
}
