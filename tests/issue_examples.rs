//! The DSL examples of the multi-input IR's contract, written exactly as users are shown them
//! (SqueezeNet's Fire, a DenseNet layer, EfficientNet's squeeze-and-excitation, a ShuffleNetV2
//! unit, a ConvNeXt block), each inside a network of the shape it takes, with the keys and sizes
//! torchvision gives the same modules; and the dense-prediction issue's layer table and loss
//! builder as it writes them.

use cnn::prelude::*;

cnn! {
    pub struct Fire {
        input(64, 15, 15)
        features.3: seq {                                  // SqueezeNet 1.1 Fire(64, 16, 64, 64)
            squeeze: conv(64, 16, k=1) squeeze_activation: relu
            _: cat {
                _: seq { expand1x1: conv(16, 64, k=1) expand1x1_activation: relu }
                _: seq { expand3x3: conv(16, 64, k=3, p=1) expand3x3_activation: relu }
            }
        }
    }
}

cnn! {
    pub struct DenseLayer {
        input(64, 8, 8)
        features.denseblock1.denselayer1: dense {          // DenseNet-121
            norm1: batchnorm(64) relu1: relu conv1: conv(64, 128, k=1, bias=false)
            norm2: batchnorm(128) relu2: relu conv2: conv(128, 32, k=3, p=1, bias=false)
        }
    }
}

cnn! {
    pub struct SqueezeExcitation {
        input(96, 8, 8)
        features.2.0.block.2: gate {                       // EfficientNet-B0's squeeze-and-excitation
            avgpool: adaptive_avgpool(1) fc1: conv(96, 4, k=1) activation: silu
            fc2: conv(4, 96, k=1) scale_activation: sigmoid
        }
    }
}

cnn! {
    pub struct ShuffleUnit {
        input(48, 8, 8)
        stage2.1: seq { _: split { identity branch2: seq {
            conv(24, 24, k=1, bias=false) batchnorm(24) relu
            conv(24, 24, k=3, p=1, g=24, bias=false) batchnorm(24)
            conv(24, 24, k=1, bias=false) batchnorm(24) relu
        } } channel_shuffle(2) }   // ShuffleNetV2
    }
}

cnn! {
    pub struct ConvNextBlock {
        input(96, 8, 8)
        features.1.0: residual {                           // ConvNeXt-T block
            block: seq { conv(96, 96, k=7, p=3, g=96) permute(0, 2, 3, 1) layernorm(96, eps=1e-6)
                         linear(96, 384) gelu linear(384, 96) permute(0, 3, 1, 2) }
            layer_scale: scale(96, init=1e-6) stochastic_depth(0.0, mode=row)
        }
    }
}

fn keys<'a>(params: impl Iterator<Item = cnn::Param<'a>>) -> Vec<(String, Vec<usize>)> {
    params.map(|p| (p.name.to_string(), p.shape.to_vec())).collect()
}

#[test]
fn fire_keys_and_shape() {
    let net = Fire::new(0);
    assert_eq!(Fire::OUTPUT_SHAPE, &[128, 15, 15]);
    let k = keys(net.params());
    let names: Vec<&str> = k.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "features.3.squeeze.weight",
            "features.3.squeeze.bias",
            "features.3.expand1x1.weight",
            "features.3.expand1x1.bias",
            "features.3.expand3x3.weight",
            "features.3.expand3x3.bias"
        ]
    );
}

#[test]
fn dense_layer_keys_and_shape() {
    let net = DenseLayer::new(0);
    assert_eq!(DenseLayer::OUTPUT_SHAPE, &[96, 8, 8]);
    assert_eq!(net.param("features.denseblock1.denselayer1.conv2.weight").unwrap().shape, &[32, 128, 3, 3]);
    assert!(net.buffer("features.denseblock1.denselayer1.norm1.running_var").is_some());
}

#[test]
fn squeeze_excitation_keys_and_values() {
    let net = SqueezeExcitation::new(0);
    assert_eq!(SqueezeExcitation::OUTPUT_SHAPE, &[96, 8, 8]);
    assert_eq!(net.param("features.2.0.block.2.fc1.weight").unwrap().shape, &[4, 96, 1, 1]);
    assert_eq!(net.param("features.2.0.block.2.fc2.bias").unwrap().shape, &[96]);
    // x * sigmoid(...): every output lies between 0 and its input.
    let x: Vec<f32> = (0..SqueezeExcitation::INPUT_LEN).map(|i| (i % 7) as f32 + 0.5).collect();
    let y = net.forward(x.as_slice().try_into().unwrap());
    assert!(x.iter().zip(y.iter()).all(|(x, y)| *y > 0.0 && y < x));
}

