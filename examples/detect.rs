//! Object detection from scratch: a small YOLO-style single-stage detector, written with `cnn!`,
//! finds rectangles, discs and triangles on noisy 64x64 pictures.
//!
//! ```text
//! cargo run --release --example detect
//! cargo run --release --example detect -- --epochs 20 --seed 1 --out detect/
//! ```
//!
//! The data set is generated here, deterministically from `--data-seed`: each picture has a
//! background of a random colour with pixel noise and one to five shapes of three classes
//! (rectangle, disc, triangle) of random size (8 to 28 pixels across), place and colour, none
//! overlapping another; a shape's box is its tight bounding box.
//!
//! The network: a CSP-style backbone (YOLOv5's `Conv` = convolution, batch norm, SiLU, and its
//! C3 blocks), a PANet neck (top-down upsampling and concatenation, then bottom-up strided
//! convolutions and concatenation) and decoupled heads at strides 4, 8 and 16, one per level, each
//! with a class branch and a box branch (FCOS's distances to the four edges, and a centre-ness).
//! Its nine outputs (`cls3`, `box3`, `ctr3`, ..., per level) are named `output`s: `forward`
//! returns them as the fields of `DetectorOutputs`, each already in the `[cells, values]` order
//! the post-processing reads (a `permute(0, 2, 3, 1)` in the network).
//!
//! Training is FCOS's recipe (torchvision's `FCOSHead.compute_loss`), scaled to the small
//! pictures: a cell is positive for a box when its centre lies inside the box and within 1.5
//! strides of its centre, and the box's largest distance from the cell fits the level (up to 2
//! strides on the first level, 1 to 2 on the middle one, above 1 on the last); ties go to the
//! smallest box. Losses: sigmoid focal loss over every cell and class, GIoU of the decoded boxes
//! and binary cross-entropy of the centre-ness on the positives, each divided by the positives
//! (`cnn::detect::sigmoid_focal_loss` and `generalized_box_iou_loss` give the gradients).
//! AdamW with a cosine-annealed learning rate, `forward_train` and `backward` by hand.
//!
//! After each epoch: the training loss and, on held-out pictures, COCO's mAP@[.5:.95] and
//! mAP@0.5 (`cnn::metrics::MeanAveragePrecision`, equal to pycocotools), the detections coming
//! from `cnn::detect::Postprocess::fcos()` (torchvision's FCOS post-processing: score threshold,
//! top-k, per-class NMS). At the end `DIR/detections.png` shows held-out pictures with their
//! true boxes (white) and the detections (the class's colour: red rectangles, green discs,
//! yellow triangles), and `DIR/detector.safetensors` holds the weights.

use clap::Parser;
use cnn::detect::{generalized_box_iou_loss, sigmoid_focal_loss, Box4, Detection, LevelOutputs, Postprocess};
use cnn::lr::{CosineAnnealingLr, Schedule};
use cnn::metrics::MeanAveragePrecision;
use cnn::prelude::*;
use cnn::viz::Detected;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::time::Instant;

const SIDE: usize = 64;
const PIXELS: usize = SIDE * SIDE;
const CLASSES: usize = 3;
const NAMES: [&str; CLASSES] = ["rectangle", "disc", "triangle"];
/// The levels' strides and grid sides.
const STRIDES: [usize; 3] = [4, 8, 16];

