//! The training loop, written once for every [`Network`]: epochs over a [`Loader`], an
//! optimizer and an optional learning-rate schedule, a progress bar with the loss and
//! throughput, the loss and accuracy on a validation set after each epoch, a checkpoint after
//! each epoch that a later run resumes from, early stopping, and the training curves.
//!
//! ```
//! use cnn::data::{digits, Loader};
//! use cnn::fit::{EarlyStopping, Monitor, Trainer};
//! use cnn::lr::CosineAnnealingLr;
//! use cnn::nets::DigitsNet;
//! use cnn::prelude::*;
//!
//! let (train, test) = digits().split_at(1437);
//! let mut net = DigitsNet::new(0);
//! let mut opt = Adam::new(2e-3);
//! let mut loader = Loader::new(&train, 32, 0);
//! let history = Trainer::new(3)
//!     .schedule(CosineAnnealingLr::new(2e-3, 3 * loader.batches(), 0.0))
//!     .validation(&test)
//!     .early_stopping(EarlyStopping::new(Monitor::ValLoss).patience(2))
//!     .quiet()
//!     .fit(&mut net, &mut opt, &mut loader)?;
//! assert_eq!(history.epochs.len(), 3);
//! assert!(history.epochs[2].val_accuracy.unwrap() > 0.5);
//! # Ok::<(), cnn::fit::FitError>(())
//! ```
//!
//! What it does is what a hand-written loop does: each epoch draws its order
//! ([`Loader::set_epoch`], [`Loader::shuffle`]), steps the schedule before every batch as
//! PyTorch's `scheduler.step()` after every `optimizer.step()`, and takes one
//! [`Network::try_train_step_with`] per batch; the same network, optimizer and loader give the
//! same weights, bit for bit, as that loop.
//!
//! # A run directory
//!
//! With [`Trainer::run_dir`], each epoch ends by writing, in the directory:
//! `last.safetensors` (a checkpoint: weights, running statistics, the step count, the
//! optimizer's state; see [`Network::save_checkpoint`]), `history.csv` (one row an epoch),
//! `steps.csv` (the loss of every step) and, when early stopping keeps the best weights,
//! `best.safetensors`. A run started on a directory that holds a checkpoint resumes after its
//! last epoch and ends with the weights an unbroken run would have, bit for bit. Each file is
//! replaced atomically.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use cnn_runtime::data::{Dataset, Loader};
use cnn_runtime::loss::CrossEntropy;
use cnn_runtime::lr::Schedule;
use cnn_runtime::metrics::predict_pixels;
use cnn_runtime::{Optimizer, Sample, TrainError, WeightsError};

use crate::Network;

/// The quantity early stopping watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The training loss of the epoch (the mean of its steps' losses, weighted by batch size):
    /// lower is better.
    TrainLoss,
    /// The validation loss: lower is better.
    ValLoss,
    /// The validation accuracy: higher is better.
    ValAccuracy,
}

impl Monitor {
    /// This quantity in an epoch's row.
    fn of(self, e: &Epoch) -> Option<f64> {
        match self {
            Monitor::TrainLoss => Some(e.train_loss),
            Monitor::ValLoss => e.val_loss,
            Monitor::ValAccuracy => e.val_accuracy,
        }
    }

    /// Whether `value` improves on `best` by more than `min_delta`.
    fn improves(self, value: f64, best: f64, min_delta: f64) -> bool {
        match self {
            Monitor::TrainLoss | Monitor::ValLoss => value < best - min_delta,
            Monitor::ValAccuracy => value > best + min_delta,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Monitor::TrainLoss => "train loss",
            Monitor::ValLoss => "validation loss",
            Monitor::ValAccuracy => "validation accuracy",
        }
    }
}

/// Stops training when a quantity has not improved for `patience` epochs (Keras'
/// `EarlyStopping`), and by default goes back to the weights of its best epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    monitor: Monitor,
    patience: usize,
    min_delta: f64,
    restore_best: bool,
}

impl EarlyStopping {
    /// Watches `monitor` with a patience of 5 epochs, any improvement counting (`min_delta`
    /// 0), the best epoch's weights restored at the end.
    pub fn new(monitor: Monitor) -> Self {
        EarlyStopping { monitor, patience: 5, min_delta: 0.0, restore_best: true }
    }

