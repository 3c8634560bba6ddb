//! Gradients out of a network against PyTorch (`tests/fixtures/grad_cam.safetensors`, from
//! `python3 tools/gen_layer_fixtures.py --grad-cam-only`; every tensor seeded from its name on
//! both sides): the input's gradient (`backward_to_input`, PyTorch's `x.grad`), a layer's
//! gradient (`gradient_at`, a backward hook's `grad_output`) and Grad-CAM's map
//! (`cnn::viz::grad_cam`, as pytorch-grad-cam computes it) for each sample's target class, also
//! through batch norms and dropout in eval mode (`model.eval()`); when
//! `gradient_at` has nothing to give; and the saliency and heat-map pictures.

#[macro_use]
mod common;

use cnn::prelude::*;
use cnn::viz::{grad_cam, heat_map, saliency};
use common::{assert_within, Fixture};

cnn! {
    /// PyTorch's `CamNet` of the fixture tool.
    pub struct CamNet {
        input(3, 16, 16)
        features: seq { conv(3, 8, k=3, p=1) relu maxpool(2) conv(8, 12, k=3, p=1) relu }
        pool: adaptive_avgpool(1)
        flatten
        fc: linear(12, 5)
    }
}

cnn! {
    /// PyTorch's `CamBnNet`: `CamNet` with batch norms and a dropout, run in eval mode.
    pub struct CamBnNet {
        input(3, 16, 16)
        features: seq {
            0: conv(3, 8, k=3, p=1) 1: batchnorm(8) 2: relu 3: maxpool(2) 4: dropout(0.5)
            5: conv(8, 12, k=3, p=1) 6: batchnorm(12) 7: relu
        }
        pool: adaptive_avgpool(1)
        flatten
        fc: linear(12, 5)
    }
}

cnn! {
    /// A layer before every parameter: its gradient exists only where the input's does.
    pub struct Prefixed {
        input(1, 4, 4)
        pre: relu
        conv: conv(1, 2, k=3)
        flatten
        fc: linear(8, 1)
    }
}

