// The networks of pytorch/examples' `fast_neural_style` (`transformer_net.py`'s
// `TransformerNet`, `vgg.py`'s `Vgg16`) on 3x64x64 pictures, shared by
// `examples/fast_neural_style.rs` and its PyTorch-parity test (`tests/examples_parity.rs`).

cnn::cnn! {
    /// The example's image transformation network with its `state_dict` keys: reflection-padded
    /// convolutions (`ConvLayer`), instance norm with affine parameters, five residual blocks,
    /// nearest 2x upsampling before two convolutions (`UpsampleConvLayer`), pixel values in and
    /// out on the 0..255 scale.
    pub struct TransformerNet {
        input(3, 64, 64)
        conv1.conv2d: conv(3, 32, k=9, p=4, padding_mode=reflect)
        in1: instancenorm(32, affine=true) relu
        conv2.conv2d: conv(32, 64, k=3, s=2, p=1, padding_mode=reflect)
        in2: instancenorm(64, affine=true) relu
        conv3.conv2d: conv(64, 128, k=3, s=2, p=1, padding_mode=reflect)
        in3: instancenorm(128, affine=true) relu
        for i in 1..6 {
            "res{i}": residual {
                conv1.conv2d: conv(128, 128, k=3, p=1, padding_mode=reflect)
                in1: instancenorm(128, affine=true) relu
                conv2.conv2d: conv(128, 128, k=3, p=1, padding_mode=reflect)
                in2: instancenorm(128, affine=true)
            }
        }
        upsample(scale_factor=2)
        deconv1.conv2d: conv(128, 64, k=3, p=1, padding_mode=reflect)
        in4: instancenorm(64, affine=true) relu
        upsample(scale_factor=2)
        deconv2.conv2d: conv(64, 32, k=3, p=1, padding_mode=reflect)
        in5: instancenorm(32, affine=true) relu
        deconv3.conv2d: conv(32, 3, k=9, p=4, padding_mode=reflect)
    }
}

cnn::cnn! {
    /// The loss network: VGG-16's `features` up to `relu4_3` (torchvision's keys, so its
    /// trained tensors copy in by name), its four taps as outputs, as the example's `Vgg16`
    /// returns `relu1_2, relu2_2, relu3_3, relu4_3`.
    pub struct Vgg16 {
        input(3, 64, 64)
        features.0: conv(3, 64, k=3, p=1) features.1: relu
        features.2: conv(64, 64, k=3, p=1) features.3: relu
        output relu1_2
        features.4: maxpool(2)
        features.5: conv(64, 128, k=3, p=1) features.6: relu
        features.7: conv(128, 128, k=3, p=1) features.8: relu
        output relu2_2
        features.9: maxpool(2)
        features.10: conv(128, 256, k=3, p=1) features.11: relu
        features.12: conv(256, 256, k=3, p=1) features.13: relu
        features.14: conv(256, 256, k=3, p=1) features.15: relu
        output relu3_3
        features.16: maxpool(2)
        features.17: conv(256, 512, k=3, p=1) features.18: relu
        features.19: conv(512, 512, k=3, p=1) features.20: relu
        features.21: conv(512, 512, k=3, p=1) features.22: relu
        output relu4_3
    }
}

/// Pixels of one 3x64x64 picture.
pub const PIXELS: usize = 3 * 64 * 64;

/// The example's `normalize_batch`: 0..255 pixels to ImageNet-normalised ones,
/// `(x / 255 - mean) / std` per channel.
pub fn normalize_batch(xs: &[[f32; PIXELS]]) -> Vec<[f32; PIXELS]> {
    const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
    xs.iter().map(|x| std::array::from_fn(|i| (x[i] / 255.0 - MEAN[i / 4096]) / STD[i / 4096])).collect()
}

/// The ImageNet standard deviations `normalize_batch` divides by.
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The four taps of a `Vgg16` output, with their channel counts.
fn taps(f: &Vgg16Outputs) -> [(&[f32], usize); 4] {
    [(f.relu1_2.as_slice(), 64), (f.relu2_2.as_slice(), 128), (f.relu3_3.as_slice(), 256), (f.relu4_3.as_slice(), 512)]
}

