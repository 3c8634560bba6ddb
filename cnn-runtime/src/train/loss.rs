//! Loss functions with their gradients, as PyTorch defines them with `reduction='mean'`.

use std::fmt;

/// Why a loss or a training step could not be computed.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TrainError {
    /// The number of labels differs from the batch size.
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Samples in the batch.
        batch: usize,
    },
    /// A label is not a valid class index.
    LabelOutOfRange {
        /// Position of the label in the batch.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes (the network's outputs).
        classes: usize,
    },
    /// The number of targets differs from the number of predictions.
    TargetLength {
        /// Targets given.
        targets: usize,
        /// Predictions.
        predictions: usize,
    },
    /// The batch has no samples: there is nothing to train on (the mean loss of no samples is
    /// not defined).
    EmptyBatch,
    /// The batch is too small to train on: batch norm over a flat input needs more than one
    /// value per channel, as PyTorch requires.
    BatchTooSmall {
        /// Samples in the batch.
        batch: usize,
        /// The fewest samples the network trains on.
        needed: usize,
    },
    /// The loss came out NaN or infinite; no update was made.
    NonFiniteLoss {
        /// The loss.
        loss: f32,
    },
    /// The number of per-pixel labels differs from the batch's pixels.
    PixelLabelCount {
        /// Labels given.
        labels: usize,
        /// Samples in the batch.
        batch: usize,
        /// Pixels (labels) per sample: the output's height times width.
        pixels: usize,
    },
    /// The class weights of a loss are not one per class.
    ClassWeights {
        /// Weights given.
        weights: usize,
        /// Classes of the output.
        classes: usize,
    },
    /// The optimizer's state (momentum, moments) is for another number of parameters than the
    /// network has: it was used on another network. Checked before the forward pass.
    OptimizerState {
        /// Parameters the optimizer's state is for.
        state: usize,
        /// Parameters of the network it was given to.
        params: usize,
    },
    /// The network has several named outputs: which one is logits to a cross-entropy is not
    /// for `train_step` to guess. Checked before the forward pass.
    SeveralOutputs {
        /// The outputs' names, in order.
        outputs: Vec<&'static str>,
    },
    /// A value given as a probability is not in `[0, 1]` (or is NaN), as `nn.BCELoss` requires.
    NotProbability {
        /// Its position.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A distributed step (`train_step_dist`) could not run: a process failed, left the run or
    /// disagrees with the others (another network, step count or batch). Every process gets
    /// this error for the same step, and none changed anything.
    Distributed {
        /// The rank of the process the error is about.
        rank: usize,
        /// What happened there.
        message: String,
    },
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TrainError::Distributed { rank, ref message } => write!(f, "rank {rank}: {message}"),
            TrainError::LabelCount { labels, batch } => write!(f, "{labels} labels for a batch of {batch} samples"),
            TrainError::LabelOutOfRange { index, label, classes } => {
                write!(
                    f,
                    "label {label} at position {index} is out of range for {classes} classes (0..={})",
                    classes.saturating_sub(1)
                )
            }
            TrainError::TargetLength { targets, predictions } => {
                write!(f, "{targets} targets for {predictions} predictions")
            }
            TrainError::OptimizerState { state, params } => write!(
                f,
                "the optimizer was used with {state} parameters before and this network has {params}; use one optimizer per network"
            ),
            TrainError::SeveralOutputs { ref outputs } => write!(
                f,
                "the network has {} outputs ({}): a cross-entropy step needs one; train with `train_step_loss` and a loss over the outputs, or compute it on `forward_train`'s outputs and call `backward` with its gradient, one per output",
                outputs.len(),
                outputs.join(", ")
            ),
            TrainError::NotProbability { index, value } => write!(
                f,
                "value {value} at position {index} is not a probability in [0, 1] (apply a sigmoid first, or use `bce_with_logits`)"
            ),
            TrainError::EmptyBatch => f.write_str("the batch is empty: there is nothing to train on"),
            TrainError::BatchTooSmall { batch, needed } => {
                write!(f, "a batch of {batch} samples is too small to train on: batch norm over a flat input needs at least {needed} (more than one value per channel)")
            }
            TrainError::PixelLabelCount { labels, batch, pixels } => write!(
                f,
                "{labels} labels for a batch of {batch} samples of {pixels} pixels each: expected one label per pixel, {}",
                batch.saturating_mul(pixels)
            ),
            TrainError::ClassWeights { weights, classes } => {
                write!(f, "{weights} class weights for {classes} classes: give one weight per class")
            }
            TrainError::NonFiniteLoss { loss } => {
                write!(f, "the loss is {loss}; the parameters were left unchanged (lower the learning rate or check the inputs)")
            }
        }
    }
}

impl std::error::Error for TrainError {}

/// Whether `labels` are `batch` class indices below `classes`: what a training step checks
/// before it runs anything.
///
/// # Errors
/// [`TrainError::LabelCount`], or [`TrainError::LabelOutOfRange`] for the first bad label.
pub fn check_labels(labels: &[usize], batch: usize, classes: usize) -> Result<(), TrainError> {
    if labels.len() != batch {
        return Err(TrainError::LabelCount { labels: labels.len(), batch });
    }
    match labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        Some((index, &label)) => Err(TrainError::LabelOutOfRange { index, label, classes }),
        None => Ok(()),
    }
}

