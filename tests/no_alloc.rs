//! A warm batched forward pass and a warm training step allocate nothing: a counting global
//! allocator watches them. One test function, so that no other test allocates meanwhile.
//!
//! The passes run inside a rayon pool, as a program that cares runs them: called from a thread
//! outside the pool, each pass hands rayon a job through its injector queue, which allocates a
//! small block about once every 64 jobs.

use cnn::prelude::*;

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

cnn! {
    /// Batch norm (statistics reduced across threads), a residual block, a depthwise conv,
    /// dropout and average pooling, besides the plain layers.
    struct Net {
        input(3, 16, 16)
        conv(3, 8, k=3, p=1, bias=false) batchnorm(8) relu pool(2)
        residual { conv(8, 8, k=3, p=1, g=8) batchnorm(8) relu6 conv(8, 8, k=1) } relu
        conv(8, 16, k=3, s=2) relu dropout2d(0.1)
        avgpool(2)
        flatten
        linear(_, 32) batchnorm(32) relu dropout(0.2)
        linear(32, 10)
    }
}

cnn! {
    /// Dense prediction's layers: a padding mode, a `cat` skip, a transposed convolution, a
    /// bilinear upsampling, a pixel shuffle and a padding layer, ending in a map.
    struct Seg {
        input(3, 16, 16)
        conv(3, 8, k=3, p=1, padding_mode=reflect, bias=false) batchnorm(8) relu
        cat {
            identity
            seq { maxpool(2) conv(8, 8, k=3, p=1) relu conv_transpose(8, 8, k=2, s=2) }
        }
        upsample(scale_factor=0.5, mode=bilinear) conv(16, 12, k=1) pixel_shuffle(2)
        replicationpad(1) conv(3, 3, k=3)
    }
}

cnn! {
    /// Two named outputs, one of them read again on the way to the other.
    struct Two {
        input(3, 16, 16)
        conv(3, 8, k=3, s=2, p=1, bias=false) batchnorm(8) relu output fine
        conv(8, 4, k=3, s=2, p=1) output coarse
    }
}

