//! Fully connected layer.

use crate::activation::relu_in_place;
use crate::conv::check_len;
use crate::dot::dot_products;
use crate::geom::LinearGeom;

/// `output = input · weightᵀ + bias` for `n` samples, then ReLU when `relu`; `weight` has
/// PyTorch's layout `[out_features, in_features]`.
///
/// # Panics
/// If a slice is shorter than `G` and `n` need.
#[track_caller]
pub fn linear_forward<G: LinearGeom>(n: usize, input: &[f32], weight: &[f32], bias: &[f32], output: &mut [f32], relu: bool) {
    let spec = G::SPEC;
    let (fi, fo) = (spec.in_features, spec.out_features);
    check_len("input", input.len(), n * fi);
    check_len("weight", weight.len(), spec.weight_len());
    check_len("bias", bias.len(), fo);
    check_len("output", output.len(), n * fo);
    let output = &mut output[..n * fo];
    dot_products(n, fo, fi, input, weight, 0.0, output);
    for row in output.chunks_exact_mut(fo) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
    if relu {
        relu_in_place(output);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geom::LinearSpec;
    use crate::reference;

    macro_rules! linear_geoms {
        ($($name:ident: [$i:expr, $o:expr];)*) => {
            $(
                struct $name;
                impl LinearGeom for $name {
                    const SPEC: LinearSpec = LinearSpec { in_features: $i, out_features: $o };
                }
            )*
            const ALL: &[fn(usize)] = &[$(check::<$name>),*];
        };
    }

    linear_geoms! {
        Scalar: [1, 1];
        Wide: [400, 120];
        Narrow: [7, 33];
        Odd: [13, 3];
    }

    fn check<G: LinearGeom>(n: usize) {
        let spec = G::SPEC;
        let input = reference::values(n * spec.in_features, 4);
        let weight = reference::values(spec.weight_len(), 5);
        let bias = reference::values(spec.out_features, 6);
        let want = reference::linear(&spec, n, &input, &weight, &bias);
        for relu in [false, true] {
            let mut out = vec![f32::NAN; n * spec.out_features];
            linear_forward::<G>(n, &input, &weight, &bias, &mut out, relu);
            for (&got, &w) in out.iter().zip(&want) {
                let w = if relu { w.max(0.0) } else { w };
                assert!((got as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{spec:?} n={n}: {got} vs {w}");
            }
        }
    }

    #[test]
    fn matches_naive_loop() {
        for n in [1, 3, 64] {
            for check in ALL {
                check(n);
            }
        }
    }
}
