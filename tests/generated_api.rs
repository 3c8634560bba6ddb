//! The generated API on small nets: constants, summary, forward against naive layer loops,
//! batch determinism, parameter access and weight files.

mod common;

use cnn::prelude::*;
use common::values;

cnn! {
    /// A small net that uses every layer kind and option.
    pub struct Mixed {
        input(3, 11, 9)
        c1: conv(3, 4, k=(3, 2), s=(2, 1), p=(1, 0)) relu
        pool(2)
        conv(_, 5, 1)
        relu
        flatten
        fc: linear(_, 7) relu
        linear(7, 3)
    }
}

cnn! {
    struct Tiny {
        input(1, 4, 4),
        relu,
        maxpool(kernel_size=3, stride=1),
    }
}

#[test]
fn constants_and_summary() {
    assert_eq!(Mixed::INPUT_SHAPE, [3, 11, 9]);
    assert_eq!(Mixed::INPUT_LEN, 297);
    assert_eq!(Mixed::OUTPUT_SHAPE, &[3]);
    assert_eq!(Mixed::OUTPUT_LEN, 3);
    // c1: 4*3*3*2 + 4 = 76; conv 1x1: 5*4 + 5 = 25; [5, 3, 4] = 60 -> fc: 60*7 + 7 = 427; 7*3 + 3 = 24.
    assert_eq!(Mixed::PARAM_COUNT, 76 + 25 + 427 + 24);
    let names: Vec<&str> = Mixed::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(names, ["c1.weight", "c1.bias", "3.weight", "3.bias", "fc.weight", "fc.bias", "8.weight", "8.bias"]);
    assert_eq!(Mixed::PARAMS[0].shape, &[4, 3, 3, 2]);
    assert_eq!(Mixed::PARAMS[4].shape, &[7, 60]);
    println!("{}", Mixed::SUMMARY);
    assert!(Mixed::SUMMARY.contains("c1  conv(3, 4, k=(3, 2), s=(2, 1), p=(1, 0))  [4, 6, 8]"), "{}", Mixed::SUMMARY);
    assert!(Mixed::SUMMARY.lines().last().unwrap().ends_with("552"));
    assert_eq!(Tiny::OUTPUT_SHAPE, &[1, 2, 2]);
    assert_eq!(Tiny::PARAM_COUNT, 0);
}

#[test]
fn init_is_deterministic_and_bounded() {
    let a = Mixed::new(1);
    assert_eq!(a.flat_params(), Mixed::new(1).flat_params());
    assert_ne!(a.flat_params(), Mixed::new(2).flat_params());
    let w = a.param("fc.weight").unwrap();
    let bound = 1.0 / 60f32.sqrt();
    assert!(w.data.iter().all(|v| v.abs() <= bound));
    assert!(w.data.iter().any(|v| v.abs() > bound * 0.9));
    let b = a.param("c1.bias").unwrap();
    assert!(b.data.iter().all(|v| v.abs() <= 1.0 / 18f32.sqrt()));
}

/// `Mixed` computed with plain loops in f64.
fn mixed_reference(net: &Mixed, x: &[f32]) -> Vec<f64> {
    let p = |n: &str| net.param(n).unwrap().data.iter().map(|&v| v as f64).collect::<Vec<f64>>();
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let conv = common::conv2d_f64;
    let relu = |v: Vec<f64>| v.into_iter().map(|x| x.max(0.0)).collect::<Vec<f64>>();
    let (y, s) = conv(&x, (3, 11, 9), &p("c1.weight"), &p("c1.bias"), 4, (3, 2), (2, 1), (1, 0));
    let y = relu(y);
    let (c, h, w) = s;
    let (ho, wo) = (h / 2, w / 2);
    let mut pooled = vec![f64::NEG_INFINITY; c * ho * wo];
    for ch in 0..c {
        for i in 0..ho {
            for j in 0..wo {
                for a in 0..2 {
                    for b in 0..2 {
                        let v = y[(ch * h + 2 * i + a) * w + 2 * j + b];
                        let slot = &mut pooled[(ch * ho + i) * wo + j];
                        *slot = slot.max(v);
                    }
                }
            }
        }
    }
    let (y, _) = conv(&pooled, (c, ho, wo), &p("3.weight"), &p("3.bias"), 5, (1, 1), (1, 1), (0, 0));
    let y = relu(y);
    let lin = common::linear_f64;
    let y = relu(lin(&y, &p("fc.weight"), &p("fc.bias")));
    lin(&y, &p("8.weight"), &p("8.bias"))
}

