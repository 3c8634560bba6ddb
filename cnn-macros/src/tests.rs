//! Tests of the whole expansion on `proc_macro2` tokens: error collection and a fuzz run that
//! feeds the macro many malformed inputs and requires an answer, never a panic.

use super::expand_net;
use proc_macro2::TokenStream;
use std::str::FromStr;

const LENET: &str = "
    /// LeNet.
    pub struct LeNet {
        input(1, 28, 28)
        conv(1, 6, k=5, p=2) relu pool(2, 2)
        conv(6, 16, k=5) relu pool(2, 2)
        flatten
        linear(400, 120) relu
        linear(120, 84) relu
        linear(84, 10)
    }";

fn run(src: &str) -> String {
    expand_net(TokenStream::from_str(src).expect("test input lexes")).to_string()
}

/// The messages of every `compile_error!` in an expansion.
fn errors(src: &str) -> Vec<String> {
    let out = expand_net(TokenStream::from_str(src).unwrap());
    let file: syn::File = syn::parse2(out).expect("the expansion is valid Rust");
    file.items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.segments.last().is_some_and(|s| s.ident == "compile_error") => {
                let lit: syn::LitStr = m.mac.parse_body().unwrap();
                Some(lit.value())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn lenet_expands_with_literal_sizes() {
    let out = run(LENET);
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("[:: core :: primitive :: f32 ; 784]"));
    assert!(out.contains("[:: core :: primitive :: f32 ; 10]"));
    assert!(out.contains("\"0.weight\""));
    assert!(out.contains("\"11.bias\""));
    assert!(out.contains("PARAM_COUNT : :: core :: primitive :: usize = 61706"));
}

#[test]
fn every_error_of_a_network_in_one_pass() {
    let errs = errors(
        "struct Net {
            input(1, 28, 28)
            conv(2, 6, k=5) relu pool(2)
            conv(6, 16, k=3, q=1)
            conv(_, 16, k=3)
            linear(_, 10)
            linear(11, 3)
        }",
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    let has = |start: &str| errs.iter().any(|e| e.starts_with(start));
    assert!(has("conv expects 2 input channels, but the previous layer outputs 1 (shape [1, 28, 28])"));
    assert!(has("unknown argument `q` for conv\nhelp: did you mean `k`?"));
    assert!(has(
        "linear needs a flat input, but the previous layer outputs [16, 8, 8]\nhelp: add `flatten` before `linear`"
    ));
    assert!(has("linear expects 11 input features, but the previous layer outputs 10 (shape [10])"));
}

#[test]
fn blocks_expand_with_nested_keys() {
    let out = run(BLOCKS);
    assert!(!out.contains("compile_error"), "{out}");
    for key in [
        "\"layer1.0.conv1.weight\"",
        "\"layer2.0.downsample.1.running_var\"",
        "\"layer2.0.0.weight\"",
        "\"fc.bias\"",
        "\"bn1.num_batches_tracked\"",
    ] {
        assert!(out.contains(key), "{key}");
    }
}

#[test]
fn block_and_layer_errors() {
    let e = errors(
        "struct Net {
            input(4, 8, 8)
            conv(4, 6, k=3, g=4)
            conv(6, 6, k=3, s=2, p=same)
            maxpool(2, p=2)
            batchnorm1d(6)
            conv(6, 8, k=1)
            relu shortcut { relu }
            relu { }
            seq
            a.0.x1: relu
            x: relu x: relu
            dropout(1.5) dropout(p=-0.1) gelu(approximate=full) softmax(dim=0)
            flatten dropout2d(0.1)
            // A residual whose sides disagree ends the checking of shapes after it.
            residual { linear(_, 8) }
            linear(_, 3u8)
        }",
    );
    let want = [
        "conv output channels 6 are not divisible by groups=4",
        "conv padding=same needs stride 1, as in PyTorch",
        "maxpool padding 2x2 is more than half the window 2x2",
        "batchnorm1d needs a flat or [channels, length] input, but the previous layer outputs [6, 3, 3]",
        "`shortcut` must follow a `residual { ... }` block",
        "`relu` is not a block",
        "`seq` needs a body",
        "x` is used twice",
        "`p` must be in [0.0, 1.0], not 1.5",
        "`p` must be in [0.0, 1.0], not -0.1",
        "`approximate` cannot be `full`",
        "softmax over dim 0, the batch of [N, 8, 3, 3]",
        "dropout2d needs a [channels, height, width] input",
        "write `3` without the `u8` suffix",
        "residual block's body outputs [8], but its input is [72]",
    ];
    for w in want {
        assert!(e.iter().any(|m| m.contains(w)), "no error containing {w:?} in {e:#?}");
    }
    assert_eq!(e.len(), want.len(), "{e:#?}");
}

