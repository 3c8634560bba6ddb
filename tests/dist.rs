//! Data-parallel training over MPI (`--features mpi`): run by `cargo test`, this binary
//! launches itself under `mpirun` as 1, 2 and 3 processes and checks that
//!
//! - the weights, running statistics and losses after SGD-with-momentum steps and after Adam
//!   steps of a network with batch norm, a residual block and dropout are the same bits on
//!   every rank and the same as `train_step` on the whole batches in one process (with 1 or 2
//!   threads per rank, and a short last batch whose shares are uneven or empty);
//! - a network with two named outputs trained with a loss of its own (`train_step_dist_loss`)
//!   gives the same bits on 1, 2 and 3 processes as `train_step_loss` in one, and that as
//!   `forward_train`, `backward` and `apply_gradients`;
//! - a run resumed from a checkpoint rank 0 wrote equals the unbroken run;
//! - a rank that panics, fails to load a file, leaves, or gives a wrong share ends the job
//!   within seconds, with its rank and cause in the output.
//!
//! Under `mpirun` (`OMPI_COMM_WORLD_SIZE` set) it is one rank of a scenario instead.

use cnn::data::{Dataset, Loader};
use cnn::dist::World;
use cnn::{cnn, Adam, Network, Optimizer, Sgd};
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

cnn! {
    /// Batch statistics (synchronized over the ranks), a residual block, dropout masks keyed by
    /// the global sample index.
    struct Net {
        input(1, 8, 8)
        conv(1, 6, k=3, p=1, bias=false) batchnorm(6) relu
        residual { conv(6, 6, k=3, p=1) batchnorm(6) relu conv(6, 6, k=1) }
        maxpool(2) flatten dropout(0.3)
        linear(96, 12) batchnorm(12) relu
        linear(12, 3)
    }
}

cnn! {
    /// Two named outputs after a synchronized batch norm and dropout: the class scores and a
    /// regression, trained with a loss written by hand.
    struct Heads {
        input(1, 8, 8)
        conv(1, 4, k=3, p=1, bias=false) batchnorm(4) relu maxpool(2) flatten dropout(0.2) let f
        cls: linear(64, 3) output scores
        from f reg: linear(64, 2) output offset
    }
}

/// The loss of [`Heads`]: per sample, the cross-entropy of `scores` against the label plus half
/// the squared error of `offset` against a target made from the label, each a mean over the
/// global batch of `batch`.
fn heads_loss(labels: &[usize], i: usize, batch: usize, y: &HeadsOutputs, grad: &mut HeadsOutputs) -> f32 {
    let n = batch as f32;
    let max = y.scores.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f32 = y.scores.iter().map(|v| (v - max).exp()).sum();
    let mut term = sum.ln() - (y.scores[labels[i]] - max);
    for c in 0..3 {
        grad.scores[c] = ((y.scores[c] - max).exp() / sum - f32::from(c == labels[i])) / n;
    }
    let target = [labels[i] as f32 - 1.0, 0.5];
    for ((g, y), t) in grad.offset.iter_mut().zip(&y.offset).zip(target) {
        let d = y - t;
        *g = d / n;
        term += d * d / 2.0;
    }
    term / n
}

/// [`Heads`]'s weights, statistics and losses after `steps` steps in one process, by
/// `train_step_loss`, checked against `forward_train` + `backward` + `apply_gradients`.
fn heads_reference(steps: usize) -> Vec<u32> {
    let train = data();
    let (mut net, mut by_hand) = (Heads::new(3), Heads::new(3));
    let (mut opt, mut opt_by_hand) = (Adam::new(1e-2), Adam::new(1e-2));
    let mut grads = cnn::Grads::<Heads>::new();
    let mut loader = Loader::new(&train, BATCH, 11);
    let mut losses = Vec::new();
    while losses.len() < steps {
        let Some((xs, labels)) = loader.next_batch() else { continue };
        let loss = net.train_step_loss(xs, &mut opt, |i, n, y, g| heads_loss(labels, i, n, y, g));
        let ys = by_hand.forward_train(xs).to_vec();
        let mut grad = vec![HeadsOutputs::default(); xs.len()];
        for (i, (y, g)) in ys.iter().zip(&mut grad).enumerate() {
            heads_loss(labels, i, xs.len(), y, g);
        }
        by_hand.backward(&grad, &mut grads);
        by_hand.apply_gradients(&mut opt_by_hand, &grads);
        assert_eq!(net.flat_params(), by_hand.flat_params(), "train_step_loss = forward_train + backward + update");
        losses.push(loss);
    }
    state(&net, &losses)
}