#[test]
fn forward_matches_plain_loops() {
    let net = Mixed::new(7);
    let xs: Vec<[f32; 297]> = (0..5).map(|i| values(297, i).try_into().unwrap()).collect();
    for x in &xs {
        let got = net.forward(x);
        let want = mixed_reference(&net, x);
        for (g, w) in got.iter().zip(&want) {
            assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn batch_equals_single_bit_for_bit_whatever_the_threads() {
    let net = Mixed::new(3);
    let xs: Vec<[f32; 297]> = (0..37).map(|i| values(297, 100 + i).try_into().unwrap()).collect();
    let single: Vec<[f32; 3]> = xs.iter().map(|x| net.forward(x)).collect();
    assert_eq!(net.forward_batch(&xs), single);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let got = pool.install(|| net.forward_batch(&xs));
        assert_eq!(got, single, "{threads} threads");
    }
    let mut ws = Workspace::new();
    let mut ys = vec![[0.0; 3]; xs.len()];
    net.forward_batch_into(&xs, &mut ys, &mut ws);
    assert_eq!(ys, single);
    let warm = ws.capacity();
    net.forward_batch_into(&xs[..10], &mut ys[..10], &mut ws);
    assert_eq!(ws.capacity(), warm, "a smaller batch reuses the workspace");
    assert!(net.forward_batch(&[]).is_empty());
}

#[test]
fn relu_first_and_pool_last() {
    let net = Tiny::new(0);
    let x: [f32; 16] = values(16, 9).try_into().unwrap();
    let y = net.forward(&x);
    for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let mut m = 0.0f32;
        for a in 0..3 {
            for b in 0..3 {
                m = m.max(x[(i + a) * 4 + j + b]);
            }
        }
        assert_eq!(y[i * 2 + j], m);
    }
}

#[test]
fn params_by_name_and_weight_files() {
    let mut net = Mixed::new(5);
    net.param_mut("8.bias").unwrap().data.copy_from_slice(&[1.0, 2.0, 3.0]);
    assert_eq!(net.param("8.bias").unwrap().data, &[1.0, 2.0, 3.0]);
    assert!(net.param("9.bias").is_none());
    assert_eq!(net.params().len(), 8);
    for p in net.params_mut() {
        assert_eq!(p.data.len(), p.shape.iter().product::<usize>());
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.safetensors");
    net.save_safetensors(&path).unwrap();
    let mut other = Mixed::new(6);
    other.load_safetensors(&path).unwrap();
    assert_eq!(other.flat_params(), net.flat_params());
    let x: [f32; 297] = values(297, 1).try_into().unwrap();
    assert_eq!(other.forward(&x), net.forward(&x));
    let copy = net.clone();
    assert_eq!(copy.flat_params(), net.flat_params());

    // Tiny's file has no tensors; loading it into Mixed names every missing one and changes nothing.
    let before = other.clone();
    let err = other.load_safetensors_bytes(&Tiny::new(0).to_safetensors_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("missing tensors: c1.weight, c1.bias, 3.weight, 3.bias, fc.weight"), "{err}");
    assert_eq!(other.flat_params(), before.flat_params());
    let err = other.load_safetensors(dir.path().join("absent.safetensors")).unwrap_err();
    assert!(err.to_string().contains("absent.safetensors"), "{err}");
    assert_eq!(format!("{:?}", net), "Mixed { params: 552, .. }");
}

cnn! {
    /// Nothing but aliases: the output is the input's memory.
    struct OnlyFlatten {
        input(2, 2, 3)
        flatten identity
    }
}

cnn! {
    /// A sum of the input with itself (`x + x`), batch norm on the input, and
    /// a layer of each kind that has no parameters.
    struct InputEdges {
        input(2, 3, 3)
        sum { identity identity }
        batchnorm(2, affine=false)
        dropout(0.5) softmax
        bn: batchnorm(2)
    }
}

#[test]
fn edge_networks_run_and_train() {
    let net = OnlyFlatten::new(0);
    let x: [f32; 12] = std::array::from_fn(|i| i as f32 - 5.5);
    assert_eq!(net.forward(&x), x);
    assert_eq!(OnlyFlatten::OUTPUT_SHAPE, &[12]);

    let mut net = InputEdges::new(0);
    let xs: Vec<[f32; 18]> = (0..3).map(|s| std::array::from_fn(|i| ((i * 7 + s * 5) % 11) as f32 / 11.0)).collect();
    // Eval mode with fresh statistics (mean 0, variance 1) and no dropout:
    // y = softmax over channels of (2x / sqrt(1 + eps)), then / sqrt(1 + eps) again.
    let y = net.forward(&xs[0]);
    let scale = 1.0 / (1.0f32 + 1e-5).sqrt();
    for p in 0..9 {
        let (a, b) = (2.0 * xs[0][p] * scale, 2.0 * xs[0][9 + p] * scale);
        let want = scale / (1.0 + (b - a).exp());
        assert!((y[p] - want).abs() < 1e-6, "{} vs {want}", y[p]);
    }
    let mut opt = Sgd::new(0.1);
    // A [2, 3, 3] output is a map: one label of 2 classes per pixel.
    let labels: Vec<usize> = (0..27).map(|i| (i * 5 % 7) % 2).collect();
    let loss = net.train_step(&xs, &labels, &mut opt);
    assert!(loss.is_finite());
    assert_eq!(net.counter("1.num_batches_tracked"), Some(1));
    assert_eq!(net.counter("bn.num_batches_tracked"), Some(1));
    assert_ne!(net.buffer("1.running_mean").unwrap().data, &[0.0, 0.0]);
}

cnn! {
    /// Layers of both direct kernels (a stride-2 layer with 32 output channels over rows 8
    /// wide; a 3x3 layer over a 16x16 map), whose packed weights are kept between calls.
    struct Packed {
        input(3, 16, 16)
        conv(3, 8, 3, p=1) relu
        conv(8, 32, 3, s=2, p=1) relu
        flatten
        linear(_, 4)
    }
}

/// Every way of changing the weights reaches the packed copies the convolutions keep: a later
/// forward equals that of a fresh network holding the same weights.
#[test]
fn changed_weights_reach_the_packed_copies() {
    let x: [f32; 768] = values(768, 3).try_into().unwrap();
    let fresh = |net: &Packed| {
        let mut other = Packed::new(99);
        other.load_safetensors_bytes(&net.to_safetensors_bytes()).unwrap();
        other.forward(&x)
    };
    let mut net = Packed::new(1);
    let first = net.forward(&x);
    assert_eq!(first, fresh(&net));
    net.param_mut("2.weight").unwrap().data[5] += 0.5;
    assert_ne!(net.forward(&x), first);
    assert_eq!(net.forward(&x), fresh(&net), "param_mut");
    net.flat_params_mut()[3] -= 0.25;
    assert_eq!(net.forward(&x), fresh(&net), "flat_params_mut");
    for p in net.params_mut() {
        p.data.iter_mut().for_each(|v| *v *= 0.5);
    }
    assert_eq!(net.forward(&x), fresh(&net), "params_mut");
    net.train_step(&[x, x], &[1, 2], &mut Sgd::new(0.1));
    assert_eq!(net.forward(&x), fresh(&net), "train_step");
    net.load_safetensors_bytes(&Packed::new(7).to_safetensors_bytes()).unwrap();
    assert_eq!(net.forward(&x), Packed::new(7).forward(&x), "load");
    let copy = net.clone();
    net.param_mut("0.weight").unwrap().data[0] = 3.0;
    assert_eq!(copy.forward(&x), Packed::new(7).forward(&x), "a clone keeps its own copies");
    assert_eq!(net.forward(&x), fresh(&net));
}

/// Networks named like primitive types (legal Rust) shadow nothing the generated code uses.
#[allow(non_camel_case_types)]
mod primitive_names {
    use cnn::cnn;

    cnn! {
        /// `Clone` and `Debug` derives are accepted: the macro implements both.
        #[derive(Clone, Debug)]
        pub struct f32 {
            input(1, 4, 4)
            conv(1, 2, k=3) relu
            flatten
            linear(8, 3)
        }
    }

    cnn! {
        pub struct usize {
            input(1, 2, 2)
            flatten
            linear(4, 2)
        }
    }
}

#[test]
fn networks_may_be_named_like_primitives() {
    let net = primitive_names::f32::new(0);
    let y: [f32; 3] = net.forward(&[0.5; 16]);
    assert!(y.iter().all(|v| v.is_finite()));
    let copy = net.clone();
    assert_eq!(copy.forward(&[0.5; 16]), y);
    assert_eq!(format!("{copy:?}"), "f32 { params: 47, .. }");
    let other = primitive_names::usize::new(1);
    assert_eq!(primitive_names::usize::PARAM_COUNT, 10);
    assert_eq!(other.forward(&[1.0; 4]).len(), 2);
}

cnn! {
    /// A 4 MiB output (one 1024 x 1024 map), as a segmentation network's.
    struct Wide {
        input(1, 1024, 1024)
        conv(1, 1, k=1)
    }
}

/// Outputs above 65536 elements come boxed from `forward`, and no call builds one on the
/// stack: on a thread with a 1 MiB stack a 4 MiB array would overflow it.
#[test]
fn large_outputs_never_pass_over_the_stack() {
    const N: usize = 1 << 20;
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            let net = Wide::new(0);
            let (w, b) = (net.param("0.weight").unwrap().data[0], net.param("0.bias").unwrap().data[0]);
            let x: Box<[f32; N]> = vec![0.5f32; N].into_boxed_slice().try_into().unwrap();
            let y: Box<[f32; N]> = net.forward(&x);
            assert!(y.iter().all(|&v| v == 0.5 * w + b));
            let mut into: Box<[f32; N]> = vec![0.0f32; N].into_boxed_slice().try_into().unwrap();
            net.forward_into(&x, &mut into);
            assert_eq!(into, y);
            let ys = net.forward_batch(std::slice::from_ref(&*x));
            assert_eq!(ys.len(), 1);
            assert_eq!(&ys[0], &*y);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// `macro_rules!` fragments reach the DSL wrapped in invisible groups (`$k:literal`,
/// `$e:expr`); they are read as if written bare, in values, pairs and names.
macro_rules! conv_net {
    ($name:ident, $k:literal, $c:expr, $i:literal) => {
        cnn! {
            struct $name {
                input(1, 8, 8)
                layer1.$i: conv(1, $c, k=($k, $k), p=(1, $i)) relu
                $i: maxpool($k)
                flatten
                head: linear(_, 3)
            }
        }
    };
}

conv_net!(FromMacro, 3, 4, 0);

#[test]
fn macro_rules_fragments_are_read_as_written() {
    let keys: Vec<&str> = FromMacro::PARAMS.iter().map(|p| p.name).collect();
    assert_eq!(keys, ["layer1.0.weight", "layer1.0.bias", "head.weight", "head.bias"]);
    assert_eq!(FromMacro::PARAMS[0].shape, &[4, 1, 3, 3]);
    assert!(
        FromMacro::SUMMARY.lines().any(|l| l.starts_with("0 ") && l.contains("maxpool(3)")),
        "{}",
        FromMacro::SUMMARY
    );
}

/// `CNN_ISA` is read when a network is made: a name it does not know, or an instruction set
/// this CPU lacks, fails there with a message that names the value and what the CPU supports.
/// (Run in a child process of this test binary, since the choice is made once per process.)
#[test]
fn a_bad_cnn_isa_fails_when_the_network_is_made() {
    const NAME: &str = "a_bad_cnn_isa_fails_when_the_network_is_made";
    if std::env::var_os("CNN_ISA_TEST_CHILD").is_some() {
        let _ = Mixed::new(0);
        return;
    }
    let run = |value: &str| {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
            .env("CNN_ISA_TEST_CHILD", "1")
            .env("CNN_ISA", value)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = run("sse9");
    assert!(!ok && err.contains("CNN_ISA=\"sse9\" names no instruction set; use avx512, avx2 or portable"), "{err}");
    for isa in cnn::Isa::ALL {
        let (ok, err) = run(isa.name());
        if isa.is_supported() {
            assert!(ok, "{isa}: {err}");
        } else {
            assert!(!ok && err.contains(&format!("CNN_ISA={isa} asks for an instruction set this CPU lacks")), "{err}");
        }
    }
}