cnn! {
    /// YOLOv5's `Conv`: a convolution, batch norm and SiLU.
    block cbs(cin, cout, k, s) {
        conv: conv(cin, cout, k=k, s=s, p=k / 2, bias=false) bn: batchnorm(cout) act: silu
    }

    /// YOLOv5's C3 (a CSP block): two 1x1 halves, one through a residual bottleneck, joined
    /// and mixed by a 1x1.
    block c3(cin, cout) {
        _: cat {
            _: seq { cv1: cbs(cin, cout / 2, 1, 1) m: residual { cbs(cout / 2, cout / 2, 1, 1) cbs(cout / 2, cout / 2, 3, 1) } }
            cv2: cbs(cin, cout / 2, 1, 1)
        }
        cv3: cbs(cout, cout, 1, 1)
    }

    /// A YOLO-style detector for 64x64 pictures: a CSP backbone, a PANet neck and decoupled
    /// heads at strides 4, 8 and 16, with FCOS's box coding.
    pub struct Detector {
        input(3, 64, 64)
        stem: cbs(3, 16, 3, 2)                                          // 32x32
        dark2: seq { cbs(16, 32, 3, 2) c3(32, 32) } let c3              // 16x16, stride 4
        dark3: seq { cbs(32, 64, 3, 2) c3(64, 64) } let c4              // 8x8, stride 8
        dark4: seq { cbs(64, 128, 3, 2) c3(128, 128) }                  // 4x4, stride 16

        // PANet, top-down: upsample, concatenate with the finer stage, mix.
        lat5: cbs(128, 64, 1, 1) let h5
        _: upsample(scale_factor=2, mode=nearest) _: cat { _: identity from c4 }
        td4: c3(128, 64)
        lat4: cbs(64, 32, 1, 1) let h4
        _: upsample(scale_factor=2, mode=nearest) _: cat { _: identity from c3 }
        td3: c3(64, 32) let n3                                          // 16x16
        // Bottom-up: a strided convolution, concatenate with the top-down path, mix.
        down3: cbs(32, 32, 3, 2) _: cat { _: identity from h4 }
        bu4: c3(64, 64) let n4                                          // 8x8
        down4: cbs(64, 64, 3, 2) _: cat { _: identity from h5 }
        bu5: c3(128, 64) let n5                                         // 4x4

        // Decoupled heads, one per level: classes; box distances (FCOS: ReLU) and centre-ness.
        from n3 head3.stem: cbs(32, 32, 1, 1) let s3
        head3.cls: seq { cbs(32, 32, 3, 1) conv(32, 3, k=1) permute(0, 2, 3, 1) } output cls3
        from s3 head3.reg: cbs(32, 32, 3, 1) let r3
        head3.box: seq { conv(32, 4, k=1) relu permute(0, 2, 3, 1) } output box3
        from r3 head3.ctr: conv(32, 1, k=1) output ctr3

        from n4 head4.stem: cbs(64, 32, 1, 1) let s4
        head4.cls: seq { cbs(32, 32, 3, 1) conv(32, 3, k=1) permute(0, 2, 3, 1) } output cls4
        from s4 head4.reg: cbs(32, 32, 3, 1) let r4
        head4.box: seq { conv(32, 4, k=1) relu permute(0, 2, 3, 1) } output box4
        from r4 head4.ctr: conv(32, 1, k=1) output ctr4

        from n5 head5.stem: cbs(64, 32, 1, 1) let s5
        head5.cls: seq { cbs(32, 32, 3, 1) conv(32, 3, k=1) permute(0, 2, 3, 1) } output cls5
        from s5 head5.reg: cbs(32, 32, 3, 1) let r5
        head5.box: seq { conv(32, 4, k=1) relu permute(0, 2, 3, 1) } output box5
        from r5 head5.ctr: conv(32, 1, k=1) output ctr5
    }
}

/// The example's options.
#[derive(Parser)]
#[command(about = "Train a YOLO-style detector written with cnn! on generated shapes")]
pub struct Args {
    #[arg(long, default_value_t = 12)]
    pub epochs: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 7)]
    pub data_seed: u64,
    #[arg(long, default_value_t = 3000)]
    pub train: usize,
    #[arg(long, default_value_t = 300)]
    pub test: usize,
    #[arg(long, default_value = "detect")]
    pub out: PathBuf,
}

/// One picture and its objects.
pub struct Picture {
    pub image: [f32; 3 * PIXELS],
    pub boxes: Vec<Box4>,
    pub labels: Vec<usize>,
}