    /// Epochs without improvement after which training stops.
    pub fn patience(mut self, epochs: usize) -> Self {
        self.patience = epochs;
        self
    }

    /// The least change that counts as an improvement.
    pub fn min_delta(mut self, delta: f64) -> Self {
        self.min_delta = delta.abs();
        self
    }

    /// Whether the network ends with its best epoch's weights (true by default) or its last.
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }
}

/// One epoch's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    /// The epoch's number, from 1.
    pub epoch: usize,
    /// The mean loss of the epoch's steps, weighted by their batch sizes.
    pub train_loss: f64,
    /// The loss on the validation set after the epoch, in eval mode.
    pub val_loss: Option<f64>,
    /// The share of validation labels (pixels, for a map output) predicted right.
    pub val_accuracy: Option<f64>,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
    /// The network's step count at the end of the epoch.
    pub step: u64,
    /// Samples the epoch trained on.
    pub samples: usize,
    /// Seconds the epoch's training steps took.
    pub seconds: f64,
}

impl Epoch {
    /// Training samples per second.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds.max(1e-9)
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Every epoch, those of an earlier run that this one resumed included.
    pub epochs: Vec<Epoch>,
    /// The loss of every step, in order, an earlier run's included.
    pub step_losses: Vec<f32>,
    /// The epochs an earlier run had done, when this one resumed it.
    pub resumed_after: Option<usize>,
    /// The epoch early stopping chose as the best, if it watched.
    pub best_epoch: Option<usize>,
    /// Whether early stopping ended the run before its last epoch.
    pub stopped_early: bool,
}

/// Why a run stopped with an error. Nothing is lost: the run directory keeps the last
/// completed epoch.
#[derive(Debug)]
pub enum FitError {
    /// A training step failed (a bad label, a non-finite loss, ...): the network is as the
    /// last good step left it.
    Train {
        /// The epoch, from 1.
        epoch: usize,
        /// The step within the epoch, from 1.
        step: usize,
        /// What the step refused.
        error: TrainError,
    },
    /// The validation set could not be scored (a label out of range, ...).
    Validation(TrainError),
    /// A checkpoint could not be written or read.
    Weights(WeightsError),
    /// A file of the run directory or the curves could not be written or read.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The run directory does not fit this run (written by another loader, cut off between
    /// its files, or a network or optimizer that disagrees with it).
    Resume {
        /// The run directory.
        dir: PathBuf,
        /// What does not fit.
        message: String,
    },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::Train { epoch, step, error } => write!(f, "epoch {epoch}, step {step}: {error}"),
            FitError::Validation(e) => write!(f, "validation: {e}"),
            FitError::Weights(e) => write!(f, "{e}"),
            FitError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            FitError::Resume { dir, message } => write!(f, "cannot resume the run in {}: {message}", dir.display()),
        }
    }
}

impl std::error::Error for FitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FitError::Train { error, .. } | FitError::Validation(error) => Some(error),
            FitError::Weights(e) => Some(e),
            _ => None,
        }
    }
}

impl From<WeightsError> for FitError {
    fn from(e: WeightsError) -> Self {
        FitError::Weights(e)
    }
}

/// The validation numbers of a network on a data set (see [`evaluate`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// The cross-entropy with the given options, as `nn.CrossEntropyLoss` over the whole set.
    pub loss: f64,
    /// The share of labels predicted right (per pixel for a map output); labels out of the
    /// classes' range (an ignored 255) are not counted.
    pub accuracy: f64,
}

/// Scores `net` on `data` in eval mode: the loss with `loss`'s options over the whole set (as
/// one `nn.CrossEntropyLoss` call on all of it) and the accuracy.
///
/// # Errors
/// As [`Network::cross_entropy`]: a label count that does not fit, a label out of range.
pub fn evaluate<N, const K: usize>(net: &N, data: &Dataset<K>, loss: &CrossEntropy) -> Result<Evaluation, TrainError>
where
    N: Network<Input = [f32; K]>,
{
    let logits = net.forward_batch(&data.images);
    let mut grad = N::Output::zeroed_vec(logits.len());
    let value = N::cross_entropy(&logits, &data.labels, loss, &mut grad)?;
    let mut predictions = vec![0; data.labels.len()];
    predict_pixels(N::Output::flatten(&logits), N::CLASSES, N::LABELS_PER_SAMPLE, &mut predictions);
    let (mut right, mut counted) = (0usize, 0usize);
    for (&p, &l) in predictions.iter().zip(&data.labels) {
        if l < N::CLASSES {
            counted += 1;
            right += usize::from(p == l);
        }
    }
    let accuracy = if counted == 0 { 0.0 } else { right as f64 / counted as f64 };
    Ok(Evaluation { loss: f64::from(value), accuracy })
}

