//! A fixed sample of the random networks `cnn-macros` property-tests (its generator's first
//! ten draws from a fixed seed: `cargo test -p cnn-macros print_sample -- --ignored
//! --nocapture` prints them), built here for real: each network's eval-mode output equals a
//! naive f64 interpretation of the same layer list, read from the same tokens the macro got.

mod common;

use cnn::{cnn, Network};
use common::values;

/// What the check needs of a sample network.
trait Sample {
    /// The layer list as written (from `stringify!`, so the tokens the macro saw).
    const LAYERS: &'static str;
    fn build() -> Self;
    fn randomize(&mut self, seed: u32);
    fn tensor(&self, name: &str) -> Vec<f32>;
    fn run(&self, x: &[f32]) -> Vec<f32>;
}

macro_rules! samples {
    ($($name:ident { $($body:tt)* })*) => {
        $(
            cnn! {
                struct $name { $($body)* }
            }

            impl Sample for $name {
                const LAYERS: &'static str = stringify!($($body)*);
                fn build() -> Self {
                    $name::new(1)
                }
                fn randomize(&mut self, seed: u32) {
                    let p = values(Self::PARAM_COUNT, seed);
                    self.flat_params_mut().copy_from_slice(&p);
                    for spec in Self::BUFFERS {
                        // Running variances positive, means anything.
                        let v = values(spec.len(), seed + 1);
                        let v: Vec<f32> = if spec.name.ends_with("var") { v.iter().map(|x| 0.5 + x.abs()).collect() } else { v };
                        self.buffer_mut(spec.name).unwrap().data.copy_from_slice(&v);
                    }
                }
                fn tensor(&self, name: &str) -> Vec<f32> {
                    self.param(name).or_else(|| self.buffer(name)).map(|t| t.data.to_vec()).unwrap_or_else(|| panic!("no tensor {name}"))
                }
                fn run(&self, x: &[f32]) -> Vec<f32> {
                    self.forward(x.try_into().unwrap()).to_vec()
                }
            }
        )*

        #[test]
        fn sample_networks_match_a_naive_interpretation() {
            $( check::<$name>(stringify!($name)); )*
        }
    };
}

samples! {
    Sample0 {
        input(3, 4, 2)
        batchnorm(3)
        batchnorm(3)
        maxpool(2)
        relu
        tanh
        relu
        tanh
        tanh
        flatten
        linear(_, 3)
    }
    Sample1 {
        input(3, 10, 8)
        flatten
        tanh
        linear(240, 3)
        tanh
        relu
        linear(3, 4)
        tanh
        linear(_, 3)
    }
    Sample2 {
        input(1, 6, 1)
        relu
        tanh
        flatten
        linear(6, 5)
        tanh
        relu
        linear(5, 3)
        linear(_, 2)
    }
    Sample3 {
        input(2, 6, 8)
        flatten
        relu
        relu
        relu
        tanh
        linear(96, 8)
        relu
        relu
        linear(8, 4)
        linear(_, 4)
    }
    Sample4 {
        input(3, 5, 8)
        conv(_, 2, k=3, s=2, p=0)
        flatten
        linear(12, 9)
        linear(9, 8)
        relu
        relu
        tanh
        linear(_, 5)
    }
    Sample5 {
        input(2, 1, 9)
        batchnorm(2)
        conv(_, 6, k=1, s=1, p=1)
        conv(_, 6, k=1, s=1, p=1)
        batchnorm(6)
        flatten
        linear(_, 4)
    }
    Sample6 {
        input(2, 1, 2)
        tanh
        flatten
        tanh
        tanh
        tanh
        linear(4, 9)
        relu
        tanh
        relu
        linear(9, 8)
        relu
        linear(_, 3)
    }
    Sample7 {
        input(2, 6, 5)
        relu
        avgpool(2, s=1)
        batchnorm(2)
        conv(_, 2, k=3, s=1, p=0)
        flatten
        linear(_, 5)
    }
    Sample8 {
        input(1, 2, 2)
        batchnorm(1)
        batchnorm(1)
        flatten
        linear(_, 4)
    }
    Sample9 {
        input(3, 11, 2)
        batchnorm(3)
        batchnorm(3)
        flatten
        linear(_, 1)
    }
}

