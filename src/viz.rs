//! Pictures of what a network learned and sees: a convolution's filters, a layer's feature maps
//! for one input, any maps side by side, images beside their segmentation masks, Grad-CAM and
//! saliency maps over their images, as
//! `image::RgbImage`s (save one with `.save(path)`, PNG by the extension). Behind the
//! default-on `viz` feature.
//!
//! Every tile is scaled from its own minimum (black) to its maximum (white), or, for feature
//! maps with [`Scale::Shared`], from the layer's; tiles are magnified `zoom` times (each value a
//! `zoom` x `zoom` square, so 8x8 digits stay visible) and laid out on a grey background.
//!
//! ```no_run
//! use cnn::nets::DigitsNet;
//! use cnn::Network;
//! use cnn::viz::{feature_maps, filters, Scale};
//!
//! let net = DigitsNet::new(0);
//! let w = net.param("0.weight").unwrap();
//! filters(w.data, w.shape, 16)?.save("filters.png")?;
//! let maps = net.activation(&[0.5; 64], "0").unwrap();
//! feature_maps(&maps, Scale::PerMap, 16)?.save("conv0.png")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inputs that cannot be drawn (a shape with a zero size, values that do not fill it, a zoom
//! of 0, a picture over [`MAX_PIXELS`]) are [`VizError`]s that give the numbers.

use crate::Tensor;
use image::{Rgb, RgbImage};
use std::fmt;

/// The most pixels a picture may have (2^28, a 16384 x 16384 square, 768 MiB of RGB): a bigger
/// one is an error, not an allocation that may not succeed.
pub const MAX_PIXELS: u64 = 1 << 28;

/// Why a picture could not be drawn: what was asked, with the numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VizError(String);

impl fmt::Display for VizError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for VizError {}

fn fail<T>(message: String) -> Result<T, VizError> {
    Err(VizError(message))
}

/// How feature maps are scaled to grey levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Each map from its own minimum to its maximum: every map's pattern shows.
    PerMap,
    /// All maps from the layer's minimum to its maximum: maps compare with each other.
    Shared,
}

/// Grey between tiles.
const BACKGROUND: Rgb<u8> = Rgb([96, 96, 96]);

/// One tile: `h x w` pixels of RGB levels in `[0, 1]`.
struct Tile {
    h: usize,
    w: usize,
    rgb: Vec<[f32; 3]>,
}

/// `values` scaled from `lo..hi` to `[0, 1]` (all mid-grey when flat).
fn unit(v: f32, (lo, hi): (f32, f32)) -> f32 {
    if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

fn range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

fn grey(values: &[f32], h: usize, w: usize, scale: (f32, f32)) -> Tile {
    Tile { h, w, rgb: values.iter().map(|&v| [unit(v, scale); 3]).collect() }
}

/// Tiles in rows of `columns`, one background pixel between them and around, magnified.
fn grid(what: &str, tiles: &[Tile], columns: usize, zoom: usize) -> Result<RgbImage, VizError> {
    if zoom == 0 {
        return fail(format!("{what}: zoom 0 draws nothing; it must be at least 1"));
    }
    let columns = columns.clamp(1, tiles.len().max(1));
    let rows = tiles.len().div_ceil(columns);
    let (tile_h, tile_w) = (tiles.iter().map(|t| t.h).max().unwrap_or(0), tiles.iter().map(|t| t.w).max().unwrap_or(0));
    // The sizes in checked u64 arithmetic: a zoom or a tile count near usize::MAX is an error
    // here, not a wrapped size.
    let side = |count: usize, tile: usize| -> Option<u64> {
        (tile as u64).checked_mul(zoom as u64)?.checked_add(1)?.checked_mul(count as u64)?.checked_add(1)
    };
    let too_big = || {
        fail(format!(
            "{what}: {} x {} tiles of {tile_h}x{tile_w} at zoom {zoom} make a picture over {MAX_PIXELS} pixels",
            rows, columns
        ))
    };
    let (Some(width), Some(height)) = (side(columns, tile_w), side(rows, tile_h)) else { return too_big() };
    if width.checked_mul(height).is_none_or(|p| p > MAX_PIXELS) {
        return too_big();
    }
    let (cell_h, cell_w) = (tile_h * zoom + 1, tile_w * zoom + 1);
    let mut img = RgbImage::from_pixel(width as u32, height as u32, BACKGROUND);
    for (i, t) in tiles.iter().enumerate() {
        let (y0, x0) = ((i / columns) * cell_h + 1, (i % columns) * cell_w + 1);
        for (p, rgb) in t.rgb.iter().enumerate() {
            let px = Rgb(rgb.map(|c| (c * 255.0).round() as u8));
            for dy in 0..zoom {
                for dx in 0..zoom {
                    img.put_pixel((x0 + (p % t.w) * zoom + dx) as u32, (y0 + (p / t.w) * zoom + dy) as u32, px);
                }
            }
        }
    }
    Ok(img)
}

/// Whether `values` fill `shape` exactly and no size is 0.
fn check_shape(what: &str, values: usize, shape: &[usize]) -> Result<(), VizError> {
    if shape.contains(&0) {
        return fail(format!("{what}: shape {shape:?} has a size of 0: there is nothing to draw"));
    }
    match shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n == values => Ok(()),
        _ => fail(format!("{what}: {values} values for shape {shape:?}")),
    }
}

