//! Blocks with parameters, loops and conditions: the DSL of issue 15, written as the issue
//! writes it, gives torchvision's keys and parameter counts (checked against the
//! `cnn::models` families, which the zoo tests check against torchvision), and the same
//! outputs as the same network written out longhand.

mod common;

use cnn::{cnn, Network};

// The issue's text, with the `...` of ResNet-50 written out (its last two stages and head).
cnn! {
    /// torchvision's Bottleneck (expansion 4).
    block bottleneck(cin, planes, s) {
        _: residual {
            conv1: conv(cin, planes, k=1, bias=false) bn1: batchnorm(planes) relu
            conv2: conv(planes, planes, k=3, s=s, p=1, bias=false) bn2: batchnorm(planes) relu
            conv3: conv(planes, planes * 4, k=1, bias=false) bn3: batchnorm(planes * 4)
        } if s != 1 || cin != planes * 4 {
            downsample: shortcut { conv(cin, planes * 4, k=1, s=s, bias=false) batchnorm(planes * 4) }
        }
        relu
    }

    block dense_layer(cin, growth, bn_size) {
        _: dense {
            norm1: batchnorm(cin) relu1: relu conv1: conv(cin, bn_size * growth, k=1, bias=false)
            norm2: batchnorm(bn_size * growth) relu2: relu
            conv2: conv(bn_size * growth, growth, k=3, p=1, bias=false)
        }
    }

    pub struct ResNet50 {
        input(3, 224, 224)
        conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu maxpool(3, 2, p=1)
        layer1: seq { bottleneck(64, 64, 1) for _ in 1..3 { bottleneck(256, 64, 1) } }
        layer2: seq { bottleneck(256, 128, 2) for _ in 1..4 { bottleneck(512, 128, 1) } }
        layer3: seq { bottleneck(512, 256, 2) for _ in 1..6 { bottleneck(1024, 256, 1) } }
        layer4: seq { bottleneck(1024, 512, 2) for _ in 1..3 { bottleneck(2048, 512, 1) } }
        avgpool: adaptive_avgpool(1) flatten fc: linear(2048, 1000)
    }

    pub struct DenseBlockDemo {
        input(64, 56, 56)
        denseblock1: seq { for i in 0..6 { "denselayer{i + 1}": dense_layer(64 + 32 * i, 32, 4) } }
    }
}

cnn::models::resnet50!(pub struct Longhand50, input(3, 224, 224));

#[test]
fn the_issues_resnet50_has_torchvisions_keys() {
    assert_eq!(state_dict_text!(ResNet50), state_dict_text!(Longhand50));
    assert_eq!(ResNet50::PARAM_COUNT, 25_557_032, "torchvision's resnet50 parameter count");
    let names: Vec<&str> = ResNet50::PARAMS.iter().map(|p| p.name).collect();
    assert!(names.contains(&"layer1.0.conv1.weight"));
    assert!(names.contains(&"layer1.0.downsample.0.weight"));
    assert!(names.contains(&"layer2.0.downsample.1.weight"));
    assert!(!names.iter().any(|n| n.starts_with("layer1.1.downsample")), "no shortcut where the shapes agree");
}

#[test]
fn the_issues_dense_block_interpolates_names() {
    let names: Vec<&str> = DenseBlockDemo::PARAMS.iter().map(|p| p.name).collect();
    for i in 1..=6 {
        let cin = 64 + 32 * (i - 1);
        let key = format!("denseblock1.denselayer{i}.norm1.weight");
        let p = DenseBlockDemo::PARAMS.iter().find(|p| p.name == key).unwrap_or_else(|| panic!("{key} in {names:?}"));
        assert_eq!(p.shape, &[cin]);
        let conv2 = format!("denseblock1.denselayer{i}.conv2.weight");
        assert!(names.contains(&conv2.as_str()), "{conv2}");
    }
    // torchvision's `_DenseBlock(6, 64, 4, 32)`: 335,040 parameters.
    assert_eq!(DenseBlockDemo::PARAM_COUNT, 335_040);
    assert_eq!(DenseBlockDemo::OUTPUT_LEN, (64 + 6 * 32) * 56 * 56);
}