/// Mean softmax cross-entropy over a batch, `nn.CrossEntropyLoss()`: `logits` holds
/// `labels.len()` rows of `classes` scores, `labels` the class index of each row. Writes the
/// gradient with respect to the logits into `grad` (`(softmax - one_hot) / batch`) and returns
/// the loss. Stable for any logits: each row is shifted by its maximum before `exp`.
///
/// # Errors
/// [`TrainError::LabelCount`] or [`TrainError::LabelOutOfRange`], checked before anything is
/// computed.
///
/// # Panics
/// If `logits` or `grad` does not hold `labels.len() * classes` values.
pub fn softmax_cross_entropy(
    logits: &[f32],
    classes: usize,
    labels: &[usize],
    grad: &mut [f32],
) -> Result<f32, TrainError> {
    let batch = logits.len().checked_div(classes).unwrap_or(0);
    check_labels(labels, batch, classes)?;
    assert_eq!(logits.len(), batch * classes, "logits are not a whole number of rows");
    // The plain case of `cross_entropy`, so that a step built from the parts is bit for bit
    // `train_step`.
    cross_entropy(logits, labels, &[classes], &CrossEntropy::new(), grad)
}

/// The options of [`cross_entropy`], PyTorch's `nn.CrossEntropyLoss` with class indices and
/// `reduction="mean"`, set like its keyword arguments:
///
/// ```
/// use cnn_runtime::loss::CrossEntropy;
/// // nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]), ignore_index=255, label_smoothing=0.1)
/// let opts = CrossEntropy::new().weight(vec![1.0, 2.0, 0.5]).ignore_index(255).label_smoothing(0.1);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CrossEntropy {
    weight: Option<Vec<f32>>,
    ignore_index: Option<usize>,
    label_smoothing: f32,
}

impl CrossEntropy {
    /// The plain loss: no class weights, no ignored label, no smoothing, one label per sample.
    pub const fn new() -> Self {
        CrossEntropy { weight: None, ignore_index: None, label_smoothing: 0.0 }
    }

    /// A weight per class (PyTorch's `weight`): each term is scaled by its label's weight, and
    /// the mean is the weighted mean (divided by the sum of the weights of the labels counted).
    pub fn weight(mut self, weight: Vec<f32>) -> Self {
        self.weight = Some(weight);
        self
    }

    /// A label that adds nothing to the loss or its gradient, and is not counted in the mean
    /// (PyTorch's `ignore_index`; segmentation data sets mark unlabelled pixels with 255). It may
    /// lie outside the classes.
    pub fn ignore_index(mut self, label: usize) -> Self {
        self.ignore_index = Some(label);
        self
    }

    /// PyTorch's `label_smoothing`: the target becomes `(1 - ε)` on the label plus `ε / K`
    /// spread over the `K` classes.
    ///
    /// # Panics
    /// If `epsilon` is not in `[0, 1]`, as PyTorch refuses it.
    #[track_caller]
    pub fn label_smoothing(mut self, epsilon: f32) -> Self {
        assert!((0.0..=1.0).contains(&epsilon), "label_smoothing must be in [0, 1], not {epsilon}");
        self.label_smoothing = epsilon;
        self
    }

    /// The same options with `per_sample` pixels.
    #[doc(hidden)]
    pub fn with_pixels(&self, per_sample: usize) -> CrossEntropyRef<'_> {
        CrossEntropyRef { opts: self, pixels: per_sample }
    }
}

/// [`CrossEntropy`] borrowed with the pixels of a network's output: what `train_step` passes to
/// the loss without cloning the class weights.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct CrossEntropyRef<'a> {
    opts: &'a CrossEntropy,
    pixels: usize,
}