#[test]
fn structural_errors() {
    assert_eq!(errors("struct Net {}")[0].lines().next().unwrap(), "network `Net` has no layers");
    assert!(errors("struct Net { input(1, 2, 2) }")[0].starts_with("network `Net` has no layers after `input`"));
    assert!(errors("struct Net { relu input(1, 2, 2) }")[0].starts_with("`input` must be the first layer"));
    assert!(errors("struct Net { relu }")[0].starts_with("network `Net` has no `input` before its first layer"));
    let e = errors("struct Net { input(1, 4, 4) a: conv(1, 1, 1) a: conv(1, 1, 1) }");
    assert!(e[0].starts_with("layer name `a` is used twice"), "{e:?}");
    assert!(errors("struct Net<T> { input(1, 2, 2) relu }")[0].contains("generic"));
}

/// `levels` nested `seq` blocks around one relu.
fn nested(levels: usize) -> String {
    format!("struct Deep {{ input(1, 2, 2) {} relu {} }}", "seq { ".repeat(levels), "} ".repeat(levels))
}

/// On a stack of rustc's size (8 MiB), nesting up to the limit expands and nesting far past it
/// is one error on the first block past the limit, not a stack overflow.
#[test]
fn deep_nesting_is_bounded() {
    let run = |levels: usize| {
        std::thread::Builder::new().stack_size(8 << 20).spawn(move || errors(&nested(levels))).unwrap().join().unwrap()
    };
    assert_eq!(run(crate::parse::MAX_DEPTH), Vec::<String>::new());
    for levels in [crate::parse::MAX_DEPTH + 1, 10_000] {
        let e = run(levels);
        let want = "blocks, `if` and `for` nest more than 256 deep here: the macro reads at most 256 levels";
        assert_eq!(e, [want], "{levels} levels");
    }
}

/// `errors(src)` on a thread with rustc's main stack (8 MiB), where the macro runs.
fn errors_on_rustc_stack(src: String) -> Vec<String> {
    std::thread::Builder::new().stack_size(8 << 20).spawn(move || errors(&src)).unwrap().join().unwrap()
}

/// `if` and `for` nest as blocks do: up to the limit they expand, past it (3,000 levels, as a
/// probe wrote) they are one error on the first construct past the limit, not a stack overflow;
/// an `else if` chain counts a level per link.
#[test]
fn deep_if_and_for_nesting_is_bounded() {
    let depth = crate::parse::MAX_DEPTH;
    let ifs = |n: usize| format!("struct D {{ input(1, 2, 2) {} relu {} }}", "if true { ".repeat(n), "} ".repeat(n));
    let fors =
        |n: usize| format!("struct D {{ input(1, 2, 2) {} relu {} }}", "for _ in 0..1 { ".repeat(n), "} ".repeat(n));
    let mixed = |n: usize| {
        format!(
            "struct D {{ input(1, 2, 2) {} relu {} }}",
            "if true { seq { for _ in 0..1 { ".repeat(n),
            "} } } ".repeat(n)
        )
    };
    assert_eq!(errors_on_rustc_stack(ifs(depth - 1)), Vec::<String>::new());
    let want = ["blocks, `if` and `for` nest more than 256 deep here: the macro reads at most 256 levels"];
    for src in [ifs(3000), fors(3000), mixed(1000), ifs(depth + 1)] {
        assert_eq!(errors_on_rustc_stack(src), want);
    }
    let chain = |n: usize| {
        format!(
            "struct D {{ input(1, 2, 2) if false {{ relu }} {} else {{ relu }} }}",
            "else if false { relu } ".repeat(n)
        )
    };
    assert_eq!(errors_on_rustc_stack(chain(10)), Vec::<String>::new());
    assert_eq!(errors_on_rustc_stack(chain(5000)), want);
}