/// Whether pixel centre `(x, y)` lies in a shape of `class` with box `b` (a triangle's apex at
/// `apex` across its top edge).
fn inside(class: usize, b: Box4, apex: f32, (x, y): (f32, f32)) -> bool {
    let [x1, y1, x2, y2] = b;
    if x < x1 || x > x2 || y < y1 || y > y2 {
        return false;
    }
    match class {
        0 => true,
        1 => {
            let (cx, cy, r) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0, (x2 - x1) / 2.0);
            (x - cx).powi(2) + (y - cy).powi(2) <= r * r
        }
        _ => {
            // Left edge from (x1, y2) to (apex, y1), right edge from (apex, y1) to (x2, y2).
            let t = (y - y1) / (y2 - y1);
            x >= apex + (x1 - apex) * t && x <= apex + (x2 - apex) * t
        }
    }
}

/// `n` pictures, deterministically from `seed`.
pub fn generate(n: usize, seed: u64) -> Vec<Picture> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..1.0));
            let mut rgb: Vec<[f32; 3]> =
                (0..PIXELS).map(|_| std::array::from_fn(|c| base[c] + rng.random_range(-0.15..0.15f32))).collect();
            let (mut boxes, mut labels) = (Vec::new(), Vec::new());
            let wanted = rng.random_range(1..=5);
            let mut tries = 0;
            while boxes.len() < wanted && tries < 100 {
                tries += 1;
                let class = rng.random_range(0..CLASSES);
                let w = rng.random_range(8..=28) as f32;
                let h = if class == 1 { w } else { rng.random_range(8..=28) as f32 };
                let (x1, y1) = (rng.random_range(0.0..SIDE as f32 - w), rng.random_range(0.0..SIDE as f32 - h));
                let b = [x1.floor(), y1.floor(), x1.floor() + w, y1.floor() + h];
                let apart = |o: &Box4| b[2] + 1.0 < o[0] || o[2] + 1.0 < b[0] || b[3] + 1.0 < o[1] || o[3] + 1.0 < b[1];
                if !boxes.iter().all(apart) {
                    continue;
                }
                let apex = rng.random_range(b[0]..b[2]);
                // A colour away from the background's, so that every shape can be seen.
                let colour: [f32; 3] = loop {
                    let c: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..1.0));
                    if c.iter().zip(&base).map(|(a, b)| (a - b).abs()).sum::<f32>() > 0.6 {
                        break c;
                    }
                };
                for (p, px) in rgb.iter_mut().enumerate() {
                    let (x, y) = ((p % SIDE) as f32 + 0.5, (p / SIDE) as f32 + 0.5);
                    if inside(class, b, apex, (x, y)) {
                        *px = std::array::from_fn(|c| colour[c] + rng.random_range(-0.1..0.1f32));
                    }
                }
                boxes.push(b);
                labels.push(class);
            }
            let mut image = [0.0f32; 3 * PIXELS];
            for (p, px) in rgb.iter().enumerate() {
                for c in 0..3 {
                    image[c * PIXELS + p] = px[c] - 0.5;
                }
            }
            Picture { image, boxes, labels }
        })
        .collect()
}

/// One level's outputs of one picture.
struct Level<'a> {
    cls: &'a [f32],
    bbox: &'a [f32],
    ctr: &'a [f32],
}

fn levels(y: &DetectorOutputs) -> [Level<'_>; 3] {
    [
        Level { cls: &y.cls3, bbox: &y.box3, ctr: &y.ctr3 },
        Level { cls: &y.cls4, bbox: &y.box4, ctr: &y.ctr4 },
        Level { cls: &y.cls5, bbox: &y.box5, ctr: &y.ctr5 },
    ]
}

/// Each level's cells as anchors: a box of the stride's size around the cell's centre, as
/// torchvision's FCOS makes them (one anchor a location, its size the level's).
fn anchors() -> [Vec<Box4>; 3] {
    STRIDES.map(|s| {
        let side = SIDE / s;
        (0..side * side)
            .map(|c| {
                let (x, y) = (((c % side) * s) as f32, ((c / side) * s) as f32);
                [x, y, x + s as f32, y + s as f32]
            })
            .collect()
    })
}