/// Mean cross-entropy, `nn.CrossEntropyLoss(weight, ignore_index, label_smoothing)` with class
/// indices. `shape` is one sample's logits: `[K]` for `[N, K]` logits with one label per sample,
/// or `[K, H, W]` for `[N, K, H, W]` logits with one label per pixel (`[N, H, W]`, as PyTorch
/// takes a segmentation output); a network's `OUTPUT_SHAPE` is it, and a generated network's
/// `Net::cross_entropy` passes it for you. Writes the gradient with respect to the logits into
/// `grad` and returns the loss. The mean is PyTorch's: divided by the summed weights of the labels
/// not ignored (their count without weights). If every label is ignored the loss is NaN, as in
/// PyTorch, and the gradient zero; class weights whose sum over the counted labels is 0 give
/// PyTorch's ±inf (or NaN) and a gradient that is not finite either.
///
/// ```
/// use cnn_runtime::loss::{cross_entropy, CrossEntropy};
/// // Two samples of 3 classes at 2 pixels each: [N, K, H, W] = [2, 3, 1, 2].
/// let logits = [0.0f32; 12];
/// let mut grad = [0.0f32; 12];
/// let loss = cross_entropy(&logits, &[0, 1, 2, 0], &[3, 1, 2], &CrossEntropy::new(), &mut grad).unwrap();
/// assert!((loss - 3f32.ln()).abs() < 1e-6);
/// ```
///
/// # Errors
/// [`TrainError::LabelCount`] / [`TrainError::PixelLabelCount`], [`TrainError::LabelOutOfRange`]
/// (a label neither below `classes` nor the ignored one), or [`TrainError::ClassWeights`],
/// checked before anything is computed.
///
/// # Panics
/// If `shape` is empty or holds a 0, if `logits` and `grad` differ in length or `logits` is not a
/// whole number of samples of `shape`.
#[track_caller]
pub fn cross_entropy(
    logits: &[f32],
    labels: &[usize],
    shape: &[usize],
    opts: &CrossEntropy,
    grad: &mut [f32],
) -> Result<f32, TrainError> {
    let (&classes, rest) = shape.split_first().expect("a sample's logits have a shape: [K] or [K, H, W]");
    let pixels = rest.iter().try_fold(1usize, |p, &d| p.checked_mul(d));
    let pixels = pixels.unwrap_or_else(|| panic!("a sample of shape {shape:?} has more pixels than usize holds"));
    cross_entropy_with(logits, labels, classes, opts.with_pixels(pixels), grad)
}

/// Whether there is one label per pixel of `batch` samples.
///
/// # Errors
/// [`TrainError::LabelCount`] (one pixel a sample) or [`TrainError::PixelLabelCount`].
pub fn check_label_count(labels: &[usize], batch: usize, pixels: usize) -> Result<(), TrainError> {
    if batch.checked_mul(pixels) == Some(labels.len()) {
        Ok(())
    } else if pixels == 1 {
        Err(TrainError::LabelCount { labels: labels.len(), batch })
    } else {
        Err(TrainError::PixelLabelCount { labels: labels.len(), batch, pixels })
    }
}

/// Whether every label is a class below `classes` or the ignored one, and the class weights
/// (if any) are one per class.
///
/// # Errors
/// [`TrainError::LabelOutOfRange`] for the first bad label, or [`TrainError::ClassWeights`].
#[doc(hidden)]
pub fn check_loss_labels(labels: &[usize], classes: usize, opts: CrossEntropyRef<'_>) -> Result<(), TrainError> {
    let opts = opts.opts;
    let bad = labels.iter().enumerate().find(|(_, &l)| l >= classes && opts.ignore_index != Some(l));
    if let Some((index, &label)) = bad {
        return Err(TrainError::LabelOutOfRange { index, label, classes });
    }
    match opts.weight.as_deref() {
        Some(w) if w.len() != classes => Err(TrainError::ClassWeights { weights: w.len(), classes }),
        _ => Ok(()),
    }
}

/// [`cross_entropy`] with the pixels given apart from the options.
#[doc(hidden)]
#[track_caller]
pub fn cross_entropy_with(
    logits: &[f32],
    labels: &[usize],
    classes: usize,
    opts: CrossEntropyRef<'_>,
    grad: &mut [f32],
) -> Result<f32, TrainError> {
    cross_entropy_folded(logits, labels, classes, opts, grad, None, &mut |f| f(0.0))
}

/// How a batch-wide left fold runs: given `f(start)`, this part's values folded onto the sum of
/// the parts before, it returns the whole batch's sum (see [`cross_entropy_folded`]).
#[doc(hidden)]
pub type SumAlong<'a> = dyn FnMut(&mut dyn FnMut(f64) -> f64) -> f64 + 'a;

