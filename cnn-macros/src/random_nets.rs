//! Property test: random valid networks (random layer lists over small shapes) expand into
//! valid Rust without a single `compile_error!`. The networks are built from raw random numbers
//! by a builder that keeps every layer valid for the shape it receives, so shrinking a failure
//! shrinks the numbers and still yields a valid network. `tests/random_nets.rs` of the `cnn`
//! crate builds a fixed sample of this generator's networks and checks their outputs against
//! naive loops.

use super::expand_net;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::str::FromStr;

/// One layer's raw random numbers: what kind, and three numbers the kind makes its options of.
type Choice = (u8, u8, u8, u8);

/// The DSL text of the network the choices describe, ending in `linear(_, classes)`.
pub fn network(name: &str, (c, h, w): (usize, usize, usize), choices: &[Choice], classes: usize) -> String {
    let mut text = format!("struct {name} {{\n    input({c}, {h}, {w})\n");
    // `Some((c, h, w))` while spatial, `None` after `flatten`.
    let mut shape = Some((c, h, w));
    let mut features = 0;
    for &(kind, a, b, d) in choices {
        let line = match shape {
            Some((c, h, w)) => match kind % 8 {
                0 | 1 => {
                    let out = 1 + a as usize % 6;
                    let p = d as usize / 2 % 2;
                    let k = (1 + b as usize % 3).min(h + 2 * p).min(w + 2 * p);
                    let s = 1 + d as usize % 2;
                    let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
                    shape = Some((out, ho, wo));
                    let c_in = if a % 2 == 0 { c.to_string() } else { "_".into() };
                    format!("conv({c_in}, {out}, k={k}, s={s}, p={p})")
                }
                2 => "relu".into(),
                3 if h >= 2 && w >= 2 => {
                    shape = Some((c, h / 2, w / 2));
                    "maxpool(2)".into()
                }
                4 if h >= 2 && w >= 2 => {
                    shape = Some((c, h - 1, w - 1));
                    "avgpool(2, s=1)".into()
                }
                3 | 4 => "tanh".into(),
                5 | 6 => format!("batchnorm({c})"),
                _ => {
                    shape = None;
                    features = c * h * w;
                    "flatten".into()
                }
            },
            None => match kind % 3 {
                0 => {
                    let out = 1 + a as usize % 9;
                    let line = format!("linear({features}, {out})");
                    features = out;
                    line
                }
                1 => "relu".into(),
                _ => "tanh".into(),
            },
        };
        text += &format!("    {line}\n");
    }
    if shape.is_some() {
        text += "    flatten\n";
    }
    text + &format!("    linear(_, {classes})\n}}")
}

/// The DSL text of a network that joins branches: each choice adds a layer of [`network`]'s
/// kinds or a block (`cat`, `sum`, `dense`, `gate`, `split` with `channel_shuffle`, a ConvNeXt
/// style `residual` with `permute`, `layernorm`, per-pixel `linear` and `scale`), under names
/// that may be strings or `_`.
pub fn network_with_merges(name: &str, (c, h, w): (usize, usize, usize), choices: &[Choice], classes: usize) -> String {
    let mut text = format!("struct {name} {{\n    input({c}, {h}, {w})\n");
    let mut c = c;
    for (i, &(kind, a, b, d)) in choices.iter().enumerate() {
        let (x, y) = (1 + a as usize % 4, 1 + b as usize % 4);
        // A string name or a position; `_` appears where it is valid: inside a unit whose
        // other items are named apart from its chunks' branches, and on a layer without
        // parameters.
        let name = if d % 2 == 0 { format!("\"b-{i}\": ") } else { String::new() };
        let line = match kind % 9 {
            0 => {
                let line = format!("{name}cat {{ conv({c}, {x}, k=1) seq {{ conv(_, {y}, k=3, p=1) relu }} }}");
                c = x + y;
                line
            }
            1 => format!("{name}sum {{ identity conv({c}, {c}, k=3, p=1) seq {{ conv({c}, {c}, k=1) batchnorm({c}) }} }}"),
            2 => {
                let line = format!("{name}dense {{ batchnorm({c}) relu conv({c}, {x}, k=3, p=1) }}");
                c += x;
                line
            }
            3 => format!("{name}gate {{ adaptive_avgpool(1) conv({c}, {x}, k=1) relu conv({x}, {c}, k=1) sigmoid }}"),
            4 => format!("{name}gate {{ conv({c}, {c}, k=3, p=1, g={c}) hardsigmoid }}"),
            5 => {
                // A 1x1 convolution to an even channel count, then a ShuffleNet unit.
                c = 2 * x;
                format!("conv(_, {c}, k=1) {name}seq {{ _: split {{ identity conv({x}, {x}, k=1) }} _: channel_shuffle(2) }} _: relu")
            }
            6 => format!(
                "{name}residual {{ seq {{ permute(0, 2, 3, 1) layernorm({c}) linear({c}, {y}) gelu linear({y}, {c}) permute(0, 3, 1, 2) }} scale({c}, init=0.5) stochastic_depth(0.1) }}"
            ),
            7 => format!("{name}layernorm2d({c})"),
            _ => {
                let line = format!("{name}conv({c}, {x}, k=1) relu");
                c = x;
                line
            }
        };
        text += &format!("    {line}\n");
    }
    text + &format!("    global_avgpool flatten linear(_, {classes})\n}}")
}

