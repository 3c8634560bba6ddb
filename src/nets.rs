//! Networks ready to use: the project's benchmark networks (LeNet-5 for 28x28 grayscale digits,
//! two 3x32x32 CIFAR-shaped networks), the digits example's network, and torchvision's
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