/// A flat expression of 20,000 terms, a condition of 50,000 `&&` terms and parentheses nested
/// 10,000 deep are each one error, not a stack overflow; 256 operators are fine.
#[test]
fn huge_expressions_are_one_error() {
    let conv = |terms: usize| format!("struct E {{ input(1, 2, 2) conv(1, 1 {}, k=1) }}", "+ 0 ".repeat(terms));
    assert_eq!(errors_on_rustc_stack(conv(crate::expr::MAX_OPERATORS)), Vec::<String>::new());
    let too_many = "this expression has more than 256 operators\nhelp: the DSL's expressions are short arithmetic \
                    on parameters and loop variables; split the computation, or write the value";
    assert_eq!(errors_on_rustc_stack(conv(20_000)), [too_many]);
    let cond = format!("struct E {{ input(1, 2, 2) if true {} {{ relu }} relu }}", "&& true ".repeat(50_000));
    assert_eq!(errors_on_rustc_stack(cond), [too_many]);
    // Parenthesized parts count toward the same total.
    let parts = format!(
        "struct E {{ input(1, 2, 2) conv(1, {}1{}, k=1) }}",
        "(0 + 0 + 0 + 0 + 0 + ".repeat(60),
        ")".repeat(60)
    );
    assert_eq!(errors_on_rustc_stack(parts), [too_many]);
    let parens = format!("struct E {{ input(1, 2, 2) conv(1, {}1{}, k=1) }}", "(".repeat(10_000), ")".repeat(10_000));
    assert_eq!(errors_on_rustc_stack(parens), ["expression nests more than 64 deep"]);
}

/// A small deterministic generator, so a failing case can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next() as usize % items.len()]
    }
}

const WORDS: &[&str] = &[
    "input",
    "block",
    "for i in 0..3",
    "if s != 1",
    " * ",
    "\"x{i}\"",
    "conv",
    "conv2d",
    "relu",
    "pool",
    "maxpool",
    "flatten",
    "linear",
    "k",
    "s",
    "p",
    "kernel_size",
    "stride",
    "padding",
    "in_channels",
    "_",
    "c1",
    "dense",
    "ReLU",
    "cat",
    "gate",
    "split",
    "sum",
    "permute",
    "layernorm",
    "layernorm2d",
    "groupnorm",
    "instancenorm",
    "scale",
    "stochastic_depth",
    "channel_shuffle",
    "conv_transpose",
    "output_padding",
    "upsample",
    "scale_factor",
    "size",
    "mode",
    "bilinear",
    "nearest",
    "align_corners",
    "pixel_shuffle",
    "pixel_unshuffle",
    "padding_mode",
    "reflect",
    "circular",
    "zeropad",
    "reflectionpad",
    "replicationpad",
    "None",
    "0.5",
    "\"a-b\"",
    "\"x.y\"",
    "0",
    "1",
    "2",
    "3",
    "5",
    "28",
    "400",
    "18446744073709551616",
    "1.5",
    "-1",
    "\"x\"",
    "'c'",
    ",",
    ":",
    "=",
    ";",
    "::",
    "<",
    ">",
    "#",
    "!",
    "(",
    ")",
    "true",
    "struct",
    "pub",
    "///",
    "residual",
    "shortcut",
    "seq",
    "{",
    "}",
    ".",
    "layer1.0",
    "a.0.1",
    "batchnorm",
    "batchnorm1d",
    "dropout",
    "dropout2d",
    "0.5",
    "same",
    "\"same\"",
    "valid",
    "g",
    "d",
    "groups",
    "bias",
    "false",
    "avgpool",
    "adaptive_avgpool",
    "global_avgpool",
    "adaptive_maxpool",
    "gelu",
    "approximate",
    "tanh",
    "softmax",
    "dim",
    "ceil_mode",
    "eps",
    "count_include_pad",
    "leaky_relu",
    "-0.5",
    "1e-3",
    "identity",
    "2u8",
    "(2, 3)",
    // Quoted and interpolated names, keys that collide, literals past their types.
    "\"layer{jj}\"",
    "\"x{i\"",
    "\"a}b\"",
    "\"{{i}}\"",
    "\"b{i + 1}\"",
    "\"x\\\"y\"",
    "r\"raw{x}\"",
    "x.weight:",
    "bn.running_mean:",
    "1e400",
    "9223372036854775807",
    "&&",
    "||",
    "else if false",
    "else",
    "for _ in 0..2",
    "if true",
];

