//! Networks ready to use: the project's benchmark networks (LeNet-5 for 28x28 grayscale digits,
//! two 3x32x32 CIFAR-shaped networks), the digits example's network, and torchvision's
//! ResNet-18 and MobileNetV2 with torchvision's `state_dict` names, so their weights load as
//! they are. Each is written with [`cnn!`] exactly as a user would write it, and has a PyTorch
//! twin in `tools/`.
//!
//! The torchvision networks also come as macros that take the input size, since every size is
//! part of the type: `cnn::resnet18!(pub struct SmallResNet, input(3, 64, 64));`.
//!
//! [`cnn!`]: macro@crate::cnn

crate::cnn! {
    /// LeNet-5 for 28x28 grayscale digits (MNIST shape), 10 classes; about 0.83 MFLOP a sample.
    ///
    /// PyTorch: `Conv2d(1, 6, 5, padding=2), ReLU, MaxPool2d(2, 2), Conv2d(6, 16, 5), ReLU,
    /// MaxPool2d(2, 2), Flatten, Linear(400, 120), ReLU, Linear(120, 84), ReLU, Linear(84, 10)`.
    pub struct LeNet {
        input(1, 28, 28)
        conv(1, 6, k=5, p=2) relu pool(2, 2)
        conv(6, 16, k=5) relu pool(2, 2)
        flatten
        linear(400, 120) relu
        linear(120, 84) relu
        linear(84, 10)
    }
}

crate::cnn! {
    /// The classic CIFAR-10 tutorial network for 3x32x32 images, 10 classes; about 6.6 MFLOP a
    /// sample.
    pub struct SeedNet {
        input(3, 32, 32)
        conv(3, 16, k=3, p=1) relu pool(2, 2)
        conv(16, 32, k=3, p=1) relu pool(2, 2)
        conv(32, 64, k=3, p=1) relu pool(2, 2)
        flatten
        linear(1024, 500) relu
        linear(500, 10)
    }
}

crate::cnn! {
    /// Two VGG blocks for 3x32x32 images, 10 classes; about 0.3 GFLOP a sample, nearly all in
    /// the convolutions.
    pub struct Vgg {
        input(3, 32, 32)
        conv(3, 64, k=3, p=1) relu conv(64, 64, k=3, p=1) relu pool(2, 2)
        conv(64, 128, k=3, p=1) relu conv(128, 128, k=3, p=1) relu pool(2, 2)
        flatten
        linear(8192, 10)
    }
}

crate::cnn! {
    /// A small network for the 8x8 digits of [`crate::data::digits`], 10 classes: what the
    /// `digits` example trains.
    pub struct DigitsNet {
        input(1, 8, 8)
        conv(1, 32, k=3, p=1) relu
        conv(32, 64, k=3, p=1) relu pool(2)
        flatten
        linear(1024, 128) relu
        linear(128, 10)
    }
}