#[test]
fn warm_forward_and_training_allocate_nothing() {
    let net = Net::new(0);
    let xs = vec![[0.25f32; Net::INPUT_LEN]; 64];
    let mut ys = vec![[0.0f32; Net::OUTPUT_LEN]; 64];
    let mut ws = Workspace::new();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    pool.install(|| {
        // Warm-up sizes the workspace and each thread's packing buffer.
        for _ in 0..3 {
            net.forward_batch_into(&xs, &mut ys, &mut ws);
            net.forward(&xs[0]);
        }
        let before = counting::allocations();
        for n in [64, 17, 1, 64] {
            net.forward_batch_into(&xs[..n], &mut ys[..n], &mut ws);
        }
        let single = net.forward(&xs[0]);
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in warm forward passes");
        assert_eq!(single, ys[0]);

        let mut net = Net::new(1);
        let mut opt = Adam::new(1e-3);
        let labels: Vec<usize> = (0..64).map(|i| i % 10).collect();
        for _ in 0..2 {
            net.train_step(&xs, &labels, &mut opt);
        }
        let before = counting::allocations();
        for n in [64, 64, 64] {
            net.train_step(&xs[..n], &labels[..n], &mut opt);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in warm training steps");

        // A map output trained with one label per pixel and the loss's options (in this test,
        // not beside it: the counter is the process's).
        let mut seg = Seg::new(2);
        let xs = vec![[0.25f32; Seg::INPUT_LEN]; 8];
        let labels: Vec<usize> = (0..8 * 16 * 16).map(|i| if i % 11 == 0 { 255 } else { i % 3 }).collect();
        let loss = cnn::loss::CrossEntropy::new().weight(vec![1.0, 0.5, 2.0]).ignore_index(255);
        let mut ys = vec![[0.0f32; Seg::OUTPUT_LEN]; 8];
        let mut opt = Adam::new(1e-3);
        for _ in 0..2 {
            seg.train_step_with(&xs, &labels, &loss, &mut opt);
            seg.forward_batch_into(&xs, &mut ys, &mut ws);
        }
        let before = counting::allocations();
        for _ in 0..3 {
            seg.train_step_with(&xs, &labels, &loss, &mut opt);
            seg.forward_batch_into(&xs, &mut ys, &mut ws);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in a warm segmentation net");

        // Several outputs: the forward, and a step by hand (forward_train, backward, update).
        let mut two = Two::new(3);
        let xs = vec![[0.25f32; Two::INPUT_LEN]; 8];
        let mut ys = TwoOutputs::zeroed_vec(8);
        let mut grad = TwoOutputs::zeroed_vec(8);
        let mut grads = TwoGrads::new();
        let mut opt = Sgd::new(0.01);
        let mut step = |two: &mut Two, ys: &mut [TwoOutputs], grad: &mut [TwoOutputs], grads: &mut TwoGrads| {
            two.forward_batch_into(&xs, ys, &mut ws);
            for (g, y) in grad.iter_mut().zip(two.forward_train(&xs)) {
                g.fine.copy_from_slice(&y.fine);
                g.coarse.iter_mut().zip(&y.coarse).for_each(|(g, y)| *g = 2.0 * y);
            }
            two.backward(grad, grads);
            two.apply_gradients(&mut opt, grads);
        };
        for _ in 0..2 {
            step(&mut two, &mut ys, &mut grad, &mut grads);
        }
        let before = counting::allocations();
        for _ in 0..3 {
            step(&mut two, &mut ys, &mut grad, &mut grads);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in a warm network with two outputs");
        // And the same in one call, with the loss per sample.
        let mut opt = Sgd::new(0.01);
        let mut step = |two: &mut Two| {
            two.train_step_loss(&xs, &mut opt, |_, n, y, g| {
                g.fine.iter_mut().zip(&y.fine).for_each(|(g, y)| *g = y / n as f32);
                y.fine.iter().map(|v| v * v).sum::<f32>() / (2.0 * n as f32)
            })
        };
        for _ in 0..2 {
            step(&mut two);
        }
        let before = counting::allocations();
        for _ in 0..3 {
            step(&mut two);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in warm `train_step_loss` steps");
        // The input's gradient too.
        let mut dx = vec![[0.0f32; Two::INPUT_LEN]; 8];
        let mut step = |two: &mut Two, grads: &mut TwoGrads| {
            two.forward_train(&xs);
            two.backward_to_input(&grad, grads, &mut dx);
        };
        for _ in 0..2 {
            step(&mut two, &mut grads);
        }
        let before = counting::allocations();
        for _ in 0..3 {
            step(&mut two, &mut grads);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in warm `backward_to_input` passes");
        // And a frozen network's: its input gradient alone, and an update that skips it all.
        two.requires_grad_(false);
        let mut opt = Adam::new(1e-3);
        for _ in 0..2 {
            step(&mut two, &mut grads);
            two.apply_gradients(&mut opt, &grads);
        }
        let before = counting::allocations();
        for _ in 0..3 {
            step(&mut two, &mut grads);
            two.apply_gradients(&mut opt, &grads);
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in a frozen network's warm passes");
        two.requires_grad_(true);

        // Detection's post-processing, warm: one-stage, the RPN's proposals, the RoI heads'.
        use cnn::detect::{
            Detection, LevelOutputs, Postprocess, Proposals, RegionProposals, RoiHeadsPostprocess, RpnLevel,
        };
        let anchors: Vec<[f32; 4]> = (0..64)
            .map(|i| {
                let (x, y) = ((i % 8) as f32 * 4.0, (i / 8) as f32 * 4.0);
                [x, y, x + 8.0, y + 8.0]
            })
            .collect();
        let logits: Vec<f32> = (0..64 * 3).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.7).collect();
        let codes: Vec<f32> = (0..64 * 4).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.05).collect();
        let level =
            LevelOutputs { cls_logits: &logits, bbox_regression: &codes, bbox_ctrness: None, anchors: &anchors };
        let rpn_level = RpnLevel { objectness: &logits[..64], bbox_deltas: &codes, anchors: &anchors };
        let box_codes: Vec<f32> = (0..64 * 3 * 4).map(|i| ((i * 5 % 9) as f32 - 4.0) * 0.1).collect();
        let (mut post, mut rpn, mut heads) =
            (Postprocess::retinanet(), RegionProposals::faster_rcnn(), RoiHeadsPostprocess::faster_rcnn());
        let (mut found, mut proposals, mut boxes) = (Detection::default(), Proposals::default(), Detection::default());
        let mut run = || {
            post.detect_into(&[level], 3, (40, 40), &mut found).unwrap();
            rpn.proposals_into(&[rpn_level], (40, 40), &mut proposals).unwrap();
            heads.detect_into(&logits, &box_codes, &anchors, 3, (40, 40), &mut boxes).unwrap();
        };
        run();
        let before = counting::allocations();
        for _ in 0..3 {
            run();
        }
        let after = counting::allocations();
        assert_eq!(after - before, 0, "allocations in warm detection post-processing");
        assert!(!found.boxes.is_empty() && !proposals.boxes.is_empty() && !boxes.boxes.is_empty());
    });
}
