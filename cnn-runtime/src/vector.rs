//! One vector type per instruction set behind one trait, so that a kernel is written once,
//! generic over [`Vector`], and compiled for each instruction set by [`isa_entry!`].
//!
//! A kernel's body is an `#[inline(always)]` function generic over `V: Vector`; `isa_entry!`
//! defines its entry point, which calls the body once per instruction set inside a function
//! compiled with that set's `#[target_feature]`, so that the body and every vector operation in
//! it are compiled for it (the operations are `#[inline(always)]` wrappers of the intrinsics),
//! and picks the copy for the [`Isa`] it is given. Register tiles stay arrays of `V` with
//! constant sizes, which the kernels choose per instruction set from `V::LANES` (AVX-512 has 32
//! registers of 16 lanes, AVX2 16 of 8; the portable type is 8 lanes in plain Rust, which the
//! compiler maps to SSE2 or NEON registers, and is tiled like AVX2).
//!
//! Why our own trait rather than the `pulp` crate: the kernels need the lane count as a
//! constant (tiles are fixed-size arrays of vectors), masked loads and stores for the tail of a
//! map, and `max`/`min` with x86's NaN rule (the second operand where either is NaN) on every
//! path, so that ReLU keeps NaN alike everywhere; the trait is the GEMM's `MicroKernel` idea
//! (a size stated once) carried to vectors, in a hundred lines.

use crate::isa::Isa;

/// A vector of `LANES` `f32`s on one instruction set.
///
/// Values of an x86 type are made only inside code compiled for its instruction set (the
/// entries of [`isa_entry!`]), which runs only where the CPU has it.
pub(crate) trait Vector: Copy {
    /// Lanes of `f32`.
    const LANES: usize;
    /// The instruction set it belongs to.
    const ISA: Isa;
    /// Whether [`Vector::mul_add`] is fused (and scalar code beside it should be, with
    /// [`madd`]).
    const FMA: bool;
    /// Which lanes a masked load or store touches.
    type Mask: Copy;

    /// All lanes 0.
    fn zero() -> Self;
    /// All lanes `x`.
    fn splat(x: f32) -> Self;
    /// `LANES` values from `p`.
    ///
    /// # Safety
    /// `p` must point to `LANES` readable values.
    unsafe fn load(p: *const f32) -> Self;
    /// Stores the lanes at `p`.
    ///
    /// # Safety
    /// `p` must point to `LANES` writable values.
    unsafe fn store(self, p: *mut f32);
    /// The first `live` lanes (`1..=LANES`).
    fn mask(live: usize) -> Self::Mask;
    /// The lanes `m` marks from `p`, 0 in the others (which are not read).
    ///
    /// # Safety
    /// `p` must point to readable values at the lanes `m` marks.
    unsafe fn load_masked(p: *const f32, m: Self::Mask) -> Self;
    /// Stores the lanes `m` marks at `p`, leaving the others untouched.
    ///
    /// # Safety
    /// `p` must point to writable values at the lanes `m` marks.
    unsafe fn store_masked(self, p: *mut f32, m: Self::Mask);
    /// `self · b + c`, fused where the instruction set has a fused multiply-add.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// `self + b`.
    fn add(self, b: Self) -> Self;
    /// `self · b`.
    fn mul(self, b: Self) -> Self;
    /// `self > b ? self : b` per lane: `b` where either is NaN, as x86's `max`.
    fn max(self, b: Self) -> Self;
    /// `self < b ? self : b` per lane: `b` where either is NaN, as x86's `min`.
    fn min(self, b: Self) -> Self;
}

/// Eight lanes in plain Rust: loops over arrays that the compiler turns into the target's
/// vector instructions.
#[derive(Clone, Copy)]
#[repr(align(32))]
pub(crate) struct Portable(pub [f32; 8]);

impl Portable {
    #[inline(always)]
    fn map2(self, b: Self, f: impl Fn(f32, f32) -> f32) -> Self {
        Portable(std::array::from_fn(|i| f(self.0[i], b.0[i])))
    }
}

impl Vector for Portable {
    const LANES: usize = 8;
    const ISA: Isa = Isa::Portable;
    const FMA: bool = PORTABLE_FMA;
    type Mask = usize;

