//! The pictures of `cnn::viz`, written as PNG files and read back: right sizes, not blank.
#![cfg(feature = "viz")]

use cnn::nets::DigitsNet;
use cnn::viz::{feature_maps, filters, side_by_side, Scale};
use cnn::Network;

fn decoded(img: image::RgbImage, dir: &std::path::Path, name: &str) -> image::RgbImage {
    let path = dir.join(name);
    img.save(&path).unwrap();
    let back = image::open(&path).unwrap().to_rgb8();
    assert_eq!(back, img, "{name} decodes to what was written");
    let distinct: std::collections::HashSet<_> = back.pixels().collect();
    assert!(distinct.len() > 10, "{name} is not blank: {} colours", distinct.len());
    back
}

#[test]
fn filters_and_feature_maps_make_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let net = DigitsNet::new(3);
    let (_, test) = cnn::data::digits().split_at(1437);
    let w = net.param("0.weight").unwrap();
    // 32 one-channel 3x3 filters: a 6x6 grid of tiles of 3·4 pixels and a gap.
    let img = decoded(filters(w.data, w.shape, 4).unwrap(), dir.path(), "filters.png");
    assert_eq!(img.dimensions(), (6 * 13 + 1, 6 * 13 + 1));
    let w2 = net.param("2.weight").unwrap();
    let img = decoded(filters(w2.data, w2.shape, 2).unwrap(), dir.path(), "filters2.png");
    assert_eq!(img.dimensions(), (32 * 7 + 1, 64 * 7 + 1), "one filter a row, one tile per input channel");
    for (key, c, side) in [("0", 32, 8), ("4", 64, 4)] {
        let maps = net.activation(&test.images[0], key).unwrap();
        assert_eq!(maps.shape, [c, side, side]);
        for scale in [Scale::PerMap, Scale::Shared] {
            decoded(feature_maps(&maps, scale, 3).unwrap(), dir.path(), &format!("maps_{key}.png"));
        }
    }
    let x = &test.images[0];
    decoded(side_by_side(&[(x, 8, 8), (&x[..36], 6, 6)], 5).unwrap(), dir.path(), "row.png");
}