/// One item of a layer list: its word and its arguments (`(key, value)`, key empty for a
/// positional one).
fn parse(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut items = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let word = rest[..end].to_string();
        rest = rest[end..].trim_start();
        let mut args = Vec::new();
        if let Some(inner) = rest.strip_prefix('(') {
            let close = inner.find(')').unwrap();
            for arg in inner[..close].split(',').map(str::trim).filter(|a| !a.is_empty()) {
                match arg.split_once('=') {
                    Some((k, v)) => args.push((k.trim().to_string(), v.trim().to_string())),
                    None => args.push((String::new(), arg.to_string())),
                }
            }
            rest = inner[close + 1..].trim_start();
        }
        items.push((word, args));
    }
    items
}

fn arg(args: &[(String, String)], position: usize, key: &str, default: usize) -> usize {
    let by_key = args.iter().find(|(k, _)| !key.is_empty() && k == key);
    let v = by_key
        .map(|(_, v)| v.clone())
        .or_else(|| args.iter().filter(|(k, _)| k.is_empty()).nth(position).map(|(_, v)| v.clone()));
    v.map_or(default, |v| v.parse().unwrap())
}

/// The layer list run on `x` (`[c, h, w]`) with plain loops in f64, tensors taken by key.
fn interpret<N: Sample>(net: &N, x: &[f32], (mut c, mut h, mut w): (usize, usize, usize)) -> Vec<f64> {
    let mut a: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let items = parse(N::LAYERS);
    for (i, (word, args)) in items[1..].iter().enumerate() {
        let t = |what: &str| -> Vec<f64> { net.tensor(&format!("{i}.{what}")).iter().map(|&v| v as f64).collect() };
        match word.as_str() {
            "relu" => a.iter_mut().for_each(|v| *v = v.max(0.0)),
            "tanh" => a.iter_mut().for_each(|v| *v = v.tanh()),
            "flatten" => {}
            "batchnorm" => {
                let (g, b, m, var) = (t("weight"), t("bias"), t("running_mean"), t("running_var"));
                let plane = a.len() / c;
                for (j, v) in a.iter_mut().enumerate() {
                    let ch = j / plane;
                    *v = (*v - m[ch]) / (var[ch] + 1e-5).sqrt() * g[ch] + b[ch];
                }
            }
            "conv" => {
                let out = arg(args, 1, "", 0);
                let (k, s, p) = (arg(args, 2, "k", 0), arg(args, 3, "s", 1), arg(args, 4, "p", 0));
                let (y, shape) =
                    common::conv2d_f64(&a, (c, h, w), &t("weight"), &t("bias"), out, (k, k), (s, s), (p, p));
                (a, (c, h, w)) = (y, shape);
            }
            "maxpool" | "avgpool" => {
                let k = arg(args, 0, "k", 0);
                let s = arg(args, 1, "s", k);
                let (ho, wo) = ((h - k) / s + 1, (w - k) / s + 1);
                let mut y = vec![0.0; c * ho * wo];
                for ch in 0..c {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let window = (0..k)
                                .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
                                .map(|(ky, kx)| a[(ch * h + oy * s + ky) * w + ox * s + kx]);
                            y[(ch * ho + oy) * wo + ox] = if word == "maxpool" {
                                window.fold(f64::NEG_INFINITY, f64::max)
                            } else {
                                window.sum::<f64>() / (k * k) as f64
                            };
                        }
                    }
                }
                (a, h, w) = (y, ho, wo);
            }
            "linear" => {
                a = common::linear_f64(&a, &t("weight"), &t("bias"));
                (c, h, w) = (a.len(), 1, 1);
            }
            other => panic!("the interpreter has no `{other}`"),
        }
    }
    a
}

fn check<N: Sample>(name: &str) {
    let items = parse(N::LAYERS);
    let input = (arg(&items[0].1, 0, "", 0), arg(&items[0].1, 1, "", 0), arg(&items[0].1, 2, "", 0));
    let mut net = N::build();
    for seed in [3, 4] {
        net.randomize(seed);
        let x = values(input.0 * input.1 * input.2, seed + 10);
        let (got, want) = (net.run(&x), interpret(&net, &x, input));
        assert_eq!(got.len(), want.len(), "{name}");
        for (j, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "{name} output {j}: {g} vs {w}");
        }
    }
}