/// A convolution's filters (`weight` of PyTorch's layout `[out, in, kh, kw]`, `shape` as
/// [`Param::shape`](crate::Param) gives it). With 3 input channels (an RGB network's first
/// layer) each filter is one colour tile; otherwise each filter is a row of grey tiles, one per
/// input channel. Each filter is scaled over its own values.
///
/// # Errors
/// If `shape` is not 4-dimensional, has a size of 0, or `weight` does not hold it; if `zoom` is
/// 0 or the picture would be over [`MAX_PIXELS`].
pub fn filters(weight: &[f32], shape: &[usize], zoom: usize) -> Result<RgbImage, VizError> {
    let &[out, inp, kh, kw] = shape else { return fail(format!("filters: shape {shape:?} is not [out, in, kh, kw]")) };
    check_shape("filters", weight.len(), shape)?;
    let per = inp * kh * kw;
    if inp == 3 {
        let tiles: Vec<Tile> = weight
            .chunks_exact(per)
            .map(|f| {
                let r = range(f);
                let rgb = (0..kh * kw).map(|p| [0, 1, 2].map(|c| unit(f[c * kh * kw + p], r))).collect();
                Tile { h: kh, w: kw, rgb }
            })
            .collect();
        let columns = (out as f64).sqrt().ceil() as usize;
        return grid("filters", &tiles, columns, zoom);
    }
    let tiles: Vec<Tile> = weight
        .chunks_exact(per)
        .flat_map(|f| {
            let r = range(f);
            f.chunks_exact(kh * kw).map(move |c| grey(c, kh, kw, r))
        })
        .collect();
    // One filter a row, unless a single input channel: then a near-square grid.
    let columns = if inp == 1 { (out as f64).sqrt().ceil() as usize } else { inp };
    grid("filters", &tiles, columns, zoom)
}

/// A layer's feature maps for one input (a `[c, h, w]` tensor from
/// [`activation`](crate::Tensor)), one grey tile a channel in a near-square grid.
///
/// # Errors
/// If `maps` is not 3-dimensional, has a size of 0 or its data does not fill its shape; if
/// `zoom` is 0 or the picture would be over [`MAX_PIXELS`].
pub fn feature_maps(maps: &Tensor, scale: Scale, zoom: usize) -> Result<RgbImage, VizError> {
    let &[c, h, w] = &maps.shape[..] else {
        return fail(format!("feature_maps: shape {:?} is not [c, h, w]", maps.shape));
    };
    check_shape("feature_maps", maps.data.len(), &maps.shape)?;
    let shared = range(&maps.data);
    let tiles: Vec<Tile> = (0..c)
        .map(|i| {
            let plane = maps.plane(i);
            grey(plane, h, w, if scale == Scale::Shared { shared } else { range(plane) })
        })
        .collect();
    grid("feature_maps", &tiles, (c as f64).sqrt().ceil() as usize, zoom)
}

