//! The examples ported from pytorch/examples take PyTorch's first steps: their networks and
//! training steps (`examples/nets/`, the code the examples run) against the examples' own
//! PyTorch code on the same batches and initial weights (every tensor seeded from its name on
//! both sides), `tools/gen_example_fixtures.py`'s float64 run the reference, the allowance what
//! PyTorch's float32 runs are off by (the farthest of four, twice; at least 1e-5 relative):
//!
//! - `super_resolution`: three Adam steps' MSE losses;
//! - `dcgan`: two iterations' `Loss_D`, `Loss_G`, `D(x)` and `D(G(z))` before and after the
//!   discriminator's step (two backward passes added up, the generator's gradient through the
//!   frozen discriminator);
//! - `fast_neural_style`: two steps' content and style losses through the frozen VGG-16.

mod common;

use cnn::prelude::*;
use common::Fixture;

// What the examples alone use (the upscale factor's name) is unused here.
#[allow(dead_code)]
mod super_resolution {
    include!("../examples/nets/super_resolution.rs");
}
mod dcgan {
    include!("../examples/nets/dcgan.rs");
}
mod fast_neural_style {
    include!("../examples/nets/fast_neural_style.rs");
}

const FIXTURE: &str = "examples_parity.safetensors";

/// `ours` against PyTorch's float64 value, allowing twice the farthest of PyTorch's float32 runs
/// (`spread32`), or 1e-5 relative.
fn assert_as_pytorch(what: &str, ours: f32, want64: f64, spread32: f64) {
    let bound = (2.0 * spread32).max(1e-5 * want64.abs());
    let off = (f64::from(ours) - want64).abs();
    eprintln!(
        "{what}: {ours} against {want64}: {:.1e} relative (PyTorch float32: {:.1e})",
        off / want64.abs(),
        spread32 / want64.abs()
    );
    assert!(off <= bound, "{what}: {ours} against PyTorch's {want64}: off by {off:e}, allowed {bound:e}");
}

/// A fixture tensor as samples of `L` values.
fn samples<const L: usize>(f: &Fixture, key: &str) -> Vec<[f32; L]> {
    f.f32(key).1.chunks_exact(L).map(|c| c.try_into().unwrap()).collect()
}

#[test]
fn super_resolution_takes_pytorchs_first_steps() {
    let f = Fixture::open(FIXTURE);
    let (xs, ys) = (samples::<64>(&f, "sr.x"), samples::<1024>(&f, "sr.y"));
    let (want64, want32) = (f.f64("sr.loss64"), f.f64("sr.loss32"));
    let mut net = super_resolution::SuperResolution::new(0);
    fill_seeded!(net);
    let mut opt = Adam::new(0.01);
    for step in 0..3 {
        let loss = super_resolution::train_step(&mut net, &mut opt, &xs, &ys).unwrap();
        assert_as_pytorch(&format!("step {step}'s loss"), loss, want64[step], want32[step]);
    }
}

#[test]
fn dcgan_takes_pytorchs_first_iterations() {
    use dcgan::{Discriminator, Generator};
    let f = Fixture::open(FIXTURE);
    let (reals, noises) = (samples::<1024>(&f, "dcgan.real"), samples::<100>(&f, "dcgan.noise"));
    let (want64, want32) = (f.f64("dcgan.rows64"), f.f64("dcgan.rows32"));
    let (mut g, mut d) = (Generator::new(0), Discriminator::new(0));
    fill_seeded!(g);
    fill_seeded!(d);
    let adam = || Adam::new(2e-4).betas(0.5, 0.999);
    let (mut opt_g, mut opt_d) = (adam(), adam());
    for it in 0..2 {
        let (real, noise) = (&reals[it * 4..][..4], &noises[it * 4..][..4]);
        let row = dcgan::train_iteration(&mut g, &mut d, (&mut opt_g, &mut opt_d), real, noise);
        for (k, name) in ["Loss_D", "Loss_G", "D(x)", "D(G(z)) before", "D(G(z)) after"].iter().enumerate() {
            assert_as_pytorch(&format!("iteration {it}'s {name}"), row[k], want64[it * 5 + k], want32[it * 5 + k]);
        }
        assert!(d.params().all(|p| d.requires_grad(p.name) == Some(true)), "the discriminator trains again");
    }
}

#[test]
fn fast_neural_style_takes_pytorchs_first_steps() {
    use fast_neural_style::{style_grams, train_step, TransformerNet, Vgg16, PIXELS};
    let f = Fixture::open(FIXTURE);
    let style: [f32; PIXELS] = f.f32("style.style").1.try_into().unwrap();
    let batches = samples::<PIXELS>(&f, "style.content");
    let (want64, want32) = (f.f64("style.rows64"), f.f64("style.rows32"));
    let (mut transformer, mut vgg) = (TransformerNet::new(0), Vgg16::new(0));
    fill_seeded!(transformer);
    fill_seeded!(vgg);
    vgg.requires_grad_(false);
    let before: Vec<f32> = vgg.params().flat_map(|p| p.data.to_vec()).collect();
    let gram_style = style_grams(&vgg, &style);
    let mut opt = Adam::new(1e-3);
    for step in 0..2 {
        let xs = &batches[step * 2..][..2];
        let (content, style_loss) = train_step(&mut transformer, &mut vgg, &mut opt, xs, &gram_style, (1e5, 1e10));
        assert_as_pytorch(&format!("step {step}'s content loss"), content, want64[step * 2], want32[step * 2]);
        assert_as_pytorch(&format!("step {step}'s style loss"), style_loss, want64[step * 2 + 1], want32[step * 2 + 1]);
    }
    let after: Vec<f32> = vgg.params().flat_map(|p| p.data.to_vec()).collect();
    assert!(before == after, "the frozen loss network does not change");
}