/// The Gram matrices of the style picture's four taps (`gram_style` in the example).
pub fn style_grams(vgg: &Vgg16, style: &[f32; PIXELS]) -> [Vec<f32>; 4] {
    use cnn::prelude::*;
    let f = vgg.forward(&normalize_batch(std::slice::from_ref(style))[0]);
    taps(&f).map(|(v, c)| {
        let mut g = vec![0.0; c * c];
        cnn::loss::gram_matrix(v, c, &mut g);
        g
    })
}

/// One training step of the example: the transformer's output `y` and the content `x` through
/// the frozen loss network; `content_weight ·` MSE of `relu2_2` plus `style_weight ·` the MSEs of
/// each tap's Gram matrix against the style's; the gradient back through the loss network to
/// `y` (`backward_to_input`) and on through the transformer; one `optimizer.step()`. Returns
/// the content and style losses.
pub fn train_step(
    transformer: &mut TransformerNet,
    vgg: &mut Vgg16,
    opt: &mut cnn::prelude::Adam,
    xs: &[[f32; PIXELS]],
    gram_style: &[Vec<f32>; 4],
    (content_weight, style_weight): (f64, f64),
) -> (f32, f32) {
    use cnn::prelude::*;
    let n = xs.len();
    let y = transformer.forward_train(xs).to_vec();
    let features_x = vgg.forward_batch(&normalize_batch(xs));
    let features_y = vgg.forward_train(&normalize_batch(&y));
    let mut grad = Vgg16Outputs::zeroed_vec(n);
    // Style: mse(gram(fy), gram_style) per tap, the mean over the batch's Gram entries; the
    // samples' Gram matrices and their gradients in parallel, their terms added in order.
    use rayon::prelude::*;
    let style_terms: Vec<f64> = features_y
        .par_iter()
        .zip(grad.par_iter_mut())
        .map(|(fy, g)| {
            let grads = [
                g.relu1_2.as_mut_slice(),
                g.relu2_2.as_mut_slice(),
                g.relu3_3.as_mut_slice(),
                g.relu4_3.as_mut_slice(),
            ];
            let mut style = 0.0f64;
            for (((v, c), gs), out) in taps(fy).into_iter().zip(gram_style).zip(grads) {
                let mut gram = vec![0.0; c * c];
                cnn::loss::gram_matrix(v, c, &mut gram);
                let count = (n * c * c) as f64;
                let d_gram: Vec<f32> = gram
                    .iter()
                    .zip(gs)
                    .map(|(a, b)| {
                        let d = f64::from(a - b);
                        style += style_weight * d * d / count;
                        (style_weight * 2.0 * d / count) as f32
                    })
                    .collect();
                cnn::loss::gram_matrix_backward(v, c, &d_gram, out);
            }
            style
        })
        .collect();
    let style: f64 = style_terms.iter().sum();
    // Content: mse(relu2_2 of y, relu2_2 of x) over the batch.
    let mut content = 0.0f64;
    for ((fy, fx), g) in features_y.iter().zip(&features_x).zip(grad.iter_mut()) {
        let count = (n * fy.relu2_2.as_slice().len()) as f64;
        for ((g, &a), &b) in g.relu2_2.as_mut_slice().iter_mut().zip(fy.relu2_2.as_slice()).zip(fx.relu2_2.as_slice()) {
            let d = f64::from(a - b);
            content += content_weight * d * d / count;
            *g += (content_weight * 2.0 * d / count) as f32;
        }
    }
    let mut grad_normalized = vec![[0.0f32; PIXELS]; n];
    vgg.backward_to_input(&grad, &mut Vgg16Grads::new(), &mut grad_normalized);
    // Back through normalize_batch: d/dy = d/dnormalized / (255 · std).
    let grad_y: Vec<[f32; PIXELS]> =
        grad_normalized.iter().map(|g| std::array::from_fn(|i| g[i] / (255.0 * STD[i / 4096]))).collect();
    let mut grads = TransformerNetGrads::new();
    transformer.backward(&grad_y, &mut grads);
    transformer.apply_gradients(opt, &grads);
    (content as f32, style as f32)
}