// Loops, conditions, defaults, keyword arguments, float and word parameters, nested uses, and
// the same network written out longhand.
cnn! {
    block conv_bn(cin, cout, k = 3, s = 1) {
        conv(cin, cout, k=k, s=s, p=(k - 1) / 2, bias=false) batchnorm(cout) relu
    }

    block stage(cin, cout, n, p, mode) {
        for i in 0..n {
            if i == 0 { first: conv_bn(cin, cout, s=2) } else if i % 2 == 1 { conv_bn(cout, cout) } else {
                "odd{i}": conv_bn(cout, cout, k=1)
            }
            stochastic_depth(p * i / n, mode=mode)
        }
        dropout(p)
    }

    pub struct Templated {
        input(3, 16, 12)
        stem: conv_bn(3, 8)
        for s in 1..=2 { "stage{s}": stage(8 * s, 8 * (s + 1), 3, 0.25, mode=batch) }
        adaptive_avgpool(1) flatten head: linear(24, 5)
    }

    pub struct Longhand {
        input(3, 16, 12)
        stem: seq { conv(3, 8, k=3, s=1, p=1, bias=false) batchnorm(8) relu }
        stage1: seq {
            first: seq { conv(8, 16, k=3, s=2, p=1, bias=false) batchnorm(16) relu }
            stochastic_depth(0.0, mode=batch)
            seq { conv(16, 16, k=3, p=1, bias=false) batchnorm(16) relu }
            stochastic_depth(0.08333333333333333, mode=batch)
            odd2: seq { conv(16, 16, k=1, p=0, bias=false) batchnorm(16) relu }
            stochastic_depth(0.16666666666666666, mode=batch)
            dropout(0.25)
        }
        stage2: seq {
            first: seq { conv(16, 24, k=3, s=2, p=1, bias=false) batchnorm(24) relu }
            stochastic_depth(0.0, mode=batch)
            seq { conv(24, 24, k=3, p=1, bias=false) batchnorm(24) relu }
            stochastic_depth(0.08333333333333333, mode=batch)
            odd2: seq { conv(24, 24, k=1, p=0, bias=false) batchnorm(24) relu }
            stochastic_depth(0.16666666666666666, mode=batch)
            dropout(0.25)
        }
        adaptive_avgpool(1) flatten head: linear(24, 5)
    }
}

#[test]
fn loops_and_conditions_flatten_into_the_items_around_them() {
    assert_eq!(state_dict_text!(Templated), state_dict_text!(Longhand));
    let names: Vec<&str> = Templated::PARAMS.iter().map(|p| p.name).collect();
    // Positions count on through loops and conditions: `stochastic_depth` takes 1, 3, 5.
    assert!(names.contains(&"stage1.first.0.weight"), "{names:?}");
    assert!(names.contains(&"stage1.2.0.weight"), "{names:?}");
    assert!(Templated::BUFFERS.iter().any(|b| b.name == "stage2.odd2.1.running_mean"));
}

#[test]
fn a_templated_network_computes_what_its_longhand_does() {
    let mut a = Templated::new(7);
    let mut b = Longhand::new(7);
    fill_seeded!(a);
    fill_seeded!(b);
    let x: Vec<f32> = (0..Templated::INPUT_LEN).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    let x: [f32; Templated::INPUT_LEN] = x.try_into().unwrap();
    assert_eq!(a.forward(&x)[..], b.forward(&x)[..]);
}

#[test]
fn the_summary_shows_each_use_with_its_arguments_and_expands_it_below() {
    let summary = Templated::SUMMARY;
    println!("{summary}");
    assert!(summary.contains("stem     conv_bn(3, 8, 3, 1)") || summary.contains("conv_bn(3, 8, 3, 1)"), "{summary}");
    assert!(summary.contains("stage(8, 16, 3, 0.25, batch)"), "{summary}");
    assert!(summary.contains("stage(16, 24, 3, 0.25, batch)"), "{summary}");
    // Expanded below the use, one level deeper.
    let lines: Vec<&str> = summary.lines().collect();
    let at = lines.iter().position(|l| l.contains("stage(8, 16, 3, 0.25, batch)")).unwrap();
    assert!(lines[at + 1].contains("stage1.first") && lines[at + 1].contains("conv_bn(8, 16, 3, 2)"), "{summary}");
    assert!(lines[at + 2].contains("stage1.first.0") && lines[at + 2].contains("    conv(8, 16"), "{summary}");
}

// `DESIGN.md`'s example of a block.
cnn! {
    /// torchvision's BasicBlock, written once.
    block basic(cin, cout, s) {
        _: residual {
            conv1: conv(cin, cout, k=3, s=s, p=1, bias=false) bn1: batchnorm(cout) relu
            conv2: conv(cout, cout, k=3, p=1, bias=false) bn2: batchnorm(cout)
        } if s != 1 || cin != cout {
            downsample: shortcut { conv(cin, cout, k=1, s=s, bias=false) batchnorm(cout) }
        }
        relu
    }

    pub struct ResNetStart {
        input(3, 64, 64)
        conv1: conv(3, 64, k=7, s=2, p=3, bias=false) bn1: batchnorm(64) relu maxpool(3, 2, p=1)
        layer1: seq { for _ in 0..2 { basic(64, 64, 1) } }
        layer2: seq { basic(64, 128, 2) basic(128, 128, 1) }
        global_avgpool flatten
        fc: linear(128, 10)
    }
}

cnn::models::resnet18!(pub struct ResNet18, input(3, 64, 64), num_classes = 10);

#[test]
fn the_design_notes_block_gives_resnet18s_first_stages() {
    let ours = state_dict_text!(ResNetStart);
    let theirs = state_dict_text!(ResNet18);
    for line in &ours {
        let key = line.split(' ').next().unwrap();
        if key.starts_with("fc.") {
            continue;
        }
        assert!(theirs.contains(line), "{line} is not in torchvision's resnet18");
    }
    assert!(ours.iter().any(|l| l.starts_with("layer2.0.downsample.1.running_var ")));
    assert!(!ours.iter().any(|l| l.starts_with("layer1.0.downsample")));
}
