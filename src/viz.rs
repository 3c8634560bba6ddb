//! Pictures of what a network learned and sees: a convolution's filters, a layer's feature maps
//! for one input, any maps side by side, as `image::RgbImage`s (save one with `.save(path)`,
//! PNG by the extension). Behind the default-on `viz` feature.
//!
//! Every tile is scaled from its own minimum (black) to its maximum (white), or, for feature
//! maps with [`Scale::Shared`], from the layer's; tiles are magnified `zoom` times (each value a
//! `zoom` x `zoom` square, so 8x8 digits stay visible) and laid out on a grey background.
//!
//! ```no_run
//! use cnn::nets::DigitsNet;
//! use cnn::viz::{feature_maps, filters, Scale};
//!
//! let net = DigitsNet::new(0);
//! let w = net.param("0.weight").unwrap();
//! filters(w.data, w.shape, 16).save("filters.png")?;
//! let maps = net.activation(&[0.5; 64], "0").unwrap();
//! feature_maps(&maps, Scale::PerMap, 16).save("conv0.png")?;
//! # Ok::<(), image::ImageError>(())
//! ```

use crate::Tensor;
use image::{Rgb, RgbImage};

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
fn grid(tiles: &[Tile], columns: usize, zoom: usize) -> RgbImage {
    let columns = columns.clamp(1, tiles.len().max(1));
    let rows = tiles.len().div_ceil(columns);
    let cell_h = tiles.iter().map(|t| t.h).max().unwrap_or(0) * zoom + 1;
    let cell_w = tiles.iter().map(|t| t.w).max().unwrap_or(0) * zoom + 1;
    let mut img = RgbImage::from_pixel((columns * cell_w + 1) as u32, (rows * cell_h + 1) as u32, BACKGROUND);
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
    img
}

/// A convolution's filters (`weight` of PyTorch's layout `[out, in, kh, kw]`, `shape` as
/// [`Param::shape`](crate::Param) gives it). With 3 input channels (an RGB network's first
/// layer) each filter is one colour tile; otherwise each filter is a row of grey tiles, one per
/// input channel. Each filter is scaled over its own values.
///
/// # Panics
/// If `shape` is not 4-dimensional or `weight` does not hold it.
#[track_caller]
pub fn filters(weight: &[f32], shape: &[usize], zoom: usize) -> RgbImage {
    let &[out, inp, kh, kw] = shape else { panic!("filters: shape {shape:?} is not [out, in, kh, kw]") };
    assert_eq!(weight.len(), out * inp * kh * kw, "filters: {} values for shape {shape:?}", weight.len());
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
        return grid(&tiles, columns, zoom);
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
    grid(&tiles, columns, zoom)
}

/// A layer's feature maps for one input (a `[c, h, w]` tensor from
/// [`activation`](crate::Tensor)), one grey tile a channel in a near-square grid.
///
/// # Panics
/// If `maps` is not 3-dimensional.
#[track_caller]
pub fn feature_maps(maps: &Tensor, scale: Scale, zoom: usize) -> RgbImage {
    let &[c, h, w] = &maps.shape[..] else { panic!("feature_maps: shape {:?} is not [c, h, w]", maps.shape) };
    let shared = range(&maps.data);
    let tiles: Vec<Tile> = (0..c)
        .map(|i| {
            let plane = maps.plane(i);
            grey(plane, h, w, if scale == Scale::Shared { shared } else { range(plane) })
        })
        .collect();
    grid(&tiles, (c as f64).sqrt().ceil() as usize, zoom)
}

/// Maps of any sizes side by side, each `(values, height, width)` scaled over its own values:
/// an input beside what a layer makes of it, say.
///
/// # Panics
/// If a map's values do not fill its height and width.
#[track_caller]
pub fn side_by_side(maps: &[(&[f32], usize, usize)], zoom: usize) -> RgbImage {
    let tiles: Vec<Tile> = maps
        .iter()
        .map(|&(v, h, w)| {
            assert_eq!(v.len(), h * w, "side_by_side: {} values for {h}x{w}", v.len());
            grey(v, h, w, range(v))
        })
        .collect();
    grid(&tiles, tiles.len(), zoom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_scale_each_filter_and_colour_rgb_ones() {
        // Two 1-channel 2x2 filters: each from its own black to white.
        let img = filters(&[0.0, 1.0, 2.0, 3.0, -5.0, 5.0, 0.0, 0.0], &[2, 1, 2, 2], 2);
        assert_eq!(img.dimensions(), (2 * 5 + 1, 5 + 1));
        assert_eq!(img.get_pixel(1, 1), &Rgb([0, 0, 0]));
        assert_eq!(img.get_pixel(3, 3), &Rgb([255, 255, 255]), "the first filter's 3 is its maximum");
        assert_eq!(img.get_pixel(0, 0), &BACKGROUND);
        // Second filter, second value 5.0: white; first -5.0: black.
        assert_eq!(img.get_pixel(6 + 2, 1), &Rgb([255, 255, 255]));
        // One 3-channel 1x1 filter: red, green, blue from its three inputs.
        let rgb = filters(&[1.0, 0.0, 0.5], &[1, 3, 1, 1], 1);
        assert_eq!(rgb.get_pixel(1, 1), &Rgb([255, 0, 128]));
    }

    #[test]
    fn feature_maps_per_map_or_shared() {
        let maps = Tensor { shape: vec![2, 1, 2], data: vec![0.0, 1.0, 0.0, 10.0] };
        let per = feature_maps(&maps, Scale::PerMap, 1);
        let shared = feature_maps(&maps, Scale::Shared, 1);
        // Second column of tiles (x = 4 + ...): the first map's 1.0 is white per map, dark shared.
        assert_eq!(per.get_pixel(2, 1), &Rgb([255, 255, 255]));
        assert_eq!(shared.get_pixel(2, 1), &Rgb([26, 26, 26]));
        let row = side_by_side(&[(&[1.0, 2.0], 1, 2), (&[3.0; 4], 2, 2)], 1);
        assert_eq!(row.dimensions(), (7, 4));
    }
}