/// Pictures in a grid, as torchvision's `save_image(make_grid(batch, nrow=columns,
/// normalize=True, value_range=(lo, hi)))` draws a batch: each of `images` is one picture of
/// `shape` `(c, h, w)` in PyTorch's layout, grey with 1 channel or RGB with 3, its values mapped
/// from `range` (`(-1, 1)` for a `tanh` output, `(0, 1)`, `(0, 255)`) to black..white and
/// clamped; `columns` pictures a row.
///
/// ```
/// // Two 1x2x2 grey pictures of a generator's tanh outputs, side by side.
/// let (a, b) = ([-1.0f32, 0.0, 0.5, 1.0], [1.0f32; 4]);
/// let img = cnn::viz::image_grid(&[&a[..], &b[..]], (1, 2, 2), 2, (-1.0, 1.0), 1)?;
/// assert_eq!((img.width(), img.height()), (7, 4));
/// assert_eq!(img.get_pixel(1, 1).0, [0, 0, 0]);
/// # Ok::<(), cnn::viz::VizError>(())
/// ```
///
/// # Errors
/// If `c` is not 1 or 3, a size is 0, a picture's values do not fill `shape`, `range` is empty
/// or not finite; if `zoom` is 0 or the picture would be over [`MAX_PIXELS`].
pub fn image_grid(
    images: &[&[f32]],
    (c, h, w): (usize, usize, usize),
    columns: usize,
    range: (f32, f32),
    zoom: usize,
) -> Result<RgbImage, VizError> {
    if c != 1 && c != 3 {
        return fail(format!("image_grid: {c} channels; a picture has 1 (grey) or 3 (RGB)"));
    }
    if !(range.0.is_finite() && range.1.is_finite() && range.0 < range.1) {
        return fail(format!("image_grid: the value range {range:?} is not a finite low < high"));
    }
    let tiles = images
        .iter()
        .map(|v| {
            check_shape("image_grid", v.len(), &[c, h, w])?;
            let plane = |k: usize, p: usize| unit(v[k * h * w + p], range);
            let rgb = (0..h * w).map(|p| if c == 1 { [plane(0, p); 3] } else { [0, 1, 2].map(|k| plane(k, p)) });
            Ok(Tile { h, w, rgb: rgb.collect() })
        })
        .collect::<Result<Vec<Tile>, VizError>>()?;
    grid("image_grid", &tiles, columns, zoom)
}

/// Maps of any sizes side by side, each `(values, height, width)` scaled over its own values:
/// an input beside what a layer makes of it, say.
///
/// # Errors
/// If a map's values do not fill its height and width or a size is 0; if `zoom` is 0 or the
/// picture would be over [`MAX_PIXELS`].
pub fn side_by_side(maps: &[(&[f32], usize, usize)], zoom: usize) -> Result<RgbImage, VizError> {
    let tiles = maps
        .iter()
        .map(|&(v, h, w)| {
            check_shape("side_by_side", v.len(), &[h, w])?;
            Ok(grey(v, h, w, range(v)))
        })
        .collect::<Result<Vec<Tile>, VizError>>()?;
    grid("side_by_side", &tiles, tiles.len(), zoom)
}

/// Grad-CAM's map (Selvaraju et al.; `pytorch-grad-cam`'s `GradCAM` before it resizes): one
/// sample's `activation` `[C, H, W]` at a layer ([`Network::activation`](crate::Network)), each
/// channel weighted by the mean over the map of its `gradient` (the target's score's, from
/// `Network::gradient_at`), summed over the channels and clamped at 0: `[H, W]`. Draw it with
/// [`heat_map`].
///
/// ```
/// use cnn::prelude::*;
///
/// cnn! {
///     pub struct Net {
///         input(3, 8, 8)
///         features: seq { conv(3, 4, k=3, p=1) relu }
///         pool: adaptive_avgpool(1) flatten fc: linear(4, 2)
///     }
/// }
///
/// let mut net = Net::new(0);
/// let x = [0.5f32; 3 * 8 * 8];
/// net.forward_train(&[x]);
/// net.backward(&[[0.0, 1.0]], &mut NetGrads::new()); // the score of class 1
/// let cam = cnn::viz::grad_cam(&net.activation(&x, "features").unwrap(), &net.gradient_at("features").unwrap()[0])?;
/// assert_eq!(cam.len(), 8 * 8);
/// # Ok::<(), cnn::viz::VizError>(())
/// ```
///
/// # Errors
/// If the two are not of one `[C, H, W]` shape with no size 0.
pub fn grad_cam(activation: &Tensor, gradient: &Tensor) -> Result<Vec<f32>, VizError> {
    if activation.shape.len() != 3 || activation.shape != gradient.shape {
        return fail(format!(
            "grad_cam: an activation of shape {:?} and a gradient of shape {:?}; both must be one [C, H, W]",
            activation.shape, gradient.shape
        ));
    }
    check_shape("grad_cam: activation", activation.data.len(), &activation.shape)?;
    check_shape("grad_cam: gradient", gradient.data.len(), &gradient.shape)?;
    let plane = activation.shape[1] * activation.shape[2];
    let mut cam = vec![0.0f64; plane];
    for (a, g) in activation.data.chunks_exact(plane).zip(gradient.data.chunks_exact(plane)) {
        let weight = g.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64;
        cam.iter_mut().zip(a).for_each(|(c, &a)| *c += weight * f64::from(a));
    }
    Ok(cam.into_iter().map(|v| v.max(0.0) as f32).collect())
}

