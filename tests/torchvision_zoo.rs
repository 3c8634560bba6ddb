//! torchvision's 21 classification families and 4 segmentation models from `cnn::models`
//! against torchvision itself (fixtures from `tools/gen_zoo_fixtures.py`): the same `state_dict`
//! keys and shapes, the same parameter count, and with every tensor a function of its name on
//! both sides, the same eval-mode logits (the segmentation models' `"out"` maps, 4 classes) as
//! PyTorch's float64 run within 1e-5 relative, at 3x64x64 (Inception v3 at 3x96x96).

mod common;

use cnn::Network;

macro_rules! zoo {
    ($($test:ident: $family:ident($size:literal $(, $classes:literal)?) as $net:ident;)*) => {$(
        cnn::models::$family!(pub struct $net, input(3, $size, $size) $(, num_classes = $classes)?);

        #[test]
        fn $test() {
            let name = stringify!($family);
            seeded_parity!($net, name, &format!("zoo/{name}.safetensors"), |_| 1e-5);
        }
    )*};
}

zoo! {
    alexnet_matches_torchvision: alexnet(64) as AlexNet;
    vgg11_bn_matches_torchvision: vgg11_bn(64) as Vgg11Bn;
    resnet18_matches_torchvision: resnet18(64) as ResNet18;
    resnet34_matches_torchvision: resnet34(64) as ResNet34;
    resnet50_matches_torchvision: resnet50(64) as ResNet50;
    resnet152_matches_torchvision: resnet152(64) as ResNet152;
    resnext50_32x4d_matches_torchvision: resnext50_32x4d(64) as ResNeXt50;
    wide_resnet50_2_matches_torchvision: wide_resnet50_2(64) as WideResNet50;
    mobilenet_v2_matches_torchvision: mobilenet_v2(64) as MobileNetV2;
    mobilenet_v3_small_matches_torchvision: mobilenet_v3_small(64) as MobileNetV3Small;
    efficientnet_b0_matches_torchvision: efficientnet_b0(64) as EfficientNetB0;
    regnet_x_400mf_matches_torchvision: regnet_x_400mf(64) as RegNetX;
    regnet_y_400mf_matches_torchvision: regnet_y_400mf(64) as RegNetY;
    mnasnet0_5_matches_torchvision: mnasnet0_5(64) as MnasNet;
    shufflenet_v2_x0_5_matches_torchvision: shufflenet_v2_x0_5(64) as ShuffleNetV2;
    squeezenet1_1_matches_torchvision: squeezenet1_1(64) as SqueezeNet;
    densenet121_matches_torchvision: densenet121(64) as DenseNet121;
    densenet169_matches_torchvision: densenet169(64) as DenseNet169;
    googlenet_matches_torchvision: googlenet(64) as GoogLeNet;
    inception_v3_matches_torchvision: inception_v3(96) as InceptionV3;
    convnext_tiny_matches_torchvision: convnext_tiny(64) as ConvNeXtTiny;
    fcn_resnet50_matches_torchvision: fcn_resnet50(64, 4) as FcnResNet50;
    deeplabv3_resnet50_matches_torchvision: deeplabv3_resnet50(64, 4) as DeepLabV3ResNet50;
    deeplabv3_mobilenet_v3_large_matches_torchvision: deeplabv3_mobilenet_v3_large(64, 4) as DeepLabV3MobileNet;
    lraspp_mobilenet_v3_large_matches_torchvision: lraspp_mobilenet_v3_large(64, 4) as LrAspp;
}

/// `tools/torchvision_weights.py` refuses a model it does not know in one line that lists the
/// families this file tests, before it needs torch (skipped where there is no `python3`).
#[test]
fn the_weights_tool_names_the_families_for_an_unknown_model() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/torchvision_weights.py");
    let Ok(out) = std::process::Command::new("python3").args([script, "export", "resnet_nope", "unused"]).output()
    else {
        eprintln!("no python3: skipped");
        return;
    };
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("torchvision_weights.py: unknown model 'resnet_nope'; the families"), "{err}");
    for family in ["alexnet", "mobilenet_v3_small", "regnet_y_400mf", "densenet121", "inception_v3", "convnext_tiny"] {
        assert!(err.contains(family), "{family} in {err}");
    }
}
