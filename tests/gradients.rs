//! Central finite-difference checks of the generated backward pass, for every layer kind and
//! option: tuple kernels, strides, padding, odd sizes, 1x1 kernels, overlapping pools, pools
//! without a stride, named layers, ReLU fused or standing alone (after a pool, after `flatten`,
//! on the input), a pool on the input, a network ending in a conv, and the resampling layers of
//! dense prediction (transposed convolutions, upsampling, pixel shuffles, padding).
//!
//! The loss is `L = Σ c · y` over the eval-mode outputs `y` of a batch of 3 with fixed random
//! weights `c`, so `dL/dy = c` is the gradient handed to `backward`; the check is
//! `common::gradcheck`'s, of every parameter and of the input (`backward_to_input`, whose
//! parameter gradients must be `backward`'s). The networks are shallow so that every layer's gradient stands well
//! above the loss's rounding noise. The kernels themselves are checked far tighter against f64
//! loops in `cnn-runtime`; this test checks how the macro wires them together.

mod common;

use cnn::prelude::*;
use common::gradcheck::{check_gradients, check_input_gradients, weighted_sum, GradCheck, Loss};

/// The shared generator, its seed spread first (these checks use small consecutive seeds).
fn values(n: usize, seed: u32) -> Vec<f32> {
    common::values(n, seed.wrapping_mul(2654435761) | 1)
}

macro_rules! gradient_check {
    ($test:ident, $net:ident, $grads:ident) => {
        #[test]
        fn $test() {
            const N: usize = 3;
            let mut net = $net::new(11);
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                (0..N as u32).map(|i| values($net::INPUT_LEN, 100 + i).try_into().unwrap()).collect();
            let c: Vec<[f32; $net::OUTPUT_LEN]> =
                (0..N as u32).map(|i| values($net::OUTPUT_LEN, 200 + i).try_into().unwrap()).collect();
            let outputs = net.forward_train(&xs).to_vec();
            assert_eq!(outputs, net.forward_batch(&xs), "the training forward pass computes the inference outputs");
            let mut grads = $grads::new();
            net.backward(&c, &mut grads);
            for p in grads.params() {
                assert!(p.data.iter().any(|&v| v != 0.0), "{}: the gradient is all zero", p.name);
            }
            // Eval mode, where the network is piecewise linear in any one parameter.
            let check = GradCheck {
                steps: &[1e-2, 1e-3, 1e-4],
                noise: 1e-6,
                loss: Loss::PiecewiseLinear,
                rel: 1e-2,
                picks: 12,
            };
            check_gradients(&mut net, &grads, check, |net| weighted_sum(&net.forward_batch(&xs), &c));
            // The input's gradient: the same parameter gradients besides it, bit for bit.
            net.forward_train(&xs);
            let (mut with_input, mut dx) = ($grads::new(), vec![[0.0f32; $net::INPUT_LEN]; N]);
            net.backward_to_input(&c, &mut with_input, &mut dx);
            assert_eq!(with_input.flat(), grads.flat(), "backward_to_input's parameter gradients are backward's");
            assert!(dx.as_flattened().iter().any(|&v| v != 0.0), "the input's gradient is all zero");
            check_input_gradients(&mut net, &xs, &dx, check, |net, xs| weighted_sum(&net.forward_batch(xs), &c));
        }
    };
}

cnn! {
    /// Tuple kernel, stride and padding, fused ReLU.
    pub struct ConvTuple {
        input(2, 7, 6)
        conv(2, 3, k=(3, 2), s=(2, 1), p=(1, 2)) relu
        flatten
        linear(_, 3)
    }
}

cnn! {
    /// Positional kernel, stride and padding on odd sizes; pool without a stride.
    pub struct ConvStrided {
        input(3, 9, 7)
        conv(3, 2, 3, 2, 1)
        pool(2)
        flatten
        linear(_, 2)
    }
}

cnn! {
    /// A pool on the input with a stride below its window; a 1x1 conv; ReLU after a pool.
    pub struct PoolFirst {
        input(2, 7, 7)
        maxpool(kernel_size=3, stride=2) relu
        conv(2, 2, k=1) relu
        flatten
        linear(_, 3)
    }
}

cnn! {
    /// ReLU on the input and after `flatten`; tuple pool window and stride; named layers.
    pub struct ReluInput {
        input(1, 6, 7)
        relu
        c1: conv(1, 2, k=2)
        p1: pool((2, 3), (1, 2))
        flatten relu
        out: linear(_, 2)
    }
}

cnn! {
    /// Ends in a conv: a [C, H, W] output.
    pub struct ConvOut {
        input(2, 5, 5)
        conv(2, 3, k=3, p=1) relu
        conv(3, 2, k=(1, 3), s=(2, 1))
    }
}

cnn! {
    /// Linear layers only, one with a fused ReLU.
    pub struct Dense {
        input(1, 3, 4)
        flatten
        linear(12, 6) relu
        linear(6, 2)
    }
}

cnn! {
    /// A deeper mix of all of the above.
    pub struct Mixed {
        input(3, 11, 9)
        c1: conv(3, 4, k=(3, 2), s=(2, 1), p=(1, 0)) relu
        pool(2) relu
        conv(_, 5, 1)
        relu
        flatten
        fc: linear(_, 7) relu
        linear(7, 3)
    }
}

cnn! {
    /// Upsampling in every mode and the padding layers and modes, between convolutions.
    pub struct Upsampling {
        input(2, 5, 6)
        conv(2, 3, k=2, p=1, padding_mode=reflect)
        upsample(scale_factor=1.7, mode=bilinear)
        upsample(size=(7, 9), mode=bilinear, align_corners=true)
        reflectionpad(1, 2, 0, 1) replicationpad(1) zeropad(0, 1, 1, 0) circularpad(1)
        upsample(scale_factor=2)
        upsample(size=(9, 13))
        upsample(scale_factor=1.5, mode="nearest-exact")
        conv(3, 3, k=3, s=2, p=1, padding_mode=circular)
        conv(3, 2, k=(3, 2), p=(1, 2), padding_mode=replicate)
        flatten
        linear(_, 3)
    }
}

cnn! {
    /// Transposed convolutions (grouped with output_padding, dilated without bias), the pixel
    /// shuffles, and the product of two branches (`mul`).
    pub struct Transposed {
        input(4, 4, 5)
        conv_transpose(4, 8, k=3, s=2, p=1, output_padding=1, g=2) relu
        mul { conv(8, 8, k=1) seq { adaptive_avgpool(1) conv(8, 8, k=1) sigmoid } }
        pixel_shuffle(2)
        pixel_unshuffle(4)
        conv_transpose(32, 3, k=(2, 3), s=(1, 2), p=(0, 1), d=(2, 1), bias=false)
        flatten
        linear(_, 3)
    }
}

gradient_check!(upsampling_and_padding, Upsampling, UpsamplingGrads);
gradient_check!(transposed_convolutions_and_pixel_shuffles, Transposed, TransposedGrads);
gradient_check!(conv_tuple_kernel_stride_padding, ConvTuple, ConvTupleGrads);
gradient_check!(conv_strided_odd_sizes_and_pool, ConvStrided, ConvStridedGrads);
gradient_check!(pool_on_input_pointwise_conv, PoolFirst, PoolFirstGrads);
gradient_check!(relu_on_input_and_after_flatten, ReluInput, ReluInputGrads);
gradient_check!(conv_output, ConvOut, ConvOutGrads);
gradient_check!(linear_layers, Dense, DenseGrads);
gradient_check!(deeper_mix, Mixed, MixedGrads);
