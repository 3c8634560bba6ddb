//! Which SIMD instruction set the kernels use on this CPU, detected at run time, so that one
//! binary runs everywhere and uses AVX-512 where it is there.

/// The instruction sets the kernels have code for, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Simd {
    /// AVX-512F.
    Avx512,
    /// AVX2 with FMA.
    Avx2Fma,
    /// Plain Rust, for any CPU.
    Portable,
}

/// The best instruction set this CPU supports. (The standard library caches the detection.)
pub(crate) fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Simd::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Simd::Avx2Fma;
        }
    }
    Simd::Portable
}

/// Calls `$portable($args)` compiled for the best instruction set this CPU has: the copy named
/// `$avx512` or `$avx2` in `x86`, or the portable loop itself.
macro_rules! by_simd {
    ($avx512:ident, $avx2:ident, $portable:ident($($arg:expr),*)) => {
        match $crate::simd::simd() {
            // SAFETY: `simd()` found AVX-512F on this CPU.
            #[cfg(target_arch = "x86_64")]
            $crate::simd::Simd::Avx512 => unsafe { x86::$avx512($($arg),*) },
            // SAFETY: `simd()` found AVX2 and FMA on this CPU.
            #[cfg(target_arch = "x86_64")]
            $crate::simd::Simd::Avx2Fma => unsafe { x86::$avx2($($arg),*) },
            _ => $portable($($arg),*),
        }
    };
}
pub(crate) use by_simd;
