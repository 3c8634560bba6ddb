//! What `tools/torch2cnn.py` wrote for the hand-written PyTorch nets of
//! `tools/torch2cnn_examples/` (regenerated and compared by `tools/test_torch2cnn.py`): each
//! converted source compiles here, has the module's `state_dict` keys and parameter count, loads
//! the weights the converter exported (strictly), and gives PyTorch's float64 eval output within
//! 1e-5; and the net the DSL cannot express is refused with the module, the op and a source line
//! that is the one in the example's file.

mod common;

use cnn::Network;
use common::{assert_within, fixture, Fixture};

#[path = "torch2cnn/cifar_resnet.rs"]
mod cifar_resnet;
#[path = "torch2cnn/gated_cat.rs"]
mod gated_cat;
#[path = "torch2cnn/hostile_names.rs"]
mod hostile_names;
#[path = "torch2cnn/norm_styles.rs"]
mod norm_styles;
#[path = "torch2cnn/small_unet.rs"]
mod small_unet;
#[path = "torch2cnn/subclassed_layers.rs"]
mod subclassed_layers;
#[path = "torch2cnn/tiny_fpn.rs"]
mod tiny_fpn;

use cifar_resnet::CifarResNet;
use gated_cat::GatedNet;
use hostile_names::HostileNames;
use norm_styles::NormStyles;
use small_unet::SmallUNet;
use subclassed_layers::SubclassedLayers;
use tiny_fpn::TinyFpn;

macro_rules! converted {
    ($test:ident, $net:ident, $name:literal) => {
        #[test]
        fn $test() {
            let f = Fixture::open(concat!("torch2cnn/", $name, ".io.safetensors"));
            let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
            want.sort();
            assert_eq!(state_dict_text!($net), want, "{}: state_dict keys and shapes", $name);
            assert_eq!($net::PARAM_COUNT as i64, f.i64("param_count")[0], "{}: parameter count", $name);

            let mut net = $net::new(0);
            net.load_safetensors(fixture(concat!("torch2cnn/", $name, ".safetensors")))
                .unwrap_or_else(|e| panic!("{}: the exported weights do not load: {e}", $name));
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                f.f32("input").1.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
            let ys = net.forward_batch(&xs);
            // Several outputs: each sample's, one after another (the fixture joins them so).
            assert_within($name, cnn::Sample::flatten(&ys), &f.f32("output").1, 1e-5);
        }
    };
}

converted!(cifar_resnet_matches_pytorch, CifarResNet, "cifar_resnet");
converted!(gated_cat_matches_pytorch, GatedNet, "gated_cat");
converted!(small_unet_matches_pytorch, SmallUNet, "small_unet");
converted!(group_and_instance_norms_convert_and_match_pytorch, NormStyles, "norm_styles");
converted!(hostile_module_names_are_keys_verbatim, HostileNames, "hostile_names");
// timm's way of writing layers: subclasses with a forward of their own, a head with `pre_logits`.
converted!(subclassed_layers_convert_by_what_they_compute, SubclassedLayers, "subclassed_layers");
// A forward returning an OrderedDict of pyramid levels: one `output` per level.
converted!(several_returned_values_become_outputs, TinyFpn, "tiny_fpn");

/// Module names that are not Rust (quotes and braces that would end the string and the macro,
/// `{1+1}`, `x²`, `_`, a keyword, a tab, a direction override) are quoted names the DSL reads back verbatim: the
/// keys are PyTorch's (checked with the weights above), the file defines one network and nothing
/// else, and the line break in the echoed expression stays inside its comment.
#[test]
fn hostile_module_names_stay_inside_their_strings() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch2cnn/hostile_names.rs")).unwrap();
    assert_eq!(source.lines().filter(|l| l.starts_with("cnn!")).count(), 1, "{source}");
    assert!(!source.lines().any(|l| l.trim_start().starts_with("pub fn")), "{source}");
    assert!(source.lines().next().unwrap().contains(r"HostileNames(\u{a})"), "{source}");
    assert!(source.lines().all(|l| !l.starts_with(')')), "{source}");
    for key in [
        "x\": relu } } pub fn injected() -> u32 { 42 } cnn! { pub struct Z { input(4, 8, 8) \"y.weight",
        "layer{1+1}.running_mean",
        "a}b.conv.weight",
        "x\u{b2}.conv.bias",
        "_.weight",
        "tab\tline\u{202e}\\.weight",
    ] {
        let keys = state_dict_text!(HostileNames);
        assert!(keys.iter().any(|k| k.starts_with(&format!("{key} "))), "{key:?} in {keys:?}");
    }
}

