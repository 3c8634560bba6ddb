//! Outputs of `cnn!` networks against PyTorch, from fixtures that `tools/gen_fixtures.py` wrote:
//! each net loads PyTorch's `state_dict` file and must reproduce PyTorch's outputs (computed in
//! float64 from the same float32 weights) within 1e-5 relative error, measured as
//! `max |ours - torch| / max |torch|` over a batch.

use cnn::nets::LeNet;
use cnn::prelude::*;
use safetensors::SafeTensors;
use std::path::PathBuf;

cnn! {
    pub struct Tuples {
        input(3, 17, 13)
        conv(3, 5, k=(3, 5), s=(2, 1), p=(1, 2)) relu
        pool(3)
        conv(_, 7, 2)
        flatten
        linear(_, 9)
    }
}

cnn! {
    pub struct Named {
        input(2, 9, 11)
        c1: conv(2, 4, kernel_size=3, stride=2, padding=1) act: relu
        p1: maxpool(2, 1)
        c2: conv(in_channels=4, out_channels=3, kernel_size=(2, 3))
        flatten
        fc: linear(_, 5) relu
        out: linear(5, 3)
    }
}

cnn! {
    pub struct Pointwise {
        input(4, 8, 8)
        conv(4, 8, k=1) relu
        pool(3, 2)
        conv(8, 6, 3, 1, 1) relu
        pool((2, 3), (1, 2))
        flatten
        linear(_, 10)
    }
}

cnn! {
    pub struct ConvOut {
        input(2, 7, 7)
        conv(2, 3, k=3, s=2) relu
        conv(_, 2, k=(1, 2), p=(0, 1))
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `input` and `output` of a fixture, as f32 vectors with their shapes.
fn io(name: &str) -> (Vec<usize>, Vec<f32>, Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(fixture(&format!("{name}.io.safetensors"))).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let read = |key: &str| {
        let t = file.tensor(key).unwrap();
        let data = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        (t.shape().to_vec(), data)
    };
    let (xs, x) = read("input");
    let (ys, y) = read("output");
    (xs, x, ys, y)
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    let rel = err / scale;
    println!("{name}: max relative error {rel:.2e}");
    assert!(rel <= 1e-5, "{name}: relative error {rel:e} (max abs error {err:e}, output scale {scale:e})");
}

macro_rules! parity {
    ($test:ident, $net:ident, $name:literal) => {
        #[test]
        fn $test() {
            let mut net = $net::new(0);
            net.load_safetensors(fixture(concat!($name, ".safetensors"))).unwrap();
            let (x_shape, x, y_shape, y) = io($name);
            assert_eq!(&x_shape[1..], &$net::INPUT_SHAPE);
            assert_eq!(&y_shape[1..], $net::OUTPUT_SHAPE);
            let xs: Vec<[f32; $net::INPUT_LEN]> = x.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
            let ys = net.forward_batch(&xs);
            assert_close($name, ys.as_flattened(), &y);
            for (x, y) in xs.iter().zip(&ys) {
                assert_eq!(&net.forward(x), y, "one sample alone gives the batch's answer");
            }
        }
    };
}

parity!(lenet_matches_pytorch, LeNet, "lenet");
parity!(tuple_kernel_stride_padding_match_pytorch, Tuples, "tuples");
parity!(named_layers_match_pytorch, Named, "named");
parity!(pointwise_and_overlapping_pools_match_pytorch, Pointwise, "pointwise");
parity!(conv_output_matches_pytorch, ConvOut, "convout");

#[test]
fn state_dict_names_match_pytorch() {
    let names = |net: &[cnn::ParamSpec]| net.iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(names(Named::PARAMS), ["c1.weight", "c1.bias", "c2.weight", "c2.bias", "fc.weight", "fc.bias", "out.weight", "out.bias"]);
    assert_eq!(names(LeNet::PARAMS), ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias", "11.weight", "11.bias"]);
}

#[test]
fn wrong_file_is_refused_and_changes_nothing() {
    let mut net = Tuples::new(1);
    let before = net.clone();
    let err = net.load_safetensors(fixture("pointwise.safetensors")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: missing tensors: 5.weight, 5.bias; unexpected tensors: 7.bias, 7.weight", fixture("pointwise.safetensors").display())
    );
    assert_eq!(net.flat_params(), before.flat_params());
}