/// Random tokens, with brackets balanced so that the input lexes.
fn random_tokens(rng: &mut Lcg, len: usize) -> String {
    let mut s = String::new();
    let mut open = Vec::new();
    for _ in 0..len {
        match rng.next() % 10 {
            0 => {
                let (o, c) = [("(", ")"), ("[", "]"), ("{", "}")][rng.next() as usize % 3];
                s += o;
                open.push(c);
            }
            1 if !open.is_empty() => s += open.pop().unwrap(),
            _ => {
                let w = rng.pick(WORDS);
                if w == "(" || w == ")" {
                    continue;
                }
                s += w;
                if w == "///" {
                    s += " doc\n";
                }
            }
        }
        s += " ";
    }
    while let Some(c) = open.pop() {
        s += c;
    }
    s
}

const MERGES: &str = "
    pub struct Merges {
        input(4, 8, 8)
        stem: conv(4, 8, k=3, p=1) bn: batchnorm(8) relu
        mix: cat { a: conv(8, 4, k=1) b: seq { conv(8, 4, k=3, p=1) silu } }
        grow: dense { norm: batchnorm(8) relu conv: conv(8, 4, k=3, p=1) }
        se: gate { adaptive_avgpool(1) fc1: conv(12, 3, k=1) relu fc2: conv(3, 12, k=1) hardsigmoid }
        \"unit-1\": seq { _: split { identity branch: conv(6, 6, k=1) } _: channel_shuffle(3) }
        paths: sum { conv(12, 12, k=1) identity }
        ln: layernorm2d(12, eps=1e-6)
        block: residual {
            body: seq { permute(0, 2, 3, 1) layernorm(12) linear(12, 24) gelu linear(24, 12) permute(0, 3, 1, 2) }
            layer_scale: scale(12, init=1e-6) stochastic_depth(0.1, mode=row)
        }
        global_avgpool flatten head: linear(12, 10)
    }";

const BLOCKS: &str = "
    pub struct Blocks {
        input(3, 16, 16)
        conv1: conv(3, 8, k=3, s=2, p=1, bias=false) bn1: batchnorm(8) relu maxpool(3, 2, p=1, ceil_mode=true)
        layer1.0: residual {
            conv1: conv(8, 8, k=3, p=same, g=2) bn1: batchnorm(8) relu6
            conv2: conv(_, 8, k=1) bn2: batchnorm(8, affine=false)
        } relu
        layer2.0: residual {
            conv(8, 16, k=3, s=2, p=1, d=1) batchnorm(16) gelu(approximate=tanh)
        } downsample: shortcut { conv(8, 16, k=1, s=2) batchnorm(16) } silu
        features: seq { seq { avgpool(2, count_include_pad=false) dropout2d(0.1) } adaptive_avgpool((2, 2)) }
        flatten dropout(0.5)
        fc: linear(64, 10) log_softmax
    }";

