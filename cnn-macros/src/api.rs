//! The generated public API as one table: every associated constant, method and trait impl of
//! a network and of its gradients, each written once with its signature and its body. The
//! real expansion emits them with their bodies and the network's types; a network with errors
//! gets the same items with loose types (generic inputs and outputs) and no bodies, so that code
//! using it adds no errors of its own to the DSL's, and the two can never drift apart.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

/// Output elements above which `forward` returns its output boxed: a larger array returned by
/// value would overflow a thread's stack (2 MiB for a spawned thread) on the way.
pub const MAX_BY_VALUE_OUTPUT: usize = 1 << 16;

/// What a real network's items are made of (each a token stream ready to interpolate).
pub struct Real {
    pub c: TokenStream,
    pub h: TokenStream,
    pub w: TokenStream,
    pub in_len: TokenStream,
    pub out_len: TokenStream,
    pub out_shape: Vec<TokenStream>,
    /// The classes a label picks from (the output's channels for a `[K, H, W]` output) and the
    /// labels per sample (its pixels; 1 for a flat output).
    pub classes: TokenStream,
    pub pixels: TokenStream,
    pub param_count: TokenStream,
    pub buffer_count: TokenStream,
    pub counter_count: TokenStream,
    pub layer_count: TokenStream,
    pub flops: TokenStream,
    pub summary: String,
    pub params: Vec<TokenStream>,
    pub buffers: Vec<TokenStream>,
    pub counters: Vec<String>,
    pub min_batch: TokenStream,
    /// Whether `forward` boxes its output (more than [`MAX_BY_VALUE_OUTPUT`] elements).
    pub boxed_output: bool,
}

/// The network's and its gradients' names, and, for a real network, what its items are made of.
pub struct Api<'a> {
    pub net: &'a Ident,
    pub grads: &'a Ident,
    /// The name `Debug` prints (the network's name, never raw).
    pub name: String,
    pub real: Option<&'a Real>,
    /// For a stub: the sizes of one input and one output sample, where known.
    pub stub_io: (Option<usize>, Option<usize>),
}

/// A body, or for a stub `unreachable!()`.
fn body(real: Option<&Real>, f: impl FnOnce(&Real) -> TokenStream) -> TokenStream {
    match real {
        Some(r) => f(r),
        None => quote!(::core::unreachable!()),
    }
}

