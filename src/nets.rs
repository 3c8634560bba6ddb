//! Networks ready to use: the project's benchmark networks (LeNet-5 for 28x28 grayscale digits,
//! two 3x32x32 CIFAR-shaped networks, a U-Net for 3x128x128 segmentation), the digits example's
//! network, and torchvision's
//! ResNet-18 and MobileNetV2 with torchvision's `state_dict` names, so their weights load as
//! they are. Each is written with [`cnn!`] exactly as a user would write it, and has a PyTorch
//! twin in `tools/`.
//!
//! torchvision's networks for other input sizes, and its other families, come from the macros
//! of [`crate::models`]: `cnn::models::resnet18!(pub struct SmallResNet, input(3, 64, 64));`.
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

crate::cnn! {
    /// Two 3x3 convolutions with batch norm and ReLU: the U-Net's unit.
    block unet_double_conv(cin, cout) {
        conv(cin, cout, k=3, p=1, bias=false) batchnorm(cout) relu
        conv(cout, cout, k=3, p=1, bias=false) batchnorm(cout) relu
    }

    /// The benchmark U-Net for 3x128x128 images and 4 classes a pixel: four resolutions (16 to
    /// 128 channels, 128x128 to 16x16), `cat` skips, `conv_transpose` upsampling; about 2.0
    /// GFLOP a sample. PyTorch twin: `unet()` in `tools/bench_pytorch.py`.
    pub struct UNet {
        input(3, 128, 128)
        inc: unet_double_conv(3, 16)
        skip1: cat {
            identity
            seq {
                down1: seq { maxpool(2) unet_double_conv(16, 32) }
                skip2: cat {
                    identity
                    seq {
                        down2: seq { maxpool(2) unet_double_conv(32, 64) }
                        skip3: cat {
                            identity
                            seq {
                                down3: seq { maxpool(2) unet_double_conv(64, 128) }
                                up3: conv_transpose(128, 64, k=2, s=2)
                            }
                        }
                        conv3: unet_double_conv(128, 64)
                        up2: conv_transpose(64, 32, k=2, s=2)
                    }
                }
                conv2: unet_double_conv(64, 32)
                up1: conv_transpose(32, 16, k=2, s=2)
            }
        }
        conv1: unet_double_conv(32, 16)
        outc: conv(16, 4, k=1)
    }
}

crate::models::resnet18!(
    /// torchvision's ResNet-18 for 3x224x224 images, 1000 classes; about 3.6 GFLOP a sample.
    /// `load_safetensors` takes torchvision's `resnet18` `state_dict` as it is (see
    /// `tools/torchvision_weights.py`).
    pub struct ResNet18, input(3, 224, 224)
);

crate::models::mobilenet_v2!(
    /// torchvision's MobileNetV2 for 3x224x224 images, 1000 classes; about 0.6 GFLOP a sample.
    /// `load_safetensors` takes torchvision's `mobilenet_v2` `state_dict` as it is.
    pub struct MobileNetV2, input(3, 224, 224)
);