/// A saliency map (Simonyan et al.): per pixel, the largest magnitude over the channels of the
/// input's gradient (`grad_input` `[channels, h, w]`, from `Network::backward_to_input`):
/// `[h, w]`. Draw it with [`heat_map`].
///
/// # Errors
/// If `grad_input` does not hold `[channels, h, w]` or a size is 0.
pub fn saliency(grad_input: &[f32], channels: usize, (h, w): (usize, usize)) -> Result<Vec<f32>, VizError> {
    check_shape("saliency", grad_input.len(), &[channels, h, w])?;
    let plane = h * w;
    Ok((0..plane).map(|p| (0..channels).map(|c| grad_input[c * plane + p].abs()).fold(0.0, f32::max)).collect())
}

/// The image (`[channels, h, w]`, 3 channels as colour, 1 as grey, scaled over its own values)
/// and beside it the image under `map` (`[mh, mw]`: a [`grad_cam`] or [`saliency`] map), the map
/// resized to the image as `F.interpolate(mode="bilinear")` resizes, scaled from its minimum
/// to its maximum and blended half and half as a heat map (dark blue, cyan, yellow, red),
/// magnified `zoom` times.
///
/// # Errors
/// If `channels` is neither 1 nor 3, the image or the map does not fill its shape, a size is
/// 0; if `zoom` is 0 or the picture would be over [`MAX_PIXELS`].
pub fn heat_map(
    image: &[f32],
    channels: usize,
    (h, w): (usize, usize),
    map: &[f32],
    (mh, mw): (usize, usize),
    zoom: usize,
) -> Result<RgbImage, VizError> {
    if channels != 1 && channels != 3 {
        return fail(format!("heat_map: {channels} image channels; it draws 1 (grey) or 3 (colour)"));
    }
    check_shape("heat_map: image", image.len(), &[channels, h, w])?;
    check_shape("heat_map: map", map.len(), &[mh, mw])?;
    let spec = cnn_runtime::upsample::UpsampleSpec {
        c: 1,
        h_in: mh,
        w_in: mw,
        h_out: h,
        w_out: w,
        mode: cnn_runtime::upsample::UpsampleMode::Bilinear,
        align_corners: false,
        scale: (None, None),
    };
    let mut resized = vec![0.0; h * w];
    cnn_runtime::upsample::upsample_forward(&spec, 1, map, &mut resized);
    let (plane, scale, heat) = (h * w, range(image), range(&resized));
    let colour = |p: usize| {
        let at = |c: usize| unit(image[c.min(channels - 1) * plane + p], scale);
        [at(0), at(1), at(2)]
    };
    let picture = Tile { h, w, rgb: (0..plane).map(colour).collect() };
    let blended = Tile {
        h,
        w,
        rgb: (0..plane)
            .map(|p| {
                let (rgb, hot) = (colour(p), heat_colour(unit(resized[p], heat)));
                [0, 1, 2].map(|c| 0.5 * rgb[c] + 0.5 * hot[c])
            })
            .collect(),
    };
    grid("heat_map", &[picture, blended], 2, zoom)
}

/// A heat map's colour for `t` in `[0, 1]`: dark blue, cyan, yellow, red, in equal steps.
fn heat_colour(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 4] = [[0.0, 0.0, 0.5], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]];
    let x = t.clamp(0.0, 1.0) * 3.0;
    let i = (x as usize).min(2);
    let f = x - i as f32;
    [0, 1, 2].map(|c| STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c]))
}