impl Api<'_> {
    /// The type of one input sample and of one output sample, and the generic parameters a
    /// stub's method declares for them (for the input, the output, both): each method declares
    /// only those its signature uses, so that every call can infer them.
    fn types(&self) -> (TokenStream, TokenStream, [TokenStream; 3]) {
        match self.real {
            Some(r) => {
                let (in_len, out_len) = (&r.in_len, &r.out_len);
                (quote!([f32; #in_len]), quote!([f32; #out_len]), Default::default())
            }
            None => {
                // An output is never generic: `let y = net.forward(&x); y.iter()` must not need
                // an annotation (E0282) on top of the network's own errors.
                let output = match self.stub_io.1 {
                    Some(n) => {
                        let n = crate::layers::lit(n);
                        quote!([f32; #n])
                    }
                    None => quote!([f32; 0]),
                };
                match self.stub_io.0 {
                    Some(n) => {
                        let n = crate::layers::lit(n);
                        (quote!([f32; #n]), output, Default::default())
                    }
                    None => (quote!(__In), output, [quote!(__In,), TokenStream::new(), quote!(__In,)]),
                }
            }
        }
    }

    /// The flat parameter array: `[f32; N]`, or for a stub a slice (it takes every use but a
    /// binding to a sized array).
    fn flat(&self) -> TokenStream {
        match self.real {
            Some(r) => {
                let n = &r.param_count;
                quote!([f32; #n])
            }
            None => quote!([f32]),
        }
    }

    /// Associated constants: `(docs, name, type, value, a stub's value)`.
    fn consts(&self) -> TokenStream {
        let r = self.real;
        let v = |f: &dyn Fn(&Real) -> TokenStream, stub: TokenStream| r.map_or(stub, f);
        let items: [(TokenStream, &str, TokenStream, TokenStream); 11] = [
            (
                quote!(#[doc = " Shape of one input sample, `[channels, height, width]`."]),
                "INPUT_SHAPE",
                quote!([usize; 3]),
                v(
                    &|r| {
                        let (c, h, w) = (&r.c, &r.h, &r.w);
                        quote!([#c, #h, #w])
                    },
                    quote!([0; 3]),
                ),
            ),
            (
                quote!(#[doc = " Elements in one input sample."]),
                "INPUT_LEN",
                quote!(usize),
                v(&|r| r.in_len.clone(), quote!(0)),
            ),
            (
                quote!(#[doc = " Shape of one output sample."]),
                "OUTPUT_SHAPE",
                quote!(&'static [usize]),
                v(
                    &|r| {
                        let s = &r.out_shape;
                        quote!(&[#(#s),*])
                    },
                    quote!(&[]),
                ),
            ),
            (
                quote!(#[doc = " Elements in one output sample."]),
                "OUTPUT_LEN",
                quote!(usize),
                v(&|r| r.out_len.clone(), quote!(0)),
            ),
            (
                quote!(#[doc = " Number of trainable parameters, as `sum(p.numel() for p in net.parameters())`."]),
                "PARAM_COUNT",
                quote!(usize),
                v(&|r| r.param_count.clone(), quote!(0)),
            ),
            (
                quote! {
                    /// Floating-point operations of one sample's forward pass, counting a multiply-add
                    /// of a conv or linear layer as two (pools, norms and activations are not counted).
                },
                "FORWARD_FLOPS",
                quote!(u64),
                v(&|r| r.flops.clone(), quote!(0)),
            ),
            (
                quote! {
                    /// One row a layer or block: `state_dict` key, item as written (indented by
                    /// depth), output shape, parameters.
                },
                "SUMMARY",
                quote!(&'static str),
                v(
                    &|r| {
                        let s = &r.summary;
                        quote!(#s)
                    },
                    quote!(""),
                ),
            ),
            (
                quote! {
                    /// The parameter tensors in PyTorch `state_dict` order, with names, shapes and
                    /// places in [`Self::flat_params`].
                },
                "PARAMS",
                quote!(&'static [::cnn::ParamSpec]),
                v(
                    &|r| {
                        let p = &r.params;
                        quote!(&[#(#p),*])
                    },
                    quote!(&[]),
                ),
            ),
            (
                quote!(#[doc = " The buffers (batch norm's running statistics), with names, shapes and places."]),
                "BUFFERS",
                quote!(&'static [::cnn::ParamSpec]),
                v(
                    &|r| {
                        let b = &r.buffers;
                        quote!(&[#(#b),*])
                    },
                    quote!(&[]),
                ),
            ),
            (
                quote! {
                    /// The counters (batch norm's `num_batches_tracked`), saved as 0-dimensional
                    /// `int64` tensors.
                },
                "COUNTERS",
                quote!(&'static [&'static str]),
                v(
                    &|r| {
                        let c = &r.counters;
                        quote!(&[#(#c),*])
                    },
                    quote!(&[]),
                ),
            ),
            (
                quote! {
                    /// The fewest samples a training step takes (2 when batch norm runs over a flat
                    /// input, which needs more than one value per channel).
                },
                "MIN_TRAIN_BATCH",
                quote!(usize),
                v(&|r| r.min_batch.clone(), quote!(0)),
            ),
        ];
        items
            .into_iter()
            .map(|(doc, name, ty, value)| {
                let name = format_ident!("{}", name);
                quote! { #doc pub const #name: #ty = #value; }
            })
            .collect()
    }

    /// The network's public methods.
    fn net_methods(&self) -> TokenStream {
        let r = self.real;
        let (input, output, [gen_in, gen_out, both]) = self.types();
        let flat = self.flat();
        let grads = self.grads;
        let state_mut = quote!(::cnn::__private::StateMut {
            params: &mut self.params[..],
            buffers: &mut self.buffers[..],
            counters: &mut self.counters[..]
        });
        let state_ref = quote!(::cnn::__private::StateRef {
            params: &self.params[..],
            buffers: &self.buffers[..],
            counters: &self.counters[..]
        });
        let boxed = r.map_or(self.stub_io.1.is_some_and(|n| n > MAX_BY_VALUE_OUTPUT), |r| r.boxed_output);
        let forward_out = if boxed { quote!(::std::boxed::Box<#output>) } else { quote!(#output) };
        let forward_doc = if boxed {
            format!(
                " Runs one sample through the network in eval mode (running statistics, no dropout). \
                 The output is boxed: above {MAX_BY_VALUE_OUTPUT} elements an array returned by value \
                 could overflow the stack. [`Self::forward_into`] writes into a buffer of yours."
            )
        } else {
            format!(
                " Runs one sample through the network in eval mode (running statistics, no dropout). \
                 Outputs above {MAX_BY_VALUE_OUTPUT} elements come boxed instead, so that no array that \
                 large passes over the stack."
            )
        };
        let new = body(r, |r| {
            let (pc, bc, cc, lc) = (&r.param_count, &r.buffer_count, &r.counter_count, &r.layer_count);
            quote! {
                // The instruction set is chosen here, once, so that a bad `CNN_ISA` fails now.
                ::cnn::isa();
                let mut params = ::cnn::__private::zeroed_array::<#pc>();
                ::cnn::__private::init_default(Self::PARAMS, &mut params[..], seed);
                let mut buffers = ::cnn::__private::zeroed_array::<#bc>();
                ::cnn::__private::init_default(Self::BUFFERS, &mut buffers[..], seed);
                Self { params: ::cnn::__private::Params::new(params, #lc), buffers, counters: [0; #cc], seed, step: 0, train: ::cnn::__private::TrainBuffers::new() }
            }
        });
        let forward = body(r, |r| {
            let out_len = &r.out_len;
            let alloc = if r.boxed_output {
                quote!(::cnn::__private::zeroed_array::<#out_len>())
            } else {
                quote!([0.0f32; #out_len])
            };
            quote! {
                let mut y = #alloc;
                self.forward_into(x, &mut y);
                y
            }
        });
        let forward_into = body(r, |_| {
            quote! {
                ::cnn::__private::with_thread_workspace(|ws| {
                    self.forward_batch_into(::core::slice::from_ref(x), ::core::slice::from_mut(y), ws)
                });
            }
        });
        let forward_batch = body(r, |_| {
            quote! {
                let mut ys = ::cnn::__private::zeroed_rows(xs.len());
                ::cnn::__private::with_thread_workspace(|ws| self.forward_batch_into(xs, &mut ys, ws));
                ys
            }
        });
        let forward_batch_into = body(r, |_| {
            quote! {
                ::cnn::__private::for_each_tile(ws, Self::TILING, xs.as_flattened(), ys.as_flattened_mut(), |n, x, y, scratch| {
                    self.forward_tile(n, x, y, scratch)
                });
            }
        });
        let train_step = body(r, |_| {
            quote! {
                self.train_step_with(xs, labels, &::cnn::loss::CrossEntropy::new(), opt)
            }
        });
        let try_train_step = body(r, |_| {
            quote! {
                self.try_train_step_with(xs, labels, &::cnn::loss::CrossEntropy::new(), opt)
            }
        });
        let train_step_with = body(r, |_| {
            quote! {
                match self.try_train_step_with(xs, labels, loss, opt) {
                    ::core::result::Result::Ok(loss) => loss,
                    ::core::result::Result::Err(::cnn::TrainError::NonFiniteLoss { loss }) => loss,
                    ::core::result::Result::Err(e) => ::core::panic!("train_step: {}", e),
                }
            }
        });
        let try_train_step_with = body(r, |r| {
            let (classes, pixels) = (&r.classes, &r.pixels);
            quote! {
                let loss_opts = loss.with_pixels(#pixels);
                ::cnn::__private::check_label_count(labels, xs.len(), #pixels)?;
                if xs.is_empty() {
                    return ::core::result::Result::Err(::cnn::TrainError::EmptyBatch);
                }
                if xs.len() < Self::MIN_TRAIN_BATCH {
                    return ::core::result::Result::Err(::cnn::TrainError::BatchTooSmall { batch: xs.len(), needed: Self::MIN_TRAIN_BATCH });
                }
                ::cnn::__private::check_loss_labels(labels, #classes, loss_opts)?;
                self.__try_train_step_part(::core::option::Option::None, ::cnn::exchange::Part::whole(xs.len()), xs, labels, loss, opt)
            }
        });
        let cross_entropy = body(r, |r| {
            let (classes, pixels) = (&r.classes, &r.pixels);
            quote! {
                ::cnn::__private::cross_entropy_with(logits.as_flattened(), labels, #classes, opts.with_pixels(#pixels), grad.as_flattened_mut())
            }
        });
        let forward_train = body(r, |r| {
            let out_len = &r.out_len;
            quote! {
                let n = xs.len();
                ::core::assert!(n == 0 || n >= Self::MIN_TRAIN_BATCH, "{}", ::cnn::TrainError::BatchTooSmall { batch: n, needed: Self::MIN_TRAIN_BATCH });
                let step = self.step.saturating_add(1);
                self.run_train_forward(xs, step);
                self.step = step;
                self.after_train_forward(n);
                self.train.outputs().as_chunks::<#out_len>().0
            }
        });
        let run_train_forward = body(r, |_| {
            quote! {
                self.run_train_forward_part(xs, step, ::cnn::exchange::Part::whole(xs.len()), ::core::option::Option::None);
            }
        });
        let run_train_forward_part = body(r, |_| {
            quote! {
                // Batch statistics and means are the whole batch's, over every process.
                let n = part.batch;
                let p = &self.params;
                let bufs: &[f32] = &self.buffers[..];
                let seed = self.seed;
                self.train.forward_part(
                    Self::TRAIN_LAYOUT,
                    xs.as_flattened(),
                    part,
                    exchange,
                    |stage, t| Self::train_forward_stage(p, bufs, seed, step, n, stage, t),
                    |stage, partials, shared| Self::train_forward_reduce(n, stage, partials, shared),
                );
            }
        });
        let seed = body(r, |_| quote!(self.seed));
        let check_step_part = body(r, |r| {
            let (classes, pixels) = (&r.classes, &r.pixels);
            quote! {
                let loss_opts = loss.with_pixels(#pixels);
                ::cnn::__private::check_label_count(labels, xs.len(), #pixels)?;
                ::cnn::__private::check_loss_labels(labels, #classes, loss_opts)
            }
        });
        let try_train_step_part = body(r, |r| {
            let (classes, pixels) = (&r.classes, &r.pixels);
            quote! {
                // An optimizer whose state is another network's is refused before anything runs.
                ::cnn::__private::check_optimizer(&*opt, Self::PARAM_COUNT)?;
                let loss_opts = loss.with_pixels(#pixels);
                let n = part.batch;
                // Nothing is committed (step count, running statistics, counters) before the
                // loss is known to be finite: a step that errs changes nothing.
                let step = self.step.saturating_add(1);
                let mut exchange = exchange;
                self.run_train_forward_part(xs, step, part, exchange.as_deref_mut());
                let loss = self.train.cross_entropy_part(Self::TRAIN_LAYOUT, labels, #classes, loss_opts, exchange.as_deref_mut())?;
                self.step = step;
                self.after_train_forward(n);
                let p = &self.params;
                let bufs: &[f32] = &self.buffers[..];
                let seed = self.seed;
                self.train.loss_backward_part(
                    Self::TRAIN_LAYOUT,
                    exchange,
                    |stage, t| Self::train_backward_stage(p, bufs, seed, step, n, stage, t),
                    |stage, partials, shared, grads| Self::train_backward_reduce(n, stage, partials, shared, grads),
                );
                opt.step(&mut self.params[..], self.train.grads());
                ::core::result::Result::Ok(loss)
            }
        });
        let backward = body(r, |_| {
            quote! {
                let p = &self.params;
                let bufs: &[f32] = &self.buffers[..];
                let (seed, step, n) = (self.seed, self.step, self.train.batch());
                self.train.backward(
                    Self::TRAIN_LAYOUT,
                    grad_output.as_flattened(),
                    &mut grads.params[..],
                    |stage, t| Self::train_backward_stage(p, bufs, seed, step, n, stage, t),
                    |stage, partials, shared, grads| Self::train_backward_reduce(n, stage, partials, shared, grads),
                );
            }
        });
        let find = |table: TokenStream, field: TokenStream, kind: TokenStream, mutable: bool| {
            body(r, |_| {
                let data =
                    if mutable { quote!(&mut self.#field[spec.range()]) } else { quote!(&self.#field[spec.range()]) };
                quote! {
                    let spec = ::cnn::__private::find(Self::#table, name)?;
                    ::core::option::Option::Some(::cnn::#kind { name: spec.name, shape: spec.shape, data: #data })
                }
            })
        };
        let param = find(quote!(PARAMS), quote!(params), quote!(Param), false);
        let param_mut = find(quote!(PARAMS), quote!(params), quote!(ParamMut), true);
        let buffer = find(quote!(BUFFERS), quote!(buffers), quote!(Param), false);
        let buffer_mut = find(quote!(BUFFERS), quote!(buffers), quote!(ParamMut), true);
        // An iterator over tensors: `impl ExactSizeIterator` in a network, a concrete empty
        // iterator in a stub (whose `unreachable!()` body could not stand for an `impl Trait`).
        let tensors = |table: TokenStream, field: TokenStream| match r {
            Some(_) => (
                quote!(impl ::core::iter::ExactSizeIterator<Item = ::cnn::Param<'_>> + '_),
                quote!(::cnn::__private::params(Self::#table, &self.#field[..])),
            ),
            None => (quote!(::core::iter::Empty<::cnn::Param<'_>>), quote!(::core::unreachable!())),
        };
        let (params_ty, params) = tensors(quote!(PARAMS), quote!(params));
        let (buffers_ty, buffers) = tensors(quote!(BUFFERS), quote!(buffers));
        let simple = |f: TokenStream| body(r, |_| f);
        let params_mut = simple(quote!(::cnn::__private::params_mut(Self::PARAMS, &mut self.params[..])));
        let counter = simple(quote! {
            let at = Self::COUNTERS.iter().position(|c| *c == name)?;
            ::core::option::Option::Some(self.counters[at])
        });
        let load = simple(quote!(::cnn::__private::load_state(&Self::STATE, #state_mut, path.as_ref())));
        let load_bytes = simple(quote!(::cnn::__private::load_state_bytes(&Self::STATE, #state_mut, bytes)));
        let save = simple(quote!(::cnn::__private::save_state(&Self::STATE, #state_ref, path.as_ref())));
        let save_bytes = simple(quote!(::cnn::__private::save_state_bytes(&Self::STATE, #state_ref)));
        let activations = simple(quote!(self.kept_activations(x)));
        let activation = simple(quote!(self.kept_activations(x).into_iter().find(|(k, _)| *k == key).map(|(_, t)| t)));
        let save_checkpoint = simple(quote! {
            let progress = ::cnn::checkpoint::Progress { step: self.step, seed: self.seed };
            ::cnn::__private::save_checkpoint(&Self::STATE, #state_ref, progress, opt, path.as_ref())
        });
        let load_checkpoint = simple(quote! {
            let mut progress = ::cnn::checkpoint::Progress { step: self.step, seed: self.seed };
            ::cnn::__private::load_checkpoint(&Self::STATE, #state_mut, &mut progress, opt, path.as_ref())?;
            self.step = progress.step;
            self.seed = progress.seed;
            ::core::result::Result::Ok(())
        });
        let step_count = simple(quote!(self.step));
        let set_step_count = simple(quote!(self.step = step;));
        let apply_gradients = simple(quote!(opt.step(&mut self.params[..], &grads.params[..]);));
        let flat_params = simple(quote!(&self.params));
        let flat_params_mut = simple(quote!(&mut self.params));
        let result = quote!(::core::result::Result<(), ::cnn::WeightsError>);
        let path = quote!(impl ::core::convert::AsRef<::std::path::Path>);
        quote! {
            /// A network initialised as PyTorch initialises its layers (conv and linear
            /// weights kaiming-uniform with `a = sqrt(5)`, biases uniform in
            /// `±1/sqrt(fan_in)`, batch norm weights 1 and biases 0, running mean 0 and
            /// variance 1), from a deterministic generator seeded with `seed`, which also
            /// keys dropout's masks.
            ///
            /// # Panics
            /// If the environment variable `CNN_ISA` names an instruction set this CPU lacks
            /// (see [`cnn::isa`](::cnn::isa)).
            pub fn new(seed: u64) -> Self { #new }

            #[doc = #forward_doc]
            pub fn forward<#both>(&self, x: &#input) -> #forward_out { #forward }

            /// Runs one sample in eval mode into `y`, whatever its size (no output passes over
            /// the stack).
            pub fn forward_into<#both>(&self, x: &#input, y: &mut #output) { #forward_into }

            /// Every layer's output for one sample in eval mode, in order, under its key: the
            /// `state_dict` prefix it has or would have with parameters (`"1"` for a relu at
            /// position 1, `"layer1.0.conv1"` inside a block; a `residual`, `cat`, `dense`,
            /// `gate`, `split` or `sum` block's key names its join, a `seq`'s or a `shortcut`'s
            /// its last layer's output, and a key shared through a `_` name the last value under
            /// it: every key `SUMMARY` lists), as forward hooks on the PyTorch modules see them
            /// (`create_feature_extractor` names them so too). Each layer runs on
            /// its own here (no fusion), so this is slower than [`Self::forward`] and allocates.
            pub fn activations<#gen_in>(&self, x: &#input) -> ::std::vec::Vec<(&'static str, ::cnn::Tensor)> { #activations }

            /// The output of the layer with this key (see [`Self::activations`]) for one sample.
            pub fn activation<#gen_in>(&self, x: &#input, key: &str) -> ::core::option::Option<::cnn::Tensor> { #activation }

            /// Runs a batch in eval mode, split across rayon's threads; each output equals
            /// [`Self::forward`] of its input, bit for bit.
            pub fn forward_batch<#both>(&self, xs: &[#input]) -> ::std::vec::Vec<#output> { #forward_batch }

            /// Runs a batch in eval mode into `ys`, using `ws` for scratch memory, without
            /// allocating once `ws` and the threads' packing buffers have served a batch
            /// this large.
            ///
            /// Called from outside rayon's pool, rayon's job queue still allocates a small
            /// block about once every 64 calls; run inside the pool (`pool.install(...)`)
            /// for no allocation at all.
            ///
            /// # Panics
            /// If `xs` and `ys` differ in length.
            #[track_caller]
            pub fn forward_batch_into<#both>(&self, xs: &[#input], ys: &mut [#output], ws: &mut ::cnn::Workspace) { #forward_batch_into }

            /// One training step: forward in train mode, mean softmax cross-entropy against
            /// `labels` (class indices, as `nn.CrossEntropyLoss()`), backward, and one `opt`
            /// update. Returns the loss before the update. Gradients are bit-identical
            /// whatever the number of threads, and after the first step of a batch size the
            /// step allocates nothing.
            ///
            /// A network whose output is a map `[K, H, W]` takes one label per pixel
            /// (`labels.len() == xs.len() * H * W`, sample after sample, rows in order), as
            /// `nn.CrossEntropyLoss` takes an `[N, H, W]` target for `[N, K, H, W]` logits; the
            /// mean is over every pixel of the batch. [`Self::train_step_with`] takes the loss's
            /// options (class weights, an ignored label, label smoothing).
            ///
            /// A NaN or infinite loss is returned as it is, with the parameters left unchanged.
            ///
            /// # Panics
            /// If there is not one label per sample (per pixel), a label is not below the
            /// classes, or the batch is empty or smaller than [`Self::MIN_TRAIN_BATCH`], with
            /// the numbers in the message; [`Self::try_train_step`] returns these as errors
            /// instead.
            #[track_caller]
            pub fn train_step<#gen_in O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#input], labels: &[usize], opt: &mut O) -> f32 { #train_step }

            /// [`Self::train_step`], with bad labels, an empty batch or one too small and a
            /// non-finite loss returned as errors (the parameters are unchanged after any error).
            pub fn try_train_step<#gen_in O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#input], labels: &[usize], opt: &mut O) -> ::core::result::Result<f32, ::cnn::TrainError> { #try_train_step }

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
            pub fn train_step_with<#gen_in O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#input], labels: &[usize], loss: &::cnn::loss::CrossEntropy, opt: &mut O) -> f32 { #train_step_with }

            /// [`Self::train_step_with`], with its errors returned (the parameters are unchanged
            /// after any error).
            pub fn try_train_step_with<#gen_in O: ::cnn::Optimizer + ?Sized>(&mut self, xs: &[#input], labels: &[usize], loss: &::cnn::loss::CrossEntropy, opt: &mut O) -> ::core::result::Result<f32, ::cnn::TrainError> { #try_train_step_with }

            /// The cross-entropy of this network's outputs, `nn.CrossEntropyLoss` with `opts`:
            /// per sample for a flat output, per pixel (one label each, `[N, H, W]`) for a
            /// `[K, H, W]` one, read from the output's shape (so per-pixel logits cannot be read
            /// as rows by accident). Writes the gradient for [`Self::backward`] into `grad` and
            /// returns the loss; see `cnn::loss::cross_entropy`.
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
            pub fn cross_entropy(logits: &[#output], labels: &[usize], opts: &::cnn::loss::CrossEntropy, grad: &mut [#output]) -> ::core::result::Result<f32, ::cnn::TrainError> { #cross_entropy }

            /// The forward pass in train mode (batch statistics, dropout on; running
            /// statistics updated): runs the batch and keeps what [`Self::backward`] needs.
            /// Returns the outputs (logits), one row a sample.
            ///
            /// # Panics
            /// If the batch is not empty but smaller than [`Self::MIN_TRAIN_BATCH`].
            #[track_caller]
            pub fn forward_train<#both>(&mut self, xs: &[#input]) -> &[#output] { #forward_train }

            /// The training forward pass as step `step` draws it (dropout's masks), without
            /// committing anything: the step count, running statistics and counters stay.
            fn run_train_forward<#gen_in>(&mut self, xs: &[#input], step: u64) { #run_train_forward }

            /// [`Self::run_train_forward`] of this process's `part` of a batch other processes
            /// share, their statistics met through `exchange`.
            fn run_train_forward_part<#gen_in>(&mut self, xs: &[#input], step: u64, part: ::cnn::exchange::Part, exchange: ::core::option::Option<&mut (dyn ::cnn::exchange::Exchange + '_)>) { #run_train_forward_part }

            /// The seed keying dropout's masks, which `cnn::dist` compares across processes.
            #[doc(hidden)]
            pub fn __seed(&self) -> u64 { #seed }

            /// The checks of a training step on this process's part of a batch (`cnn::dist`
            /// runs them on every process before any of them starts the step).
            #[doc(hidden)]
            pub fn __check_step_part<#gen_in>(&self, xs: &[#input], labels: &[usize], loss: &::cnn::loss::CrossEntropy) -> ::core::result::Result<(), ::cnn::TrainError> { #check_step_part }

            /// One training step of this process's `part` of a batch, after its checks: with
            /// `exchange`, other processes hold the rest and every batch-wide sum meets theirs
            /// in the order one process adds in (what `cnn::dist`'s `train_step_dist` runs once
            /// the processes agree to step); without, the part is the whole batch.
            #[doc(hidden)]
            pub fn __try_train_step_part<#gen_in O: ::cnn::Optimizer + ?Sized>(&mut self, exchange: ::core::option::Option<&mut (dyn ::cnn::exchange::Exchange + '_)>, part: ::cnn::exchange::Part, xs: &[#input], labels: &[usize], loss: &::cnn::loss::CrossEntropy, opt: &mut O) -> ::core::result::Result<f32, ::cnn::TrainError> { #try_train_step_part }

            ::cnn::__dist_methods!([#gen_in] #input);

            /// The backward pass of the last [`Self::forward_train`]: from the loss gradient
            /// with respect to its outputs, writes every parameter gradient to `grads`
            /// (overwriting, not accumulating).
            ///
            /// # Panics
            /// If no training forward pass came first, or `grad_output` has another batch size.
            #[track_caller]
            pub fn backward<#gen_out>(&mut self, grad_output: &[#output], grads: &mut #grads) { #backward }

            /// One optimizer update with `grads`.
            pub fn apply_gradients<O: ::cnn::Optimizer + ?Sized>(&mut self, opt: &mut O, grads: &#grads) { #apply_gradients }

            /// Training forward passes run so far (each [`Self::forward_train`], so each
            /// training step, adds one); with the seed it keys dropout's masks.
            pub fn step_count(&self) -> u64 { #step_count }

            /// Sets the training step count, to resume a run where it stopped (the next
            /// training forward pass draws the dropout masks of step `step + 1`).
            pub fn set_step_count(&mut self, step: u64) { #set_step_count }

            /// The parameter tensors, in `state_dict` order.
            pub fn params(&self) -> #params_ty { #params }

            /// The parameter tensors, mutably, in `state_dict` order.
            pub fn params_mut(&mut self) -> ::cnn::ParamsMut<'_> { #params_mut }

            /// The parameter with this `state_dict` name, such as `"0.weight"`.
            pub fn param(&self, name: &str) -> ::core::option::Option<::cnn::Param<'_>> { #param }

            /// The parameter with this `state_dict` name, mutably.
            pub fn param_mut(&mut self, name: &str) -> ::core::option::Option<::cnn::ParamMut<'_>> { #param_mut }

            /// Every parameter in one array, tensor after tensor in `state_dict` order.
            pub fn flat_params(&self) -> &#flat { #flat_params }

            /// Every parameter in one array, mutably.
            pub fn flat_params_mut(&mut self) -> &mut #flat { #flat_params_mut }

            /// The buffers (running statistics), as `net.buffers()` lists them, without the
            /// counters (see [`Self::counter`]).
            pub fn buffers(&self) -> #buffers_ty { #buffers }

            /// The buffer with this `state_dict` name, such as `"1.running_mean"`.
            pub fn buffer(&self, name: &str) -> ::core::option::Option<::cnn::Param<'_>> { #buffer }

            /// The buffer with this `state_dict` name, mutably.
            pub fn buffer_mut(&mut self, name: &str) -> ::core::option::Option<::cnn::ParamMut<'_>> { #buffer_mut }

            /// The counter with this `state_dict` name, such as `"1.num_batches_tracked"`.
            pub fn counter(&self, name: &str) -> ::core::option::Option<i64> { #counter }

            /// Loads a safetensors file with PyTorch `state_dict` names (parameters, buffers
            /// and counters), as `load_state_dict(strict=True)` would: on any error the
            /// network is unchanged.
            pub fn load_safetensors(&mut self, path: #path) -> #result { #load }

            /// As [`Self::load_safetensors`], from the bytes of a safetensors file.
            pub fn load_safetensors_bytes(&mut self, bytes: &[u8]) -> #result { #load_bytes }

            /// Saves the `state_dict` (parameters, buffers, counters) as a safetensors file
            /// that `safetensors.torch.load_file` reads. The file is replaced atomically.
            pub fn save_safetensors(&self, path: #path) -> #result { #save }

            /// The bytes of the safetensors file [`Self::save_safetensors`] writes.
            pub fn to_safetensors_bytes(&self) -> ::std::vec::Vec<u8> { #save_bytes }

            /// Saves a checkpoint to resume training from: the `state_dict`, the step count and
            /// seed (`cnn.step_count`, `cnn.seed`: dropout's masks follow them) and `opt`'s state
            /// (`optimizer.exp_avg`, ...; see `cnn::checkpoint`) in one safetensors file,
            /// replaced atomically.
            pub fn save_checkpoint<O: ::cnn::Optimizer + ?Sized>(&self, path: #path, opt: &O) -> #result { #save_checkpoint }

            /// Loads a checkpoint that [`Self::save_checkpoint`] wrote into the network and
            /// `opt` (an optimizer of the same kind; its hyperparameters stay its own). Strict
            /// as [`Self::load_safetensors`]; on any error neither changes. Training on from
            /// it gives the same weights, bit for bit, as a run that never stopped.
            pub fn load_checkpoint<O: ::cnn::Optimizer + ?Sized>(&mut self, path: #path, opt: &mut O) -> #result { #load_checkpoint }
        }
    }

    /// The gradients' public methods.
    fn grads_methods(&self) -> TokenStream {
        let (r, net) = (self.real, self.net);
        let flat = self.flat();
        let (params_ty, params) = match r {
            Some(_) => (
                quote!(impl ::core::iter::ExactSizeIterator<Item = ::cnn::Param<'_>> + '_),
                quote!(::cnn::__private::params(#net::PARAMS, &self.params[..])),
            ),
            None => (quote!(::core::iter::Empty<::cnn::Param<'_>>), quote!(::core::unreachable!())),
        };
        let new = body(r, |r| {
            let pc = &r.param_count;
            quote!(Self { params: ::cnn::__private::zeroed_array::<#pc>() })
        });
        let param = body(r, |_| {
            quote! {
                let spec = ::cnn::__private::find(#net::PARAMS, name)?;
                ::core::option::Option::Some(::cnn::Param { name: spec.name, shape: spec.shape, data: &self.params[spec.range()] })
            }
        });
        let flat_ref = body(r, |_| quote!(&self.params));
        let flat_mut = body(r, |_| quote!(&mut self.params));
        quote! {
            /// All gradients zero.
            pub fn new() -> Self { #new }

            /// The gradient tensors, in `state_dict` order.
            pub fn params(&self) -> #params_ty { #params }

            /// The gradient of the parameter with this `state_dict` name, such as `"0.weight"`.
            pub fn param(&self, name: &str) -> ::core::option::Option<::cnn::Param<'_>> { #param }

            /// Every gradient in one array, in the order of the network's `flat_params`.
            pub fn flat(&self) -> &#flat { #flat_ref }

            /// Every gradient in one array, mutably (to clip or scale them, say).
            pub fn flat_mut(&mut self) -> &mut #flat { #flat_mut }
        }
    }

    /// `Clone`, `Debug` (the parameter count, not the weights) and, for the gradients,
    /// `Default`.
    fn trait_impls(&self) -> TokenStream {
        let (r, net, grads) = (self.real, self.net, self.grads);
        let (name, grads_name) = (&self.name, format!("{}Grads", self.name));
        let clone_net = body(r, |r| {
            let bc = &r.buffer_count;
            quote! {
                let mut buffers = ::cnn::__private::zeroed_array::<#bc>();
                buffers.copy_from_slice(&self.buffers[..]);
                Self { params: self.params.clone(), buffers, counters: self.counters, seed: self.seed, step: self.step, train: ::cnn::__private::TrainBuffers::new() }
            }
        });
        let clone_grads = body(r, |r| {
            let pc = &r.param_count;
            quote! {
                // The instruction set is chosen here, once, so that a bad `CNN_ISA` fails now.
                ::cnn::isa();
                let mut params = ::cnn::__private::zeroed_array::<#pc>();
                params.copy_from_slice(&self.params[..]);
                Self { params }
            }
        });
        quote! {
            impl ::core::clone::Clone for #net {
                fn clone(&self) -> Self { #clone_net }
            }

            impl ::core::fmt::Debug for #net {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#name).field("params", &Self::PARAM_COUNT).finish_non_exhaustive()
                }
            }

            impl ::core::default::Default for #grads {
                fn default() -> Self {
                    Self::new()
                }
            }

            impl ::core::clone::Clone for #grads {
                fn clone(&self) -> Self { #clone_grads }
            }

            impl ::core::fmt::Debug for #grads {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#grads_name).field("params", &#net::PARAM_COUNT).finish_non_exhaustive()
                }
            }
        }
    }

    /// The public items: `impl Net { consts, methods }`, `impl NetGrads { methods }` and the
    /// trait impls, for the real expansion (with `private`, the network's internal items, in
    /// its impl) or a stub.
    pub fn items(&self, private: TokenStream) -> TokenStream {
        let (net, grads) = (self.net, self.grads);
        let (consts, methods, grads_methods, traits) =
            (self.consts(), self.net_methods(), self.grads_methods(), self.trait_impls());
        let allow = if self.real.is_some() {
            quote!(#[allow(dead_code)])
        } else {
            quote!(#[allow(dead_code, unused_variables, clippy::all)])
        };
        quote! {
            #allow
            impl #net {
                #consts
                #methods
                #private
            }

            #allow
            impl #grads {
                #grads_methods
            }

            #traits
        }
    }
}