/// FCOS's assignment: for each level's cells, the index of its box, or `None` for background.
fn assign(anchors: &[Vec<Box4>; 3], boxes: &[Box4]) -> [Vec<Option<usize>>; 3] {
    std::array::from_fn(|l| {
        let s = STRIDES[l] as f32;
        let (lower, upper) = (if l == 0 { 0.0 } else { s }, if l == 2 { f32::INFINITY } else { 2.0 * s });
        anchors[l]
            .iter()
            .map(|a| {
                let (x, y) = ((a[0] + a[2]) / 2.0, (a[1] + a[3]) / 2.0);
                boxes
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| {
                        let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
                        let near = (x - cx).abs().max((y - cy).abs()) < 1.5 * s;
                        let d = [x - b[0], y - b[1], b[2] - x, b[3] - y];
                        let far = d.iter().fold(0.0f32, |m, &v| m.max(v));
                        near && d.iter().all(|&v| v > 0.0) && far > lower && far < upper
                    })
                    .min_by(|(_, a), (_, b)| area(a).total_cmp(&area(b)))
                    .map(|(i, _)| i)
            })
            .collect()
    })
}

fn area(b: &Box4) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

/// The loss of one picture's outputs against its objects (unnormalised sums and the positive
/// count), with the gradient written into `grad`: focal loss on every class logit, GIoU of the
/// decoded boxes and centre-ness BCE on positives.
fn picture_loss(
    y: &DetectorOutputs,
    sample: &Picture,
    anchors: &[Vec<Box4>; 3],
    targets: &mut Vec<f32>,
    grad: &mut DetectorOutputs,
) -> ([f64; 3], usize) {
    let matched = assign(anchors, &sample.boxes);
    let mut sums = [0.0f64; 3];
    let mut positives = 0;
    let outputs = levels(y);
    let mut grads = [
        (&mut grad.cls3[..], &mut grad.box3[..], &mut grad.ctr3[..]),
        (&mut grad.cls4[..], &mut grad.box4[..], &mut grad.ctr4[..]),
        (&mut grad.cls5[..], &mut grad.box5[..], &mut grad.ctr5[..]),
    ];
    for (l, (out, (g_cls, g_box, g_ctr))) in outputs.iter().zip(grads.iter_mut()).enumerate() {
        targets.clear();
        targets.resize(out.cls.len(), 0.0);
        for (cell, m) in matched[l].iter().enumerate() {
            if let Some(i) = *m {
                targets[cell * CLASSES + sample.labels[i]] = 1.0;
            }
        }
        sums[0] += f64::from(sigmoid_focal_loss(out.cls, targets, 0.25, 2.0, g_cls).expect("equal lengths"));
        g_box.fill(0.0);
        g_ctr.fill(0.0);
        for (cell, m) in matched[l].iter().enumerate() {
            let Some(i) = *m else { continue };
            positives += 1;
            let a = anchors[l][cell];
            let (cx, cy, size) = ((a[0] + a[2]) / 2.0, (a[1] + a[3]) / 2.0, a[2] - a[0]);
            let code = &out.bbox[cell * 4..cell * 4 + 4];
            // BoxLinearCoder(normalize_by_size=True): distances in anchor sizes.
            let pred = [cx - code[0] * size, cy - code[1] * size, cx + code[2] * size, cy + code[3] * size];
            let target = sample.boxes[i];
            let mut g = [[0.0f32; 4]];
            sums[1] += f64::from(generalized_box_iou_loss(&[pred], &[target], 1e-7, &mut g).expect("valid boxes"));
            let d = [-size, -size, size, size];
            for k in 0..4 {
                g_box[cell * 4 + k] = g[0][k] * d[k];
            }
            // Centre-ness target from the true distances; BCE with logits.
            let t = [cx - target[0], cy - target[1], target[2] - cx, target[3] - cy];
            let ctr = ((t[0].min(t[2]) / t[0].max(t[2])) * (t[1].min(t[3]) / t[1].max(t[3]))).sqrt();
            let x = out.ctr[cell];
            let p = 1.0 / (1.0 + (-x).exp());
            sums[2] += f64::from(x.max(0.0) - x * ctr + (-x.abs()).exp().ln_1p());
            g_ctr[cell] = p - ctr;
        }
    }
    (sums, positives)
}

