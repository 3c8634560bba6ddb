//! Any pair of byte strings given to the MNIST reader (raw or gzip) gives a data set or an
//! error, never a panic, and never reads past what the headers declare.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte splits the input into the images file and the labels file.
    let Some((&split, rest)) = data.split_first() else { return };
    let at = (split as usize * rest.len()) / 255;
    let (images, labels) = rest.split_at(at.min(rest.len()));
    if let Ok(d) = cnn::data::parse_mnist(images, labels) {
        assert_eq!(d.images.len(), d.labels.len());
        assert!(d.labels.iter().all(|&l| l <= 9));
    }
});
