//! Which instruction set the kernels run on: the best this CPU has, or the one the environment
//! variable `CNN_ISA` names (`avx512`, `avx2` or `portable`), chosen once per process.
//!
//! Every kernel exists for every instruction set, written once over a [`Vector`] type and
//! compiled for each (see [`crate::vector`]), so `CNN_ISA` can run any path the CPU supports:
//! the tests run each one, and an AVX-512 machine can measure the AVX2 path. Paths may differ in
//! the last bits of a result (they sum in vectors of different widths); on one path results are
//! bit-identical whatever the thread count.
//!
//! [`Vector`]: crate::vector::Vector

use std::fmt;
use std::sync::OnceLock;

/// An instruction set the kernels have code for.
///
/// ```
/// // The path this process runs on: `CNN_ISA` if set, else the best the CPU has.
/// # use cnn_runtime as cnn;
/// let isa = cnn::isa();
/// assert!(isa.is_supported());
/// println!("kernels run on {isa} ({} lanes)", isa.lanes());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F: 16 lanes of `f32`, 32 vector registers.
    Avx512,
    /// AVX2 with FMA: 8 lanes, 16 vector registers.
    Avx2,
    /// Plain Rust over arrays of 8 lanes, which the compiler vectorizes for the target (SSE2,
    /// NEON, ...): what Arm runs.
    Portable,
}

impl Isa {
    /// Every instruction set, best first.
    pub const ALL: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

    /// The name `CNN_ISA` takes: `avx512`, `avx2` or `portable`.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Lanes of `f32` in one of its vectors.
    pub const fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 | Isa::Portable => 8,
        }
    }

    /// Whether this CPU can run it. (The standard library caches the detection.)
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            Isa::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The instruction sets this CPU can run, best first (`portable` always).
    pub fn supported() -> impl Iterator<Item = Isa> {
        Isa::ALL.into_iter().filter(|isa| isa.is_supported())
    }

    /// The best instruction set this CPU has.
    pub fn best() -> Isa {
        Isa::supported().next().unwrap_or(Isa::Portable)
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = IsaError;

    /// Parses a name as `CNN_ISA` takes it (case and surrounding space ignored).
    fn from_str(s: &str) -> Result<Self, IsaError> {
        let name = s.trim().to_ascii_lowercase();
        Isa::ALL.into_iter().find(|isa| isa.name() == name).ok_or_else(|| IsaError::Unknown(s.to_string()))
    }
}

/// Why `CNN_ISA` cannot be honoured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsaError {
    /// The value names no instruction set.
    Unknown(String),
    /// The instruction set is known, but this CPU lacks it.
    Unsupported(Isa),
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let have: Vec<&str> = Isa::supported().map(Isa::name).collect();
        match self {
            IsaError::Unknown(s) => {
                write!(f, "CNN_ISA={s:?} names no instruction set; use avx512, avx2 or portable")
            }
            IsaError::Unsupported(isa) => {
                write!(f, "CNN_ISA={isa} asks for an instruction set this CPU lacks; it supports {}", have.join(", "))
            }
        }
    }
}

impl std::error::Error for IsaError {}

/// The instruction set the kernels run on, or why `CNN_ISA` cannot be honoured: read once, the
/// first time anything asks.
pub fn try_isa() -> Result<Isa, IsaError> {
    static CHOICE: OnceLock<Result<Isa, IsaError>> = OnceLock::new();
    CHOICE
        .get_or_init(|| match std::env::var("CNN_ISA") {
            Ok(s) if !s.trim().is_empty() => {
                let isa: Isa = s.parse()?;
                if isa.is_supported() {
                    Ok(isa)
                } else {
                    Err(IsaError::Unsupported(isa))
                }
            }
            _ => Ok(Isa::best()),
        })
        .clone()
}

/// The instruction set the kernels run on: `CNN_ISA` if it is set, else the best this CPU has.
/// Every network asks once when it is made, so a bad `CNN_ISA` fails there.
///
/// # Panics
/// If `CNN_ISA` names no instruction set or one this CPU lacks, with the message of
/// [`IsaError`].
#[track_caller]
pub fn isa() -> Isa {
    match try_isa() {
        Ok(isa) => isa,
        Err(e) => panic!("{e}"),
    }
}

/// Calls `$portable($args)` compiled for the instruction set in use: the copy named `$avx512`
/// or `$avx2` in the calling module's `x86`, or the portable function itself.
macro_rules! by_isa {
    ($avx512:ident, $avx2:ident, $portable:ident $(::<$($g:tt),*>)? ($($arg:expr),*)) => {
        match $crate::isa::isa() {
            // SAFETY: `isa()` returns only an instruction set this CPU has.
            #[cfg(target_arch = "x86_64")]
            $crate::isa::Isa::Avx512 => unsafe { x86::$avx512($($arg),*) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            $crate::isa::Isa::Avx2 => unsafe { x86::$avx2($($arg),*) },
            _ => $portable $(::<$($g),*>)? ($($arg),*),
        }
    };
}
pub(crate) use by_isa;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_errors_name_the_value() {
        for isa in Isa::ALL {
            assert_eq!(isa.name().parse::<Isa>(), Ok(isa));
            assert_eq!(format!(" {} ", isa.name().to_uppercase()).parse::<Isa>(), Ok(isa));
        }
        let e = "sse9".parse::<Isa>().unwrap_err();
        assert_eq!(e.to_string(), "CNN_ISA=\"sse9\" names no instruction set; use avx512, avx2 or portable");
        let e = IsaError::Unsupported(Isa::Avx512).to_string();
        assert!(e.starts_with("CNN_ISA=avx512 asks for an instruction set this CPU lacks; it supports "), "{e}");
        assert!(e.ends_with("portable"), "{e}");
    }

    #[test]
    fn the_choice_is_supported_and_portable_always_is() {
        assert!(Isa::Portable.is_supported());
        assert_eq!(Isa::supported().last(), Some(Isa::Portable));
        assert!(isa().is_supported());
        match std::env::var("CNN_ISA") {
            Ok(s) if !s.trim().is_empty() => assert_eq!(isa(), s.parse().unwrap()),
            _ => assert_eq!(isa(), Isa::best()),
        }
    }
}