/// A function called after every epoch.
type OnEpoch<'a, N> = Box<dyn FnMut(&N, &Epoch) + 'a>;

/// The training loop (see the [module](self)) of networks `N` taking `[f32; K]` samples: built
/// with its settings, run by [`Trainer::fit`].
pub struct Trainer<'a, N, const K: usize> {
    epochs: usize,
    on_epoch: Option<OnEpoch<'a, N>>,
    schedule: Option<Box<dyn Schedule + 'a>>,
    validation: Option<&'a Dataset<K>>,
    loss: CrossEntropy,
    run_dir: Option<PathBuf>,
    early_stopping: Option<EarlyStopping>,
    /// Set only through [`Trainer::curves`], which the `viz` feature brings.
    #[cfg_attr(not(feature = "viz"), allow(dead_code))]
    curves: Option<PathBuf>,
    quiet: bool,
}

impl<'a, N: Network<Input = [f32; K]>, const K: usize> Trainer<'a, N, K> {
    /// A run of `epochs` passes over the loader's data, with the plain cross-entropy, no
    /// schedule, no validation, no checkpoints, a progress bar and a line an epoch.
    pub fn new(epochs: usize) -> Self {
        Trainer {
            epochs,
            on_epoch: None,
            schedule: None,
            validation: None,
            loss: CrossEntropy::new(),
            run_dir: None,
            early_stopping: None,
            curves: None,
            quiet: false,
        }
    }

    /// Sets the learning rate before every step from `schedule` (at the run's step index,
    /// counted from 0 across epochs).
    pub fn schedule(mut self, schedule: impl Schedule + 'a) -> Self {
        self.schedule = Some(Box::new(schedule));
        self
    }

    /// Scores the network on `data` after every epoch (loss and accuracy, eval mode).
    pub fn validation(mut self, data: &'a Dataset<K>) -> Self {
        self.validation = Some(data);
        self
    }

    /// The loss's options (class weights, an ignored label, label smoothing), for the
    /// training steps and the validation loss.
    pub fn loss(mut self, loss: CrossEntropy) -> Self {
        self.loss = loss;
        self
    }

