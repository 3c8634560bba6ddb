//! [`Network`]: what every network `cnn!` generates is, and what code generic over networks
//! (a training loop, an evaluation, a server) is written against.
//!
//! The macro writes one `impl Network for Net` holding what differs between networks (the
//! sample types, the constants, the tensor tables and the layers' code); everything else (the
//! forward passes, training steps, tensor access, safetensors and checkpoint I/O) is a default
//! method here, written once.

use std::borrow::{Borrow, BorrowMut};
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use cnn_runtime::__private::{self as rt, NetState, Params, StateShape, Tile};
use cnn_runtime::checkpoint::Progress;
use cnn_runtime::exchange::{Exchange, Part};
use cnn_runtime::loss::CrossEntropy;
use cnn_runtime::{
    Optimizer, OutputSpec, Param, ParamMut, ParamSpec, ParamsMut, Sample, Tensor, TrainError, WeightsError, Workspace,
};

/// A network written with [`cnn!`](macro@crate::cnn): its shapes, its tensors, and everything it does.
///
/// Every network the macro generates implements it; its sizes are literals in the network's
/// own types (`Input = [f32; 784]`), so a wrong-sized sample does not compile, and code generic
/// over `N: Network` reaches samples through [`Sample`]. Bring it into scope with
/// `use cnn::prelude::*` (or `use cnn::Network`) to call the methods.
///
/// ```
/// use cnn::data::{digits, Dataset};
/// use cnn::nets::DigitsNet;
/// use cnn::prelude::*;
///
/// /// Accuracy of any classifier of 8x8 digits.
/// fn evaluate<N: Network<Input = [f32; 64]>>(net: &N, data: &Dataset<64>) -> f64 {
///     cnn::metrics::accuracy(&net.forward_batch(&data.images), &data.labels)
/// }
///
/// let net = DigitsNet::new(0);
/// let accuracy = evaluate(&net, &digits());
/// assert!((0.0..=1.0).contains(&accuracy));
/// assert_eq!(DigitsNet::INPUT_SHAPE, [1, 8, 8]);
/// ```
///
/// Methods that run in eval mode (`forward*`, `activations`) use running statistics and no
/// dropout; `forward_train`, `backward` and the `train_step` family run in train mode (batch
/// statistics over the whole batch, running statistics updated, dropout on).
pub trait Network: Sized + Clone + fmt::Debug + Send + Sync + 'static {
    /// One input sample, `[f32; INPUT_LEN]`.
    type Input: Sample;

    /// One output sample, `[f32; OUTPUT_LEN]`; for a network with several named outputs
    /// (`output p3`, `output p4` in the DSL), the struct `cnn!` generates beside it,
    /// `{Net}Outputs`, with one `[f32; N]` field per output (`out.p3`), each its shape
    /// flattened (`[C, H, W]`, or `[H, W, C]` after a `permute` to channels-last), one after
    /// another in memory (see [`Self::OUTPUTS`]).
    type Output: Sample;

    /// What [`Self::forward`] returns: `Self::Output`, or `Box<Self::Output>` above 65,536
    /// elements (an array that large returned by value could overflow a thread's stack).
    /// `.borrow()` gives the array either way.
    type Prediction: Borrow<Self::Output> + BorrowMut<Self::Output> + fmt::Debug + Send;

    /// Shape of one input sample, `[channels, height, width]`.
    const INPUT_SHAPE: [usize; 3];

    /// Elements in one input sample.
    const INPUT_LEN: usize;

    /// Shape of one output sample; `[OUTPUT_LEN]` for several named outputs (their shapes are
    /// in [`Self::OUTPUTS`]).
    const OUTPUT_SHAPE: &'static [usize];

    /// Elements in one output sample (for several named outputs: in all of them).
    const OUTPUT_LEN: usize;

    /// The outputs, in order: one named `""` with [`Self::OUTPUT_SHAPE`] for a network without
    /// named outputs; each `output NAME` of the network otherwise, with its shape and where its
    /// elements start in a flat sample.
    const OUTPUTS: &'static [OutputSpec];

    /// The classes a label picks from: the output's channels for a `[K, H, W]` map, its length
    /// for a flat output.
    const CLASSES: usize;

    /// Labels per sample in training: one per pixel (`H * W`) of a `[K, H, W]` output, 1 for a
    /// flat one.
    const LABELS_PER_SAMPLE: usize;

    /// Number of trainable parameters, as `sum(p.numel() for p in net.parameters())`.
    const PARAM_COUNT: usize;

    /// Floating-point operations of one sample's forward pass, counting a multiply-add of a
    /// conv or linear layer as two (pools, norms and activations are not counted).
    const FORWARD_FLOPS: u64;

    /// One row a layer or block: `state_dict` key, item as written (indented by depth), output
    /// shape, parameters.
    const SUMMARY: &'static str;

    /// The parameter tensors in PyTorch `state_dict` order, with names, shapes and places in
    /// [`Self::flat_params`].
    const PARAMS: &'static [ParamSpec];

    /// The buffers (batch norm's running statistics), with names, shapes and places.
    const BUFFERS: &'static [ParamSpec];

    /// The counters (batch norm's `num_batches_tracked`), saved as 0-dimensional `int64`
    /// tensors.
    const COUNTERS: &'static [&'static str];

    /// The fewest samples a training step takes (2 when batch norm runs over a flat input,
    /// which needs more than one value per channel).
    const MIN_TRAIN_BATCH: usize;

    /// The network's name, as `Debug` prints it.
    #[doc(hidden)]
    const __NAME: &'static str;

    /// Elements of the buffers (running statistics) together.
    #[doc(hidden)]
    const __BUFFER_LEN: usize;

    /// Layers, each with a slot for packed weights.
    #[doc(hidden)]
    const __LAYERS: usize;

    /// How a batch is cut into tiles in eval mode.
    #[doc(hidden)]
    const __TILING: rt::Tiling;

    /// The training pass's memory and stages.
    #[doc(hidden)]
    const __TRAIN_LAYOUT: rt::TrainLayout;

    /// Where each key's gradient lies in the training pass's activation gradients.
    #[doc(hidden)]
    const __KEY_GRADS: &'static [rt::KeyGrad];

    /// The tensor tables together, for safetensors and checkpoints.
    #[doc(hidden)]
    const __STATE: rt::StateSpecs =
        rt::StateSpecs { params: Self::PARAMS, buffers: Self::BUFFERS, counters: Self::COUNTERS };

    /// The network holding `state`.
    #[doc(hidden)]
    fn __from_state(state: NetState) -> Self;

    /// The network's state.
    #[doc(hidden)]
    fn __state(&self) -> &NetState;

    /// The network's state, mutably.
    #[doc(hidden)]
    fn __state_mut(&mut self) -> &mut NetState;

    /// A zeroed prediction, to run [`Self::forward`] into.
    #[doc(hidden)]
    fn __zeroed_prediction() -> Self::Prediction;

    /// Runs a tile of `n` samples in eval mode.
    #[doc(hidden)]
    fn __forward_tile(state: &NetState, n: usize, x: &[f32], y: &mut [f32], scratch: &mut [f32]);

    /// Every layer's output for one sample, computed layer by layer in eval mode.
    #[doc(hidden)]
    fn __activations(state: &NetState, x: &[f32]) -> Vec<(&'static str, Tensor)>;

    /// Running statistics and counters after a training forward pass of `n` samples.
    #[doc(hidden)]
    fn __after_train_forward(state: &mut NetState, n: usize);

    /// What runs once on the whole batch's parameter gradients after a backward pass (weight
    /// standardisation's chain rule).
    #[doc(hidden)]
    fn __after_backward(params: &[f32], grads: &mut [f32]);

    /// One stage of the training forward pass over a tile.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn __train_forward_stage(
        p: &Params,
        bufs: &[f32],
        seed: u64,
        step: u64,
        n: usize,
        stage: usize,
        t: Tile<'_>,
        eval: bool,
    );

    /// The batch-wide reduction closing a forward stage (batch statistics).
    #[doc(hidden)]
    fn __train_forward_reduce(n: usize, stage: usize, partials: &[f64], shared: &mut [f64], bufs: &[f32], eval: bool);

    /// One stage of the backward pass over a tile.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    fn __train_backward_stage(
        p: &Params,
        bufs: &[f32],
        seed: u64,
        step: u64,
        n: usize,
        stage: usize,
        t: Tile<'_>,
        flags: rt::BackwardFlags<'_>,
    );

    /// The batch-wide reduction closing a backward stage.
    #[doc(hidden)]
    fn __train_backward_reduce(
        n: usize,
        stage: usize,
        partials: &[f64],
        shared: &mut [f64],
        grads: &mut [f32],
        flags: rt::BackwardFlags<'_>,
    );

    /// A network initialised as PyTorch initialises its layers (conv and linear weights
    /// kaiming-uniform with `a = sqrt(5)`, biases uniform in `±1/sqrt(fan_in)`, batch norm
    /// weights 1 and biases 0, running mean 0 and variance 1), from a deterministic generator
    /// seeded with `seed`, which also keys dropout's masks.
    ///
    /// # Panics
    /// If the environment variable `CNN_ISA` names an instruction set this CPU lacks (see
    /// [`cnn::isa`](crate::isa)).
    fn new(seed: u64) -> Self {
        let shape = StateShape {
            params: Self::PARAMS,
            param_count: Self::PARAM_COUNT,
            buffers: Self::BUFFERS,
            buffer_count: Self::__BUFFER_LEN,
            counters: Self::COUNTERS.len(),
            layers: Self::__LAYERS,
        };
        Self::__from_state(NetState::new(shape, seed))
    }

    /// Runs one sample through the network in eval mode (running statistics, no dropout).
    /// Outputs above 65,536 elements come boxed (see [`Self::Prediction`]);
    /// [`Self::forward_into`] writes into a buffer of yours.
    fn forward(&self, x: &Self::Input) -> Self::Prediction {
        let mut y = Self::__zeroed_prediction();
        self.forward_into(x, y.borrow_mut());
        y
    }

    /// Runs one sample in eval mode into `y`, whatever its size (no output passes over the
    /// stack).
    fn forward_into(&self, x: &Self::Input, y: &mut Self::Output) {
        rt::with_thread_workspace(|ws| self.forward_batch_into(std::slice::from_ref(x), std::slice::from_mut(y), ws));
    }

    /// Runs a batch in eval mode, split across rayon's threads; each output equals
    /// [`Self::forward`] of its input, bit for bit.
    fn forward_batch(&self, xs: &[Self::Input]) -> Vec<Self::Output> {
        let mut ys = Self::Output::zeroed_vec(xs.len());
        rt::with_thread_workspace(|ws| self.forward_batch_into(xs, &mut ys, ws));
        ys
    }

    /// Runs a batch in eval mode into `ys`, using `ws` for scratch memory, without allocating
    /// once `ws` and the threads' packing buffers have served a batch this large.
    ///
    /// Called from outside rayon's pool, rayon's job queue still allocates a small block about
    /// once every 64 calls; run inside the pool (`pool.install(...)`) for no allocation at all.
    ///
    /// # Panics
    /// If `xs` and `ys` differ in length.
    #[track_caller]
    fn forward_batch_into(&self, xs: &[Self::Input], ys: &mut [Self::Output], ws: &mut Workspace) {
        let state = self.__state();
        rt::for_each_tile(ws, Self::__TILING, Sample::flatten(xs), Sample::flatten_mut(ys), |n, x, y, scratch| {
            Self::__forward_tile(state, n, x, y, scratch)
        });
    }

    /// Every layer's output for one sample in eval mode, in order, under its key: the
    /// `state_dict` prefix it has or would have with parameters (`"1"` for a relu at position
    /// 1, `"layer1.0.conv1"` inside a block; a `residual`, `cat`, `dense`, `gate`, `split` or
    /// `sum` block's key names its join, a `seq`'s or a `shortcut`'s its last layer's output,
    /// and a key shared through a `_` name the last value under it: every key `SUMMARY`
    /// lists), as forward hooks on the PyTorch modules see them (`create_feature_extractor`
    /// names them so too). Each layer runs on its own here (no fusion), so this is slower than
    /// [`Self::forward`] and allocates.
    fn activations(&self, x: &Self::Input) -> Vec<(&'static str, Tensor)> {
        Self::__activations(self.__state(), x.as_slice())
    }

    /// The output of the layer with this key (see [`Self::activations`]) for one sample.
    fn activation(&self, x: &Self::Input, key: &str) -> Option<Tensor> {
        self.activations(x).into_iter().find(|(k, _)| *k == key).map(|(_, t)| t)
    }

    /// One training step: forward in train mode, mean softmax cross-entropy against `labels`
    /// (class indices, as `nn.CrossEntropyLoss()`), backward, and one `opt` update. Returns the
    /// loss before the update. Gradients are bit-identical whatever the number of threads, and
    /// after the first step of a batch size the step allocates nothing.
    ///
    /// A network whose output is a map `[K, H, W]` takes one label per pixel
    /// (`labels.len() == xs.len() * H * W`, sample after sample, rows in order), as
    /// `nn.CrossEntropyLoss` takes an `[N, H, W]` target for `[N, K, H, W]` logits; the mean is
    /// over every pixel of the batch. [`Self::train_step_with`] takes the loss's options
    /// (class weights, an ignored label, label smoothing).
    ///
    /// A NaN or infinite loss is returned as it is, with the parameters left unchanged.
    ///
    /// # Panics
    /// If there is not one label per sample (per pixel), a label is not below the classes, the
    /// batch is empty or smaller than [`Self::MIN_TRAIN_BATCH`], or the network has several
    /// named outputs (train those with [`Self::forward_train`] and [`Self::backward`]), with the
    /// numbers in the message; [`Self::try_train_step`] returns these as errors instead.
    #[track_caller]
    fn train_step<O: Optimizer + ?Sized>(&mut self, xs: &[Self::Input], labels: &[usize], opt: &mut O) -> f32 {
        self.train_step_with(xs, labels, &CrossEntropy::new(), opt)
    }

    /// [`Self::train_step`], with bad labels, an empty batch or one too small and a non-finite
    /// loss returned as errors (the parameters are unchanged after any error).
    fn try_train_step<O: Optimizer + ?Sized>(
        &mut self,
        xs: &[Self::Input],
        labels: &[usize],
        opt: &mut O,
    ) -> Result<f32, TrainError> {
        self.try_train_step_with(xs, labels, &CrossEntropy::new(), opt)
    }

    /// [`Self::train_step`] with the cross-entropy's options, as
    /// `nn.CrossEntropyLoss(weight=..., ignore_index=..., label_smoothing=...)`:
    ///
    /// ```ignore
    /// let loss = cnn::loss::CrossEntropy::new().weight(vec![0.2, 1.0, 1.0]).ignore_index(255);
    /// net.train_step_with(&xs, &labels, &loss, &mut opt);
    /// ```
    ///
    /// Per-pixel labels (for a `[K, H, W]` output) are read from the output's shape.
    ///
    /// # Panics
    /// As [`Self::train_step`], and if the class weights are not one per class.
    #[track_caller]
    fn train_step_with<O: Optimizer + ?Sized>(
        &mut self,
        xs: &[Self::Input],
        labels: &[usize],
        loss: &CrossEntropy,
        opt: &mut O,
    ) -> f32 {
        step_loss("train_step", self.try_train_step_with(xs, labels, loss, opt))
    }

    /// [`Self::train_step_with`], with its errors returned (the parameters are unchanged after
    /// any error).
    fn try_train_step_with<O: Optimizer + ?Sized>(
        &mut self,
        xs: &[Self::Input],
        labels: &[usize],
        loss: &CrossEntropy,
        opt: &mut O,
    ) -> Result<f32, TrainError> {
        Self::__check_one_output()?;
        rt::check_label_count(labels, xs.len(), Self::LABELS_PER_SAMPLE)?;
        Self::__check_batch(xs.len())?;
        rt::check_loss_labels(labels, Self::CLASSES, loss.with_pixels(Self::LABELS_PER_SAMPLE))?;
        self.__try_train_step_part_ce(None, Part::whole(xs.len()), xs, labels, loss, opt)
    }

    /// One training step with a loss of your own, for networks with several outputs (a
    /// detector's per-level maps) or losses that are not a cross-entropy: the training forward
    /// pass, then `loss(index, batch, outputs, grad)` for each sample (its index in `xs`, the
    /// batch's size, its outputs), which writes the gradient of the loss with respect to
    /// the sample's outputs into `grad` (zeroed before) and returns the sample's term of the
    /// loss; then the backward pass and one `opt` update. Returns the loss: the terms' sum in
    /// sample order (so a mean is terms divided by `batch`). Equal, bit for bit, to
    /// [`Self::forward_train`], the same gradients and [`Self::backward`] +
    /// [`Self::apply_gradients`]; with [`Self::train_step_dist_loss`] it is what every process
    /// of a data-parallel run computes together.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! {
    ///     pub struct TwoHeads {
    ///         input(1, 4, 4)
    ///         conv(1, 2, k=3) relu flatten let f
    ///         a: linear(8, 1) output score
    ///         from f b: linear(8, 2) output offset
    ///     }
    /// }
    ///
    /// let mut net = TwoHeads::new(0);
    /// let xs = vec![[0.5f32; 16]; 4];
    /// let targets = [[1.0, -1.0], [0.0, 0.5], [2.0, 0.0], [0.0, 0.0]];
    /// // Half the mean squared error of both heads: score toward 1, offset toward the target.
    /// let loss = net.train_step_loss(&xs, &mut Sgd::new(0.1), |i, batch, y, grad| {
    ///     let mut term = 0.0;
    ///     grad.score[0] = (y.score[0] - 1.0) / batch as f32;
    ///     term += (y.score[0] - 1.0).powi(2) / 2.0;
    ///     for k in 0..2 {
    ///         let d = y.offset[k] - targets[i][k];
    ///         grad.offset[k] = d / batch as f32;
    ///         term += d * d / 2.0;
    ///     }
    ///     term / batch as f32
    /// });
    /// assert!(loss.is_finite());
    /// ```
    ///
    /// A loss that is not finite is returned as it is, and the step then changes nothing.
    ///
    /// # Panics
    /// If the batch is empty or smaller than [`Self::MIN_TRAIN_BATCH`] (see
    /// [`Self::try_train_step_loss`]).
    #[track_caller]
    fn train_step_loss<O, L>(&mut self, xs: &[Self::Input], opt: &mut O, loss: L) -> f32
    where
        O: Optimizer + ?Sized,
        L: FnMut(usize, usize, &Self::Output, &mut Self::Output) -> f32,
    {
        step_loss("train_step_loss", self.try_train_step_loss(xs, opt, loss))
    }

    /// [`Self::train_step_loss`], with an empty batch, one too small and a loss that is not
    /// finite returned as errors (then nothing changes: parameters, statistics, counters, the
    /// step count).
    fn try_train_step_loss<O, L>(&mut self, xs: &[Self::Input], opt: &mut O, loss: L) -> Result<f32, TrainError>
    where
        O: Optimizer + ?Sized,
        L: FnMut(usize, usize, &Self::Output, &mut Self::Output) -> f32,
    {
        Self::__check_batch(xs.len())?;
        self.__try_train_step_part_loss(None, Part::whole(xs.len()), xs, opt, loss)
    }

    /// The cross-entropy of this network's outputs, `nn.CrossEntropyLoss` with `opts`: per
    /// sample for a flat output, per pixel (one label each, `[N, H, W]`) for a `[K, H, W]`
    /// one, read from the output's shape (so per-pixel logits cannot be read as rows by
    /// accident). Writes the gradient for [`Self::backward`] into `grad` and returns the loss;
    /// see [`cnn::loss::cross_entropy`](crate::loss::cross_entropy).
    ///
    /// ```ignore
    /// let logits = net.forward_train(&xs).to_vec();
    /// let mut grad = vec![[0.0; Net::OUTPUT_LEN]; xs.len()];
    /// let loss = Net::cross_entropy(&logits, &labels, &cnn::loss::CrossEntropy::new(), &mut grad)?;
    /// net.backward(&grad, &mut grads);
    /// ```
    ///
    /// # Errors
    /// As `cnn::loss::cross_entropy`: label count, a label out of range, class weights.
    ///
    /// # Panics
    /// If `grad` and `logits` hold different numbers of samples.
    #[track_caller]
    fn cross_entropy(
        logits: &[Self::Output],
        labels: &[usize],
        opts: &CrossEntropy,
        grad: &mut [Self::Output],
    ) -> Result<f32, TrainError> {
        Self::__check_one_output()?;
        rt::cross_entropy_with(
            Sample::flatten(logits),
            labels,
            Self::CLASSES,
            opts.with_pixels(Self::LABELS_PER_SAMPLE),
            Sample::flatten_mut(grad),
        )
    }

    /// The forward pass in train mode (batch statistics, dropout on; running statistics
    /// updated): runs the batch and keeps what [`Self::backward`] needs. Returns the outputs
    /// (logits), one row a sample. After [`Self::eval`] it runs in eval mode instead, as
    /// inference does (running statistics, left as they are; dropout off), and the backward pass
    /// follows it: PyTorch's `model.eval()` then `backward()`, as Grad-CAM runs a network.
    ///
    /// # Panics
    /// If the batch is not empty but smaller than [`Self::MIN_TRAIN_BATCH`] in train mode.
    #[track_caller]
    fn forward_train(&mut self, xs: &[Self::Input]) -> &[Self::Output] {
        let n = xs.len();
        assert!(
            n == 0 || n >= Self::MIN_TRAIN_BATCH || !self.is_training(),
            "{}",
            TrainError::BatchTooSmall { batch: n, needed: Self::MIN_TRAIN_BATCH }
        );
        let step = self.step_count().saturating_add(1);
        self.__run_train_forward(xs, step, Part::whole(n), None);
        let state = self.__state_mut();
        state.step = step;
        if state.training {
            Self::__after_train_forward(state, n);
        }
        Self::Output::from_flat(state.train.outputs()).expect("a training pass outputs whole samples")
    }

    /// The backward pass of the last [`Self::forward_train`]: from the loss gradient with
    /// respect to its outputs, writes every parameter gradient to `grads` (overwriting, not
    /// accumulating).
    ///
    /// # Panics
    /// If no training forward pass came first, or `grad_output` has another batch size.
    #[track_caller]
    fn backward(&mut self, grad_output: &[Self::Output], grads: &mut Grads<Self>) {
        self.__backward(grad_output, grads, None, false);
    }

    /// [`Self::backward`], adding the parameter gradients to those in `grads` instead of
    /// overwriting them: PyTorch's `loss.backward()` called again before `optimizer.step()`
    /// (a GAN discriminator's loss on a real and a fake batch; one network used on two inputs,
    /// each after its own [`Self::forward_train`]). [`Grads::zero`] starts over. The sums are
    /// added in call order, so they are as deterministic as each pass.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 1, 2) flatten linear(2, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// let mut grads = TinyGrads::new();
    /// net.forward_train(&[[1.0, 0.0]]);
    /// net.backward(&[[1.0]], &mut grads);                 // dL/dW = x of the first batch
    /// net.forward_train(&[[0.0, 2.0]]);
    /// net.backward_accumulate(&[[1.0]], &mut grads);      // + x of the second
    /// assert_eq!(grads.param("1.weight").unwrap().data, [1.0, 2.0]);
    /// ```
    ///
    /// # Panics
    /// As [`Self::backward`].
    #[track_caller]
    fn backward_accumulate(&mut self, grad_output: &[Self::Output], grads: &mut Grads<Self>) {
        self.__backward(grad_output, grads, None, true);
    }

    /// [`Self::backward`], and the gradient of the loss with respect to each sample's input
    /// into `grad_input` (one input array per sample, overwritten): PyTorch's `x.grad` after
    /// `x.requires_grad_()` and `loss.backward()`. The layers before the first parameter, and
    /// each first layer's input gradient, run only here: [`Self::backward`] does not pay for
    /// them.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 2, 2) flatten linear(4, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// let xs = [[1.0f32, 2.0, 3.0, 4.0]];
    /// net.forward_train(&xs);
    /// let mut grads = TinyGrads::new();
    /// let mut dx = [[0.0f32; 4]];
    /// net.backward_to_input(&[[1.0]], &mut grads, &mut dx);
    /// // The loss is the output itself: its gradient is the weight.
    /// assert_eq!(dx[0], net.param("1.weight").unwrap().data);
    /// ```
    ///
    /// # Panics
    /// As [`Self::backward`], and if `grad_input` does not hold one input per sample.
    #[track_caller]
    fn backward_to_input(
        &mut self,
        grad_output: &[Self::Output],
        grads: &mut Grads<Self>,
        grad_input: &mut [Self::Input],
    ) {
        self.__backward(grad_output, grads, Some(Sample::flatten_mut(grad_input)), false);
    }

    /// The backward pass, with the input's gradient into `grad_input` when given, the
    /// parameters' added to `grads` when `accumulate`.
    #[doc(hidden)]
    #[track_caller]
    fn __backward(
        &mut self,
        grad_output: &[Self::Output],
        grads: &mut Grads<Self>,
        grad_input: Option<&mut [f32]>,
        accumulate: bool,
    ) {
        let NetState { params, buffers, seed, step, train, frozen, training, .. } = self.__state_mut();
        let (p, bufs, seed, step, n) = (&*params, &buffers[..], *seed, *step, train.batch());
        if let Some(dx) = &grad_input {
            assert_eq!(
                dx.len(),
                n * Self::INPUT_LEN,
                "grad_input has {} samples, the last forward pass had {n}",
                dx.len() / Self::INPUT_LEN.max(1)
            );
        }
        let input_grad = grad_input.is_some();
        let flags = frozen.flags(input_grad, !*training);
        train.backward_into(
            Self::__TRAIN_LAYOUT,
            Sample::flatten(grad_output),
            grads.flat_mut(),
            accumulate,
            flags,
            // Weight standardisation's chain rule, on this pass's gradients alone; a frozen
            // tensor's gradient is 0 (its layer may still have written what was cheaper to
            // compute than to leave out).
            |own| {
                Self::__after_backward(p, own);
                frozen.zero_frozen(Self::PARAMS, own);
            },
            |stage, t| Self::__train_backward_stage(p, bufs, seed, step, n, stage, t, flags),
            |stage, partials, shared, grads| Self::__train_backward_reduce(n, stage, partials, shared, grads, flags),
        );
        if let Some(dx) = grad_input {
            let layout = Self::__TRAIN_LAYOUT;
            train.read_grads(layout, layout.grad_in_at, layout.in_len, dx);
        }
    }

    /// The loss's gradient with respect to the output of the layer or module with this key
    /// (the keys of [`Self::activations`]) in the last backward pass, one tensor per sample:
    /// what a PyTorch hook on that module's output sees (`register_full_backward_hook`,
    /// `retain_grad()`), for Grad-CAM (`cnn::viz::grad_cam`). `None` for an unknown key, before
    /// a backward pass of the last [`Self::forward_train`], and for a value that lies before
    /// every parameter unless that pass was [`Self::backward_to_input`] (only it computes
    /// those).
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 1, 2) flatten fc: linear(2, 2) relu out: linear(2, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// let x = [1.0, -1.0];
    /// net.forward_train(&[x]);
    /// net.backward(&[[1.0]], &mut TinyGrads::new());
    /// // The loss is out(relu(fc(x))): its gradient at fc's output is out's weight where fc's
    /// // output is positive, 0 elsewhere.
    /// let (g, fc) = (net.gradient_at("fc").unwrap(), net.activation(&x, "fc").unwrap());
    /// let w = net.param("out.weight").unwrap().data;
    /// for k in 0..2 {
    ///     assert_eq!(g[0].data[k], if fc.data[k] > 0.0 { w[k] } else { 0.0 });
    /// }
    /// ```
    fn gradient_at(&self, key: &str) -> Option<Vec<Tensor>> {
        let k = Self::__KEY_GRADS.iter().find(|k| k.key == key)?;
        let train = &self.__state().train;
        let mut flat = vec![0.0; train.batch() * k.len];
        if !train.activation_grads(Self::__TRAIN_LAYOUT, k, &mut flat) {
            return None;
        }
        Some(flat.chunks_exact(k.len.max(1)).map(|d| Tensor { shape: k.shape.to_vec(), data: d.to_vec() }).collect())
    }

    /// One optimizer update with `grads`; frozen parameters (see [`Self::requires_grad_`]) do
    /// not change.
    fn apply_gradients<O: Optimizer + ?Sized>(&mut self, opt: &mut O, grads: &Grads<Self>) {
        let NetState { params, frozen, .. } = self.__state_mut();
        rt::optimizer_step(opt, &mut params[..], grads.flat(), frozen);
    }

    /// Training forward passes run so far (each [`Self::forward_train`], so each training step,
    /// adds one); with the seed it keys dropout's masks.
    fn step_count(&self) -> u64 {
        self.__state().step
    }

    /// Sets the training step count, to resume a run where it stopped (the next training
    /// forward pass draws the dropout masks of step `step + 1`).
    fn set_step_count(&mut self, step: u64) {
        self.__state_mut().step = step;
    }

    /// The parameter tensors, in `state_dict` order.
    fn params(&self) -> impl ExactSizeIterator<Item = Param<'_>> + '_ {
        rt::params(Self::PARAMS, &self.__state().params)
    }

    /// The parameter tensors, mutably, in `state_dict` order.
    fn params_mut(&mut self) -> ParamsMut<'_> {
        rt::params_mut(Self::PARAMS, &mut self.__state_mut().params)
    }

    /// The parameter with this `state_dict` name, such as `"0.weight"`.
    fn param(&self, name: &str) -> Option<Param<'_>> {
        rt::tensor(Self::PARAMS, &self.__state().params, name)
    }

    /// The parameter with this `state_dict` name, mutably.
    fn param_mut(&mut self, name: &str) -> Option<ParamMut<'_>> {
        rt::tensor_mut(Self::PARAMS, &mut self.__state_mut().params, name)
    }

    /// Freezes every parameter (`requires_grad == false`) or thaws them all: PyTorch's
    /// `net.requires_grad_(False)` on a loss network (a style loss's VGG, a GAN's discriminator
    /// while its generator trains). A frozen parameter gets no gradient (its entries of
    /// [`Grads`] are 0) and no optimizer update, and the backward pass skips its weight gradient
    /// and every layer that leads only to frozen parameters: a frozen network's
    /// [`Self::backward_to_input`] costs its input-gradient pass alone, and its
    /// [`Self::backward`] nothing. Batch statistics and running statistics work as before (as
    /// in PyTorch, freezing is not eval mode). A clone keeps what is frozen; a checkpoint does
    /// not store it.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 1, 2) flatten fc: linear(2, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// net.requires_grad_(false);
    /// net.forward_train(&[[1.0, 2.0]]);
    /// let (mut grads, mut dx) = (TinyGrads::new(), [[0.0f32; 2]]);
    /// net.backward_to_input(&[[1.0]], &mut grads, &mut dx);
    /// assert_eq!(dx[0], net.param("fc.weight").unwrap().data); // the input's gradient
    /// assert!(grads.flat().iter().all(|&g| g == 0.0));          // and none for the weights
    /// ```
    fn requires_grad_(&mut self, requires_grad: bool) -> &mut Self
    where
        Self: Sized,
    {
        self.__state_mut().frozen.set(Self::PARAMS, requires_grad, |_| true);
        self
    }

    /// [`Self::requires_grad_`] for the parameters of the layer or module keyed `key` (a
    /// `state_dict` prefix: `"features"`, `"layer1.0"`, `"fc"`) or of the one tensor named so:
    /// PyTorch's `net.features.requires_grad_(False)` to fine-tune the rest, or
    /// `net.fc.weight.requires_grad_(False)`. Calls combine, each changing only what it names.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 1, 2) flatten body: linear(2, 2) relu head: linear(2, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// net.requires_grad_at("body", false);
    /// assert_eq!(net.requires_grad("body.weight"), Some(false));
    /// assert_eq!(net.requires_grad("head.bias"), Some(true));
    /// ```
    ///
    /// # Panics
    /// If no parameter is named `key` or lies under it (the message lists the modules).
    #[track_caller]
    fn requires_grad_at(&mut self, key: &str, requires_grad: bool) -> &mut Self
    where
        Self: Sized,
    {
        let under = |name: &str| name == key || name.strip_prefix(key).is_some_and(|rest| rest.starts_with('.'));
        let picked = self.__state_mut().frozen.set(Self::PARAMS, requires_grad, |p| under(p.name));
        if picked == 0 {
            let mut modules: Vec<&str> =
                Self::PARAMS.iter().map(|p| p.name.rsplit_once('.').map_or(p.name, |(m, _)| m)).collect();
            modules.dedup();
            panic!("requires_grad_at: no parameter is named `{key}` or lies under it; the modules with parameters are {modules:?}");
        }
        self
    }

    /// Sets the mode of training passes (PyTorch's `module.train(mode)`): `true`, the default,
    /// trains with batch statistics and dropout; `false` is [`Self::eval`]. Inference
    /// ([`Self::forward`] and the rest) is eval mode either way.
    fn train(&mut self, mode: bool) -> &mut Self
    where
        Self: Sized,
    {
        self.__state_mut().training = mode;
        self
    }

    /// Eval mode for training passes (PyTorch's `module.eval()`): [`Self::forward_train`] and the
    /// training steps normalize by batch norm's running statistics (and instance norm's, where
    /// it tracks them) and leave them (and `num_batches_tracked`) unchanged, and dropout keeps everything; the backward pass is
    /// that computation's. For Grad-CAM or saliency on a trained network with batch norm, and
    /// fine-tuning with batch norm's statistics fixed. [`Self::train`] goes back.
    ///
    /// ```
    /// use cnn::prelude::*;
    ///
    /// cnn! { pub struct Tiny { input(1, 2, 2) bn: batchnorm(1) flatten linear(4, 1) } }
    ///
    /// let mut net = Tiny::new(0);
    /// net.eval();
    /// let x = [1.0f32, 2.0, 3.0, 4.0];
    /// // One sample, normalized by the running statistics (mean 0, variance 1): as inference.
    /// let (train, infer) = (net.forward_train(&[x])[0], net.forward(&x));
    /// assert!((train[0] - infer[0]).abs() < 1e-6);
    /// assert_eq!(net.buffer("bn.running_mean").unwrap().data, [0.0]);
    /// ```
    fn eval(&mut self) -> &mut Self
    where
        Self: Sized,
    {
        self.train(false)
    }

    /// Whether training passes run in train mode (PyTorch's `module.training`).
    fn is_training(&self) -> bool {
        self.__state().training
    }

    /// Whether the parameter with this `state_dict` name trains (PyTorch's
    /// `param.requires_grad`): `false` once frozen by [`Self::requires_grad_`] or
    /// [`Self::requires_grad_at`]; `None` for no such parameter.
    fn requires_grad(&self, name: &str) -> Option<bool> {
        let k = Self::PARAMS.iter().position(|p| p.name == name)?;
        Some(!self.__state().frozen.is_frozen(k))
    }

    /// Every parameter in one array of [`Self::PARAM_COUNT`], tensor after tensor in
    /// `state_dict` order.
    fn flat_params(&self) -> &[f32] {
        &self.__state().params
    }

    /// Every parameter in one array, mutably.
    fn flat_params_mut(&mut self) -> &mut [f32] {
        &mut self.__state_mut().params
    }

    /// The buffers (running statistics), as `net.buffers()` lists them, without the counters
    /// (see [`Self::counter`]).
    fn buffers(&self) -> impl ExactSizeIterator<Item = Param<'_>> + '_ {
        rt::params(Self::BUFFERS, &self.__state().buffers)
    }

    /// The buffer with this `state_dict` name, such as `"1.running_mean"`.
    fn buffer(&self, name: &str) -> Option<Param<'_>> {
        rt::tensor(Self::BUFFERS, &self.__state().buffers, name)
    }

    /// The buffer with this `state_dict` name, mutably.
    fn buffer_mut(&mut self, name: &str) -> Option<ParamMut<'_>> {
        rt::tensor_mut(Self::BUFFERS, &mut self.__state_mut().buffers, name)
    }

    /// The counter with this `state_dict` name, such as `"1.num_batches_tracked"`.
    fn counter(&self, name: &str) -> Option<i64> {
        let at = Self::COUNTERS.iter().position(|c| *c == name)?;
        Some(self.__state().counters[at])
    }

    /// Loads a safetensors file with PyTorch `state_dict` names (parameters, buffers and
    /// counters), as `load_state_dict(strict=True)` would: on any error the network is
    /// unchanged.
    fn load_safetensors(&mut self, path: impl AsRef<Path>) -> Result<(), WeightsError> {
        rt::load_state(&Self::__STATE, self.__state_mut().state_mut(), path.as_ref())
    }

    /// As [`Self::load_safetensors`], from the bytes of a safetensors file.
    fn load_safetensors_bytes(&mut self, bytes: &[u8]) -> Result<(), WeightsError> {
        rt::load_state_bytes(&Self::__STATE, self.__state_mut().state_mut(), bytes)
    }

    /// Loads one safetensors file holding this network's tensors and `other`'s: a model that
    /// PyTorch keeps in one `state_dict` and `cnn` builds as two networks (torchvision's Faster
    /// R-CNN: `cnn::models::fasterrcnn_mobilenet_v3_large_fpn!` writes `Net` and its
    /// `NetBoxHead`). Strict over the two, as [`Self::load_safetensors`] is over one: every
    /// tensor of either network must be there, and every tensor of the file must be one of
    /// theirs; on any error neither network changes.
    fn load_safetensors_with<N: Network>(&mut self, other: &mut N, path: impl AsRef<Path>) -> Result<(), WeightsError> {
        rt::load_states(
            &mut [(&Self::__STATE, self.__state_mut().state_mut()), (&N::__STATE, other.__state_mut().state_mut())],
            path.as_ref(),
        )
    }

    /// Saves this network's `state_dict` and `other`'s as one safetensors file (the file
    /// [`Self::load_safetensors_with`] loads, and `safetensors.torch.load_file` reads as the
    /// whole model's `state_dict`), replaced atomically.
    ///
    /// # Errors
    /// As [`Self::save_safetensors`], and a tensor name both networks have (then nothing is
    /// written).
    fn save_safetensors_with<N: Network>(&self, other: &N, path: impl AsRef<Path>) -> Result<(), WeightsError> {
        rt::save_states(
            &[(&Self::__STATE, self.__state().state_ref()), (&N::__STATE, other.__state().state_ref())],
            path.as_ref(),
        )
    }

    /// Saves the `state_dict` (parameters, buffers, counters) as a safetensors file that
    /// `safetensors.torch.load_file` reads. The file is replaced atomically.
    fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), WeightsError> {
        rt::save_state(&Self::__STATE, self.__state().state_ref(), path.as_ref())
    }

    /// The bytes of the safetensors file [`Self::save_safetensors`] writes.
    fn to_safetensors_bytes(&self) -> Vec<u8> {
        rt::save_state_bytes(&Self::__STATE, self.__state().state_ref())
    }

    /// Saves a checkpoint to resume training from: the `state_dict`, the step count and seed
    /// (`cnn.step_count`, `cnn.seed`: dropout's masks follow them) and `opt`'s state
    /// (`optimizer.exp_avg`, ...; see [`cnn::checkpoint`](crate::checkpoint)) in one
    /// safetensors file, replaced atomically.
    fn save_checkpoint<O: Optimizer + ?Sized>(&self, path: impl AsRef<Path>, opt: &O) -> Result<(), WeightsError> {
        let state = self.__state();
        let progress = Progress { step: state.step, seed: state.seed };
        rt::save_checkpoint(&Self::__STATE, state.state_ref(), progress, opt, path.as_ref())
    }

    /// Loads a checkpoint that [`Self::save_checkpoint`] wrote into the network and `opt` (an
    /// optimizer of the same kind; its hyperparameters stay its own). Strict as
    /// [`Self::load_safetensors`]; on any error neither changes. Training on from it gives the
    /// same weights, bit for bit, as a run that never stopped.
    fn load_checkpoint<O: Optimizer + ?Sized>(
        &mut self,
        path: impl AsRef<Path>,
        opt: &mut O,
    ) -> Result<(), WeightsError> {
        let state = self.__state_mut();
        let mut progress = Progress { step: state.step, seed: state.seed };
        rt::load_checkpoint(&Self::__STATE, state.state_mut(), &mut progress, opt, path.as_ref())?;
        state.step = progress.step;
        state.seed = progress.seed;
        Ok(())
    }

    /// One training step of a data-parallel run: this rank's part `xs` (with `labels`) of a
    /// global batch (see [`cnn::dist`](crate::dist)), its gradients summed over every rank in a
    /// fixed order, and one `opt` update, the same on every rank. Returns the global batch's
    /// mean loss. The weights are bit for bit those of [`Self::train_step`] on the whole batch
    /// in one process.
    ///
    /// # Panics
    /// As [`Self::train_step`], and if the ranks do not agree to step (see
    /// [`Self::try_train_step_dist`]).
    #[cfg(feature = "mpi")]
    #[track_caller]
    fn train_step_dist<O: Optimizer + ?Sized>(
        &mut self,
        world: &crate::dist::World,
        xs: &[Self::Input],
        labels: &[usize],
        opt: &mut O,
    ) -> f32 {
        step_loss("train_step_dist", self.try_train_step_dist(world, xs, labels, opt))
    }

    /// [`Self::train_step_dist`], with its errors returned, the same on every rank: a bad
    /// label or a wrong share on any rank, ranks at different steps or with different networks,
    /// a rank that left the run (as [`TrainError::Distributed`] naming the rank), a global batch
    /// that is empty or too small, a non-finite loss. Nothing changes on any rank after an
    /// error.
    #[cfg(feature = "mpi")]
    fn try_train_step_dist<O: Optimizer + ?Sized>(
        &mut self,
        world: &crate::dist::World,
        xs: &[Self::Input],
        labels: &[usize],
        opt: &mut O,
    ) -> Result<f32, TrainError> {
        use crate::dist;
        let loss = CrossEntropy::new();
        let check = self.__check_step_part(xs, labels, &loss);
        let identity = self.__identity(dist::__optimizer_hash(&*opt));
        let part = dist::__agree_step(world, identity, xs.len(), Self::MIN_TRAIN_BATCH, check)?;
        dist::__run_step(world, part, |exchange| {
            self.__try_train_step_part_ce(Some(exchange), part, xs, labels, &loss, opt)
        })
    }

    /// [`Self::train_step_loss`] in a data-parallel run: this rank's part `xs` of a global
    /// batch, `loss` called for its samples with their indices in `xs` and the global batch's
    /// size, the terms summed along the ranks in sample order, the gradients
    /// summed over every rank as [`Self::train_step_dist`] sums them, and one `opt` update, the
    /// same on every rank. Returns the global batch's loss. The weights are bit for bit those
    /// of [`Self::train_step_loss`] on the whole batch in one process, where `loss` computes a
    /// sample's term and gradient from that sample alone (and the batch's size).
    ///
    /// # Panics
    /// As [`Self::train_step_loss`], and if the ranks do not agree to step (see
    /// [`Self::try_train_step_dist_loss`]).
    #[cfg(feature = "mpi")]
    #[track_caller]
    fn train_step_dist_loss<O, L>(
        &mut self,
        world: &crate::dist::World,
        xs: &[Self::Input],
        opt: &mut O,
        loss: L,
    ) -> f32
    where
        O: Optimizer + ?Sized,
        L: FnMut(usize, usize, &Self::Output, &mut Self::Output) -> f32,
    {
        step_loss("train_step_dist_loss", self.try_train_step_dist_loss(world, xs, opt, loss))
    }

    /// [`Self::train_step_dist_loss`], with its errors returned, the same on every rank, as
    /// [`Self::try_train_step_dist`] returns them (nothing changes on any rank).
    #[cfg(feature = "mpi")]
    fn try_train_step_dist_loss<O, L>(
        &mut self,
        world: &crate::dist::World,
        xs: &[Self::Input],
        opt: &mut O,
        loss: L,
    ) -> Result<f32, TrainError>
    where
        O: Optimizer + ?Sized,
        L: FnMut(usize, usize, &Self::Output, &mut Self::Output) -> f32,
    {
        use crate::dist;
        let identity = self.__identity(dist::__optimizer_hash(&*opt));
        let part = dist::__agree_step(world, identity, xs.len(), Self::MIN_TRAIN_BATCH, Ok(()))?;
        dist::__run_step(world, part, |exchange| self.__try_train_step_part_loss(Some(exchange), part, xs, opt, loss))
    }

    /// An empty batch, or one smaller than [`Self::MIN_TRAIN_BATCH`], as errors.
    #[doc(hidden)]
    fn __check_batch(n: usize) -> Result<(), TrainError> {
        if n == 0 {
            return Err(TrainError::EmptyBatch);
        }
        if n < Self::MIN_TRAIN_BATCH {
            return Err(TrainError::BatchTooSmall { batch: n, needed: Self::MIN_TRAIN_BATCH });
        }
        Ok(())
    }

    /// What the ranks of a distributed step compare: this network, its step and seed, and the
    /// optimizer's hash `optimizer`.
    #[cfg(feature = "mpi")]
    #[doc(hidden)]
    fn __identity(&self, optimizer: u64) -> crate::dist::__Identity<'_> {
        let state = self.__state();
        crate::dist::__Identity {
            summary: Self::SUMMARY,
            params: Self::PARAMS,
            weights: &state.params,
            step: state.step,
            seed: state.seed,
            optimizer,
        }
    }

    /// The checks of a training step on this process's part of a batch (`cnn::dist` runs them
    /// on every process before any of them starts the step).
    #[doc(hidden)]
    fn __check_step_part(&self, xs: &[Self::Input], labels: &[usize], loss: &CrossEntropy) -> Result<(), TrainError> {
        Self::__check_one_output()?;
        rt::check_label_count(labels, xs.len(), Self::LABELS_PER_SAMPLE)?;
        rt::check_loss_labels(labels, Self::CLASSES, loss.with_pixels(Self::LABELS_PER_SAMPLE))
    }

    /// A cross-entropy needs the one output of a network without named outputs.
    #[doc(hidden)]
    fn __check_one_output() -> Result<(), TrainError> {
        match Self::OUTPUTS {
            [_, _, ..] => Err(TrainError::SeveralOutputs { outputs: Self::OUTPUTS.iter().map(|o| o.name).collect() }),
            _ => Ok(()),
        }
    }

    /// The training forward pass of this process's `part` of a batch as step `step` draws it
    /// (dropout's masks), its statistics met through `exchange` when other processes hold the
    /// rest, without committing anything: the step count, running statistics and counters stay.
    #[doc(hidden)]
    fn __run_train_forward(
        &mut self,
        xs: &[Self::Input],
        step: u64,
        part: Part,
        exchange: Option<&mut (dyn Exchange + '_)>,
    ) {
        // Batch statistics and means are the whole batch's, over every process.
        let n = part.batch;
        let NetState { params, buffers, seed, train, training, .. } = self.__state_mut();
        let (p, bufs, seed, eval) = (&*params, &buffers[..], *seed, !*training);
        train.forward_part(
            Self::__TRAIN_LAYOUT,
            Sample::flatten(xs),
            part,
            exchange,
            |stage, t| Self::__train_forward_stage(p, bufs, seed, step, n, stage, t, eval),
            |stage, partials, shared| Self::__train_forward_reduce(n, stage, partials, shared, bufs, eval),
        );
    }

    /// One training step of this process's `part` of a batch, after its checks: with
    /// `exchange`, other processes hold the rest and every batch-wide sum meets theirs in the
    /// order one process adds in (what `cnn::dist`'s `train_step_dist` runs once the processes
    /// agree to step); without, the part is the whole batch. `loss` computes the loss of the
    /// forward pass's outputs and leaves its gradient in the training buffers.
    #[doc(hidden)]
    fn __try_train_step_part<O: Optimizer + ?Sized>(
        &mut self,
        mut exchange: Option<&mut (dyn Exchange + '_)>,
        part: Part,
        xs: &[Self::Input],
        opt: &mut O,
        loss: impl FnOnce(&mut rt::TrainBuffers, Option<&mut (dyn Exchange + '_)>) -> Result<f32, TrainError>,
    ) -> Result<f32, TrainError> {
        // An optimizer whose state is another network's is refused before anything runs.
        rt::check_optimizer(&*opt, Self::PARAM_COUNT)?;
        let n = part.batch;
        // Nothing is committed (step count, running statistics, counters) before the loss is
        // known to be finite: a step that errs changes nothing.
        let step = self.step_count().saturating_add(1);
        self.__run_train_forward(xs, step, part, exchange.as_deref_mut());
        let state = self.__state_mut();
        let loss = loss(&mut state.train, exchange.as_deref_mut())?;
        state.step = step;
        if state.training {
            Self::__after_train_forward(state, n);
        }
        let NetState { params, buffers, seed, train, frozen, training, .. } = state;
        let (p, bufs, seed, flags) = (&*params, &buffers[..], *seed, frozen.flags(false, !*training));
        train.loss_backward_part(
            Self::__TRAIN_LAYOUT,
            exchange,
            flags,
            |stage, t| Self::__train_backward_stage(p, bufs, seed, step, n, stage, t, flags),
            |stage, partials, shared, grads| Self::__train_backward_reduce(n, stage, partials, shared, grads, flags),
        );
        Self::__after_backward(p, train.grads_mut());
        frozen.zero_frozen(Self::PARAMS, train.grads_mut());
        rt::optimizer_step(opt, &mut params[..], train.grads(), frozen);
        Ok(loss)
    }

    /// [`Self::__try_train_step_part`] with the cross-entropy against `labels`.
    #[doc(hidden)]
    fn __try_train_step_part_ce<O: Optimizer + ?Sized>(
        &mut self,
        exchange: Option<&mut (dyn Exchange + '_)>,
        part: Part,
        xs: &[Self::Input],
        labels: &[usize],
        loss: &CrossEntropy,
        opt: &mut O,
    ) -> Result<f32, TrainError> {
        let opts = loss.with_pixels(Self::LABELS_PER_SAMPLE);
        self.__try_train_step_part(exchange, part, xs, opt, |train, exchange| {
            train.cross_entropy_part(Self::__TRAIN_LAYOUT, labels, Self::CLASSES, opts, exchange)
        })
    }

    /// [`Self::__try_train_step_part`] with the caller's per-sample loss (see
    /// [`Self::train_step_loss`]).
    #[doc(hidden)]
    fn __try_train_step_part_loss<O: Optimizer + ?Sized>(
        &mut self,
        exchange: Option<&mut (dyn Exchange + '_)>,
        part: Part,
        xs: &[Self::Input],
        opt: &mut O,
        mut loss: impl FnMut(usize, usize, &Self::Output, &mut Self::Output) -> f32,
    ) -> Result<f32, TrainError> {
        let batch = part.batch;
        self.__try_train_step_part(exchange, part, xs, opt, |train, exchange| {
            let mut per_sample = |index: usize, y: &[f32], grad: &mut [f32]| {
                let y = &Self::Output::from_flat(y).expect("a training pass outputs whole samples")[0];
                let grad = &mut Self::Output::from_flat_mut(grad).expect("a gradient of whole samples")[0];
                loss(index, batch, y, grad)
            };
            train.loss_part(Self::__TRAIN_LAYOUT, exchange, &mut per_sample)
        })
    }
}

/// A training step's loss for its panicking form (`what`): a loss that is not finite is
/// returned as it is (the step changed nothing), any other error panics with its message.
#[track_caller]
fn step_loss(what: &str, result: Result<f32, TrainError>) -> f32 {
    match result {
        Ok(loss) | Err(TrainError::NonFiniteLoss { loss }) => loss,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The parameter gradients of a network `N`, with the same `state_dict` names and layout as its
/// parameters. The macro names it after the network: `NetGrads` is `Grads<Net>`.
///
/// ```
/// use cnn::nets::DigitsNet;
/// use cnn::prelude::*;
///
/// let mut net = DigitsNet::new(0);
/// let xs = vec![[0.5f32; 64]; 4];
/// let logits = net.forward_train(&xs).to_vec();
/// let mut grad = vec![[0.0f32; 10]; 4];
/// DigitsNet::cross_entropy(&logits, &[1, 2, 3, 4], &cnn::loss::CrossEntropy::new(), &mut grad)?;
/// let mut grads = Grads::<DigitsNet>::new();
/// net.backward(&grad, &mut grads);
/// assert_eq!(grads.flat().len(), DigitsNet::PARAM_COUNT);
/// assert!(grads.param("0.weight").unwrap().data.iter().any(|&g| g != 0.0));
/// net.apply_gradients(&mut Sgd::new(0.1), &grads);
/// # Ok::<(), cnn::TrainError>(())
/// ```
pub struct Grads<N: Network> {
    params: Box<[f32]>,
    net: PhantomData<fn() -> N>,
}

impl<N: Network> Grads<N> {
    /// All gradients zero.
    pub fn new() -> Self {
        Grads { params: vec![0.0; N::PARAM_COUNT].into_boxed_slice(), net: PhantomData }
    }

    /// The gradient tensors, in `state_dict` order.
    pub fn params(&self) -> impl ExactSizeIterator<Item = Param<'_>> + '_ {
        rt::params(N::PARAMS, &self.params)
    }

    /// The gradient of the parameter with this `state_dict` name, such as `"0.weight"`.
    pub fn param(&self, name: &str) -> Option<Param<'_>> {
        rt::tensor(N::PARAMS, &self.params, name)
    }

    /// Every gradient set to zero (`optimizer.zero_grad()`), before passes that
    /// [`Network::backward_accumulate`] adds up.
    pub fn zero(&mut self) {
        self.params.fill(0.0);
    }

    /// Every gradient in one array, in the order of the network's `flat_params`.
    pub fn flat(&self) -> &[f32] {
        &self.params
    }

    /// Every gradient in one array, mutably (to clip or scale them, say).
    pub fn flat_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }
}

impl<N: Network> Default for Grads<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: Network> Clone for Grads<N> {
    fn clone(&self) -> Self {
        Grads { params: self.params.clone(), net: PhantomData }
    }
}

/// The parameter count, not the values.
impl<N: Network> fmt::Debug for Grads<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&format!("{}Grads", N::__NAME)).field("params", &N::PARAM_COUNT).finish_non_exhaustive()
    }
}

/// A network's `Debug`: its name and parameter count, not the values.
#[doc(hidden)]
pub fn __debug<N: Network>(f: &mut fmt::Formatter<'_>) -> fmt::Result {
    f.debug_struct(N::__NAME).field("params", &N::PARAM_COUNT).finish_non_exhaustive()
}