/// The colour of class `label` in Pascal VOC's palette (background black, then red, green,
/// yellow, blue, ...), with VOC's cream for 255, the label of ignored pixels.
pub fn class_colour(label: usize) -> [u8; 3] {
    if label == 255 {
        return [224, 224, 192];
    }
    // VOC's bit-interleaved colour map: the label's bits spread over the top bits of r, g, b.
    let (mut rgb, mut l) = ([0u8; 3], label % 256);
    for bit in 0..8 {
        for (c, channel) in rgb.iter_mut().enumerate() {
            *channel |= (((l >> c) & 1) as u8) << (7 - bit);
        }
        l >>= 3;
    }
    rgb
}

/// One row per sample: the image (`[channels, h, w]`, 3 channels as colour, 1 as grey, scaled
/// over its own values) and then each of its masks (one class a pixel, `h · w` of them: the
/// ground truth, a prediction) in [`class_colour`]s.
///
/// ```no_run
/// # let (image, truth, prediction) = (vec![0.0f32; 3 * 32 * 32], vec![0usize; 32 * 32], vec![0usize; 32 * 32]);
/// let rows = [(&image[..], vec![&truth[..], &prediction[..]])];
/// cnn::viz::segmentation(&rows, 3, (32, 32), 4)?.save("segment.png")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// If `channels` is neither 1 nor 3, an image or a mask does not hold `h · w` pixels, or a size
/// is 0; if `zoom` is 0 or the picture would be over [`MAX_PIXELS`].
pub fn segmentation(
    rows: &[(&[f32], Vec<&[usize]>)],
    channels: usize,
    (h, w): (usize, usize),
    zoom: usize,
) -> Result<RgbImage, VizError> {
    if channels != 1 && channels != 3 {
        return fail(format!("segmentation: {channels} image channels; it draws 1 (grey) or 3 (colour)"));
    }
    let columns = rows.iter().map(|(_, masks)| masks.len() + 1).max().unwrap_or(1);
    let mut tiles = Vec::new();
    for (image, masks) in rows {
        check_shape("segmentation: image", image.len(), &[channels, h, w])?;
        let scale = range(image);
        let plane = h * w;
        tiles.push(Tile {
            h,
            w,
            rgb: (0..plane)
                .map(|p| {
                    let at = |c: usize| unit(image[c.min(channels - 1) * plane + p], scale);
                    [at(0), at(1), at(2)]
                })
                .collect(),
        });
        for mask in masks {
            check_shape("segmentation: mask", mask.len(), &[h, w])?;
            tiles.push(Tile { h, w, rgb: mask.iter().map(|&l| class_colour(l).map(|c| c as f32 / 255.0)).collect() });
        }
        // A row with fewer masks than another leaves its cells empty.
        while !tiles.len().is_multiple_of(columns) {
            tiles.push(Tile { h, w, rgb: vec![[BACKGROUND.0[0] as f32 / 255.0; 3]; plane] });
        }
    }
    grid("segmentation", &tiles, columns, zoom)
}

/// One picture for [`detections`]: the image (`[channels, h, w]`), its true boxes (`xyxy` in
/// pixels; none for a picture without ground truth) and what a detector found in it.
#[derive(Clone, Copy, Debug)]
pub struct Detected<'a> {
    pub image: &'a [f32],
    pub truth: &'a [crate::detect::Box4],
    pub found: &'a crate::detect::Detection,
}

/// The colour [`detections`] draws label `label` in: VOC's palette from its second colour on
/// ([`class_colour`] of `label + 1`), at full brightness: red, green, yellow, blue, magenta,
/// cyan, ...
pub fn box_colour(label: usize) -> [u8; 3] {
    let c = class_colour(label % 255 + 1);
    let top = u16::from(*c.iter().max().unwrap_or(&0)).max(1);
    c.map(|v| (u16::from(v) * 255 / top) as u8)
}

