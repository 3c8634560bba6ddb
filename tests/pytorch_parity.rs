//! `cnn!` networks against PyTorch, from fixtures that `tools/gen_fixtures.py` wrote: each net
//! loads PyTorch's `state_dict` file and must reproduce PyTorch's outputs (computed in float64
//! from the same float32 weights); and, for a labelled batch, the cross-entropy loss, every
//! parameter gradient, the input's gradient (`x.grad`), and the parameters after two SGD steps (momentum with Nesterov and weight
//! decay; momentum with dampening), three Adam steps and three AdamW steps (eps 1e-3: see
//! `tools/gen_fixtures.py` for why not the default). All within 1e-5 relative error, measured
//! per tensor as `max |ours - torch| / max |torch|`.

mod common;

use cnn::nets::LeNet;
use cnn::prelude::*;
use common::{assert_close, fixture, Fixture};

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

/// Loss, gradients and optimizer trajectories of `$net` against the `$name.train` fixture.
macro_rules! training_parity {
    ($test:ident, $net:ident, $grads:ty, $name:literal) => {
        #[test]
        fn $test() {
            let weights = fixture(concat!($name, ".safetensors"));
            let f = Fixture::open(concat!($name, ".train.safetensors"));
            let (xs, labels) = train_batch!($net, &f);

            let mut net = $net::new(0);
            net.load_safetensors(&weights).unwrap();
            let (loss, grads) = loss_and_grads!($net, $grads, &mut net, &xs, &labels);
            assert_close(concat!($name, " loss"), &[loss], &f.f32("loss").1);
            for p in grads.params() {
                assert_close(&format!("{} grad {}", $name, p.name), p.data, &f.f32(&format!("grad.{}", p.name)).1);
            }
            // The input's gradient, PyTorch's `x.grad`.
            let logits = net.forward_train(&xs).to_vec();
            let mut grad = vec![[0.0f32; $net::OUTPUT_LEN]; xs.len()];
            $net::cross_entropy(&logits, &labels, &cnn::loss::CrossEntropy::new(), &mut grad).unwrap();
            let (mut again, mut dx) = (<$grads>::new(), vec![[0.0f32; $net::INPUT_LEN]; xs.len()]);
            net.backward_to_input(&grad, &mut again, &mut dx);
            assert_close(concat!($name, " input grad"), dx.as_flattened(), &f.f32("input_grad").1);

            let trajectories: [(&str, usize, &mut dyn Optimizer); 4] = [
                ("sgd", 2, &mut Sgd::new(0.05).momentum(0.9).nesterov(true).weight_decay(0.01)),
                ("sgd_damp", 2, &mut Sgd::new(0.05).momentum(0.8).dampening(0.3).weight_decay(0.02)),
                ("adam", 3, &mut Adam::new(0.01).eps(1e-3).weight_decay(0.01)),
                ("adamw", 3, &mut AdamW::new(0.01).betas(0.8, 0.99).eps(1e-3).weight_decay(0.1)),
            ];
            for (opt_name, steps, opt) in trajectories {
                let mut net = $net::new(0);
                net.load_safetensors(&weights).unwrap();
                for _ in 0..steps {
                    net.train_step(&xs, &labels, &mut *opt);
                }
                for p in net.params() {
                    assert_close(
                        &format!("{} {opt_name} {}", $name, p.name),
                        p.data,
                        &f.f32(&format!("{opt_name}.{}", p.name)).1,
                    );
                }
            }
        }
    };
}

training_parity!(lenet_trains_like_pytorch, LeNet, cnn::nets::LeNetGrads, "lenet");
training_parity!(tuples_train_like_pytorch, Tuples, TuplesGrads, "tuples");
training_parity!(named_trains_like_pytorch, Named, NamedGrads, "named");
training_parity!(pointwise_trains_like_pytorch, Pointwise, PointwiseGrads, "pointwise");

eval_parity!(lenet_matches_pytorch, LeNet, "lenet");
eval_parity!(tuple_kernel_stride_padding_match_pytorch, Tuples, "tuples");
eval_parity!(named_layers_match_pytorch, Named, "named");
eval_parity!(pointwise_and_overlapping_pools_match_pytorch, Pointwise, "pointwise");
eval_parity!(conv_output_matches_pytorch, ConvOut, "convout");

#[test]
fn state_dict_names_match_pytorch() {
    let names = |net: &[cnn::ParamSpec]| net.iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(Named::PARAMS),
        ["c1.weight", "c1.bias", "c2.weight", "c2.bias", "fc.weight", "fc.bias", "out.weight", "out.bias"]
    );
    assert_eq!(
        names(LeNet::PARAMS),
        [
            "0.weight",
            "0.bias",
            "3.weight",
            "3.bias",
            "7.weight",
            "7.bias",
            "9.weight",
            "9.bias",
            "11.weight",
            "11.bias"
        ]
    );
}

#[test]
fn wrong_file_is_refused_and_changes_nothing() {
    let mut net = Tuples::new(1);
    let before = net.clone();
    let err = net.load_safetensors(fixture("pointwise.safetensors")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing tensors: 5.weight, 5.bias; unexpected tensors: 7.bias, 7.weight",
            fixture("pointwise.safetensors").display()
        )
    );
    assert_eq!(net.flat_params(), before.flat_params());
}