#[test]
fn shuffle_unit_keys_and_shape() {
    let net = ShuffleUnit::new(0);
    assert_eq!(ShuffleUnit::OUTPUT_SHAPE, &[48, 8, 8]);
    assert_eq!(net.param("stage2.1.branch2.0.weight").unwrap().shape, &[24, 24, 1, 1]);
    assert_eq!(net.param("stage2.1.branch2.3.weight").unwrap().shape, &[24, 1, 3, 3]);
    assert_eq!(net.buffer("stage2.1.branch2.6.running_mean").unwrap().shape, &[24]);
    // The identity half keeps its channels, interleaved by the shuffle: channel 2i of the output
    // is channel i of the input.
    let x: Vec<f32> = (0..ShuffleUnit::INPUT_LEN).map(|i| i as f32).collect();
    let y = net.forward(x.as_slice().try_into().unwrap());
    for i in 0..24 {
        assert_eq!(y[2 * i * 64..(2 * i + 1) * 64], x[i * 64..(i + 1) * 64], "channel {i}");
    }
}

#[test]
fn convnext_block_keys_and_shape() {
    let net = ConvNextBlock::new(0);
    assert_eq!(ConvNextBlock::OUTPUT_SHAPE, &[96, 8, 8]);
    let k = keys(net.params());
    let want: Vec<(String, Vec<usize>)> = [
        ("features.1.0.block.0.weight", vec![96, 1, 7, 7]),
        ("features.1.0.block.0.bias", vec![96]),
        ("features.1.0.block.2.weight", vec![96]),
        ("features.1.0.block.2.bias", vec![96]),
        ("features.1.0.block.3.weight", vec![384, 96]),
        ("features.1.0.block.3.bias", vec![384]),
        ("features.1.0.block.5.weight", vec![96, 384]),
        ("features.1.0.block.5.bias", vec![96]),
        ("features.1.0.layer_scale", vec![96, 1, 1]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(k, want);
    assert!(net.param("features.1.0.layer_scale").unwrap().data.iter().all(|&v| v == 1e-6));
}

cnn! {
    /// The dense-prediction issue's layer table, each as it writes it.
    pub struct IssueResample {
        input(4, 8, 8)
        conv_transpose(4, 4, 2, s=2, p=0, output_padding=0, g=1, d=1, bias=true)
        pixel_unshuffle(2) pixel_shuffle(2)
        upsample(scale_factor=2, mode=nearest)
        upsample(size=(12, 10), mode=bilinear, align_corners=false)
        zeropad(1, 2, 3, 4) reflectionpad(1) replicationpad(1)
        conv(4, 2, k=3, padding_mode=reflect)
    }
}

#[test]
fn dense_prediction_table_keys_shape_and_loss_options() {
    let net = IssueResample::new(0);
    assert_eq!(
        keys(net.params()),
        [
            ("0.weight".to_string(), vec![4, 4, 2, 2]),
            ("0.bias".to_string(), vec![4]),
            ("8.weight".to_string(), vec![2, 4, 3, 3]),
            ("8.bias".to_string(), vec![2]),
        ]
    );
    // 8 -> 16 (transposed, stride 2) -> 16 (shuffles) -> 32 -> 12x10 -> +3+4, +1+2 -> +2 -> +2 -> -2.
    assert_eq!(IssueResample::OUTPUT_SHAPE, &[2, 21, 15]);

    // The issue's builder chain, and one label per pixel of the map output.
    let mut net = net;
    let loss = cnn::loss::CrossEntropy::new().weight(vec![1.0, 2.0]).ignore_index(255).label_smoothing(0.1);
    let xs = vec![[0.5f32; IssueResample::INPUT_LEN]; 2];
    let labels: Vec<usize> = (0..2 * 21 * 15).map(|i| if i % 7 == 0 { 255 } else { i % 2 }).collect();
    let l = net.train_step_with(&xs, &labels, &loss, &mut Sgd::new(0.01));
    assert!(l.is_finite() && l > 0.0);
}