    /// Writes a checkpoint and the history to `dir` after every epoch, and resumes from them
    /// when `dir` holds a checkpoint (see the [module](self)).
    pub fn run_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_dir = Some(dir.into());
        self
    }

    /// Stops early when `stopping`'s quantity stops improving.
    pub fn early_stopping(mut self, stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(stopping);
        self
    }

    /// Draws the training curves to an SVG file after every epoch: the loss of every step,
    /// the validation loss and accuracy of every epoch.
    #[cfg(feature = "viz")]
    pub fn curves(mut self, path: impl Into<PathBuf>) -> Self {
        self.curves = Some(path.into());
        self
    }

    /// Calls `f` after every epoch's validation, with the network and the epoch's numbers
    /// (for metrics of your own: a mean IoU, a confusion matrix, pictures).
    pub fn on_epoch(mut self, f: impl FnMut(&N, &Epoch) + 'a) -> Self {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// No progress bar and no lines: only the returned [`History`].
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Trains `net` with `opt` on `loader`'s batches, epoch by epoch.
    ///
    /// # Errors
    /// A failed training step or validation (the network as the last good step left it), a
    /// run directory that cannot be written or does not fit this run, a curve that cannot be
    /// drawn; see [`FitError`].
    pub fn fit<O>(&mut self, net: &mut N, opt: &mut O, loader: &mut Loader<'_, K>) -> Result<History, FitError>
    where
        O: Optimizer + ?Sized,
    {
        let batches = loader.batches();
        let mut history = History::default();
        if let Some(dir) = &self.run_dir {
            fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
            if dir.join(LAST).exists() {
                self.resume(dir, net, opt, batches, &mut history)?;
            }
        }
        let mut watch = Watch::new(self.early_stopping, &history.epochs);
        history.best_epoch = watch.best_epoch;
        // The best epoch's `state_dict`, when it is to be restored and no run directory keeps
        // it.
        let mut best: Option<Vec<u8>> = None;
        if watch.stopped(self.early_stopping) {
            history.stopped_early = true;
        }
        let mut epoch = history.epochs.len();
        while epoch < self.epochs && !history.stopped_early {
            epoch += 1;
            let row = self.epoch(net, opt, loader, epoch, &mut history.step_losses)?;
            if !self.quiet {
                println!("{}", epoch_line(&row));
            }
            if let Some(f) = &mut self.on_epoch {
                f(net, &row);
            }
            history.epochs.push(row);
            let improved = watch.update(self.early_stopping, &history.epochs);
            history.best_epoch = watch.best_epoch;
            let keep_best = self.early_stopping.is_some_and(|s| s.restore_best);
            if improved && keep_best {
                match &self.run_dir {
                    Some(dir) => net.save_safetensors(dir.join(BEST))?,
                    None => best = Some(net.to_safetensors_bytes()),
                }
            }
            if let Some(dir) = &self.run_dir {
                write_run(dir, &history, net, opt)?;
            }
            #[cfg(feature = "viz")]
            if let Some(path) = &self.curves {
                curves::draw(path, &history, batches)?;
            }
            if watch.stopped(self.early_stopping) {
                history.stopped_early = epoch < self.epochs;
                break;
            }
        }
        if let (Some(stopping), Some(best_epoch)) = (self.early_stopping, watch.best_epoch) {
            if stopping.restore_best && best_epoch != history.epochs.len() {
                // The weights, statistics and counters of the best epoch; the step count stays.
                match (&self.run_dir, best) {
                    (_, Some(bytes)) => net.load_safetensors_bytes(&bytes)?,
                    (Some(dir), None) => net.load_safetensors(dir.join(BEST))?,
                    (None, None) => {}
                }
                if !self.quiet {
                    println!("restored the weights of epoch {best_epoch}, the best {}", stopping.monitor.name());
                }
            }
        }
        Ok(history)
    }

    /// One epoch: its steps, then validation.
    fn epoch<O>(
        &self,
        net: &mut N,
        opt: &mut O,
        loader: &mut Loader<'_, K>,
        epoch: usize,
        step_losses: &mut Vec<f32>,
    ) -> Result<Epoch, FitError>
    where
        O: Optimizer + ?Sized,
    {
        let batches = loader.batches();
        let bar = progress::Bar::new(self.quiet, epoch, self.epochs, batches);
        loader.set_epoch(epoch as u64 - 1);
        loader.shuffle();
        let (mut total, mut seen, mut step) = (0.0f64, 0usize, 0usize);
        let start = Instant::now();
        while let Some((xs, labels)) = loader.next_batch() {
            if let Some(schedule) = &self.schedule {
                opt.set_lr(schedule.lr_at(step_losses.len()));
            }
            step += 1;
            let loss = net.try_train_step_with(xs, labels, &self.loss, opt).map_err(|error| FitError::Train {
                epoch,
                step,
                error,
            })?;
            step_losses.push(loss);
            total += f64::from(loss) * xs.len() as f64;
            seen += xs.len();
            bar.step(total / seen.max(1) as f64, seen as f64 / start.elapsed().as_secs_f64().max(1e-9));
        }
        let seconds = start.elapsed().as_secs_f64();
        bar.finish();
        let val = match self.validation {
            Some(data) => Some(evaluate(net, data, &self.loss).map_err(FitError::Validation)?),
            None => None,
        };
        Ok(Epoch {
            epoch,
            train_loss: total / seen.max(1) as f64,
            val_loss: val.map(|v| v.loss),
            val_accuracy: val.map(|v| v.accuracy),
            lr: opt.lr(),
            step: net.step_count(),
            samples: seen,
            seconds,
        })
    }

    /// Loads the run in `dir` into `net`, `opt` and `history`.
    fn resume<O>(
        &self,
        dir: &Path,
        net: &mut N,
        opt: &mut O,
        batches: usize,
        history: &mut History,
    ) -> Result<(), FitError>
    where
        O: Optimizer + ?Sized,
    {
        let fail = |message: String| FitError::Resume { dir: dir.to_path_buf(), message };
        let epochs = read_history(&dir.join(HISTORY)).map_err(&fail)?;
        let steps = read_steps(&dir.join(STEPS)).map_err(&fail)?;
        if steps.len() != epochs.len() * batches {
            return Err(fail(format!(
                "{} holds {} steps, but {} epochs of this loader's {batches} batches are {}: was it another batch size or data set?",
                STEPS,
                steps.len(),
                epochs.len(),
                epochs.len() * batches
            )));
        }
        let last_step = epochs.last().map(|e| e.step);
        // Checked on a copy first, so that a checkpoint of another run changes nothing.
        let mut probe = net.clone();
        probe.load_checkpoint(dir.join(LAST), opt)?;
        if last_step.is_some_and(|s| s != probe.step_count()) {
            return Err(fail(format!(
                "the checkpoint is at step {} but {HISTORY}'s last epoch ended at step {}: the files were not written by one run",
                probe.step_count(),
                last_step.unwrap_or(0)
            )));
        }
        *net = probe;
        if !self.quiet {
            println!("resuming {} after epoch {}", dir.display(), epochs.len());
        }
        history.resumed_after = Some(epochs.len());
        history.epochs = epochs;
        history.step_losses = steps;
        Ok(())
    }
}

/// The line printed after an epoch.
fn epoch_line(e: &Epoch) -> String {
    let mut line = format!("epoch {:>3}  loss {:.4}", e.epoch, e.train_loss);
    if let Some(l) = e.val_loss {
        line += &format!("  val loss {l:.4}");
    }
    if let Some(a) = e.val_accuracy {
        line += &format!("  val accuracy {:.2}%", 100.0 * a);
    }
    line += &format!("  lr {:.3e}  {:.1} s  {:.0} samples/s", e.lr, e.seconds, e.samples_per_second());
    line
}

/// Early stopping's state, replayed over the epochs so far.
struct Watch {
    best: Option<f64>,
    best_epoch: Option<usize>,
    waited: usize,
}

impl Watch {
    fn new(stopping: Option<EarlyStopping>, epochs: &[Epoch]) -> Self {
        let mut w = Watch { best: None, best_epoch: None, waited: 0 };
        for i in 1..=epochs.len() {
            w.update(stopping, &epochs[..i]);
        }
        w
    }

    /// Takes the last epoch in; whether it is the best so far.
    fn update(&mut self, stopping: Option<EarlyStopping>, epochs: &[Epoch]) -> bool {
        let (Some(s), Some(last)) = (stopping, epochs.last()) else { return false };
        let Some(value) = s.monitor.of(last) else { return false };
        let better = match self.best {
            None => !value.is_nan(),
            Some(best) => s.monitor.improves(value, best, s.min_delta),
        };
        if better {
            self.best = Some(value);
            self.best_epoch = Some(last.epoch);
            self.waited = 0;
        } else {
            self.waited += 1;
        }
        better
    }

    fn stopped(&self, stopping: Option<EarlyStopping>) -> bool {
        stopping.is_some_and(|s| self.best.is_some() && self.waited >= s.patience.max(1))
    }
}

const LAST: &str = "last.safetensors";
const BEST: &str = "best.safetensors";
const HISTORY: &str = "history.csv";
const STEPS: &str = "steps.csv";
const HISTORY_HEADER: &str = "epoch,train_loss,val_loss,val_accuracy,lr,step,samples,seconds";

fn io_error(path: &Path, e: std::io::Error) -> FitError {
    FitError::Io { path: path.to_path_buf(), message: e.to_string() }
}

/// Replaces the file at `path` with `text`, atomically, as weights are saved.
fn write_atomically(path: &Path, text: &str) -> Result<(), FitError> {
    cnn_runtime::__private::replace_file(path, |staged| fs::write(staged, text)).map_err(|e| io_error(path, e))
}

/// The epoch's files: the step losses and the history first, the checkpoint last; a run cut
/// off between them is refused on resume (the checkpoint's step count disagrees).
fn write_run<N: Network, O: Optimizer + ?Sized>(
    dir: &Path,
    history: &History,
    net: &N,
    opt: &O,
) -> Result<(), FitError> {
    let steps: String = history.step_losses.iter().map(|l| format!("{l}\n")).collect();
    write_atomically(&dir.join(STEPS), &steps)?;
    let mut text = format!("{HISTORY_HEADER}\n");
    for e in &history.epochs {
        let opt_f = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
        text += &format!(
            "{},{},{},{},{},{},{},{}\n",
            e.epoch,
            e.train_loss,
            opt_f(e.val_loss),
            opt_f(e.val_accuracy),
            e.lr,
            e.step,
            e.samples,
            e.seconds
        );
    }
    write_atomically(&dir.join(HISTORY), &text)?;
    net.save_checkpoint(dir.join(LAST), opt)?;
    Ok(())
}

fn read_history(path: &Path) -> Result<Vec<Epoch>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    if lines.next() != Some(HISTORY_HEADER) {
        return Err(format!("{} does not start with `{HISTORY_HEADER}`", path.display()));
    }
    let mut epochs = Vec::new();
    for (i, line) in lines.enumerate() {
        let bad = |what: &str| format!("{} line {}: {what}: `{line}`", path.display(), i + 2);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 8 {
            return Err(bad("not 8 fields"));
        }
        let opt_f = |s: &str| if s.is_empty() { Ok(None) } else { s.parse::<f64>().map(Some) };
        let e = (|| {
            Some(Epoch {
                epoch: f[0].parse().ok()?,
                train_loss: f[1].parse().ok()?,
                val_loss: opt_f(f[2]).ok()?,
                val_accuracy: opt_f(f[3]).ok()?,
                lr: f[4].parse().ok()?,
                step: f[5].parse().ok()?,
                samples: f[6].parse().ok()?,
                seconds: f[7].parse().ok()?,
            })
        })()
        .ok_or_else(|| bad("a field is not a number"))?;
        if e.epoch != epochs.len() + 1 {
            return Err(bad(&format!("epoch {} where {} was next", e.epoch, epochs.len() + 1)));
        }
        epochs.push(e);
    }
    Ok(epochs)
}