/// Global batch; with 50 samples an epoch's batches are 24 samples (3 units of 8: 1 and 2 units
/// on 2 ranks) and a last one of 2 (one unit: the last rank holds it, the others step with
/// empty shares).
const BATCH: usize = 24;
const STEPS: usize = 6;

fn data() -> Dataset<64> {
    let mut s = 12345u32;
    let mut next = move || {
        s = s.wrapping_mul(1664525).wrapping_add(1013904223);
        (s >> 8) as f32 / (1u32 << 24) as f32
    };
    let labels: Vec<usize> = (0..50).map(|i| (i * 7) % 3).collect();
    let images = labels.iter().map(|&l| std::array::from_fn(|p| next() + if p % 3 == l { 0.5 } else { 0.0 })).collect();
    Dataset { images, labels }
}

/// The optimizers the runs use.
fn optimizer(kind: &str) -> Box<dyn Optimizer> {
    match kind {
        "sgd" => Box::new(Sgd::new(0.05).momentum(0.9)),
        _ => Box::new(Adam::new(1e-2)),
    }
}

/// What a run leaves: weights, running statistics and losses, as bits.
fn state<N: Network>(net: &N, losses: &[f32]) -> Vec<u32> {
    let mut out: Vec<u32> = net.flat_params().iter().map(|v| v.to_bits()).collect();
    for b in net.buffers() {
        out.extend(b.data.iter().map(|v| v.to_bits()));
    }
    out.extend(losses.iter().map(|v| v.to_bits()));
    out
}

fn write_state(path: &Path, state: &[u32]) {
    let bytes: Vec<u8> = state.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_state(path: &Path) -> Vec<u32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes.chunks_exact(4).map(|b| u32::from_le_bytes(b.try_into().unwrap())).collect()
}

/// One process, whole batches, `train_step`: the reference.
fn reference(kind: &str, steps: usize) -> Vec<u32> {
    let train = data();
    let mut net = Net::new(3);
    let mut opt = optimizer(kind);
    let mut loader = Loader::new(&train, BATCH, 11);
    let mut losses = Vec::new();
    while losses.len() < steps {
        let Some((xs, labels)) = loader.next_batch() else { continue };
        losses.push(net.train_step(xs, labels, opt.as_mut()));
    }
    state(&net, &losses)
}

// ---- the ranks ----