/// [`cross_entropy_with`] over one part of a batch whose other parts other processes hold: the
/// loss's two batch-wide sums (the counted labels' weights, then the per-label terms) are left
/// folds in label order, and `fold(f)` runs one of them, `f(start)` folding this part's values
/// onto what the parts before it summed to, and returns the whole batch's sum. In one process
/// `fold` is `|f| f(0.0)`; across processes it passes the sum along in rank order, so the loss
/// and its gradient are the bits one process computes. `terms` is room for the per-label terms
/// when the sum continues elsewhere; without it they are summed as they come (one process).
///
/// # Errors
/// As [`cross_entropy_with`].
#[doc(hidden)]
pub fn cross_entropy_folded(
    logits: &[f32],
    labels: &[usize],
    classes: usize,
    opts: CrossEntropyRef<'_>,
    grad: &mut [f32],
    mut terms: Option<&mut Vec<f64>>,
    fold: &mut SumAlong<'_>,
) -> Result<f32, TrainError> {
    let CrossEntropyRef { opts, pixels } = opts;
    let sample = classes.checked_mul(pixels).filter(|&s| s > 0);
    let sample = sample
        .unwrap_or_else(|| panic!("a sample of {classes} classes at {pixels} pixels has no size a slice can hold"));
    assert_eq!(logits.len() % sample, 0, "logits are not a whole number of {sample}-element samples");
    assert_eq!(grad.len(), logits.len(), "grad and logits differ in length");
    check_label_count(labels, logits.len() / sample, pixels)?;
    check_loss_labels(labels, classes, CrossEntropyRef { opts, pixels })?;
    let ignored = |l: usize| opts.ignore_index == Some(l);
    let weights = opts.weight.as_deref();
    let w = |c: usize| weights.map_or(1.0, |w| w[c]);
    let weight_sum: f32 = weights.map_or(classes as f32, |w| w.iter().sum());
    // The denominator: the summed weights of the counted labels, added in label order.
    let total_weight =
        fold(&mut |start| labels.iter().filter(|&&l| !ignored(l)).fold(start, |acc, &l| acc + w(l) as f64));
    let eps = opts.label_smoothing;
    let (on_label, spread) = (1.0 - eps, eps / classes as f32);
    let scale = (1.0 / total_weight) as f32;
    if let Some(terms) = terms.as_mut() {
        terms.clear();
        terms.reserve(labels.len());
    }
    let mut running = 0.0f64;
    for (s, (x, g)) in logits.chunks_exact(sample).zip(grad.chunks_exact_mut(sample)).enumerate() {
        for p in 0..pixels {
            let label = labels[s * pixels + p];
            // The class scores of one pixel lie `pixels` apart.
            let at = |c: usize| c * pixels + p;
            if ignored(label) {
                (0..classes).for_each(|c| g[at(c)] = 0.0);
                continue;
            }
            let max = (0..classes).fold(f32::NEG_INFINITY, |m, c| m.max(x[at(c)]));
            let mut sum = 0.0f32;
            for c in 0..classes {
                let e = (x[at(c)] - max).exp();
                g[at(c)] = e;
                sum += e;
            }
            let log_sum = sum.ln();
            // -log p(c) = log Σ exp - (x_c - max)
            let nll = |c: usize| (log_sum - (x[at(c)] - max)) as f64;
            let mut term = on_label as f64 * w(label) as f64 * nll(label);
            if eps > 0.0 {
                let smooth: f64 = (0..classes).map(|c| w(c) as f64 * nll(c)).sum();
                term += spread as f64 * smooth;
            }
            match terms.as_mut() {
                Some(terms) => terms.push(term),
                None => running += term,
            }
            // d/dx_c = [(1-ε) w_y (p_c - [c = y]) + ε/K (p_c Σw - w_c)] / W
            let p_factor = on_label * w(label) + spread * weight_sum;
            for c in 0..classes {
                let prob = g[at(c)] / sum;
                let mut d = prob * p_factor - spread * w(c);
                if c == label {
                    d -= on_label * w(label);
                }
                g[at(c)] = d * scale;
            }
        }
    }
    let total = match terms {
        Some(terms) => fold(&mut |start| terms.iter().fold(start, |acc, t| acc + t)),
        None => running,
    };
    // PyTorch's quotient, also where the counted weights sum to 0: NaN when every label is
    // ignored (whose gradient is zero: nothing counted), ±inf for weights that cancel.
    Ok((total / total_weight) as f32)
}

/// The options of [`bce_with_logits`], PyTorch's `nn.BCEWithLogitsLoss(pos_weight=...)` with
/// `reduction="mean"`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BceWithLogits {
    pos_weight: Option<Vec<f32>>,
    pixels: usize,
}

impl BceWithLogits {
    /// The plain loss: no positive weight, `[N, C]` values.
    pub const fn new() -> Self {
        BceWithLogits { pos_weight: None, pixels: 1 }
    }

    /// The weight of positive targets per channel (one value: every channel), PyTorch's
    /// `pos_weight` of shape `[C, 1, 1]` for masks: above 1 it favours recall.
    pub fn pos_weight(mut self, pos_weight: Vec<f32>) -> Self {
        self.pos_weight = Some(pos_weight);
        self
    }

    /// Values laid out `[N, C, H, W]` with `H · W = per_sample`, so that `pos_weight` applies per
    /// channel. The default, 1, is `[N, C]`.
    ///
    /// # Panics
    /// If `per_sample` is 0.
    #[track_caller]
    pub fn pixels(mut self, per_sample: usize) -> Self {
        assert!(per_sample > 0, "a sample has at least one pixel");
        self.pixels = per_sample;
        self
    }
}

