#!/usr/bin/env python3
"""Rerun the whole conversion of tools/torch2cnn.py and check it.

1. The hand-written PyTorch nets of tools/torch2cnn_examples/: their converted sources
   (tests/torch2cnn/NAME.rs) and the refusal of the unsupported one (tests/torch2cnn/NAME.stderr)
   must be what is committed (`--write` writes them, with their fixtures in
   tests/fixtures/torch2cnn/: the weights the converter exports, NAME.safetensors, and
   NAME.io.safetensors with an input, PyTorch's float64 eval output and the state_dict's keys).
   `cargo test --test torch2cnn` then compiles those sources and checks them against the fixtures.
2. Mistakes in the command (an --out that is a directory, a syntax error in FILE.py, an --input
   the module's forward fails on, --name Self ...): each one line, exit status 2, and no file
   written or replaced; and outputs that are symbolic links are written through.
3. With --timm (needs timm): the committed converted timm models (tests/timm/, fixtures in
   tests/fixtures/timm/, `--write-timm` writes them) must be what the converter writes, and issue
   33's timm models are converted, compiled, loaded and compared as the families below, with a
   table of the results.
4. Every torchvision family of cnn::models: converted with `--weights`, compiled together in a
   scratch crate (target/torch2cnn-check), loaded with the exported weights (strictly: a missing
   or extra key is an error) and run on a random batch, whose eval output must match PyTorch's
   float64 one within 1e-5 relative (the largest difference over the largest magnitude).

Usage: pip install torch torchvision safetensors numpy [timm] && python3 tools/test_torch2cnn.py
       [--write] [--families NAME,...|none] [--timm [NAME,...]] [--write-timm]
"""

import argparse
import copy
import re
import subprocess
from collections import OrderedDict
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
sys.path.insert(0, str(TOOLS))
import torch2cnn  # noqa: E402

# (file in tools/torch2cnn_examples, expression, struct, input C,H,W)
EXAMPLES = [
    ("cifar_resnet.py", "CifarResNet()", "CifarResNet", "3,32,32"),
    ("gated_cat.py", "GatedNet()", "GatedNet", "3,32,32"),
    ("small_unet.py", "SmallUNet()", "SmallUNet", "3,15,19"),
    ("norm_styles.py", "NormStyles()", "NormStyles", "3,12,10"),
    ("subclassed_layers.py", "SubclassedLayers()", "SubclassedLayers", "3,11,9"),
    ("unsupported.py", "EmbeddingNet()", "EmbeddingNet", "3,32,32"),
    # A line break in the expression: the written header and doc must keep it in the comment.
    ("hostile_names.py", "HostileNames(\n)", "HostileNames", "4,6,5"),
    ("lstm_head.py", "LstmHead()", "LstmHead", "3,8,8"),
    # Several returned values (an OrderedDict of pyramid levels): `output`s.
    ("tiny_fpn.py", "TinyFpn()", "TinyFpn", "3,15,19"),
]

# torchvision's constructor of each family of cnn::models, as the zoo fixtures build it.
FAMILIES = (
    "alexnet vgg11_bn resnet18 resnet34 resnet50 resnet152 resnext50_32x4d wide_resnet50_2 mobilenet_v2 "
    "mobilenet_v3_small efficientnet_b0 regnet_x_400mf regnet_y_400mf mnasnet0_5 shufflenet_v2_x0_5 "
    "squeezenet1_1 densenet121 densenet169 googlenet inception_v3 convnext_tiny"
).split()