/// Pictures with boxes drawn on them, `columns` a row: each image (3 channels as colour, 1 as
/// grey, scaled over its own values) magnified `zoom` times, its detections scoring at least
/// `min_score` two pixels wide in their label's [`box_colour`] (label 0 red, 1 green, 2
/// yellow, ...) and its true boxes over them one pixel wide in white, so that a detection on
/// its mark shows as a coloured line just inside a white one.
///
/// ```no_run
/// use cnn::detect::Detection;
/// use cnn::viz::{detections, Detected};
///
/// let image = vec![0.0f32; 3 * 64 * 64];
/// let found = Detection { boxes: vec![[8.0, 8.0, 30.0, 24.0]], scores: vec![0.9], labels: vec![0] };
/// let truth = [[9.0, 8.0, 30.0, 25.0]];
/// let pictures = [Detected { image: &image, truth: &truth, found: &found }];
/// detections(&pictures, 3, (64, 64), 4, 4, 0.3)?.save("detections.png")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// If `channels` is neither 1 nor 3, an image does not hold `h · w` pixels, or a size is 0; if
/// `zoom` is 0 or the picture would be over [`MAX_PIXELS`].
pub fn detections(
    pictures: &[Detected<'_>],
    channels: usize,
    (h, w): (usize, usize),
    zoom: usize,
    columns: usize,
    min_score: f32,
) -> Result<RgbImage, VizError> {
    if channels != 1 && channels != 3 {
        return fail(format!("detections: {channels} image channels; it draws 1 (grey) or 3 (colour)"));
    }
    let plane = h * w;
    let mut tiles = Vec::with_capacity(pictures.len());
    for p in pictures {
        check_shape("detections: image", p.image.len(), &[channels, h, w])?;
        let scale = range(p.image);
        let rgb = (0..plane)
            .map(|i| {
                let at = |c: usize| unit(p.image[c.min(channels - 1) * plane + i], scale);
                [at(0), at(1), at(2)]
            })
            .collect();
        tiles.push(Tile { h, w, rgb });
    }
    let mut img = grid("detections", &tiles, columns, zoom)?;
    let columns = columns.clamp(1, tiles.len().max(1));
    let (cell_h, cell_w) = (h * zoom + 1, w * zoom + 1);
    for (i, p) in pictures.iter().enumerate() {
        let origin = ((i % columns) * cell_w + 1, (i / columns) * cell_h + 1);
        // The box's outline in the magnified tile (clamped to it), and with `inset` the outline
        // one pixel inside it too.
        let mut outline = |b: &crate::detect::Box4, colour: Rgb<u8>, inset: bool| {
            let edge = |v: f32, side: usize| -> usize {
                let v = if v.is_finite() { (v * zoom as f32).round() } else { 0.0 };
                (v.max(0.0) as usize).min(side * zoom - 1)
            };
            let (x1, x2) = (edge(b[0], w), edge(b[2], w));
            let (y1, y2) = (edge(b[1], h), edge(b[3], h));
            for d in 0..=usize::from(inset && x2 > x1 + 1 && y2 > y1 + 1) {
                let (x1, x2, y1, y2) = (x1 + d, x2 - d, y1 + d, y2 - d);
                let mut put = |x: usize, y: usize| img.put_pixel((origin.0 + x) as u32, (origin.1 + y) as u32, colour);
                for x in x1..=x2 {
                    put(x, y1);
                    put(x, y2);
                }
                for y in y1..=y2 {
                    put(x1, y);
                    put(x2, y);
                }
            }
        };
        let found = p.found;
        // Lowest score first, so the best box is drawn last, on top.
        for k in (0..found.boxes.len()).rev() {
            if found.scores.get(k).is_some_and(|&s| s >= min_score) {
                outline(&found.boxes[k], Rgb(box_colour(found.labels.get(k).copied().unwrap_or(0))), true);
            }
        }
        // The truth over them, its outer line only: a detection on the mark shows inside it.
        for b in p.truth {
            outline(b, Rgb([255, 255, 255]), false);
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_grid_maps_the_range_and_lays_out_rows() {
        // Three 3x1x2 RGB pictures in rows of two, values 0..255.
        let pictures: Vec<Vec<f32>> = (0..3).map(|i| vec![0.0, 255.0, 51.0 * i as f32, 255.0, 300.0, -5.0]).collect();
        let refs: Vec<&[f32]> = pictures.iter().map(|p| &p[..]).collect();
        let img = image_grid(&refs, (3, 1, 2), 2, (0.0, 255.0), 1).unwrap();
        assert_eq!((img.width(), img.height()), (2 * 3 + 1, 2 * 2 + 1));
        // Picture 2 (second row, first column): pixel 0 is (R, G, B) = (0, 102, 300 -> 255).
        assert_eq!(img.get_pixel(1, 3).0, [0, 102, 255]);
        assert_eq!(img.get_pixel(2, 3).0, [255, 255, 0], "clamped below 0");
        assert_eq!(img.get_pixel(4, 3).0, BACKGROUND.0, "no fourth picture");
        let bad = |r| image_grid(&refs, (2, 1, 2), 2, r, 1).unwrap_err().to_string();
        assert!(bad((0.0, 1.0)).contains("2 channels"));
        assert!(image_grid(&refs, (3, 1, 2), 2, (1.0, 1.0), 1).unwrap_err().to_string().contains("(1.0, 1.0)"));
        assert!(image_grid(&refs, (3, 2, 2), 2, (0.0, 1.0), 1).unwrap_err().to_string().contains("6 values"));
    }

    #[test]
    fn detections_outline_truth_and_found_boxes() {
        // A flat 1-channel 4x4 picture (mid-grey) at zoom 2, a true box in white and a
        // detection of label 1 in green.
        let image = [0.0f32; 16];
        let found = crate::detect::Detection {
            boxes: vec![[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0]],
            scores: vec![0.9, 0.1],
            labels: vec![1, 0],
        };
        let truth = [[2.0, 2.0, 4.0, 4.0]];
        let img =
            detections(&[Detected { image: &image, truth: &truth, found: &found }], 1, (4, 4), 2, 1, 0.5).unwrap();
        assert_eq!(img.dimensions(), (10, 10));
        // The detection's corner (0, 0) at pixel (1, 1) (one background pixel around), its
        // far edge at 2 * 2 = 4.
        assert_eq!(box_colour(0), [255, 0, 0]);
        assert_eq!(box_colour(1), [0, 255, 0]);
        assert_eq!(box_colour(2), [255, 255, 0]);
        assert_eq!(img.get_pixel(1, 1), &Rgb(box_colour(1)));
        assert_eq!(img.get_pixel(5, 3), &Rgb(box_colour(1)));
        // Two pixels wide: the line inside it too.
        assert_eq!(img.get_pixel(2, 3), &Rgb(box_colour(1)));
        assert_eq!(img.get_pixel(3, 3), &Rgb([128, 128, 128]));
        // The truth's far edge clamps to the tile's last pixel (7), drawn in white.
        assert_eq!(img.get_pixel(8, 8), &Rgb([255, 255, 255]));
        // The detection under `min_score` is not drawn: (1, 1)-(3, 3) at zoom 2 spans 2..=6,
        // and its right edge's pixel (6, 3) stays grey.
        assert_eq!(img.get_pixel(7, 4), &Rgb([128, 128, 128]));
        assert!(
            detections(&[Detected { image: &image[..15], truth: &[], found: &found }], 1, (4, 4), 2, 1, 0.5).is_err()
        );
    }

    #[test]
    fn segmentation_rows_and_the_voc_palette() {
        assert_eq!(class_colour(0), [0, 0, 0]);
        assert_eq!(class_colour(1), [128, 0, 0]);
        assert_eq!(class_colour(2), [0, 128, 0]);
        assert_eq!(class_colour(3), [128, 128, 0]);
        assert_eq!(class_colour(15), [192, 128, 128], "VOC's person");
        assert_eq!(class_colour(255), [224, 224, 192]);
        // One 1x2 colour image with its truth and prediction: 3 tiles in a row.
        let image = [0.0, 1.0, 0.0, 1.0, 1.0, 1.0];
        let img = segmentation(&[(&image, vec![&[0, 1], &[255, 2]])], 3, (1, 2), 1).unwrap();
        assert_eq!(img.dimensions(), (3 * 3 + 1, 3));
        assert_eq!(img.get_pixel(1, 1), &Rgb([0, 0, 255]), "pixel 0: r 0, g 0, b 1");
        assert_eq!(img.get_pixel(2, 1), &Rgb([255, 255, 255]));
        assert_eq!(img.get_pixel(5, 1), &Rgb([128, 0, 0]), "the truth's class 1");
        assert_eq!(img.get_pixel(7, 1), &Rgb([224, 224, 192]), "the prediction's ignored pixel");
        assert!(segmentation(&[(&image, vec![&[0]])], 3, (1, 2), 1).is_err(), "a mask of the wrong size");
        assert!(segmentation(&[(&image, vec![])], 2, (1, 3), 1).is_err(), "two channels");
    }

    #[test]
    fn filters_scale_each_filter_and_colour_rgb_ones() {
        // Two 1-channel 2x2 filters: each from its own black to white.
        let img = filters(&[0.0, 1.0, 2.0, 3.0, -5.0, 5.0, 0.0, 0.0], &[2, 1, 2, 2], 2).unwrap();
        assert_eq!(img.dimensions(), (2 * 5 + 1, 5 + 1));
        assert_eq!(img.get_pixel(1, 1), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(3, 3), &Rgb([255, 255, 255]), "the first filter's 3 is its maximum");
        assert_eq!(img.get_pixel(0, 0), &BACKGROUND);
        // Second filter, second value 5.0: white; first -5.0: black.
        assert_eq!(img.get_pixel(6 + 2, 1), &Rgb([255, 255, 255]));
        // One 3-channel 1x1 filter: red, green, blue from its three inputs.
        let rgb = filters(&[1.0, 0.0, 0.5], &[1, 3, 1, 1], 1).unwrap();
        assert_eq!(rgb.get_pixel(1, 1), &Rgb([255, 0, 128]));
    }

    #[test]
    fn feature_maps_per_map_or_shared() {
        let maps = Tensor { shape: vec![2, 1, 2], data: vec![0.0, 1.0, 0.0, 10.0] };
        let per = feature_maps(&maps, Scale::PerMap, 1).unwrap();
        let shared = feature_maps(&maps, Scale::Shared, 1).unwrap();
        // Second column of tiles (x = 4 + ...): the first map's 1.0 is white per map, dark shared.
        assert_eq!(per.get_pixel(2, 1), &Rgb([255, 255, 255]));
        assert_eq!(shared.get_pixel(2, 1), &Rgb([26, 26, 26]));
        let row = side_by_side(&[(&[1.0, 2.0], 1, 2), (&[3.0; 4], 2, 2)], 1).unwrap();
        assert_eq!(row.dimensions(), (7, 4));
    }

    /// What cannot be drawn is an error with the numbers, never a panic or a huge allocation.
    #[test]
    fn what_cannot_be_drawn_is_an_error() {
        let e = |r: Result<RgbImage, VizError>| r.unwrap_err().to_string();
        assert_eq!(
            e(filters(&[], &[0, 1, 3, 3], 2)),
            "filters: shape [0, 1, 3, 3] has a size of 0: there is nothing to draw"
        );
        assert_eq!(e(filters(&[1.0; 8], &[2, 1, 2, 3], 2)), "filters: 8 values for shape [2, 1, 2, 3]");
        assert_eq!(e(filters(&[1.0; 4], &[2, 2], 2)), "filters: shape [2, 2] is not [out, in, kh, kw]");
        let short = Tensor { shape: vec![2, 3, 3], data: vec![0.0; 17] };
        assert_eq!(e(feature_maps(&short, Scale::PerMap, 1)), "feature_maps: 17 values for shape [2, 3, 3]");
        let wide = Tensor { shape: vec![2, 3, 3], data: vec![0.0; 18] };
        assert_eq!(
            e(feature_maps(&wide, Scale::PerMap, 0)),
            "feature_maps: zoom 0 draws nothing; it must be at least 1"
        );
        assert_eq!(
            e(feature_maps(&wide, Scale::Shared, 1 << 40)),
            format!("feature_maps: 1 x 2 tiles of 3x3 at zoom {} make a picture over 268435456 pixels", 1u64 << 40)
        );
        assert_eq!(
            e(side_by_side(&[(&[1.0; 4], 2, 2)], usize::MAX)),
            format!("side_by_side: 1 x 1 tiles of 2x2 at zoom {} make a picture over 268435456 pixels", usize::MAX)
        );
        assert_eq!(e(side_by_side(&[(&[1.0; 4], 4, 2)], 1)), "side_by_side: 4 values for shape [4, 2]");
        assert_eq!(side_by_side(&[(&[1.0], 1, 1)], 100).unwrap().dimensions(), (102, 102));
    }
}