/// Mean binary cross-entropy on logits, `nn.BCEWithLogitsLoss`: `targets` in `[0, 1]` (a mask),
/// one per logit; each term is `-[pw · t · log σ(x) + (1 - t) · log(1 - σ(x))]`, computed from
/// softplus so that no logit overflows. Writes the gradient with respect to the logits into
/// `grad` and returns the loss.
///
/// # Errors
/// [`TrainError::TargetLength`] if `targets` and `logits` differ in length, or
/// [`TrainError::ClassWeights`] if `pos_weight` has neither one value nor one per channel.
///
/// # Panics
/// If `grad` and `logits` differ in length.
#[track_caller]
pub fn bce_with_logits(
    logits: &[f32],
    targets: &[f32],
    opts: &BceWithLogits,
    grad: &mut [f32],
) -> Result<f32, TrainError> {
    if targets.len() != logits.len() {
        return Err(TrainError::TargetLength { targets: targets.len(), predictions: logits.len() });
    }
    assert_eq!(grad.len(), logits.len(), "grad and logits differ in length");
    let pixels = opts.pixels.max(1);
    let pos = opts.pos_weight.as_deref();
    let channels = match pos {
        Some(pw) if pw.len() > 1 => {
            if !(logits.len() / pixels).is_multiple_of(pw.len()) || !logits.len().is_multiple_of(pixels) {
                return Err(TrainError::ClassWeights { weights: pw.len(), classes: logits.len() / pixels });
            }
            pw.len()
        }
        Some([]) => return Err(TrainError::ClassWeights { weights: 0, classes: 1 }),
        _ => 1,
    };
    let n = logits.len().max(1) as f32;
    // log(1 + e^x), stable on both sides.
    let softplus = |x: f32| x.max(0.0) + (-x.abs()).exp().ln_1p();
    let mut total = 0.0f64;
    for (i, ((g, &x), &t)) in grad.iter_mut().zip(logits).zip(targets).enumerate() {
        let pw = pos.map_or(1.0, |pw| pw[(i / pixels) % channels]);
        total += (pw * t * softplus(-x) + (1.0 - t) * softplus(x)) as f64;
        let sig = 1.0 / (1.0 + (-x).exp());
        *g = (sig * (pw * t + 1.0 - t) - pw * t) / n;
    }
    Ok((total / n as f64) as f32)
}

/// Mean squared error over every element, `nn.MSELoss()`. Writes the gradient with respect to
/// `predictions` (`2 (p - t) / len`) into `grad` and returns the loss.
///
/// # Errors
/// [`TrainError::TargetLength`] if `targets` and `predictions` differ in length.
///
/// # Panics
/// If `grad` and `predictions` differ in length.
pub fn mse(predictions: &[f32], targets: &[f32], grad: &mut [f32]) -> Result<f32, TrainError> {
    if targets.len() != predictions.len() {
        return Err(TrainError::TargetLength { targets: targets.len(), predictions: predictions.len() });
    }
    assert_eq!(grad.len(), predictions.len(), "grad and predictions differ in length");
    let n = predictions.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((g, &p), &t) in grad.iter_mut().zip(predictions).zip(targets) {
        let d = p - t;
        total += (d as f64) * (d as f64);
        *g = 2.0 * d / n;
    }
    Ok((total / n as f64) as f32)
}

/// Binary cross-entropy of probabilities, `nn.BCELoss()` (mean over every element): each log
/// clamped at -100 as PyTorch clamps it, so a probability of exactly 0 or 1 gives a finite loss;
/// the gradient with respect to `probabilities`, `(p - t) / max(p (1 - p), 1e-12) / len`, as
/// PyTorch's, into `grad`. Returns the loss. For logits, [`bce_with_logits`] is the stable one.
///
/// # Errors
/// [`TrainError::TargetLength`] if the lengths differ, [`TrainError::NotProbability`] for a
/// probability outside `[0, 1]`.
///
/// # Panics
/// If `grad` and `probabilities` differ in length.
pub fn bce(probabilities: &[f32], targets: &[f32], grad: &mut [f32]) -> Result<f32, TrainError> {
    if targets.len() != probabilities.len() {
        return Err(TrainError::TargetLength { targets: targets.len(), predictions: probabilities.len() });
    }
    assert_eq!(grad.len(), probabilities.len(), "grad and probabilities differ in length");
    if let Some((index, &value)) = probabilities.iter().enumerate().find(|(_, p)| !(0.0..=1.0).contains(*p)) {
        return Err(TrainError::NotProbability { index, value });
    }
    let n = probabilities.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((g, &p), &t) in grad.iter_mut().zip(probabilities).zip(targets) {
        let (log_p, log_q) = (p.ln().max(-100.0), (1.0 - p).ln().max(-100.0));
        total -= (t * log_p + (1.0 - t) * log_q) as f64;
        *g = (p - t) / (p * (1.0 - p)).max(1e-12) / n;
    }
    Ok((total / n as f64) as f32)
}

/// The Gram matrix of one sample's feature maps `[C, H, W]` (`features`, `C = channels`), as
/// PyTorch's `fast_neural_style` computes it: `G = F Fᵀ / (C H W)` with `F` the `[C, H W]` view,
/// into `gram` (`[C, C]`). A style loss is then `mse` between Gram matrices.
///
/// # Panics
/// If `features` is not `channels` maps, or `gram` not `channels²` values.
pub fn gram_matrix(features: &[f32], channels: usize, gram: &mut [f32]) {
    let hw = gram_shape(features, channels, gram);
    let scale = 1.0 / (channels * hw) as f64;
    for i in 0..channels {
        let fi = &features[i * hw..(i + 1) * hw];
        for j in i..channels {
            let fj = &features[j * hw..(j + 1) * hw];
            let dot: f64 = fi.iter().zip(fj).map(|(a, b)| *a as f64 * *b as f64).sum();
            let v = (dot * scale) as f32;
            gram[i * channels + j] = v;
            gram[j * channels + i] = v;
        }
    }
}