# timm's CNNs as issue 33 lists them (`:dp` with drop_path_rate=0.1): random weights, eval mode.
TIMM = (
    "resnet18 resnet26d resnet50d resnext26ts seresnet18 ecaresnet26t res2net50_26w_4s regnetx_002 regnety_002 "
    "efficientnet_b0 efficientnet_lite0 tf_efficientnet_b0 mobilenetv2_050 mobilenetv3_small_050 mobilenetv3_large_075 "
    "mnasnet_050 mixnet_s ghostnet_050 rexnet_100 lcnet_050 hardcorenas_a tinynet_e dla34 dpn68 densenet121 vgg11 "
    "inception_v3 xception41 cspresnet50 cspdarknet53 darknet53 selecsls42b hrnet_w18_small convnext_atto convnext_nano "
    "repvgg_a0 mobileone_s0 fbnetc_100 spnasnet_100 semnasnet_050 nf_resnet26 resnet18:dp efficientvit_m0"
).split()


# timm models whose converted sources are committed (tests/timm/NAME.rs) and checked by
# `cargo test --test timm` against fixtures (tests/fixtures/timm/NAME.safetensors) with every
# tensor a function of its name: what each brings (BatchNormAct2d, a ClassifierHead, `let`/`from`
# with `narrow`, channel slices, a `flat` layer scale), at 3x32x32.
TIMM_COMMITTED = ["mobilenetv3_small_050", "rexnet_100", "ghostnet_050", "convnext_atto", "eca_nfnet_l0", "poolformer_s12"]
TIMM_SIZE = 32


def family_expr(name):
    extra = ", aux_logits=False, transform_input=False, init_weights=False" if name in ("googlenet", "inception_v3") else ""
    return f"torchvision.models.{name}(weights=None{extra})"


def timm_expr(spec):
    name, _, opt = spec.partition(":")
    return f"timm.create_model('{name}', pretrained=False{', drop_path_rate=0.1' if opt == 'dp' else ''})"


def run_converter(spec, shape, name, weights=None, out=None):
    args = [sys.executable, str(TOOLS / "torch2cnn.py"), spec, "--input", shape, "--name", name]
    if weights:
        args += ["--weights", str(weights)]
    if out:
        args += ["--out", str(out)]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def float64_output(model, x):
    """The eval output in float64, as float32; several returned values (a tuple or a dict of
    them) are each flattened per sample and joined in order, as a network's outputs struct is."""
    with torch.no_grad():
        y = copy.deepcopy(model).double().eval()(x.double())
    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, (list, tuple)):
        y = torch.cat([v.reshape(len(x), -1) for v in y], 1)
    return y.float()


def examples(write):
    src_dir, fix_dir = ROOT / "tests" / "torch2cnn", ROOT / "tests" / "fixtures" / "torch2cnn"
    src_dir.mkdir(parents=True, exist_ok=True)
    fix_dir.mkdir(parents=True, exist_ok=True)
    ok = True
    for file, expr, struct, shape in EXAMPLES:
        stem = file[:-3]
        spec = f"tools/torch2cnn_examples/{file}:{expr}"
        done = run_converter(spec, shape, struct, weights=fix_dir / f"{stem}.safetensors" if write else None)
        if done.returncode == 0:
            got, path = done.stdout, src_dir / f"{stem}.rs"
        else:
            got, path = done.stderr, src_dir / f"{stem}.stderr"
        if write:
            path.write_text(got)
            if done.returncode == 0:
                write_io(spec, shape, fix_dir / f"{stem}.io.safetensors")
            print(f"{stem}: wrote {path.relative_to(ROOT)}")
        elif not path.exists() or path.read_text() != got:
            print(f"{stem}: the converter's output differs from {path.relative_to(ROOT)}:\n{got}")
            ok = False
        else:
            print(f"{stem}: {path.relative_to(ROOT)} as committed")
    return ok