fn worker(scenario: &str, dir: &Path) -> Result<(), Box<dyn Error>> {
    let world = World::init()?;
    let (rank, size) = (world.rank(), world.size());
    let train = data();
    let mut net = Net::new(3);
    match scenario {
        "sgd" | "adam" => {
            let mut opt = optimizer(scenario);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            let mut losses = Vec::new();
            while losses.len() < STEPS {
                let Some((xs, labels)) = loader.next_batch() else { continue };
                losses.push(net.try_train_step_dist(&world, xs, labels, opt.as_mut())?);
            }
            write_state(&dir.join(format!("{scenario}-{size}-{rank}.bin")), &state(&net, &losses));
        }
        "outputs" => {
            let mut net = Heads::new(3);
            let mut opt = Adam::new(1e-2);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            let mut losses = Vec::new();
            while losses.len() < STEPS {
                let Some((xs, labels)) = loader.next_batch() else { continue };
                let loss =
                    net.try_train_step_dist_loss(&world, xs, &mut opt, |i, n, y, g| heads_loss(labels, i, n, y, g))?;
                losses.push(loss);
            }
            write_state(&dir.join(format!("outputs-{size}-{rank}.bin")), &state(&net, &losses));
        }
        "resume" => {
            let ckpt = dir.join(format!("resume-{size}.ckpt"));
            let mut opt = Adam::new(1e-2);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            let mut losses = Vec::new();
            while losses.len() < STEPS / 2 {
                let Some((xs, labels)) = loader.next_batch() else { continue };
                losses.push(net.try_train_step_dist(&world, xs, labels, &mut opt)?);
            }
            if rank == 0 {
                net.save_checkpoint(&ckpt, &opt)?;
            }
            world.barrier()?;
            // A new process would start here: another network and optimizer, then the file.
            let mut net = Net::new(99);
            let mut opt = Adam::new(1e-2);
            world.agree(net.load_checkpoint(&ckpt, &mut opt))?;
            while losses.len() < STEPS {
                let Some((xs, labels)) = loader.next_batch() else { continue };
                losses.push(net.try_train_step_dist(&world, xs, labels, &mut opt)?);
            }
            write_state(&dir.join(format!("resume-{size}-{rank}.bin")), &state(&net, &losses));
        }
        "alloc" => {
            let mut opt = Adam::new(1e-2);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            let (xs, labels) = loader.next_batch().expect("a batch");
            for _ in 0..3 {
                net.try_train_step_dist(&world, xs, labels, &mut opt)?;
            }
            let before = counting::allocations();
            for _ in 0..3 {
                net.try_train_step_dist(&world, xs, labels, &mut opt)?;
            }
            let made = counting::allocations() - before;
            if made > 0 {
                return Err(format!("{made} allocations in 3 warm steps").into());
            }
            // The same for a loss of its own on two outputs.
            let (mut heads, mut opt) = (Heads::new(3), Adam::new(1e-2));
            let mut step = |heads: &mut Heads| {
                heads.try_train_step_dist_loss(&world, xs, &mut opt, |i, n, y, g| heads_loss(labels, i, n, y, g))
            };
            for _ in 0..3 {
                step(&mut heads)?;
            }
            let before = counting::allocations();
            for _ in 0..3 {
                step(&mut heads)?;
            }
            let made = counting::allocations() - before;
            if made > 0 {
                return Err(format!("{made} allocations in 3 warm steps with a loss of its own").into());
            }
        }
        "panic" => {
            let mut opt = Adam::new(1e-2);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            for step in 0..STEPS {
                let Some((xs, labels)) = loader.next_batch() else { continue };
                if rank == 1 && step == 1 {
                    panic!("injected failure in step {step}");
                }
                net.train_step_dist(&world, xs, labels, &mut opt);
            }
        }
        "bad-file" => {
            let path = dir.join(format!("bad-{rank}.ckpt"));
            let mut opt = Adam::new(1e-2);
            if rank == 0 {
                net.save_checkpoint(&path, &opt)?;
            }
            world.barrier()?;
            if rank == 1 {
                std::fs::write(&path, b"not a checkpoint")?;
            } else if rank > 1 {
                std::fs::copy(dir.join("bad-0.ckpt"), &path)?;
            }
            world.agree(net.load_checkpoint(&path, &mut opt))?;
        }
        "leave" => {
            if rank == 2 {
                return Err("rank 2 gives up before training (a missing file, say)".into());
            }
            let mut opt = Adam::new(1e-2);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            while let Some((xs, labels)) = loader.next_batch() {
                net.try_train_step_dist(&world, xs, labels, &mut opt)?;
            }
        }
        "share" => {
            // Rank 1 forgot to shard its loader: it gives the whole batch.
            let mut opt = Adam::new(1e-2);
            let loader = Loader::new(&train, BATCH, 11);
            let mut loader = if rank == 1 { loader } else { loader.shard(rank, size) };
            let (xs, labels) = loader.next_batch().expect("a batch");
            net.try_train_step_dist(&world, xs, labels, &mut opt)?;
        }
        "optimizer" | "weights" => {
            // Rank 1 differs: its Adam's learning rate, or (after a good first step) its
            // weights. Every rank must get the same error for the step, naming rank 1; a rank
            // that does is this scenario's success.
            let lr = if scenario == "optimizer" && rank == 1 { 5e-2 } else { 1e-2 };
            let mut opt = Adam::new(lr);
            world.check_weights_every(1);
            let mut loader = Loader::new(&train, BATCH, 11).shard(rank, size);
            let (xs, labels) = loader.next_batch().expect("a batch");
            if scenario == "weights" {
                net.try_train_step_dist(&world, xs, labels, &mut opt)?;
                if rank == 1 {
                    net.flat_params_mut()[0] += 1.0;
                }
            }
            let before = net.flat_params().to_vec();
            let (xs, labels) = loader.next_batch().expect("a batch");
            let e = net.try_train_step_dist(&world, xs, labels, &mut opt).expect_err("ranks that differ do not step");
            let want = if scenario == "optimizer" {
                "rank 1: steps with another optimizer than rank 0"
            } else {
                "rank 1: has other weights than rank 0 before step 2"
            };
            if !e.to_string().starts_with(want) {
                return Err(format!("rank {rank} got `{e}`, not `{want}...`").into());
            }
            if net.flat_params() != &before[..] {
                return Err(format!("rank {rank}: the refused step changed the weights").into());
            }
        }
        other => return Err(format!("no scenario {other}").into()),
    }
    Ok(())
}

// ---- the launcher ----

struct Run {
    ok: bool,
    output: String,
    took: Duration,
}

fn mpirun(np: usize, threads: usize, scenario: &str, dir: &Path) -> Run {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("mpirun");
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", &np.to_string()])
        .args(["-x", &format!("RAYON_NUM_THREADS={threads}")])
        .arg(exe)
        .args([scenario, dir.to_str().unwrap()]);
    println!("$ mpirun -np {np} (RAYON_NUM_THREADS={threads}) dist {scenario}");
    let start = Instant::now();
    let out = cmd.output().expect("mpirun runs (apt-get install openmpi-bin)");
    let output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Run { ok: out.status.success(), output, took: start.elapsed() }
}