    #[inline(always)]
    fn zero() -> Self {
        Portable([0.0; 8])
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        Portable([x; 8])
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the caller vouches for 8 readable values.
        Portable(unsafe { p.cast::<[f32; 8]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the caller vouches for 8 writable values.
        unsafe { p.cast::<[f32; 8]>().write_unaligned(self.0) }
    }
    #[inline(always)]
    fn mask(live: usize) -> usize {
        live
    }
    #[inline(always)]
    unsafe fn load_masked(p: *const f32, live: usize) -> Self {
        let mut v = [0.0; 8];
        for (i, v) in v.iter_mut().enumerate().take(live) {
            // SAFETY: lane i < live is readable, by the caller.
            *v = unsafe { *p.add(i) };
        }
        Portable(v)
    }
    #[inline(always)]
    unsafe fn store_masked(self, p: *mut f32, live: usize) {
        for (i, v) in self.0.iter().enumerate().take(live) {
            // SAFETY: lane i < live is writable, by the caller.
            unsafe { *p.add(i) = *v };
        }
    }
    #[inline(always)]
    fn mul_add(self, b: Self, c: Self) -> Self {
        Portable(std::array::from_fn(|i| portable_mul_add(self.0[i], b.0[i], c.0[i])))
    }
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        self.map2(b, |x, y| x + y)
    }
    #[inline(always)]
    fn mul(self, b: Self) -> Self {
        self.map2(b, |x, y| x * y)
    }
    #[inline(always)]
    fn max(self, b: Self) -> Self {
        self.map2(b, |x, y| if x > y { x } else { y })
    }
    #[inline(always)]
    fn min(self, b: Self) -> Self {
        self.map2(b, |x, y| if x < y { x } else { y })
    }
}

/// Whether the portable path fuses its multiply-adds: where the target has the instruction
/// (NEON, or x86 built with FMA); elsewhere a fused multiply-add would be a call into libm, so
/// the portable path multiplies, then adds.
pub(crate) const PORTABLE_FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

/// `a · b + c`, fused with `FMA` (one rounding), else a multiply, then an add (two): scalar
/// code written once for the paths with FMA instructions and the portable one.
#[inline(always)]
pub(crate) fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `a · b + c` as the portable path computes it (see [`PORTABLE_FMA`]).
#[inline(always)]
pub(crate) fn portable_mul_add(a: f32, b: f32, c: f32) -> f32 {
    madd::<PORTABLE_FMA>(a, b, c)
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{F32x16, F32x8};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Vector;
    use crate::isa::Isa;
    use std::arch::x86_64::*;

    /// 16 lanes in an AVX-512 register.
    #[derive(Clone, Copy)]
    pub(crate) struct F32x16(__m512);

    /// 8 lanes in an AVX2 register, with FMA.
    #[derive(Clone, Copy)]
    pub(crate) struct F32x8(__m256);

    // In both impls, every intrinsic needs its instruction set, which the CPU has wherever a
    // value of the type is made (the trait's rule); pointer contracts are the callers'.
    impl Vector for F32x16 {
        const LANES: usize = 16;
        const ISA: Isa = Isa::Avx512;
        const FMA: bool = true;
        type Mask = __mmask16;

        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: AVX-512F, by the trait's rule.
            F32x16(unsafe { _mm512_setzero_ps() })
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: as above.
            F32x16(unsafe { _mm512_set1_ps(x) })
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: as above; the caller vouches for `p`.
            F32x16(unsafe { _mm512_loadu_ps(p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: as above.
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        fn mask(live: usize) -> __mmask16 {
            if live >= 16 {
                u16::MAX
            } else {
                (1u16 << live) - 1
            }
        }
        #[inline(always)]
        unsafe fn load_masked(p: *const f32, m: __mmask16) -> Self {
            // SAFETY: as above; masked-off lanes are not read.
            F32x16(unsafe { _mm512_maskz_loadu_ps(m, p) })
        }
        #[inline(always)]
        unsafe fn store_masked(self, p: *mut f32, m: __mmask16) {
            // SAFETY: as above; masked-off lanes are not written.
            unsafe { _mm512_mask_storeu_ps(p, m, self.0) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: AVX-512F, by the trait's rule.
            F32x16(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x16(unsafe { _mm512_add_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x16(unsafe { _mm512_mul_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x16(unsafe { _mm512_max_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x16(unsafe { _mm512_min_ps(self.0, b.0) })
        }
    }

    impl Vector for F32x8 {
        const LANES: usize = 8;
        const ISA: Isa = Isa::Avx2;
        const FMA: bool = true;
        type Mask = __m256i;

        #[inline(always)]
        fn zero() -> Self {
            // SAFETY: AVX2, by the trait's rule.
            F32x8(unsafe { _mm256_setzero_ps() })
        }
        #[inline(always)]
        fn splat(x: f32) -> Self {
            // SAFETY: as above.
            F32x8(unsafe { _mm256_set1_ps(x) })
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            // SAFETY: as above; the caller vouches for `p`.
            F32x8(unsafe { _mm256_loadu_ps(p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        fn mask(live: usize) -> __m256i {
            // Lane i is on where i < live: the sign bit of (i - live).
            // SAFETY: AVX2, by the trait's rule.
            unsafe { _mm256_sub_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(live as i32)) }
        }
        #[inline(always)]
        unsafe fn load_masked(p: *const f32, m: __m256i) -> Self {
            // SAFETY: as above; masked-off lanes are not read.
            F32x8(unsafe { _mm256_maskload_ps(p, m) })
        }
        #[inline(always)]
        unsafe fn store_masked(self, p: *mut f32, m: __m256i) {
            // SAFETY: as above; masked-off lanes are not written.
            unsafe { _mm256_maskstore_ps(p, m, self.0) }
        }
        #[inline(always)]
        fn mul_add(self, b: Self, c: Self) -> Self {
            // SAFETY: FMA, by the trait's rule.
            F32x8(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        fn add(self, b: Self) -> Self {
            // SAFETY: AVX2, by the trait's rule.
            F32x8(unsafe { _mm256_add_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn mul(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x8(unsafe { _mm256_mul_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn max(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x8(unsafe { _mm256_max_ps(self.0, b.0) })
        }
        #[inline(always)]
        fn min(self, b: Self) -> Self {
            // SAFETY: as above.
            F32x8(unsafe { _mm256_min_ps(self.0, b.0) })
        }
    }
}

/// Defines an entry point `unsafe fn NAME(isa: Isa, ARGS)` that runs the generic kernel body
/// `BODY::<V>(ARGS)` compiled for `isa`: one copy per instruction set, each inside a function
/// with that set's `#[target_feature]` (and never inlined, so the copies stay apart).
///
/// The entry has `BODY`'s safety contract, and `isa` must be one this CPU has: [`isa()`]'s
/// answer or one of [`Isa::supported`].
///
/// [`isa()`]: crate::isa::isa
macro_rules! isa_entry {
    ($(#[$meta:meta])* $vis:vis unsafe fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $body:ident;) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis unsafe fn $name(isa: $crate::isa::Isa, $($arg: $ty),*) {
            /// # Safety
            /// As the body's, on a CPU with AVX-512F.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f")]
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx512($($arg: $ty),*) {
                // SAFETY: the caller's contract, passed on.
                unsafe { $body::<$crate::vector::F32x16>($($arg),*) }
            }
            /// # Safety
            /// As the body's, on a CPU with AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn avx2($($arg: $ty),*) {
                // SAFETY: the caller's contract, passed on.
                unsafe { $body::<$crate::vector::F32x8>($($arg),*) }
            }
            /// # Safety
            /// As the body's.
            #[inline(never)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn portable($($arg: $ty),*) {
                // SAFETY: the caller's contract, passed on.
                unsafe { $body::<$crate::vector::Portable>($($arg),*) }
            }
            debug_assert!(isa.is_supported(), "{isa} on a CPU without it");
            match isa {
                // SAFETY: the caller passes an instruction set this CPU has.
                #[cfg(target_arch = "x86_64")]
                $crate::isa::Isa::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::isa::Isa::Avx2 => unsafe { avx2($($arg),*) },
                // SAFETY: the caller's contract.
                _ => unsafe { portable($($arg),*) },
            }
        }
    };
}
pub(crate) use isa_entry;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation on every vector type this CPU runs, against scalar arithmetic, through
    /// one generic body compiled per instruction set as the kernels are.
    #[test]
    fn every_vector_type_computes_what_scalars_do() {
        #[inline(always)]
        unsafe fn body<V: Vector>(a: *const f32, b: *const f32, out: *mut f32) {
            let l = V::LANES;
            // SAFETY: `a` and `b` hold 16 values and `out` 6·16, enough for any width.
            unsafe {
                let (x, y) = (V::load(a), V::load(b));
                x.mul_add(y, V::splat(0.5)).store(out);
                x.add(y).store(out.add(16));
                x.mul(y).store(out.add(32));
                x.max(y).store(out.add(48));
                x.min(y).store(out.add(64));
                let m = V::mask(l - 3);
                V::load_masked(a, m).add(V::zero()).store_masked(out.add(80), m);
            }
        }
        isa_entry! {
            unsafe fn run(a: *const f32, b: *const f32, out: *mut f32) => body;
        }
        let nan = f32::NAN;
        let a: Vec<f32> = (0..16).map(|i| if i == 2 { nan } else { i as f32 - 5.5 }).collect();
        let b: Vec<f32> = (0..16).map(|i| if i == 3 { nan } else { (i as f32 * 0.75) - 3.0 }).collect();
        for isa in Isa::supported() {
            let mut out = [7.0f32; 96];
            // SAFETY: the lengths are as `body` needs, and `isa` is supported.
            unsafe { run(isa, a.as_ptr(), b.as_ptr(), out.as_mut_ptr()) };
            let l = isa.lanes();
            for i in 0..l {
                let (x, y) = (a[i], b[i]);
                let fused = x.mul_add(y, 0.5);
                let mad = out[i];
                assert!(mad.is_nan() == fused.is_nan() && (mad.is_nan() || (mad - fused).abs() <= 1e-6), "{isa} fma");
                assert_eq!(out[16 + i].to_bits(), (x + y).to_bits(), "{isa} add {i}");
                assert_eq!(out[32 + i].to_bits(), (x * y).to_bits(), "{isa} mul {i}");
                // x86's rule: the second operand where either is NaN.
                assert_eq!(out[48 + i].to_bits(), (if x > y { x } else { y }).to_bits(), "{isa} max {i}");
                assert_eq!(out[64 + i].to_bits(), (if x < y { x } else { y }).to_bits(), "{isa} min {i}");
                let want = if i < l - 3 { a[i] + 0.0 } else { 7.0 };
                assert_eq!(out[80 + i].to_bits(), want.to_bits(), "{isa} masked lane {i}");
            }
        }
    }
}