def command_errors():
    """Each mistake in a command: one line naming it, exit status 2, every file as it was."""
    import tempfile

    ok = True
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        good = d / "good.safetensors"
        good.write_bytes(b"good weights")
        (d / "dir").mkdir()
        (d / "bad.py").write_text("def f(:\n")
        conv = "nn.Sequential(nn.Conv2d(3,5,3))"
        cases = [
            ("--out a directory", conv, "3,8,8", "Net", ["--out", d / "dir", "--weights", good], "is a directory"),
            ("--out in a missing directory", conv, "3,8,8", "Net", ["--out", d / "no" / "x.rs", "--weights", good],
             "does not exist"),
            ("--weights a directory", conv, "3,8,8", "Net", ["--weights", d / "dir"], "is a directory"),
            ("a syntax error", f"{d / 'bad.py'}:f()", "3,8,8", "Net", ["--weights", good], "syntax error"),
            ("an input too small", conv, "3,2,2", "Net", ["--weights", good], "forward fails"),
            ("the wrong channels", conv, "4,8,8", "Net", ["--weights", good], "forward fails"),
            ("an input too large", conv, "3,100000,100000", "Net", ["--weights", good], "forward fails"),
            ("--name Self", conv, "3,8,8", "Self", ["--weights", good], "not a keyword"),
        ]
        for what, spec, shape, name, extra, needle in cases:
            args = [sys.executable, str(TOOLS / "torch2cnn.py"), spec, "--input", shape, "--name", name]
            done = subprocess.run(args + [str(a) for a in extra], cwd=ROOT, capture_output=True, text=True)
            lines = done.stderr.strip().splitlines()
            problem = []
            if done.returncode != 2:
                problem.append(f"exit status {done.returncode}")
            if needle not in done.stderr or (name != "Self" and len(lines) != 1):
                problem.append(f"stderr {done.stderr!r}")
            if good.read_bytes() != b"good weights" or sorted(p.name for p in d.iterdir()) != ["bad.py", "dir",
                                                                                            "good.safetensors"]:
                problem.append(f"files changed: {sorted(p.name for p in d.iterdir())}")
            print(f"command error, {what}: {'ok' if not problem else '; '.join(problem)}")
            ok &= not problem
        # Links are written through: the link stays, its target gets the file.
        (d / "target.rs").write_text("old")
        (d / "link.rs").symlink_to("target.rs")
        done = run_converter(conv, "3,8,8", "Net", out=d / "link.rs")
        linked = done.returncode == 0 and (d / "link.rs").is_symlink() and "cnn!" in (d / "target.rs").read_text()
        print(f"--out through a symbolic link: {'ok' if linked else done.stderr}")
        ok &= linked
    return ok


def load(model, path):
    """Loads a safetensors state_dict strictly. Some modules (MNASNet) read their version from
    the state_dict's metadata, which the file does not carry: it is the model's own."""
    from safetensors.torch import load_file

    state = OrderedDict(load_file(str(path)))
    state._metadata = model.state_dict()._metadata
    model.load_state_dict(state, strict=True)


def perturb_statistics(model, constants=False, strength=1.0):
    """Weights as the module initializes them, but batch norm's running statistics moved away
    from 0 and 1, so that they count in the comparison; with `constants`, every parameter of at
    most one dimension whose elements are all equal too (norm weights and biases, layer scales,
    gains: a branch scaled by 0 or 1e-6 would contribute nothing to compare). `strength` scales
    the moves (1: means ±0.2, variances and factors in [0.5, 1.5])."""
    torch.manual_seed(7)
    a, b = 0.2 * strength, 0.5 * strength
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) and mod.track_running_stats:
                mod.running_mean.uniform_(-a, a)
                mod.running_var.uniform_(1 - b, 1 + b)
        if constants:
            for p in model.parameters():
                if p.dim() <= 1 and p.numel() > 0 and bool((p == p.flatten()[0]).all()):
                    if float(p.flatten()[0]) == 0.0:
                        p.uniform_(-a, a)
                    else:
                        p.uniform_(1 - b, 1 + b)


# PyTorch's own float32 distance from float64 above which a network is too ill-conditioned at
# the perturbed statistics for the comparison to mean anything (deep EfficientNetV2s reach 0.3:
# their activations grow to 1e4 and float32 keeps few correct digits).
ILL_CONDITIONED = 1e-4