fn detect(net: &Detector, data: &[Picture], anchors: &[Vec<Box4>; 3], post: &mut Postprocess) -> Vec<Detection> {
    let mut out = Vec::with_capacity(data.len());
    for chunk in data.chunks(64) {
        let xs: Vec<[f32; 3 * PIXELS]> = chunk.iter().map(|s| s.image).collect();
        for y in net.forward_batch(&xs) {
            let levels = levels(&y);
            let inputs: Vec<LevelOutputs<'_>> = levels
                .iter()
                .zip(anchors)
                .map(|(l, a)| LevelOutputs {
                    cls_logits: l.cls,
                    bbox_regression: l.bbox,
                    bbox_ctrness: Some(l.ctr),
                    anchors: a,
                })
                .collect();
            let mut d = Detection::default();
            post.detect_into(&inputs, CLASSES, (SIDE, SIDE), &mut d).expect("the outputs fit the anchors");
            out.push(d);
        }
    }
    out
}

fn evaluate(detections: &[Detection], data: &[Picture]) -> cnn::metrics::MapSummary {
    let mut map = MeanAveragePrecision::new();
    for (d, s) in detections.iter().zip(data) {
        map.update(&d.boxes, &d.scores, &d.labels, &s.boxes, &s.labels).expect("valid boxes");
    }
    map.compute()
}

/// What one epoch did: the mean training losses (classes, boxes, centre-ness) and the held-out
/// mAP.
pub struct Epoch {
    pub epoch: usize,
    pub losses: [f64; 3],
    pub map: cnn::metrics::MapSummary,
    pub seconds: f32,
}