fn read_steps(path: &Path) -> Result<Vec<f32>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| l.parse().map_err(|_| format!("{} line {}: `{l}` is not a loss", path.display(), i + 1)))
        .collect()
}

/// The progress bar (with the `progress` feature), or nothing.
mod progress {
    #[cfg(feature = "progress")]
    pub struct Bar(Option<indicatif::ProgressBar>);

    #[cfg(feature = "progress")]
    impl Bar {
        pub fn new(quiet: bool, epoch: usize, epochs: usize, batches: usize) -> Self {
            if quiet {
                return Bar(None);
            }
            let style = indicatif::ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg}")
                .expect("a valid template")
                .progress_chars("=> ");
            let bar =
                indicatif::ProgressBar::new(batches as u64).with_style(style).with_prefix(format!("{epoch}/{epochs}"));
            Bar(Some(bar))
        }

        pub fn step(&self, loss: f64, samples_per_second: f64) {
            if let Some(b) = &self.0 {
                b.set_message(format!("loss {loss:.4}  {samples_per_second:.0} samples/s"));
                b.inc(1);
            }
        }

        pub fn finish(&self) {
            if let Some(b) = &self.0 {
                b.finish_and_clear();
            }
        }
    }

    #[cfg(not(feature = "progress"))]
    pub struct Bar;

    #[cfg(not(feature = "progress"))]
    impl Bar {
        pub fn new(_quiet: bool, _epoch: usize, _epochs: usize, _batches: usize) -> Self {
            Bar
        }
        pub fn step(&self, _loss: f64, _samples_per_second: f64) {}
        pub fn finish(&self) {}
    }
}