def write_io(spec, shape, path):
    torch.manual_seed(0)
    model = torch2cnn.load_module(str(ROOT / spec.split(":", 1)[0]) + ":" + spec.split(":", 1)[1])
    # The fixtures' weights are the ones the converter exported in its run above.
    weights = str(path).replace(".io.safetensors", ".safetensors")
    load(model, weights)
    perturb_statistics(model)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    model.eval()
    torch.manual_seed(21)
    x = torch.randn(2, *(int(v) for v in shape.split(",")))
    keys = "".join(f"{k} {list(v.shape)}\n" for k, v in model.state_dict().items())
    save_file(
        {
            "input": x,
            "output": float64_output(model, x).contiguous(),
            "keys": torch.tensor(list(keys.encode()), dtype=torch.uint8),
            "param_count": torch.tensor([sum(p.numel() for p in model.parameters())], dtype=torch.int64),
        },
        path,
    )


CHECK_MAIN = """\
// Written by tools/test_torch2cnn.py: each converted network, loaded and run on a batch.
use cnn::prelude::*;

{mods}

fn read(path: &str) -> Vec<f32> {{
    let bytes = std::fs::read(path).expect(path);
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}}

macro_rules! run {{
    ($net:ty, $weights:expr, $input:expr, $output:expr) => {{{{
        let mut net = <$net>::new(0);
        net.load_safetensors($weights).unwrap_or_else(|e| panic!("{{e}}"));
        let xs: Vec<[f32; <$net>::INPUT_LEN]> =
            read($input).chunks_exact(<$net>::INPUT_LEN).map(|c| c.try_into().unwrap()).collect();
        let ys = net.forward_batch(&xs);
        let bytes: Vec<u8> = ys.as_flattened().iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write($output, bytes).unwrap();
    }}}};
}}

fn main() {{
    let a: Vec<String> = std::env::args().collect();
    match a[1].as_str() {{
{arms}
        other => panic!("no family {{other}}"),
    }}
}}
"""


def families(names):
    cases = [(n, family_expr(n), "".join(p.capitalize() for p in n.split("_")), 96 if n == "inception_v3" else 64)
             for n in names]
    return check_models(cases, ROOT / "target" / "torch2cnn-check", constants=False)["ok"]


def timm_models(specs):
    """Issue 33's timm models: converted, compiled, loaded strictly and compared with PyTorch's
    float64 output within 3x PyTorch's own float32 distance (never under 1e-5 relative); a
    table of what happened to each."""
    import timm

    cases = []
    for spec in specs:
        name = spec.partition(":")[0]
        struct = "".join(p.capitalize() for p in re.split(r"[_:]", spec))
        cases.append((spec, timm_expr(spec), struct, 96 if name == "inception_v3" else 64))
    result = check_models(cases, ROOT / "target" / "torch2cnn-timm", constants=True, keep_going=True)
    print(f"\ntimm {timm.__version__}, PyTorch {torch.__version__}; random weights, eval mode, batch of 2 at 64x64 "
          "(inception_v3 96x96)\n")
    print("| model | parameters | result | relative error | PyTorch float32 |")
    print("|---|---:|---|---:|---:|")
    for spec in specs:
        row = result["rows"][spec]
        print(f"| {spec} | {row.get('params', '')} | {row['result']} | {row.get('err', '')} | {row.get('err32', '')} |")
    rows = [result["rows"][spec]["result"] for spec in specs]
    converted = sum(1 for r in rows if r.startswith("matches"))
    # A network with attention is not a CNN: its refusal, naming the attention op, is the outcome.
    attention = sum(1 for r in rows if r.startswith("refused") and "attention" in r)
    print(f"\n{converted} of {len(specs)} match, {attention} refused at attention")
    return converted + attention == len(specs)