/// The DSL text of a network of dense prediction's resampling layers: each choice adds a
/// transposed convolution, a convolution with a padding mode, an upsampling, a pixel shuffle
/// or unshuffle, or a padding layer, each with options valid for the shape it receives.
pub fn network_resampling(name: &str, (c, h, w): (usize, usize, usize), choices: &[Choice], classes: usize) -> String {
    let mut text = format!("struct {name} {{\n    input({c}, {h}, {w})\n");
    let (mut c, mut h, mut w) = (c, h, w);
    for &(kind, a, b, d) in choices {
        let (x, k, s) = (1 + a as usize % 4, 1 + b as usize % 3, 1 + d as usize % 2);
        let line = match kind % 6 {
            0 if h * s < 40 && w * s < 40 => {
                // conv_transpose(c, x, k, s, p, output_padding) with p < k and op < s.
                let p = (d as usize / 2) % k;
                let op = (a as usize / 4) % s;
                let grow = |l: usize| (l - 1) * s + k + op;
                if grow(h) <= 2 * p || grow(w) <= 2 * p {
                    continue;
                }
                (h, w) = (grow(h) - 2 * p, grow(w) - 2 * p);
                let line = format!("conv_transpose({c}, {x}, k={k}, s={s}, p={p}, output_padding={op})");
                c = x;
                line
            }
            1 => {
                // 'same' pads 1 on each side: reflection needs 2 pixels to mirror.
                let mode = match ["zeros", "reflect", "replicate", "circular"][b as usize % 4] {
                    "reflect" if h < 2 || w < 2 => "zeros",
                    mode => mode,
                };
                let line = format!("conv({c}, {x}, k=3, p=same, padding_mode={mode}) relu");
                c = x;
                line
            }
            2 if h * 2 < 40 && w * 2 < 40 => {
                let mode = ["nearest", "\"nearest-exact\"", "bilinear"][b as usize % 3];
                let align = if mode == "bilinear" && d % 2 == 0 { ", align_corners=true" } else { "" };
                if a % 2 == 0 {
                    (h, w) = (h * 2, w * 2);
                    format!("upsample(scale_factor=2, mode={mode}{align})")
                } else {
                    (h, w) = (h + 1 + a as usize % 5, w + 1);
                    format!("upsample(size=({h}, {w}), mode={mode}{align})")
                }
            }
            3 if h % 2 == 0 && w % 2 == 0 => {
                c *= 4;
                (h, w) = (h / 2, w / 2);
                "pixel_unshuffle(2)".into()
            }
            3 if c % 4 == 0 => {
                c /= 4;
                (h, w) = (h * 2, w * 2);
                "pixel_shuffle(2)".into()
            }
            4 if h > 1 && w > 1 => {
                let kind = ["zeropad", "reflectionpad", "replicationpad"][b as usize % 3];
                h += 2;
                w += 2;
                format!("{kind}(1)")
            }
            _ => {
                let line = format!("conv({c}, {x}, k=1) relu");
                c = x;
                line
            }
        };
        text += &format!("    {line}\n");
    }
    text + &format!("    global_avgpool flatten linear(_, {classes})\n}}")
}