fn same_bits(what: &str, got: &[u32], want: &[u32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: value {i} differs: {} vs {}", f32::from_bits(got[i]), f32::from_bits(want[i]));
    }
}

fn check_training(dir: &Path) {
    for kind in ["sgd", "adam"] {
        let want = reference(kind, STEPS);
        for (np, threads) in [(1, 2), (2, 1), (3, 2)] {
            let run = mpirun(np, threads, kind, dir);
            assert!(run.ok, "{kind} on {np} processes failed:\n{}", run.output);
            for rank in 0..np {
                let got = read_state(&dir.join(format!("{kind}-{np}-{rank}.bin")));
                same_bits(&format!("{kind}, rank {rank} of {np} vs one process"), &got, &want);
            }
        }
        println!("  {kind}: weights, statistics and losses equal bit for bit on 1, 2, 3 processes and in one");
    }
}

fn check_outputs(dir: &Path) {
    let want = heads_reference(STEPS);
    for (np, threads) in [(1, 2), (2, 1), (3, 2)] {
        let run = mpirun(np, threads, "outputs", dir);
        assert!(run.ok, "outputs on {np} processes failed:\n{}", run.output);
        for rank in 0..np {
            let got = read_state(&dir.join(format!("outputs-{np}-{rank}.bin")));
            same_bits(&format!("two outputs, rank {rank} of {np} vs one process"), &got, &want);
        }
    }
    println!("  two outputs, a loss of its own: equal bit for bit on 1, 2, 3 processes and in one");
}

fn check_resume(dir: &Path) {
    let want = reference("adam", STEPS);
    for np in [2, 3] {
        let run = mpirun(np, 1, "resume", dir);
        assert!(run.ok, "resume on {np} processes failed:\n{}", run.output);
        for rank in 0..np {
            let got = read_state(&dir.join(format!("resume-{np}-{rank}.bin")));
            same_bits(&format!("resumed run, rank {rank} of {np} vs unbroken"), &got, &want);
        }
    }
    println!("  resumed from rank 0's checkpoint = unbroken, on 2 and 3 processes");
}

fn check_allocations(dir: &Path) {
    let run = mpirun(3, 2, "alloc", dir);
    assert!(run.ok, "a warm distributed step allocates:\n{}", run.output);
    println!("  warm steps on 3 processes allocate nothing");
}

fn check_faults(dir: &Path) {
    let cases: [(&str, &[&str]); 4] = [
        ("panic", &["rank 1 of 3 panicked", "injected failure in step 1"]),
        ("bad-file", &["rank 1:", "bad-1.ckpt"]),
        // The leaving rank's own message may not make it out: mpirun ends the job as soon as
        // the first rank exits with an error, and the others' errors name it.
        ("leave", &["rank 2: left the run"]),
        ("share", &["rank 1: has 24 samples where its share of the global batch of 40 is 16"]),
    ];
    // Ranks whose optimizers or weights differ: every rank returns the same error (each
    // checks it), so the job succeeds.
    for scenario in ["optimizer", "weights"] {
        let run = mpirun(3, 1, scenario, dir);
        assert!(run.ok, "{scenario}: every rank should get the same error:\n{}", run.output);
        println!("  {scenario}: every rank refused the step with the same error naming rank 1");
    }
    for (scenario, needles) in cases {
        let run = mpirun(3, 1, scenario, dir);
        assert!(!run.ok, "{scenario}: the job should fail:\n{}", run.output);
        assert!(run.took < Duration::from_secs(30), "{scenario}: the job took {:?}", run.took);
        for needle in needles {
            assert!(run.output.contains(needle), "{scenario}: no {needle:?} in\n{}", run.output);
        }
        println!("  {scenario}: the job ended in {:.1} s; the output has {needles:?}", run.took.as_secs_f64());
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_some() {
        let (scenario, dir) = (&args[1], PathBuf::from(&args[2]));
        return worker(scenario, &dir).map_err(|e| {
            let rank = std::env::var("OMPI_COMM_WORLD_RANK").unwrap_or_default();
            format!("process {rank} stops: {e}").into()
        });
    }
    // `cargo test` passes libtest's flags; a filter that is not this binary's name skips it.
    if args.iter().skip(1).any(|a| !a.starts_with('-') && !"dist".contains(a.as_str())) {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    println!("running the distributed scenarios under mpirun");
    check_training(dir.path());
    check_outputs(dir.path());
    check_resume(dir.path());
    check_allocations(dir.path());
    check_faults(dir.path());
    println!("test result: ok. 5 passed; 0 failed");
    Ok(())
}