def committed_timm(write):
    """The committed timm sources must be what the converter writes now (`write`: write them,
    and their fixtures: keys and shapes, the parameter count, an input, PyTorch's float64 output
    and its own float32 one, every tensor `seeded` from its name as tests/common/mod.rs does)."""
    from gen_layer_fixtures import fill_seeded

    src_dir, fix_dir = ROOT / "tests" / "timm", ROOT / "tests" / "fixtures" / "timm"
    src_dir.mkdir(parents=True, exist_ok=True)
    fix_dir.mkdir(parents=True, exist_ok=True)
    ok = True
    for name in TIMM_COMMITTED:
        struct = "".join(p.capitalize() for p in name.split("_"))
        done = run_converter(timm_expr(name), f"3,{TIMM_SIZE},{TIMM_SIZE}", struct)
        path = src_dir / f"{name}.rs"
        if done.returncode != 0:
            print(f"timm {name}: not converted:\n{done.stderr}")
            ok = False
            continue
        if not write:
            same = path.exists() and path.read_text() == done.stdout
            print(f"timm {name}: {path.relative_to(ROOT)} {'as committed' if same else 'DIFFERS from the converter'}")
            ok &= same
            continue
        path.write_text(done.stdout)
        model = fill_seeded(torch2cnn.load_module(timm_expr(name))).eval()
        torch.manual_seed(13)
        x = torch.randn(2, 3, TIMM_SIZE, TIMM_SIZE)
        with torch.no_grad():
            y64 = float64_output(model, x)
            y32 = model(x)
        keys = "".join(f"{k} {list(v.shape)}\n" for k, v in model.state_dict().items())
        save_file({
            "input": x.contiguous(), "output": y64.contiguous(), "output32": y32.contiguous(),
            "keys": torch.tensor(list(keys.encode()), dtype=torch.uint8),
            "param_count": torch.tensor([sum(p.numel() for p in model.parameters())], dtype=torch.int64),
        }, str(fix_dir / f"{name}.safetensors"))
        err32 = ((y32 - y64).abs().max() / y64.abs().max()).item()
        print(f"timm {name}: wrote {path.relative_to(ROOT)} and its fixture (PyTorch float32 {err32:.2e})")
    return ok