/// `src` (one layer a line, as [`network`] writes it) with layers dressed, as `seed` picks, in
/// the DSL's other surfaces, none changing what the network computes: a loop of one turn whose
/// variable is interpolated into a quoted name (with `{{`/`}}` braces and a quote) and into the
/// layer's numbers as an expression, a condition of `&&` and `||`, both nested.
pub fn dressed(src: &str, seed: u64) -> String {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut out = String::new();
    for (n, line) in src.lines().enumerate() {
        let layer = line.trim();
        if !line.starts_with("    ") || layer.starts_with("input(") {
            out += line;
            out += "\n";
            continue;
        }
        let dressed = match next() % 4 {
            0 => {
                // Every integer becomes `(v + i - n)` with the loop at `i = n`.
                let numbers = layer.split_inclusive(|c: char| !c.is_ascii_digit()).map(|piece| {
                    let digits = piece.trim_end_matches(|c: char| !c.is_ascii_digit());
                    let rest = &piece[digits.len()..];
                    if digits.is_empty() || piece.starts_with(|c: char| !c.is_ascii_digit()) {
                        piece.to_string()
                    } else {
                        format!("({digits} + i - {n}){rest}")
                    }
                });
                let layer: String = numbers.collect();
                format!("for i in {n}..{} {{ \"l{{i}}-{{{{x}}}}\\\"q\": {layer} }}", n + 1)
            }
            1 => format!("if {n} < {} && (false || {} * 2 == {}) {{ {layer} }} else {{ relu }}", n + 1, n, 2 * n),
            2 => format!("if !(1 > 2) {{ for _ in 0..1 {{ {layer} }} }}"),
            _ => layer.to_string(),
        };
        out += &format!("    {dressed}\n");
    }
    out
}

fn choices() -> impl Strategy<Value = ((usize, usize, usize), Vec<Choice>, usize)> {
    ((1usize..4, 1usize..12, 1usize..12), prop::collection::vec(any::<Choice>(), 0..12), 1usize..6)
}

#[test]
fn random_valid_networks_expand_without_errors() {
    let mut runner = TestRunner::new(Config { cases: 48, failure_persistence: None, ..Config::default() });
    runner
        .run(&choices(), |(input, layers, classes)| {
            let seed = layers.iter().fold(input.0 as u64, |h, &(a, b, c, d)| h * 31 + u64::from(a ^ b ^ c ^ d));
            for src in [
                network("Net", input, &layers, classes),
                dressed(&network("Net", input, &layers, classes), seed),
                network_with_merges("Net", input, &layers, classes),
                network_resampling("Net", input, &layers, classes),
            ] {
                let out = expand_net(proc_macro2::TokenStream::from_str(&src).expect("the network lexes"));
                let text = out.to_string();
                prop_assert!(!text.contains("compile_error"), "{src}\n{text}");
                prop_assert!(syn::parse2::<syn::File>(out).is_ok(), "{src}");
            }
            Ok(())
        })
        .unwrap();
}

/// Prints a fixed sample of networks (the generator's first draws from a fixed seed), as
/// `tests/random_nets.rs` holds them: `cargo test -p cnn-macros print_sample -- --ignored --nocapture`.
#[test]
#[ignore]
fn print_sample() {
    let mut runner = TestRunner::deterministic();
    for i in 0..10 {
        let (input, layers, classes) = choices().new_tree(&mut runner).unwrap().current();
        println!("{}\n", network(&format!("Sample{i}"), input, &layers, classes));
    }
}

/// A dressed network is the same network: its parameter count is the plain one's.
#[test]
fn dressing_keeps_the_network() {
    let src = "struct Net {\n    input(2, 6, 6)\n    conv(2, 3, k=3, s=1, p=1)\n    relu\n    maxpool(2)\n    flatten\n    linear(_, 4)\n}";
    let count = |src: &str| {
        let out = expand_net(proc_macro2::TokenStream::from_str(src).expect("lexes")).to_string();
        assert!(!out.contains("compile_error"), "{src}\n{out}");
        // `PARAM_COUNT : :: core :: primitive :: usize = 169 ;`
        let at = out.find("PARAM_COUNT").expect("a parameter count");
        out[at..].split(" = ").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_string)
    };
    let plain = count(src);
    assert_eq!(plain.as_deref(), Some("169"));
    for seed in 0..16 {
        let dressed = dressed(src, seed);
        assert_eq!(count(&dressed), plain, "{dressed}");
    }
}