/// The resampling layers of dense prediction: a small U-Net.
const RESAMPLE: &str = "
    block down(cin, cout) { maxpool(2) conv(cin, cout, k=3, p=1, padding_mode=reflect) relu }
    pub struct Resample {
        input(3, 16, 16)
        stem: conv(3, 8, k=3, p=same, padding_mode=circular, bias=false) batchnorm(8) relu
        skip: cat {
            identity
            seq {
                down(8, 16)
                up: conv_transpose(16, 8, k=3, s=2, p=1, output_padding=1, g=2, d=1)
            }
        }
        zeropad(1, 0, 1, 0) reflectionpad(1) replicationpad(2, 1, 0, 1) circularpad(1)
        pixel_unshuffle(2) pixel_shuffle(2)
        upsample(scale_factor=1.5, mode=bilinear, align_corners=true)
        upsample(size=(16, 16), mode=\"nearest-exact\")
        upsample(scale_factor=(2, 1), size=None)
        head: conv(16, 3, k=1)
    }";

/// Blocks with parameters, loops, conditions and interpolated names, used from two networks.
const TEMPLATES: &str = "
    block bottleneck(cin, planes, s = 1) {
        _: residual {
            conv1: conv(cin, planes, k=1, bias=false) bn1: batchnorm(planes) relu
            conv2: conv(planes, planes, k=3, s=s, p=1, bias=false) bn2: batchnorm(planes) relu
            conv3: conv(planes, planes * 4, k=1, bias=false) bn3: batchnorm(planes * 4)
        } if s != 1 || cin != planes * 4 {
            downsample: shortcut { conv(cin, planes * 4, k=1, s=s, bias=false) batchnorm(planes * 4) }
        }
        relu
    }
    block stage(cin, planes, n, s) {
        bottleneck(cin, planes, s) for _ in 1..n { bottleneck(planes * 4, planes) }
    }
    pub struct A {
        input(3, 16, 16)
        conv1: conv(3, 8, k=3, p=1) layer1: stage(8, 4, 2, 1)
        for i in 0..2 { \"extra{i + 1}\": bottleneck(16, 4, s=2 - i % 2) }
        if 1 < 2 && !(3 == 4) { dropout(0.5 * 0.5) } else { relu }
        adaptive_avgpool(1) flatten fc: linear(16, 3)
    }
    struct B { input(8, 4, 4) stage(8, 2, 3, 2) }";

/// A valid network with some of its characters deleted, duplicated or replaced.
fn mutated(rng: &mut Lcg, src: &str) -> String {
    let mut chars: Vec<char> = src.chars().collect();
    for _ in 0..1 + rng.next() % 4 {
        let at = rng.next() as usize % chars.len();
        match rng.next() % 3 {
            0 => {
                chars.remove(at);
            }
            1 => chars.insert(at, chars[at]),
            _ => {
                let w = rng.pick(WORDS);
                for (i, c) in w.chars().enumerate() {
                    chars.insert(at + i, c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn resampling_layers_expand_without_errors() {
    assert_eq!(errors(RESAMPLE), Vec::<String>::new());
    let out = run(RESAMPLE);
    for key in ["stem.weight", "skip.1.0.1.weight", "skip.1.up.weight", "skip.1.up.bias", "head.weight"] {
        assert!(out.contains(&format!("\"{key}\"")), "{key}");
    }
}

#[test]
fn templates_expand_without_errors() {
    assert_eq!(errors(TEMPLATES), Vec::<String>::new());
    let out = run(TEMPLATES);
    for key in
        ["layer1.0.downsample.0.weight", "layer1.1.conv3.weight", "extra1.downsample.1.weight", "extra2.conv1.weight"]
    {
        assert!(out.contains(&format!("\"{key}\"")), "{key}");
    }
    assert!(!out.contains("\"extra2.downsample"), "extra2 keeps its shape: no shortcut");
}

#[test]
fn never_panics_on_malformed_input() {
    let mut rng = Lcg(0x5eed);
    let mut answered = 0;
    for case in 0..6000 {
        let src = match case % 4 {
            0 => random_tokens(&mut rng, 1 + case % 40),
            1 => format!("pub struct Net {{ {} }}", random_tokens(&mut rng, 1 + case % 40)),
            2 => mutated(&mut rng, LENET),
            3 if case % 12 == 3 => mutated(&mut rng, MERGES),
            3 if case % 12 == 7 => mutated(&mut rng, TEMPLATES),
            3 if case % 12 == 11 => mutated(&mut rng, RESAMPLE),
            _ => mutated(&mut rng, BLOCKS),
        };
        // Mutations can unbalance brackets; the compiler rejects those before a macro runs.
        let Ok(tokens) = TokenStream::from_str(&src) else { continue };
        let out =
            std::panic::catch_unwind(|| expand_net(tokens)).unwrap_or_else(|_| panic!("the macro panicked on:\n{src}"));
        let file: syn::File =
            syn::parse2(out.clone()).unwrap_or_else(|e| panic!("invalid expansion ({e}) for:\n{src}\n{out}"));
        assert!(!file.items.is_empty(), "no answer for:\n{src}");
        answered += 1;
    }
    assert!(answered > 4000, "only {answered} cases lexed");
}

/// Random nestings of `if`, `else if`, `for` and blocks around the depth limit, with operator
/// chains around the expression limit and names that interpolate, on rustc's stack: every
/// input gets an answer (an expansion or errors), never a panic or a stack overflow.
#[test]
fn never_overflows_on_deep_or_long_input() {
    let mut rng = Lcg(0xdee9);
    for case in 0..12 {
        let constructs = 160 + rng.next() as usize % 120;
        let (mut open, mut close, mut depth) = (String::new(), String::new(), 0);
        for _ in 0..constructs {
            // An `else if` is a level of its own.
            let (o, c, levels) = match rng.next() % 4 {
                0 => ("if true { ", "} ", 1),
                1 => ("for i in 0..1 { ", "} ", 1),
                2 => ("seq { ", "} ", 1),
                _ => ("if false { relu } else if true { ", "} ", 2),
            };
            open += o;
            close += c;
            depth += levels;
        }
        let terms = 200 + rng.next() as usize % 120;
        let op = ["+ 0 ", "* 1 ", "- 0 "][rng.next() as usize % 3];
        let name = ["\"n{i}\"", "\"n{jj}\"", "\"n{i\"", "n"][rng.next() as usize % 4];
        let src = format!(
            "struct Deep {{ input(2, 2, 2) {open} {name}: conv(2, 2 {}, k=1) {close} relu }}",
            op.repeat(terms)
        );
        let e = errors_on_rustc_stack(src.clone());
        let too_deep = depth > crate::parse::MAX_DEPTH;
        let wrong = too_deep || terms > crate::expr::MAX_OPERATORS || name == "\"n{jj}\"" || name == "\"n{i\"";
        let what = format!("case {case} (depth {depth}, {terms} terms, {name})");
        if wrong {
            // One error per mistake: the depth, the expression and the name are three.
            assert!(!e.is_empty() && e.len() <= 3, "{what}: {e:?}");
        } else {
            assert!(e.is_empty(), "{what}: {e:?}");
        }
    }
}

/// torchvision's largest networks here expand well within the token budget, and a network of
/// 6,000 `relu`s (1.89 million tokens; 20,000 ran rustc out of memory at 8 GB) is one error on
/// its name instead.
#[test]
fn expansion_size_is_bounded() {
    for family in ["densenet169", "resnet152", "inception_v3"] {
        let out = crate::models::expand(family, TokenStream::from_str("pub struct N, input(3, 224, 224)").unwrap());
        let n = crate::size::tokens(&out);
        println!("{family}: {n} tokens");
        assert!(n < crate::size::MAX_TOKENS / 2, "{family}: {n} tokens");
        assert!(!out.to_string().contains("compile_error"), "{family}");
    }
    let src = format!("struct Big {{ input(1, 4, 4) {} }}", "relu ".repeat(6_000));
    let e = errors(&src);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("network `Big` expands to ") && e[0].contains("(6000 layers)"), "{e:?}");
}

/// A residual whose sides disagree is one error, in a loop around it (a ResNet stage that
/// forgot its first block's shortcut) and whatever the next layer expects.
#[test]
fn a_residual_mismatch_is_one_error() {
    for src in [
        "struct N { input(64, 8, 8) for i in 0..3 { residual { conv(64, 32, k=1) } } conv(32, 8, k=1) }",
        "struct N { input(64, 8, 8) residual { conv(64, 32, k=1) } conv(64, 8, k=1) }",
        "struct N { input(64, 8, 8) residual { conv(64, 32, k=1) } conv(32, 8, k=1) }",
    ] {
        assert_eq!(errors(src).len(), 1, "{src}: {:?}", errors(src));
    }
}

/// A bad name inside a loop is one mistake, found on every turn: one error (the same message
/// on the same token is said once, and a bad segment once whatever value the turn gives it).
#[test]
fn a_bad_name_in_a_loop_is_one_error() {
    for src in [
        "struct N { input(1, 2, 2) for i in 0..3 { \"x{jj}\": relu } }",
        "struct N { input(1, 2, 2) for i in 0..3 { \"x{i\": relu } }",
        "struct N { input(1, 2, 2) for i in 0..3 { \"x{i}.\": relu } }",
        "struct N { input(1, 2, 2) for i in 0..3 { \"a{i}\\\"}; panic!(); //\": relu } }",
    ] {
        let e = errors(src);
        assert_eq!(e.len(), 1, "{src}: {e:?}");
        assert!(!e[0].contains('#'), "an internal stand-in leaks: {e:?}");
    }
}

/// The two norms as the issue that added them spells them, `groupnorm(groups, channels,
/// eps=1e-5, affine=true)` and `instancenorm(channels, eps=1e-5, momentum=0.1, affine=false,
/// track_running_stats=false)`, with those names, and with PyTorch's (`num_groups`,
/// `num_channels`, `num_features`): no error.
#[test]
fn group_and_instance_norm_take_the_issues_and_pytorchs_names() {
    let src = "struct N { input(4, 5, 5) \
        groupnorm(groups=2, channels=4, eps=1e-5, affine=true) \
        instancenorm(channels=4, eps=1e-5, momentum=0.1, affine=false, track_running_stats=false) \
        groupnorm(num_groups=2, num_channels=4) instancenorm(num_features=4) \
        groupnorm(2, 4) instancenorm(4) flatten linear(_, 3) }";
    assert_eq!(errors(src), Vec::<String>::new());
    assert_eq!(errors("struct N { input(4, 5, 5) groupnorm(groups=3, channels=4) flatten linear(_, 3) }").len(), 1);
}