/// A model refused at its top module is refused once: its children, never reached, are not
/// reported again as modules that forward never calls.
#[test]
fn a_refused_module_is_reported_once() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch2cnn/lstm_head.stderr")).unwrap();
    let refusals: Vec<&str> = text.lines().filter(|l| l.starts_with("torch2cnn: cannot convert")).collect();
    assert_eq!(refusals.len(), 1, "{text}");
    assert!(!text.contains("never calls"), "{text}");
    assert!(text.trim_end().ends_with("1 problem; no file written"), "{text}");
}

/// The U-Net's `Up(x, skip)`, a module called with two tensors, is traced into its caller: the
/// skip is a `dense` join and its children keep their paths (`up.up`, `up.conv`); `F.pad`,
/// `F.interpolate`, `padding_mode`, the transposed convolution, the pixel shuffle and the product
/// of two branches each have their DSL form.
#[test]
fn small_unet_is_written_with_the_dense_prediction_layers() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch2cnn/small_unet.rs")).unwrap();
    for text in [
        "up.up: conv_transpose(16, 8, k=2, s=2)",
        "replicationpad(0, 1, 0, 1)",
        "padding_mode=reflect",
        "_: mul {",
        "upsample(scale_factor=0.5, mode=bilinear)",
        "pixel_shuffle(2)",
        "up.conv: double_conv(16, 8)",
    ] {
        assert!(source.contains(text), "{text} in {source}");
    }
    assert_eq!(SmallUNet::OUTPUT_SHAPE, &[3, 14, 18]);
}

/// The converted CIFAR ResNet uses one block for the class's uses with an identity shortcut
/// (its empty `nn.Sequential`), another for those with a projection, as the module has them.
#[test]
fn cifar_resnet_is_written_with_blocks() {
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch2cnn/cifar_resnet.rs")).unwrap();
    assert!(source.contains("block basic_block("), "{source}");
    assert!(source.contains("shortcut: shortcut {"), "{source}");
    assert!(CifarResNet::SUMMARY.contains("basic_block("), "{}", CifarResNet::SUMMARY);
}

/// Each refusal names a module and an op, and its `at FILE:LINE: CODE` is that line of the file.
#[test]
fn unsupported_ops_are_refused_with_their_source_line() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/tests/torch2cnn/unsupported.stderr")).unwrap();
    let refusals: Vec<&str> = text.lines().filter(|l| l.starts_with("torch2cnn: cannot convert")).collect();
    let places: Vec<&str> = text.lines().filter_map(|l| l.trim_start().strip_prefix("at ")).collect();
    assert_eq!(refusals.len(), 2, "{text}");
    assert_eq!(places.len(), 2, "{text}");
    assert!(refusals[0].contains("`stem`") && refusals[0].contains("mode='bicubic'"), "{text}");
    assert!(refusals[1].contains("`F.normalize`"), "{text}");
    for (place, op) in places.iter().zip(["self.stem(", "F.normalize("]) {
        let (file, rest) = place.split_once(':').unwrap();
        let (line, code) = rest.split_once(": ").unwrap();
        let source = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
        let at = source.lines().nth(line.parse::<usize>().unwrap() - 1).unwrap();
        assert_eq!(at.trim(), code, "{place}: the line in {file}");
        assert!(code.contains(op), "{place} should be the line calling {op}");
    }
    assert!(text.trim_end().ends_with("no file written"), "{text}");
    assert!(!std::path::Path::new(&format!("{root}/tests/torch2cnn/unsupported.rs")).exists());
}
