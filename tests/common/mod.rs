//! Helpers the integration tests share: fixture files written by `tools/`, error measures, and
//! the seeded weights that `tools/gen_layer_fixtures.py` generates the same way for networks
//! whose weights would make too large a file.
#![allow(dead_code)]

pub mod gradcheck;

use safetensors::SafeTensors;
use std::path::PathBuf;

/// A small deterministic generator (a 32-bit linear congruential one, the top 24 bits): the
/// tests' inputs, the same on every machine.
pub fn lcg(seed: u32) -> impl FnMut() -> u32 {
    let mut s = seed;
    move || {
        s = s.wrapping_mul(1664525).wrapping_add(1013904223);
        s >> 8
    }
}

/// `n` values in `[-1, 1)` from [`lcg`].
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut next = lcg(seed);
    (0..n).map(|_| next() as f32 / (1u32 << 23) as f32 - 1.0).collect()
}

/// `nn.Conv2d` (one group, no dilation) on one `[c, h, w]` sample with plain loops in f64:
/// `co` output channels, kernel `k`, stride `s`, padding `pd`. Returns the output and its shape.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_f64(
    x: &[f64],
    (c, h, w): (usize, usize, usize),
    wt: &[f64],
    b: &[f64],
    co: usize,
    k: (usize, usize),
    s: (usize, usize),
    pd: (usize, usize),
) -> (Vec<f64>, (usize, usize, usize)) {
    let ho = (h + 2 * pd.0 - k.0) / s.0 + 1;
    let wo = (w + 2 * pd.1 - k.1) / s.1 + 1;
    let mut y = vec![0.0; co * ho * wo];
    for o in 0..co {
        for i in 0..ho {
            for j in 0..wo {
                let mut acc = b[o];
                for ci in 0..c {
                    for a in 0..k.0 {
                        for bb in 0..k.1 {
                            let (ih, iw) =
                                ((i * s.0 + a) as isize - pd.0 as isize, (j * s.1 + bb) as isize - pd.1 as isize);
                            if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                                acc += x[(ci * h + ih as usize) * w + iw as usize]
                                    * wt[((o * c + ci) * k.0 + a) * k.1 + bb];
                            }
                        }
                    }
                }
                y[(o * ho + i) * wo + j] = acc;
            }
        }
    }
    (y, (co, ho, wo))
}