/// The training curves as SVG.
#[cfg(feature = "viz")]
mod curves {
    use super::{FitError, History};
    use plotters::prelude::*;
    use std::path::Path;

    /// Loss per step and validation loss per epoch (left axis), validation accuracy per epoch
    /// (right axis).
    pub fn draw(path: &Path, history: &History, steps_per_epoch: usize) -> Result<(), FitError> {
        let plot_error = |e: &dyn std::fmt::Display| FitError::Io { path: path.to_path_buf(), message: e.to_string() };
        let losses = &history.step_losses;
        let root = SVGBackend::new(path, (720, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(&e))?;
        let max_loss = losses
            .iter()
            .map(|&l| f64::from(l))
            .chain(history.epochs.iter().filter_map(|e| e.val_loss))
            .filter(|l| l.is_finite())
            .fold(0.0f64, f64::max)
            .max(1e-3);
        let steps = losses.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption("training", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .right_y_label_area_size(48)
            .build_cartesian_2d(0..steps, 0.0f64..max_loss)
            .map_err(|e| plot_error(&e))?
            .set_secondary_coord(0..steps, 0.0f64..100.0);
        chart.configure_mesh().x_desc("step").y_desc("loss").draw().map_err(|e| plot_error(&e))?;
        chart.configure_secondary_axes().y_desc("validation accuracy %").draw().map_err(|e| plot_error(&e))?;
        chart
            .draw_series(LineSeries::new(losses.iter().enumerate().map(|(i, &l)| (i, f64::from(l))), &BLUE))
            .map_err(|e| plot_error(&e))?
            .label("loss per step")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLUE));
        let at_end = |e: &super::Epoch| e.epoch * steps_per_epoch;
        if history.epochs.iter().any(|e| e.val_loss.is_some()) {
            let points = history.epochs.iter().filter_map(|e| e.val_loss.map(|l| (at_end(e), l)));
            chart
                .draw_series(LineSeries::new(points, GREEN.stroke_width(2)))
                .map_err(|e| plot_error(&e))?
                .label("validation loss per epoch")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], GREEN));
        }
        if history.epochs.iter().any(|e| e.val_accuracy.is_some()) {
            let points = history.epochs.iter().filter_map(|e| e.val_accuracy.map(|a| (at_end(e), 100.0 * a)));
            chart
                .draw_secondary_series(LineSeries::new(points, RED.stroke_width(2)))
                .map_err(|e| plot_error(&e))?
                .label("validation accuracy per epoch")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], RED));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::MiddleRight)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| plot_error(&e))?;
        root.present().map_err(|e| plot_error(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(n: usize, train: f64, val: Option<f64>) -> Epoch {
        Epoch {
            epoch: n,
            train_loss: train,
            val_loss: val,
            val_accuracy: val.map(|v| 1.0 - v),
            lr: 1e-3,
            step: 5 * n as u64,
            samples: 160,
            seconds: 0.5,
        }
    }

    #[test]
    fn the_epoch_line_shows_loss_metrics_rate_and_throughput() {
        let line = epoch_line(&epoch(3, 0.25, Some(0.125)));
        assert_eq!(
            line,
            "epoch   3  loss 0.2500  val loss 0.1250  val accuracy 87.50%  lr 1.000e-3  0.5 s  320 samples/s"
        );
        assert_eq!(epoch_line(&epoch(1, 2.0, None)), "epoch   1  loss 2.0000  lr 1.000e-3  0.5 s  320 samples/s");
    }

    #[test]
    fn early_stopping_counts_epochs_without_improvement() {
        let s = EarlyStopping::new(Monitor::ValLoss).patience(2).min_delta(0.01);
        let losses = [0.5, 0.4, 0.395, 0.45, 0.3, 0.31, 0.30];
        let epochs: Vec<Epoch> = losses.iter().enumerate().map(|(i, &l)| epoch(i + 1, 1.0, Some(l))).collect();
        let mut w = Watch::new(Some(s), &[]);
        let mut trace = Vec::new();
        for i in 1..=epochs.len() {
            let better = w.update(Some(s), &epochs[..i]);
            trace.push((better, w.best_epoch, w.waited, w.stopped(Some(s))));
        }
        // 0.395 is not better than 0.4 by 0.01 (nor 0.30 than 0.3): two epochs without
        // improvement stop the run, and a later improvement would start the count again.
        assert_eq!(
            trace,
            [
                (true, Some(1), 0, false),
                (true, Some(2), 0, false),
                (false, Some(2), 1, false),
                (false, Some(2), 2, true),
                (true, Some(5), 0, false),
                (false, Some(5), 1, false),
                (false, Some(5), 2, true),
            ]
        );
        // Replaying the rows gives the same state (what a resumed run starts from).
        let replayed = Watch::new(Some(s), &epochs);
        assert_eq!((replayed.best_epoch, replayed.waited, replayed.best), (w.best_epoch, w.waited, w.best));
        // Accuracy is watched upwards; a missing quantity (no validation) never counts.
        let acc = EarlyStopping::new(Monitor::ValAccuracy);
        let mut w = Watch::new(Some(acc), &epochs[..2]);
        assert_eq!(w.best_epoch, Some(2), "accuracy 0.6 beats 0.5");
        assert!(!w.update(Some(acc), &[epoch(3, 1.0, None)]));
    }
}
