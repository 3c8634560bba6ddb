//! PyTorch's default initialisation of convolution and linear layers.

use crate::params::{Init, ParamSpec};
use rand::distr::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Fills every tensor of `flat` as PyTorch's modules initialise themselves: `nn.Conv2d` and
/// `nn.Linear` with `kaiming_uniform_(weight, a=sqrt(5))`, which is uniform in
/// `±1/sqrt(fan_in)`, and bias uniform in `±1/sqrt(fan_in)`; batch norm with ones and zeros
/// (see [`Init`]).
///
/// The draws come from ChaCha8 seeded with `seed`, tensor after tensor in table order, so a seed
/// gives the same network on every machine and every version of this crate (not the same values
/// as `torch.manual_seed`, whose generator is a different one).
pub fn init_default(specs: &[ParamSpec], flat: &mut [f32], seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for spec in specs {
        let data = &mut flat[spec.range()];
        match spec.init {
            Init::Uniform { fan_in } => {
                let bound = 1.0 / (fan_in as f32).sqrt();
                let dist = Uniform::new(-bound, bound).expect("a positive fan-in gives a finite, non-empty range");
                data.iter_mut().for_each(|v| *v = dist.sample(&mut rng));
            }
            Init::Ones => data.fill(1.0),
            Init::Zeros => data.fill(0.0),
            Init::Const(value) => data.fill(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_deterministic_and_spread() {
        static SPECS: &[ParamSpec] = &[
            ParamSpec { name: "w", shape: &[100, 25], offset: 0, init: Init::Uniform { fan_in: 25 } },
            ParamSpec { name: "b", shape: &[100], offset: 2500, init: Init::Uniform { fan_in: 25 } },
            ParamSpec { name: "bn.weight", shape: &[3], offset: 2600, init: Init::Ones },
            ParamSpec { name: "bn.bias", shape: &[3], offset: 2603, init: Init::Zeros },
        ];
        let mut a = vec![0.5; 2606];
        let mut b = vec![0.0; 2606];
        init_default(SPECS, &mut a, 7);
        init_default(SPECS, &mut b, 7);
        assert_eq!(a, b);
        init_default(SPECS, &mut b, 8);
        assert_ne!(a, b);
        assert_eq!(a[2600..], [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        let a = &a[..2600];
        assert!(a.iter().all(|v| v.abs() < 0.2));
        // Uniform in ±0.2 has variance 0.04 / 3.
        let var = a.iter().map(|v| (v * v) as f64).sum::<f64>() / a.len() as f64;
        assert!((var - 0.04 / 3.0).abs() < 0.001, "{var}");
    }
}