/// `nn.Linear` on one sample with plain loops in f64 (`wt` is `[out, in]`).
pub fn linear_f64(x: &[f64], wt: &[f64], b: &[f64]) -> Vec<f64> {
    b.iter()
        .enumerate()
        .map(|(o, bo)| bo + x.iter().enumerate().map(|(i, xi)| xi * wt[o * x.len() + i]).sum::<f64>())
        .collect()
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The tensors of a fixture file.
pub struct Fixture(Vec<u8>);

impl Fixture {
    pub fn open(file: &str) -> Self {
        Fixture(std::fs::read(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}")))
    }

    pub fn has(&self, key: &str) -> bool {
        SafeTensors::deserialize(&self.0).unwrap().tensor(key).is_ok()
    }

    /// A float32 tensor's shape and values.
    pub fn f32(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let file = SafeTensors::deserialize(&self.0).unwrap();
        let t = file.tensor(key).unwrap_or_else(|_| panic!("fixture has no tensor {key}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F32, "{key}");
        (t.shape().to_vec(), t.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect())
    }

    /// A uint8 tensor read as UTF-8 text.
    pub fn text(&self, key: &str) -> String {
        let file = SafeTensors::deserialize(&self.0).unwrap();
        let t = file.tensor(key).unwrap_or_else(|_| panic!("fixture has no tensor {key}"));
        assert_eq!(t.dtype(), safetensors::Dtype::U8, "{key}");
        String::from_utf8(t.data().to_vec()).unwrap()
    }

    /// A float64 tensor's values.
    pub fn f64(&self, key: &str) -> Vec<f64> {
        let file = SafeTensors::deserialize(&self.0).unwrap();
        let t = file.tensor(key).unwrap_or_else(|_| panic!("fixture has no tensor {key}"));
        assert_eq!(t.dtype(), safetensors::Dtype::F64, "{key}");
        t.data().chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    }

    /// An int64 tensor's values.
    pub fn i64(&self, key: &str) -> Vec<i64> {
        let file = SafeTensors::deserialize(&self.0).unwrap();
        let t = file.tensor(key).unwrap_or_else(|_| panic!("fixture has no tensor {key}"));
        assert_eq!(t.dtype(), safetensors::Dtype::I64, "{key}");
        t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
    }
}

/// `max |got - want| / max |want|`.
pub fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let err = got.iter().zip(want).fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    if scale == 0.0 {
        err
    } else {
        err / scale
    }
}

/// Asserts `got` is within `tol` of `want`, relative to `want`'s largest magnitude.
#[track_caller]
pub fn assert_within(name: &str, got: &[f32], want: &[f32], tol: f32) {
    let rel = relative_error(got, want);
    println!("{name}: max relative error {rel:.2e} (bound {tol:.1e})");
    assert!(rel <= tol, "{name}: relative error {rel:e} above {tol:e}");
}

#[track_caller]
pub fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_within(name, got, want, 1e-5);
}

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a of a tensor name: the seed of its values.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Uniform values in [-1, 1) keyed by a tensor's name: element `i` is a hash of the name and `i`,
/// so Python computes the same bits (`tools/gen_layer_fixtures.py`, `seeded`).
pub fn uniform(name: &str, len: usize) -> Vec<f32> {
    let h = fnv1a(name);
    (0..len as u64).map(|i| ((mix(h ^ mix(i)) >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0).collect()
}

/// A tensor's seeded values by its name and shape: conv and linear weights uniform in
/// `±1/sqrt(fan_in)`, batch norm weights in `1 ± 0.25`, biases and running means in `±0.1`,
/// running variances in `[0.75, 1.25)`.
pub fn seeded(name: &str, shape: &[usize]) -> Vec<f32> {
    let len = shape.iter().product();
    let u = uniform(name, len);
    if name.ends_with("running_var") {
        u.iter().map(|v| 0.25 * (v + 1.0) + 0.75).collect()
    } else if name.ends_with("running_mean") || name.ends_with("bias") {
        u.iter().map(|v| 0.1 * v).collect()
    } else if shape.len() == 1 {
        u.iter().map(|v| 1.0 + 0.25 * v).collect()
    } else {
        let fan_in: usize = shape[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        u.iter().map(|v| v * bound).collect()
    }
}

/// The `state_dict` as `name [shape]` lines, sorted, as a fixture's text lists it.
#[macro_export]
macro_rules! state_dict_text {
    ($net:ident) => {{
        let params = $net::PARAMS.iter().map(|p| (p.name, p.shape.to_vec()));
        let buffers = $net::BUFFERS.iter().map(|p| (p.name, p.shape.to_vec()));
        let counters = $net::COUNTERS.iter().map(|&c| (c, Vec::new()));
        let mut lines: Vec<String> =
            params.chain(buffers).chain(counters).map(|(name, shape)| format!("{name} {shape:?}")).collect();
        lines.sort();
        lines
    }};
}

/// Fills every parameter and buffer of a network with [`seeded`] values.
#[macro_export]
macro_rules! fill_seeded {
    ($net:expr) => {{
        for p in $net.params_mut() {
            let v = common::seeded(p.name, p.shape);
            p.data.copy_from_slice(&v);
        }
        let names: Vec<&'static str> = $net.buffers().map(|b| b.name).collect();
        for name in names {
            let b = $net.buffer_mut(name).unwrap();
            let v = common::seeded(b.name, b.shape);
            b.data.copy_from_slice(&v);
        }
    }};
}

/// Checks `$net` against the fixture `$fixture` of a model whose every tensor is [`seeded`]
/// from its name on both sides (`keys`, `param_count`, `input`, float64 `output`, PyTorch's
/// float32 `output32`): the same keys, shapes and parameter count, eval outputs within
/// `$bound(PyTorch's float32 error)` relative, and one sample alone the batch's answer, bit for
/// bit (it runs on its own plan).
#[macro_export]
macro_rules! seeded_parity {
    ($net:ident, $name:expr, $fixture:expr, $bound:expr) => {{
        let (name, f) = ($name, common::Fixture::open($fixture));
        let mut want: Vec<String> = f.text("keys").lines().map(str::to_string).collect();
        want.sort();
        assert_eq!(state_dict_text!($net), want, "{name}: state_dict keys and shapes");
        assert_eq!($net::PARAM_COUNT as i64, f.i64("param_count")[0], "{name}: parameter count");

        let mut net = $net::new(0);
        fill_seeded!(net);
        let xs: Vec<[f32; $net::INPUT_LEN]> =
            f.f32("input").1.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
        let ys = net.forward_batch(&xs);
        let (want, want32) = (f.f32("output").1, f.f32("output32").1);
        let err32 = common::relative_error(&want32, &want);
        println!("{name}: PyTorch float32 {err32:.2e}");
        common::assert_within(name, ys.as_flattened(), &want, $bound(err32));
        assert_eq!(net.forward(&xs[1])[..], ys[1][..], "{name}: one sample alone");
    }};
}

/// The indices at which a large tensor is sampled: `(j · 7919) mod len` for `j < 64`.
pub fn sample_indices(len: usize) -> Vec<usize> {
    (0..len.min(64)).map(|j| (j * 7919) % len).collect()
}

/// A test that `$net`, loaded with the `$name.safetensors` state_dict, gives the eval-mode
/// outputs of `$name.io.safetensors` within 1e-5, and one sample alone the batch's answer.
#[macro_export]
macro_rules! eval_parity {
    ($test:ident, $net:ident, $name:literal) => {
        #[test]
        fn $test() {
            let mut net = $net::new(0);
            net.load_safetensors(common::fixture(concat!($name, ".safetensors"))).unwrap();
            let f = common::Fixture::open(concat!($name, ".io.safetensors"));
            let (x_shape, x) = f.f32("input");
            let (y_shape, y) = f.f32("output");
            assert_eq!(&x_shape[1..], &$net::INPUT_SHAPE);
            assert_eq!(&y_shape[1..], $net::OUTPUT_SHAPE);
            let xs: Vec<[f32; $net::INPUT_LEN]> =
                x.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
            let ys = net.forward_batch(&xs);
            common::assert_close($name, ys.as_flattened(), &y);
            for (x, y) in xs.iter().zip(&ys) {
                assert_eq!(&net.forward(x), y, "one sample alone gives the batch's answer");
            }
        }
    };
}

/// The labelled batch of a `.train` fixture as `$net`'s inputs and class indices.
#[macro_export]
macro_rules! train_batch {
    ($net:ident, $fixture:expr) => {{
        let f: &common::Fixture = $fixture;
        let xs: Vec<[f32; $net::INPUT_LEN]> =
            f.f32("input").1.chunks_exact($net::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
        let labels: Vec<usize> = f.i64("labels").into_iter().map(|l| l as usize).collect();
        (xs, labels)
    }};
}

/// One training forward pass of `$net` on `xs`, the mean cross-entropy against `labels`, and
/// the backward pass into a fresh `$grads`: `(loss, grads)`.
#[macro_export]
macro_rules! loss_and_grads {
    ($net:ident, $grads:ty, $value:expr, $xs:expr, $labels:expr) => {{
        let (net, xs, labels): (&mut $net, &[[f32; $net::INPUT_LEN]], &[usize]) = ($value, $xs, $labels);
        let logits = net.forward_train(xs).to_vec();
        let mut grad = vec![[0.0f32; $net::OUTPUT_LEN]; xs.len()];
        let loss =
            cnn::loss::softmax_cross_entropy(logits.as_flattened(), $net::OUTPUT_LEN, labels, grad.as_flattened_mut())
                .unwrap();
        let mut grads = <$grads>::new();
        net.backward(&grad, &mut grads);
        (loss, grads)
    }};
}