def check_models(cases, work, constants, keep_going=False):
    """Each case `(label, expression, struct, size)`: converted with `--weights`, compiled
    together in a scratch crate at `work`, loaded with the exported weights (strictly: a missing
    or extra key is an error) and run on a random batch, whose eval output is compared with
    PyTorch's float64 one. Without `keep_going`, the first case that does not convert stops it."""
    (work / "src").mkdir(parents=True, exist_ok=True)
    for old in (work / "src").glob("*.rs"):
        old.unlink()
    rows, built, ok = {}, [], True
    for label, expr, struct, size in cases:
        mod = re.sub(r"\W", "_", label)
        done = run_converter(expr, f"3,{size},{size}", struct,
                             weights=work / f"{mod}.safetensors", out=work / "src" / f"{mod}.rs")
        if done.returncode != 0:
            lines = [ln for ln in done.stderr.splitlines() if ln.startswith("torch2cnn: cannot convert")]
            first = (lines[0] if lines else done.stderr.strip().splitlines()[-1]).replace("torch2cnn: cannot convert ", "")
            rows[label] = {"result": f"refused: {first}"}
            print(f"{label}: not converted:\n{done.stderr}")
            ok = False
            if not keep_going:
                return {"ok": False, "rows": rows}
            continue
        built.append((label, mod, expr, struct, size))
    mods = "\n".join(f"mod {m};" for _, m, _, _, _ in built)
    arms = "\n".join(f'        "{m}" => run!({m}::{s}, &a[2], &a[3], &a[4]),' for _, m, _, s, _ in built)
    (work / "src" / "main.rs").write_text(CHECK_MAIN.format(mods=mods, arms=arms))
    (work / "Cargo.toml").write_text(
        '[package]\nname = "torch2cnn-check"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n'
        f'[dependencies]\ncnn = {{ path = "{ROOT}" }}\n\n[workspace]\n'
    )
    lock = ROOT / "Cargo.lock"
    if not (work / "Cargo.lock").exists():
        (work / "Cargo.lock").write_bytes(lock.read_bytes())
    build = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=work)
    if build.returncode != 0:
        print("the converted networks do not compile")
        for label, *_ in built:
            rows[label] = {"result": "does not compile"}
        return {"ok": False, "rows": rows}
    for label, mod, expr, struct, size in built:
        model = torch2cnn.load_module(expr)
        load(model, work / f"{mod}.safetensors")
        # A deep copy keeps the state dict's `_metadata` (MNASNet's loading reads its version).
        exported = copy.deepcopy(model.state_dict())
        torch.manual_seed(21)
        x = torch.randn(2, 3, size, size)
        (work / f"{mod}.in").write_bytes(x.numpy().astype("<f4").tobytes())
        # Milder statistics where the network is ill-conditioned at the full ones.
        for strength in (1.0, 0.5, 0.2):
            model.load_state_dict(exported)
            perturb_statistics(model, constants, strength)
            want = float64_output(model, x)
            with torch.no_grad():
                own = model.float().eval()(x)
            scale = want.abs().max()
            err32 = ((own - want).abs().max() / scale).item()
            if err32 <= ILL_CONDITIONED:
                break
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(work / f"{mod}.safetensors"))
        params = sum(p.numel() for p in model.parameters())
        run = subprocess.run([str(work / "target" / "release" / "torch2cnn-check"), mod,
                              str(work / f"{mod}.safetensors"), str(work / f"{mod}.in"), str(work / f"{mod}.out")],
                             capture_output=True, text=True)
        if run.returncode != 0:
            print(f"{label}: the converted net failed: {run.stderr.strip()}")
            # The panic's message (the line after `panicked at`), not the backtrace's last line.
            lines = run.stderr.strip().splitlines()
            at = next((i for i, line in enumerate(lines) if "panicked at" in line), None)
            why = lines[at + 1] if at is not None and at + 1 < len(lines) else (lines[-1] if lines else "?")
            rows[label] = {"result": f"fails: {why}", "params": params}
            ok = False
            continue
        got = torch.frombuffer(bytearray((work / f"{mod}.out").read_bytes()), dtype=torch.float32).reshape(want.shape)
        err = ((got - want).abs().max() / scale).item()
        bound = max(3 * err32, 1e-5)
        good = err <= bound
        ok &= good
        result = "matches" if good else "DIFFERS"
        if strength != 1.0:
            result += f" (statistics moved {strength}x)"
        rows[label] = {"result": result, "params": params, "err": f"{err:.1e}", "err32": f"{err32:.1e}"}
        print(f"{label}: {params} parameters, relative error {err:.2e} (PyTorch float32 {err32:.2e}) "
              f"{'ok' if good else 'TOO LARGE'}")
    return {"ok": ok, "rows": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write the examples' outputs and fixtures")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated, or `none`")
    ap.add_argument("--timm", nargs="?", const=",".join(TIMM), metavar="MODELS",
                    help="also issue 33's timm models (or the comma-separated ones given; needs `pip install timm`), "
                         "and the committed timm sources as the converter writes them")
    ap.add_argument("--write-timm", action="store_true",
                    help="write the committed timm sources (tests/timm/) and their fixtures")
    args = ap.parse_args()
    ok = examples(args.write)
    ok &= command_errors()
    names = [] if args.families == "none" else args.families.split(",")
    if names:
        ok &= families(names)
    if args.timm or args.write_timm:
        ok &= committed_timm(args.write_timm)
    if args.timm:
        ok &= timm_models(args.timm.split(","))
    print("all good" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