/// Trains a detector on `train` as `args` say, calling `report` after each epoch with its
/// numbers on `test`; returns the network.
pub fn run(args: &Args, train: &[Picture], test: &[Picture], mut report: impl FnMut(&Epoch)) -> Detector {
    let anchors = anchors();
    let mut net = Detector::new(args.seed);
    // FCOS's and RetinaNet's prior: every class starts at probability 0.01, so the focal loss of
    // the many background cells does not swamp the first steps.
    for l in 3..=5 {
        let prior = -((1.0f32 - 0.01) / 0.01).ln();
        net.param_mut(&format!("head{l}.cls.1.bias")).expect("the class logits' bias").data.fill(prior);
    }
    let mut opt = AdamW::new(args.lr).weight_decay(5e-4);
    let batch = args.batch.max(Detector::MIN_TRAIN_BATCH);
    let steps = train.len().div_ceil(batch);
    let schedule = CosineAnnealingLr::new(args.lr, (args.epochs * steps).max(1), args.lr * 0.02);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut grads = DetectorGrads::new();
    let mut grad = DetectorOutputs::zeroed_vec(batch);
    let mut xs: Vec<[f32; 3 * PIXELS]> = Vec::with_capacity(batch);
    let mut post = Postprocess::fcos();
    let mut targets = Vec::new();
    let start = Instant::now();
    for epoch in 1..=args.epochs {
        order.shuffle(&mut rng);
        let mut totals = [0.0f64; 3];
        let mut step_count = 0usize;
        for (k, chunk) in order.chunks(batch).enumerate() {
            if chunk.len() < Detector::MIN_TRAIN_BATCH {
                continue;
            }
            opt.set_lr(schedule.lr_at((epoch - 1) * steps + k));
            xs.clear();
            xs.extend(chunk.iter().map(|&i| train[i].image));
            let ys = net.forward_train(&xs);
            let mut sums = [0.0f64; 3];
            let mut positives = 0;
            for ((y, &i), g) in ys.iter().zip(chunk).zip(grad.iter_mut()) {
                let (s, p) = picture_loss(y, &train[i], &anchors, &mut targets, g);
                sums.iter_mut().zip(s).for_each(|(t, s)| *t += s);
                positives += p;
            }
            // Each loss divided by the batch's positives, as FCOS divides by its foreground.
            let norm = positives.max(1) as f32;
            for g in &mut grad[..chunk.len()] {
                g.as_mut_slice().iter_mut().for_each(|v| *v /= norm);
            }
            net.backward(&grad[..chunk.len()], &mut grads);
            net.apply_gradients(&mut opt, &grads);
            totals.iter_mut().zip(sums).for_each(|(t, s)| *t += s / f64::from(norm));
            step_count += 1;
        }
        let map = evaluate(&detect(&net, test, &anchors, &mut post), test);
        let n = step_count.max(1) as f64;
        report(&Epoch { epoch, losses: totals.map(|t| t / n), map, seconds: start.elapsed().as_secs_f32() });
    }
    net
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    println!("{}\n", Detector::SUMMARY);
    let train = generate(args.train, args.data_seed);
    let test = generate(args.test, args.data_seed.wrapping_add(1_000_003));
    let objects: usize = train.iter().map(|s| s.boxes.len()).sum();
    println!(
        "{} training pictures ({objects} objects) and {} held-out ones of {SIDE}x{SIDE} (data seed {}); AdamW lr {} (cosine decay), batch {}, seed {}\n",
        args.train, args.test, args.data_seed, args.lr, args.batch, args.seed
    );
    let net = run(&args, &train, &test, |e| {
        println!(
            "epoch {:>2}  loss: classes {:.3}  boxes {:.3}  centre-ness {:.3}   held-out mAP@0.5 {:.3}  mAP@[.5:.95] {:.3}   ({:.0} s)",
            e.epoch, e.losses[0], e.losses[1], e.losses[2], e.map.map_50, e.map.map, e.seconds
        );
    });

    // Per class, the held-out AP@0.5: each class evaluated alone.
    let anchors = anchors();
    let found = detect(&net, &test, &anchors, &mut Postprocess::fcos());
    println!();
    for (class, name) in NAMES.iter().enumerate() {
        let mut map = MeanAveragePrecision::new();
        for (d, s) in found.iter().zip(&test) {
            let keep: Vec<usize> = (0..d.labels.len()).filter(|&k| d.labels[k] == class).collect();
            let truth: Vec<usize> = (0..s.labels.len()).filter(|&k| s.labels[k] == class).collect();
            map.update(
                &keep.iter().map(|&k| d.boxes[k]).collect::<Vec<_>>(),
                &keep.iter().map(|&k| d.scores[k]).collect::<Vec<_>>(),
                &vec![class; keep.len()],
                &truth.iter().map(|&k| s.boxes[k]).collect::<Vec<_>>(),
                &vec![class; truth.len()],
            )?;
        }
        println!("{name:>9}: AP@0.5 {:.3}  AP@[.5:.95] {:.3}", map.compute().map_50, map.compute().map);
    }

    let pictures: Vec<Detected<'_>> =
        test.iter().zip(&found).take(8).map(|(s, d)| Detected { image: &s.image, truth: &s.boxes, found: d }).collect();
    let path = args.out.join("detections.png");
    cnn::viz::detections(&pictures, 3, (SIDE, SIDE), 4, 4, 0.3)?.save(&path)?;
    let weights = args.out.join("detector.safetensors");
    net.save_safetensors(&weights)?;
    println!(
        "\nwrote {} (true boxes white; rectangles red, discs green, triangles yellow) and {}",
        path.display(),
        weights.display()
    );
    Ok(())
}