/// The gradient of a loss with respect to the feature maps, from its gradient `grad_gram` with
/// respect to their [`gram_matrix`]: `(dG + dGᵀ) F / (C H W)`, into `grad_features`.
///
/// # Panics
/// As [`gram_matrix`], and if `grad_features` is not `features`' length.
pub fn gram_matrix_backward(features: &[f32], channels: usize, grad_gram: &[f32], grad_features: &mut [f32]) {
    let hw = gram_shape(features, channels, grad_gram);
    assert_eq!(grad_features.len(), features.len(), "grad_features and features differ in length");
    let scale = 1.0 / (channels * hw) as f64;
    for i in 0..channels {
        let out = &mut grad_features[i * hw..(i + 1) * hw];
        for (p, o) in out.iter_mut().enumerate() {
            let sum: f64 = (0..channels)
                .map(|j| {
                    (grad_gram[i * channels + j] + grad_gram[j * channels + i]) as f64 * features[j * hw + p] as f64
                })
                .sum();
            *o = (sum * scale) as f32;
        }
    }
}

/// The pixels per map of `features` (`channels` maps), checked against a `[C, C]` matrix.
fn gram_shape(features: &[f32], channels: usize, gram: &[f32]) -> usize {
    assert!(
        channels > 0 && features.len().is_multiple_of(channels),
        "{} feature values are not {channels} maps",
        features.len()
    );
    assert_eq!(
        gram.len(),
        channels * channels,
        "a Gram matrix of {channels} channels has {} values",
        channels * channels
    );
    features.len() / channels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bce_matches_the_definition_pytorch_s_clamp_and_its_gradient() {
        let (p, t) = ([0.2f32, 0.9, 0.5, 0.0, 1.0], [0.0f32, 1.0, 1.0, 1.0, 1.0]);
        let mut grad = [0.0; 5];
        let loss = bce(&p, &t, &mut grad).unwrap();
        // -log terms by hand; log(0) clamped at -100, as torch.nn.BCELoss does.
        let want = ((0.8f64).ln().abs() + (0.9f64).ln().abs() + (0.5f64).ln().abs() + 100.0 + 0.0) / 5.0;
        assert!((loss as f64 - want).abs() < 1e-5, "{loss} vs {want}");
        for i in 0..3 {
            let (mut up, mut down) = (p, p);
            up[i] += 1e-3;
            down[i] -= 1e-3;
            let mut g = [0.0; 5];
            let fd = (bce(&up, &t, &mut g).unwrap() - bce(&down, &t, &mut g).unwrap()) / 2e-3;
            assert!((fd - grad[i]).abs() < 2e-3 * fd.abs().max(1.0), "{i}: {fd} vs {}", grad[i]);
        }
        // At p = 0 with t = 1, PyTorch's gradient: (0 - 1) / 1e-12 / 5.
        assert_eq!(grad[3], -1.0 / 1e-12 / 5.0);
        assert_eq!(bce(&[1.5], &[1.0], &mut [0.0]), Err(TrainError::NotProbability { index: 0, value: 1.5 }));
        assert!(bce(&[f32::NAN], &[1.0], &mut [0.0]).is_err());
    }

    #[test]
    fn gram_matrix_and_its_gradient_match_a_loop_and_finite_differences() {
        let (c, hw) = (3usize, 5usize);
        let f: Vec<f32> = (0..c * hw).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
        let mut g = vec![0.0; c * c];
        gram_matrix(&f, c, &mut g);
        for i in 0..c {
            for j in 0..c {
                let want: f32 = (0..hw).map(|p| f[i * hw + p] * f[j * hw + p]).sum::<f32>() / (c * hw) as f32;
                assert!((g[i * c + j] - want).abs() < 1e-6, "G[{i}][{j}]");
            }
        }
        // L = Σ w ⊙ G with an asymmetric w: its gradient through the Gram matrix.
        let w: Vec<f32> = (0..c * c).map(|k| (k as f32 - 3.0) / 3.0).collect();
        let loss = |f: &[f32]| {
            let mut g = vec![0.0; c * c];
            gram_matrix(f, c, &mut g);
            g.iter().zip(&w).map(|(a, b)| (a * b) as f64).sum::<f64>()
        };
        let mut df = vec![0.0; c * hw];
        gram_matrix_backward(&f, c, &w, &mut df);
        for k in 0..c * hw {
            let (mut up, mut down) = (f.clone(), f.clone());
            up[k] += 1e-2;
            down[k] -= 1e-2;
            let fd = ((loss(&up) - loss(&down)) / 2e-2) as f32;
            assert!((fd - df[k]).abs() < 1e-4, "{k}: {fd} vs {}", df[k]);
        }
    }

    #[test]
    fn cross_entropy_matches_the_definition_and_its_gradient() {
        let logits = [1.0, 2.0, 0.5, -1.0, 0.0, 3.0];
        let labels = [1, 2];
        let mut grad = [0.0; 6];
        let loss = softmax_cross_entropy(&logits, 3, &labels, &mut grad).unwrap();
        let mut want = 0.0f64;
        for (row, &l) in logits.chunks(3).zip(&labels) {
            let z: f64 = row.iter().map(|&v| (v as f64).exp()).sum();
            want += z.ln() - row[l] as f64;
        }
        assert!((loss as f64 - want / 2.0).abs() < 1e-6);
        // Central differences of the loss reproduce the gradient.
        for i in 0..6 {
            let mut lp = logits;
            lp[i] += 1e-3;
            let mut lm = logits;
            lm[i] -= 1e-3;
            let mut g = [0.0; 6];
            let fd = (softmax_cross_entropy(&lp, 3, &labels, &mut g).unwrap()
                - softmax_cross_entropy(&lm, 3, &labels, &mut g).unwrap())
                / 2e-3;
            assert!((fd - grad[i]).abs() < 1e-3, "{i}: {fd} vs {}", grad[i]);
        }
    }

    #[test]
    fn cross_entropy_is_stable_for_huge_logits() {
        let mut grad = [0.0; 3];
        let loss = softmax_cross_entropy(&[1e30, 0.0, -1e30], 3, &[0], &mut grad).unwrap();
        assert_eq!(loss, 0.0);
        assert!(grad.iter().all(|g| g.is_finite()));
        let loss = softmax_cross_entropy(&[1000.0, 0.0, 0.0], 3, &[1], &mut grad).unwrap();
        assert_eq!(loss, 1000.0);
    }

    #[test]
    fn bad_labels_are_errors_naming_the_numbers() {
        let mut grad = [0.0; 6];
        let e = softmax_cross_entropy(&[0.0; 6], 3, &[0], &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "1 labels for a batch of 2 samples");
        let e = softmax_cross_entropy(&[0.0; 6], 3, &[0, 3], &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "label 3 at position 1 is out of range for 3 classes (0..=2)");
    }

    /// `nn.CrossEntropyLoss` with every option, from its definition in f64.
    fn cross_entropy_reference(
        x: &[f32],
        labels: &[usize],
        k: usize,
        pixels: usize,
        w: Option<&[f32]>,
        ignore: Option<usize>,
        eps: f64,
    ) -> f64 {
        let w = |c: usize| w.map_or(1.0, |w| w[c] as f64);
        let (mut total, mut den) = (0.0, 0.0);
        for (i, &y) in labels.iter().enumerate() {
            if Some(y) == ignore {
                continue;
            }
            let (s, p) = (i / pixels, i % pixels);
            let z: Vec<f64> = (0..k).map(|c| x[(s * k + c) * pixels + p] as f64).collect();
            let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            total += (1.0 - eps) * w(y) * (lse - z[y]);
            total += eps / k as f64 * (0..k).map(|c| w(c) * (lse - z[c])).sum::<f64>();
            den += w(y);
        }
        total / den
    }

    #[test]
    fn cross_entropy_options_match_the_definition_and_differences() {
        let (n, k, pixels) = (2, 3, 5);
        let x = crate::reference::values(n * k * pixels, 3);
        let labels = [0, 2, 255, 1, 1, 2, 0, 255, 1, 0];
        let weight = [0.5f32, 2.0, 1.25];
        let opts = CrossEntropy::new().weight(weight.to_vec()).ignore_index(255).label_smoothing(0.2);
        let mut grad = vec![0.0; x.len()];
        let loss = cross_entropy(&x, &labels, &[k, 1, pixels], &opts, &mut grad).unwrap();
        let want = cross_entropy_reference(&x, &labels, k, pixels, Some(&weight), Some(255), 0.2);
        assert!((loss as f64 - want).abs() < 1e-6, "{loss} vs {want}");
        for i in 0..x.len() {
            let at = |d: f32| {
                let mut y = x.clone();
                y[i] += d;
                cross_entropy_reference(&y, &labels, k, pixels, Some(&weight), Some(255), 0.2)
            };
            let fd = (at(1e-3) - at(-1e-3)) / 2e-3;
            assert!((fd - grad[i] as f64).abs() < 1e-4, "{i}: {fd} vs {}", grad[i]);
        }
        // Without options it is the plain loss, which softmax_cross_entropy computes too.
        let rows = [0, 2, 1, 1];
        let x = crate::reference::values(4 * k, 4);
        let (mut g1, mut g2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let plain = cross_entropy(&x, &rows, &[k], &CrossEntropy::new(), &mut g1).unwrap();
        assert!((plain - softmax_cross_entropy(&x, k, &rows, &mut g2).unwrap()).abs() < 1e-6);
        assert!(g1.iter().zip(&g2).all(|(a, b)| (a - b).abs() < 1e-7));
    }

    #[test]
    fn cross_entropy_errors_name_the_numbers() {
        let mut grad = vec![0.0; 12];
        let opts = CrossEntropy::new();
        let e = cross_entropy(&[0.0; 12], &[0, 1, 2], &[3, 2], &opts, &mut grad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "3 labels for a batch of 2 samples of 2 pixels each: expected one label per pixel, 4"
        );
        let e = cross_entropy(&[0.0; 12], &[0, 1, 255, 2], &[3, 2], &opts, &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "label 255 at position 2 is out of range for 3 classes (0..=2)");
        let opts = opts.weight(vec![1.0; 4]);
        let e = cross_entropy(&[0.0; 12], &[0, 1, 1, 2], &[3, 2], &opts, &mut grad).unwrap_err();
        assert_eq!(e.to_string(), "4 class weights for 3 classes: give one weight per class");
        let all_ignored = CrossEntropy::new().ignore_index(7);
        let loss = cross_entropy(&[1.0; 6], &[7, 7], &[3], &all_ignored, &mut grad[..6]).unwrap();
        assert!(loss.is_nan() && grad[..6].iter().all(|&g| g == 0.0));
        // More pixels than a slice can hold: a named refusal, not an overflow.
        let huge = std::panic::catch_unwind(|| {
            cross_entropy(&[0.0; 6], &[0, 0], &[3, usize::MAX, 2], &CrossEntropy::new(), &mut [0.0; 6])
        });
        let message = huge.unwrap_err().downcast_ref::<String>().cloned().unwrap();
        assert!(message.contains("[3, 18446744073709551615, 2]"), "{message}");
        let huge = std::panic::catch_unwind(|| {
            cross_entropy(&[0.0; 6], &[0, 0], &[usize::MAX, 3], &CrossEntropy::new(), &mut [0.0; 6])
        });
        let message = huge.unwrap_err().downcast_ref::<String>().cloned().unwrap();
        assert!(message.contains("18446744073709551615 classes at 3 pixels"), "{message}");
    }

    /// Class weights that cancel over the counted labels: PyTorch's quotient (`-inf` for
    /// `weight=[1, -1]` on these logits, NaN for weights of 0), not a NaN with a zero gradient.
    #[test]
    fn class_weights_summing_to_zero_give_pytorchs_loss() {
        let logits = [1.0f32, 2.0, 0.5, -1.0];
        let mut grad = [0.0f32; 4];
        let opts = CrossEntropy::new().weight(vec![1.0, -1.0]);
        let loss = cross_entropy(&logits, &[0, 1], &[2], &opts, &mut grad).unwrap();
        assert_eq!(loss, f32::NEG_INFINITY);
        assert!(grad.iter().any(|g| !g.is_finite()));
        let opts = CrossEntropy::new().weight(vec![0.0, 0.0]);
        assert!(cross_entropy(&logits, &[0, 1], &[2], &opts, &mut grad).unwrap().is_nan());
    }

    #[test]
    fn bce_with_logits_matches_the_definition_and_differences() {
        let (n, c, pixels) = (2, 2, 3);
        let x: Vec<f32> = crate::reference::values(n * c * pixels, 9).iter().map(|v| v * 4.0).collect();
        let t: Vec<f32> = crate::reference::values(x.len(), 10).iter().map(|v| (v + 1.0) / 2.0).collect();
        let opts = BceWithLogits::new().pos_weight(vec![3.0, 0.5]).pixels(pixels);
        let reference = |x: &[f32]| {
            let mut total = 0.0;
            for (i, (&x, &t)) in x.iter().zip(&t).enumerate() {
                let pw = [3.0, 0.5][(i / pixels) % c];
                let sig = 1.0 / (1.0 + (-x as f64).exp());
                total -= pw * t as f64 * sig.ln() + (1.0 - t as f64) * (1.0 - sig).ln();
            }
            total / x.len() as f64
        };
        let mut grad = vec![0.0; x.len()];
        let loss = bce_with_logits(&x, &t, &opts, &mut grad).unwrap();
        assert!((loss as f64 - reference(&x)).abs() < 1e-6);
        for i in 0..x.len() {
            let at = |d: f32| {
                let mut y = x.clone();
                y[i] += d;
                reference(&y)
            };
            assert!(((at(1e-3) - at(-1e-3)) / 2e-3 - grad[i] as f64).abs() < 1e-4, "{i}");
        }
        // Huge logits stay finite.
        let loss = bce_with_logits(&[1e30, -1e30], &[1.0, 0.0], &BceWithLogits::new(), &mut grad[..2]).unwrap();
        assert_eq!(loss, 0.0);
        let e = bce_with_logits(&x, &t, &BceWithLogits::new().pos_weight(vec![1.0; 5]), &mut grad).unwrap_err();
        assert!(matches!(e, TrainError::ClassWeights { weights: 5, .. }), "{e}");
    }

    #[test]
    fn mse_and_its_gradient() {
        let mut grad = [0.0; 4];
        let loss = mse(&[1.0, 2.0, 3.0, 4.0], &[1.0, 0.0, 3.0, 5.0], &mut grad).unwrap();
        assert_eq!(loss, (4.0 + 1.0) / 4.0);
        assert_eq!(grad, [0.0, 1.0, 0.0, -0.5]);
        assert!(mse(&[1.0], &[1.0, 2.0], &mut [0.0]).is_err());
    }
}