#[test]
fn input_and_layer_gradients_and_grad_cam_match_pytorch() {
    let f = Fixture::open("grad_cam.safetensors");
    let mut net = CamNet::new(0);
    fill_seeded!(net);
    let xs: Vec<[f32; CamNet::INPUT_LEN]> =
        f.f32("input").1.chunks_exact(CamNet::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
    let targets = f.i64("target");
    let ys = net.forward_train(&xs).to_vec();
    assert_within("output", ys.as_flattened(), &f.f32("output").1, 1e-5);
    // The loss is the sum of each sample's target score: its gradient is one-hot.
    let grad: Vec<[f32; 5]> = targets.iter().map(|&t| std::array::from_fn(|k| f32::from(k as i64 == t))).collect();
    assert!(net.gradient_at("features").is_none(), "no backward pass yet");
    let (mut grads, mut dx) = (CamNetGrads::new(), vec![[0.0f32; CamNet::INPUT_LEN]; xs.len()]);
    net.backward_to_input(&grad, &mut grads, &mut dx);
    assert_within("input gradient (x.grad)", dx.as_flattened(), &f.f32("input_grad").1, 1e-5);
    assert!(net.gradient_at("no_such_layer").is_none());
    let gradients = net.gradient_at("features").unwrap();
    let got: Vec<f32> = gradients.iter().flat_map(|g| g.data.iter().copied()).collect();
    assert_within("gradient at `features` (a backward hook's)", &got, &f.f32("gradient").1, 1e-5);
    assert_eq!(gradients[0].shape, [12, 8, 8]);

    let (want_a, want_cam) = (f.f32("activation").1, f.f32("cam").1);
    let (mut activations, mut cams) = (Vec::new(), Vec::new());
    for (x, g) in xs.iter().zip(&gradients) {
        let a = net.activation(x, "features").unwrap();
        cams.extend(grad_cam(&a, g).unwrap());
        activations.extend(a.data);
    }
    assert_within("activation at `features`", &activations, &want_a, 1e-5);
    assert_within("Grad-CAM", &cams, &want_cam, 1e-5);

    // A new forward pass leaves no gradient to read.
    net.forward_train(&xs);
    assert!(net.gradient_at("features").is_none(), "a forward pass since the backward");
}

/// Grad-CAM as one runs it on a trained network: `model.eval()`, then backward through batch
/// norm's running statistics with dropout off.
#[test]
fn grad_cam_in_eval_mode_matches_pytorch() {
    let f = Fixture::open("grad_cam.safetensors");
    let mut net = CamBnNet::new(0);
    fill_seeded!(net);
    net.eval();
    let before: Vec<f32> = net.buffers().flat_map(|b| b.data.to_vec()).collect();
    let xs: Vec<[f32; CamBnNet::INPUT_LEN]> =
        f.f32("input").1.chunks_exact(CamBnNet::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
    let ys = net.forward_train(&xs).to_vec();
    assert_within("output", ys.as_flattened(), &f.f32("bn.output").1, 1e-5);
    let grad: Vec<[f32; 5]> =
        f.i64("target").iter().map(|&t| std::array::from_fn(|k| f32::from(k as i64 == t))).collect();
    let (mut grads, mut dx) = (CamBnNetGrads::new(), vec![[0.0f32; CamBnNet::INPUT_LEN]; xs.len()]);
    net.backward_to_input(&grad, &mut grads, &mut dx);
    assert_within("input gradient (x.grad)", dx.as_flattened(), &f.f32("bn.input_grad").1, 1e-5);
    let gradients = net.gradient_at("features").unwrap();
    let got: Vec<f32> = gradients.iter().flat_map(|g| g.data.iter().copied()).collect();
    assert_within("gradient at `features`", &got, &f.f32("bn.gradient").1, 1e-5);
    let cams: Vec<f32> = xs
        .iter()
        .zip(&gradients)
        .flat_map(|(x, g)| grad_cam(&net.activation(x, "features").unwrap(), g).unwrap())
        .collect();
    assert_within("Grad-CAM", &cams, &f.f32("bn.cam").1, 1e-5);
    let after: Vec<f32> = net.buffers().flat_map(|b| b.data.to_vec()).collect();
    assert_eq!(before, after, "eval mode leaves the running statistics");
}

#[test]
fn gradients_before_every_parameter_come_with_the_input_s() {
    let mut net = Prefixed::new(3);
    let xs: Vec<[f32; 16]> = (0..2).map(|i| common::uniform(&format!("x{i}"), 16).try_into().unwrap()).collect();
    let c = [[1.0f32], [-2.0]];
    let mut grads = PrefixedGrads::new();
    net.forward_train(&xs);
    net.backward(&c, &mut grads);
    assert!(net.gradient_at("pre").is_none(), "`backward` does not compute what lies before every parameter");
    assert!(net.gradient_at("conv").is_some(), "but what lies after one");
    net.forward_train(&xs);
    let mut dx = [[0.0f32; 16]; 2];
    net.backward_to_input(&c, &mut grads, &mut dx);
    let pre = net.gradient_at("pre").unwrap();
    // Through the ReLU: the input's gradient is `pre`'s where the input is positive.
    for (g, (x, dx)) in pre.iter().zip(xs.iter().zip(&dx)) {
        for k in 0..16 {
            assert_eq!(dx[k], if x[k] > 0.0 { g.data[k] } else { 0.0 }, "element {k}");
        }
    }
}

#[test]
fn saliency_and_heat_maps_draw_the_maps_over_their_images() {
    let (c, h, w) = (3, 4, 6);
    let grad: Vec<f32> = (0..c * h * w).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
    let map = saliency(&grad, c, (h, w)).unwrap();
    for p in 0..h * w {
        let want = (0..c).map(|k| grad[k * h * w + p].abs()).fold(0.0, f32::max);
        assert_eq!(map[p], want);
    }
    assert!(saliency(&grad, c, (h, w + 1)).is_err());
    // A map hot in one corner, half the image's size: resized, its hot corner draws red.
    let image = vec![0.5f32; c * h * w];
    let mut cam = vec![0.0f32; 2 * 3];
    cam[0] = 1.0;
    let picture = heat_map(&image, c, (h, w), &cam, (2, 3), 2).unwrap();
    assert_eq!(picture.dimensions(), ((2 * (w * 2 + 1) + 1) as u32, (h * 2 + 2) as u32));
    // The blended tile starts after the image's: its top-left pixel is the map's maximum.
    let [r, g, b] = picture.get_pixel((w * 2 + 2) as u32, 1).0;
    assert!(r > 150 && g < 100 && b < 100, "the hottest pixel is red: {r} {g} {b}");
    let wrong = cnn::Tensor { shape: vec![2, 2, 2], data: vec![0.0; 8] };
    let other = cnn::Tensor { shape: vec![2, 4], data: vec![0.0; 8] };
    assert!(grad_cam(&wrong, &other).is_err());
}