/// Defines torchvision's ResNet-18 (`torchvision.models.resnet18()`, 1000 classes) for the
/// given input shape, with torchvision's `state_dict` names (`conv1.weight`,
/// `layer2.0.downsample.0.weight`, `fc.bias`, ...).
///
/// ```
/// cnn::resnet18!(
///     /// ResNet-18 for 64x64 images.
///     pub struct SmallResNet, input(3, 64, 64)
/// );
/// assert_eq!(SmallResNet::PARAM_COUNT, 11_689_512);
/// assert_eq!(SmallResNet::OUTPUT_SHAPE, &[1000]);
/// ```
#[macro_export]
macro_rules! resnet18 {
    ($(#[$attr:meta])* $vis:vis struct $name:ident, input($c:literal, $h:literal, $w:literal)) => {
        $crate::cnn! {
            $(#[$attr])*
            $vis struct $name {
                input($c, $h, $w)
                conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu maxpool(3, 2, p=1)
                layer1.0: residual {
                    conv1: conv(64, 64, k=3, p=1, bias=false) bn1: batchnorm(64) relu
                    conv2: conv(64, 64, k=3, p=1, bias=false) bn2: batchnorm(64)
                } relu
                layer1.1: residual {
                    conv1: conv(64, 64, k=3, p=1, bias=false) bn1: batchnorm(64) relu
                    conv2: conv(64, 64, k=3, p=1, bias=false) bn2: batchnorm(64)
                } relu
                layer2.0: residual {
                    conv1: conv(64, 128, k=3, s=2, p=1, bias=false) bn1: batchnorm(128) relu
                    conv2: conv(128, 128, k=3, p=1, bias=false) bn2: batchnorm(128)
                } downsample: shortcut { conv(64, 128, k=1, s=2, bias=false) batchnorm(128) } relu
                layer2.1: residual {
                    conv1: conv(128, 128, k=3, p=1, bias=false) bn1: batchnorm(128) relu
                    conv2: conv(128, 128, k=3, p=1, bias=false) bn2: batchnorm(128)
                } relu
                layer3.0: residual {
                    conv1: conv(128, 256, k=3, s=2, p=1, bias=false) bn1: batchnorm(256) relu
                    conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256)
                } downsample: shortcut { conv(128, 256, k=1, s=2, bias=false) batchnorm(256) } relu
                layer3.1: residual {
                    conv1: conv(256, 256, k=3, p=1, bias=false) bn1: batchnorm(256) relu
                    conv2: conv(256, 256, k=3, p=1, bias=false) bn2: batchnorm(256)
                } relu
                layer4.0: residual {
                    conv1: conv(256, 512, k=3, s=2, p=1, bias=false) bn1: batchnorm(512) relu
                    conv2: conv(512, 512, k=3, p=1, bias=false) bn2: batchnorm(512)
                } downsample: shortcut { conv(256, 512, k=1, s=2, bias=false) batchnorm(512) } relu
                layer4.1: residual {
                    conv1: conv(512, 512, k=3, p=1, bias=false) bn1: batchnorm(512) relu
                    conv2: conv(512, 512, k=3, p=1, bias=false) bn2: batchnorm(512)
                } relu
                avgpool: adaptive_avgpool(1) flatten fc: linear(512, 1000)
            }
        }
    };
}

/// Defines torchvision's MobileNetV2 (`torchvision.models.mobilenet_v2()`, 1000 classes) for
/// the given input shape, with torchvision's `state_dict` names (`features.0.0.weight`,
/// `features.1.conv.0.0.weight`, `classifier.1.bias`, ...).
///
/// ```
/// cnn::mobilenet_v2!(pub struct SmallMobileNet, input(3, 64, 64));
/// assert_eq!(SmallMobileNet::PARAM_COUNT, 3_504_872);
/// ```
#[macro_export]
macro_rules! mobilenet_v2 {
    ($(#[$attr:meta])* $vis:vis struct $name:ident, input($c:literal, $h:literal, $w:literal)) => {
        $crate::cnn! {
            $(#[$attr])*
            $vis struct $name {
                input($c, $h, $w)
                features: seq {
                    seq { conv(3, 32, k=3, s=2, p=1, bias=false) batchnorm(32) relu6 }
                    seq { conv: seq {
                        seq { conv(32, 32, k=3, p=1, g=32, bias=false) batchnorm(32) relu6 }
                        conv(32, 16, k=1, bias=false) batchnorm(16)
                    } }
                    seq { conv: seq {
                        seq { conv(16, 96, k=1, bias=false) batchnorm(96) relu6 }
                        seq { conv(96, 96, k=3, s=2, p=1, g=96, bias=false) batchnorm(96) relu6 }
                        conv(96, 24, k=1, bias=false) batchnorm(24)
                    } }
                    residual { conv: seq {
                        seq { conv(24, 144, k=1, bias=false) batchnorm(144) relu6 }
                        seq { conv(144, 144, k=3, p=1, g=144, bias=false) batchnorm(144) relu6 }
                        conv(144, 24, k=1, bias=false) batchnorm(24)
                    } }
                    seq { conv: seq {
                        seq { conv(24, 144, k=1, bias=false) batchnorm(144) relu6 }
                        seq { conv(144, 144, k=3, s=2, p=1, g=144, bias=false) batchnorm(144) relu6 }
                        conv(144, 32, k=1, bias=false) batchnorm(32)
                    } }
                    residual { conv: seq {
                        seq { conv(32, 192, k=1, bias=false) batchnorm(192) relu6 }
                        seq { conv(192, 192, k=3, p=1, g=192, bias=false) batchnorm(192) relu6 }
                        conv(192, 32, k=1, bias=false) batchnorm(32)
                    } }
                    residual { conv: seq {
                        seq { conv(32, 192, k=1, bias=false) batchnorm(192) relu6 }
                        seq { conv(192, 192, k=3, p=1, g=192, bias=false) batchnorm(192) relu6 }
                        conv(192, 32, k=1, bias=false) batchnorm(32)
                    } }
                    seq { conv: seq {
                        seq { conv(32, 192, k=1, bias=false) batchnorm(192) relu6 }
                        seq { conv(192, 192, k=3, s=2, p=1, g=192, bias=false) batchnorm(192) relu6 }
                        conv(192, 64, k=1, bias=false) batchnorm(64)
                    } }
                    residual { conv: seq {
                        seq { conv(64, 384, k=1, bias=false) batchnorm(384) relu6 }
                        seq { conv(384, 384, k=3, p=1, g=384, bias=false) batchnorm(384) relu6 }
                        conv(384, 64, k=1, bias=false) batchnorm(64)
                    } }
                    residual { conv: seq {
                        seq { conv(64, 384, k=1, bias=false) batchnorm(384) relu6 }
                        seq { conv(384, 384, k=3, p=1, g=384, bias=false) batchnorm(384) relu6 }
                        conv(384, 64, k=1, bias=false) batchnorm(64)
                    } }
                    residual { conv: seq {
                        seq { conv(64, 384, k=1, bias=false) batchnorm(384) relu6 }
                        seq { conv(384, 384, k=3, p=1, g=384, bias=false) batchnorm(384) relu6 }
                        conv(384, 64, k=1, bias=false) batchnorm(64)
                    } }
                    seq { conv: seq {
                        seq { conv(64, 384, k=1, bias=false) batchnorm(384) relu6 }
                        seq { conv(384, 384, k=3, p=1, g=384, bias=false) batchnorm(384) relu6 }
                        conv(384, 96, k=1, bias=false) batchnorm(96)
                    } }
                    residual { conv: seq {
                        seq { conv(96, 576, k=1, bias=false) batchnorm(576) relu6 }
                        seq { conv(576, 576, k=3, p=1, g=576, bias=false) batchnorm(576) relu6 }
                        conv(576, 96, k=1, bias=false) batchnorm(96)
                    } }
                    residual { conv: seq {
                        seq { conv(96, 576, k=1, bias=false) batchnorm(576) relu6 }
                        seq { conv(576, 576, k=3, p=1, g=576, bias=false) batchnorm(576) relu6 }
                        conv(576, 96, k=1, bias=false) batchnorm(96)
                    } }
                    seq { conv: seq {
                        seq { conv(96, 576, k=1, bias=false) batchnorm(576) relu6 }
                        seq { conv(576, 576, k=3, s=2, p=1, g=576, bias=false) batchnorm(576) relu6 }
                        conv(576, 160, k=1, bias=false) batchnorm(160)
                    } }
                    residual { conv: seq {
                        seq { conv(160, 960, k=1, bias=false) batchnorm(960) relu6 }
                        seq { conv(960, 960, k=3, p=1, g=960, bias=false) batchnorm(960) relu6 }
                        conv(960, 160, k=1, bias=false) batchnorm(160)
                    } }
                    residual { conv: seq {
                        seq { conv(160, 960, k=1, bias=false) batchnorm(960) relu6 }
                        seq { conv(960, 960, k=3, p=1, g=960, bias=false) batchnorm(960) relu6 }
                        conv(960, 160, k=1, bias=false) batchnorm(160)
                    } }
                    seq { conv: seq {
                        seq { conv(160, 960, k=1, bias=false) batchnorm(960) relu6 }
                        seq { conv(960, 960, k=3, p=1, g=960, bias=false) batchnorm(960) relu6 }
                        conv(960, 320, k=1, bias=false) batchnorm(320)
                    } }
                    seq { conv(320, 1280, k=1, bias=false) batchnorm(1280) relu6 }
                }
                adaptive_avgpool(1) flatten
                classifier: seq { dropout(0.2) linear(1280, 1000) }
            }
        }
    };
}

crate::resnet18!(
    /// torchvision's ResNet-18 for 3x224x224 images, 1000 classes; about 3.6 GFLOP a sample.
    /// `load_safetensors` takes torchvision's `resnet18` `state_dict` as it is (see
    /// `tools/torchvision_weights.py`).
    pub struct ResNet18, input(3, 224, 224)
);

crate::mobilenet_v2!(
    /// torchvision's MobileNetV2 for 3x224x224 images, 1000 classes; about 0.6 GFLOP a sample.
    /// `load_safetensors` takes torchvision's `mobilenet_v2` `state_dict` as it is.
    pub struct MobileNetV2, input(3, 224, 224)
);
