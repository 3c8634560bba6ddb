//! Data sets and mini-batches: the digits CSV, MNIST IDX files (raw or gzip), CIFAR-10 binary
//! batches, and a seeded shuffling batch loader that reuses its buffers.
//!
//! Pixels are scaled to `[0, 1]` (digits divide by 16, MNIST and CIFAR by 255) and laid out
//! as the network input expects, one `[f32; C·H·W]` per sample, channel-major (CHW), as
//! `torchvision.transforms.ToTensor` gives them.

use flate2::read::MultiGzDecoder;
#[path = "augment.rs"]
pub mod augment;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

/// Images and their class labels: one label an image for classification, or one a pixel for
/// segmentation (`H * W` an image, sample after sample, rows in order, as a training step of a
/// network with a `[K, H, W]` output takes them).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<const N: usize> {
    /// One flattened `[C, H, W]` image a sample.
    pub images: Vec<[f32; N]>,
    /// The class of each image, or of each of its pixels.
    pub labels: Vec<usize>,
}

impl<const N: usize> Dataset<N> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Labels an image has: 1 for classification, `H * W` for per-pixel labels (`labels.len()`
    /// over `images.len()`; 1 for an empty set).
    pub fn labels_per_sample(&self) -> usize {
        if self.images.is_empty() {
            1
        } else {
            self.labels.len() / self.images.len()
        }
    }

    /// The first `n` samples and the rest (with their labels), as two data sets.
    ///
    /// # Panics
    /// If `n > self.len()`.
    #[track_caller]
    pub fn split_at(&self, n: usize) -> (Dataset<N>, Dataset<N>) {
        assert!(n <= self.len(), "cannot split {} samples at {n}", self.len());
        let at = (n * self.labels_per_sample()).min(self.labels.len());
        (
            Dataset { images: self.images[..n].to_vec(), labels: self.labels[..at].to_vec() },
            Dataset { images: self.images[n..].to_vec(), labels: self.labels[at..].to_vec() },
        )
    }
}

/// Why a data file could not be read.
#[derive(Debug)]
pub struct DataError {
    path: Option<PathBuf>,
    message: String,
    source: Option<std::io::Error>,
}

impl DataError {
    fn new(message: impl Into<String>) -> Self {
        DataError { path: None, message: message.into(), source: None }
    }

    fn io(path: &Path, e: std::io::Error) -> Self {
        DataError { path: Some(path.to_path_buf()), message: e.to_string(), source: Some(e) }
    }

    fn at(mut self, path: &Path) -> Self {
        self.path.get_or_insert_with(|| path.to_path_buf());
        self
    }

    /// The file involved, if the data came from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{}: {}", p.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Whether `bytes` start with the gzip magic number.
fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads all of `reader`, a gzip stream when `gzip`: the error says which.
fn read_all(mut reader: impl Read, gzip: bool, out: &mut Vec<u8>) -> Result<(), DataError> {
    reader.read_to_end(out).map(drop).map_err(|e| {
        if gzip {
            DataError::new(format!("bad gzip data: {e}"))
        } else {
            DataError::new(e.to_string())
        }
    })
}

/// The bytes of `raw`, gunzipped (every member of a multi-member file) if they start with the
/// gzip magic number.
fn maybe_gunzip(raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    read_all(MultiGzDecoder::new(&raw[..]), true, &mut out)?;
    Ok(out)
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    maybe_gunzip(raw).map_err(|e| e.at(path))
}

/// A data file opened for reading, gunzipped on the fly when it is gzip, so that a reader can
/// stop at the size its header declares rather than inflate whatever the file holds.
struct Source<'a> {
    reader: Box<dyn Read + 'a>,
    gzip: bool,
}

impl<'a> Source<'a> {
    fn open(path: &Path) -> Result<Self, DataError> {
        let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut reader = std::io::BufReader::new(file);
        let gzip = is_gzip(reader.fill_buf().map_err(|e| DataError::io(path, e))?);
        let reader: Box<dyn Read> = if gzip { Box::new(MultiGzDecoder::new(reader)) } else { Box::new(reader) };
        Ok(Source { reader, gzip })
    }

    fn bytes(bytes: &'a [u8]) -> Self {
        let gzip = is_gzip(bytes);
        let reader: Box<dyn Read + 'a> = if gzip { Box::new(MultiGzDecoder::new(bytes)) } else { Box::new(bytes) };
        Source { reader, gzip }
    }

    /// Up to `limit` bytes, fewer only where the data ends first.
    fn read_up_to(&mut self, limit: u64) -> Result<Vec<u8>, DataError> {
        let mut out = Vec::new();
        read_all((&mut self.reader).take(limit), self.gzip, &mut out)?;
        Ok(out)
    }

    /// Exactly `len` bytes of payload and nothing after them; `what` names the payload for the
    /// error. Reads at most one byte past `len`, whatever the file holds.
    fn read_exact_payload(&mut self, len: usize, header: usize, what: &str) -> Result<Vec<u8>, DataError> {
        let bytes = self.read_up_to(len as u64 + 1)?;
        if bytes.len() > len {
            return Err(DataError::new(format!(
                "longer than the {} bytes its header declares for {what}",
                header + len
            )));
        }
        if bytes.len() < len {
            return Err(DataError::new(format!(
                "{} bytes, expected {} for {what} (truncated?)",
                header + bytes.len(),
                header + len
            )));
        }
        Ok(bytes)
    }
}

/// Parses the digits CSV (gzip or plain): rows of 64 pixel values 0..16 then a label 0..9.
pub fn parse_digits_csv(bytes: &[u8]) -> Result<Dataset<64>, DataError> {
    let text = maybe_gunzip(bytes.to_vec())?;
    let text = std::str::from_utf8(&text).map_err(|e| DataError::new(format!("not UTF-8 text: {e}")))?;
    // Spreadsheet programs start their CSV files with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut data = Dataset { images: Vec::new(), labels: Vec::new() };
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != 65 {
            return Err(DataError::new(format!("line {row}: {} fields, expected 64 pixels and a label", fields.len())));
        }
        let mut image = [0.0f32; 64];
        for (px, field) in image.iter_mut().zip(&fields[..64]) {
            let v: f32 = field.parse().map_err(|_| DataError::new(format!("line {row}: `{field}` is not a number")))?;
            if !(0.0..=16.0).contains(&v) {
                return Err(DataError::new(format!("line {row}: pixel value {v} is outside 0..=16")));
            }
            *px = v / 16.0;
        }
        let label: usize = fields[64]
            .parse()
            .map_err(|_| DataError::new(format!("line {row}: label `{}` is not a class index", fields[64])))?;
        if label > 9 {
            return Err(DataError::new(format!("line {row}: label {label} is outside 0..=9")));
        }
        data.images.push(image);
        data.labels.push(label);
    }
    Ok(data)
}

/// The vendored digits data set (`data/digits.csv.gz` of this crate, embedded at compile time):
/// 1797 8x8 grayscale images of handwritten digits scaled to `[0, 1]`, labels 0..9. The usual
/// split is the first 1437 samples for training and the last 360 for testing.
///
/// Source: "Optical Recognition of Handwritten Digits", E. Alpaydin and C. Kaynak, 1998, UCI
/// Machine Learning Repository, CC BY 4.0, in the copy scikit-learn ships.
pub fn digits() -> Dataset<64> {
    parse_digits_csv(include_bytes!("../../data/digits.csv.gz")).expect("the vendored digits file is valid")
}

/// Reads the digits CSV from a file; see [`parse_digits_csv`].
pub fn read_digits_csv(path: impl AsRef<Path>) -> Result<Dataset<64>, DataError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_digits_csv(&raw).map_err(|e| e.at(path))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads an MNIST pair of IDX files (`train-images-idx3-ubyte` and `train-labels-idx1-ubyte`,
/// raw or `.gz`): 28x28 images scaled to `[0, 1]`, labels 0..9.
pub fn read_mnist(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset<784>, DataError> {
    let (ipath, lpath) = (images.as_ref(), labels.as_ref());
    mnist(Source::open(ipath)?, Source::open(lpath)?, ipath, lpath)
}

/// As [`read_mnist`], from the bytes of the two files (raw or gzip); errors name them
/// `images` and `labels`.
pub fn parse_mnist(images: &[u8], labels: &[u8]) -> Result<Dataset<784>, DataError> {
    mnist(Source::bytes(images), Source::bytes(labels), Path::new("images"), Path::new("labels"))
}

fn mnist(mut isrc: Source<'_>, mut lsrc: Source<'_>, ipath: &Path, lpath: &Path) -> Result<Dataset<784>, DataError> {
    let header = |src: &mut Source<'_>, path: &Path, magic: u32, len: usize| -> Result<Vec<u8>, DataError> {
        let b = src.read_up_to(len as u64).map_err(|e| e.at(path))?;
        if b.len() < len {
            return Err(DataError::new(format!("{} bytes is too short for an IDX header of {len}", b.len())).at(path));
        }
        let found = be_u32(&b, 0);
        if found != magic {
            return Err(DataError::new(format!("magic number {found:#010x}, expected {magic:#010x}")).at(path));
        }
        Ok(b)
    };
    let ih = header(&mut isrc, ipath, 0x0000_0803, 16)?;
    let lh = header(&mut lsrc, lpath, 0x0000_0801, 8)?;
    let (n, rows, cols) = (be_u32(&ih, 4) as usize, be_u32(&ih, 8) as usize, be_u32(&ih, 12) as usize);
    if (rows, cols) != (28, 28) {
        return Err(DataError::new(format!("images are {rows}x{cols}, expected 28x28")).at(ipath));
    }
    let nl = be_u32(&lh, 4) as usize;
    if nl != n {
        return Err(DataError::new(format!("{nl} labels for {n} images in {}", ipath.display())).at(lpath));
    }
    // The payloads are read only as far as the headers declare (a gzip bomb stops there).
    let pixels = isrc.read_exact_payload(n * 784, 16, &format!("{n} images of 28x28")).map_err(|e| e.at(ipath))?;
    let label_bytes = lsrc.read_exact_payload(n, 8, &format!("{n} labels")).map_err(|e| e.at(lpath))?;
    let mut data = Dataset { images: Vec::with_capacity(n), labels: Vec::with_capacity(n) };
    for (i, (px, &label)) in pixels.chunks_exact(784).zip(&label_bytes).enumerate() {
        if label > 9 {
            return Err(DataError::new(format!("label {label} of image {i} is outside 0..=9")).at(lpath));
        }
        data.images.push(std::array::from_fn(|j| px[j] as f32 / 255.0));
        data.labels.push(label as usize);
    }
    Ok(data)
}

/// Reads CIFAR-10 binary batches (`data_batch_1.bin` ...; each record a label byte then 3072
/// pixel bytes, red plane, green plane, blue plane): 3x32x32 images scaled to `[0, 1]`.
pub fn read_cifar10<P: AsRef<Path>>(paths: &[P]) -> Result<Dataset<3072>, DataError> {
    const RECORD: usize = 1 + 3072;
    let mut data = Dataset { images: Vec::new(), labels: Vec::new() };
    for path in paths {
        let path = path.as_ref();
        let bytes = read_file(path)?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(DataError::new(format!(
                "{} bytes is not a whole number of {RECORD}-byte records (truncated?)",
                bytes.len()
            ))
            .at(path));
        }
        for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
            if rec[0] > 9 {
                return Err(DataError::new(format!("label {} of record {i} is outside 0..=9", rec[0])).at(path));
            }
            data.labels.push(rec[0] as usize);
            data.images.push(std::array::from_fn(|j| rec[1 + j] as f32 / 255.0));
        }
    }
    Ok(data)
}

/// Mini-batches of a data set in a seeded random order, re-shuffled every epoch, as a PyTorch
/// `DataLoader(shuffle=True)`: the last batch of an epoch may be smaller. The batch buffers
/// are reused, so iterating allocates nothing after the first epoch.
///
/// ```
/// use cnn_runtime::data::{Dataset, Loader};
/// let data = Dataset { images: vec![[0.0f32; 4]; 10], labels: (0..10).map(|i| i % 3).collect() };
/// let mut loader = Loader::new(&data, 4, 7);
/// for _epoch in 0..2 {
///     loader.shuffle();
///     let mut seen = 0;
///     while let Some((xs, ys)) = loader.next_batch() {
///         assert_eq!(xs.len(), ys.len());
///         seen += xs.len();
///     }
///     assert_eq!(seen, 10);
/// }
/// ```
#[derive(Debug)]
pub struct Loader<'a, const N: usize> {
    data: &'a Dataset<N>,
    batch: usize,
    seed: u64,
    epoch: u64,
    order: Vec<usize>,
    /// The next sample's place in `order`, or `None` between epochs.
    pos: Option<usize>,
    xs: Vec<[f32; N]>,
    ys: Vec<usize>,
    augment: Option<([usize; 3], Box<dyn augment::Transform>)>,
    /// This process's rank and the process count: batches are its part of each whole batch.
    shard: (usize, usize),
}

impl<'a, const N: usize> Loader<'a, N> {
    /// A loader of batches of `batch` samples.
    ///
    /// # Panics
    /// If `batch` is 0, or `data` has not one label per image (see [`Self::try_new`]).
    #[track_caller]
    pub fn new(data: &'a Dataset<N>, batch: usize, seed: u64) -> Self {
        Self::try_new(data, batch, seed).unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Self::new`], with an error rather than a panic for a zero batch size or a dataset
    /// whose labels are not one per image or the same number per image (per-pixel labels).
    pub fn try_new(data: &'a Dataset<N>, batch: usize, seed: u64) -> Result<Self, DataError> {
        if batch == 0 {
            return Err(DataError::new("the batch size must be at least 1"));
        }
        let (images, labels) = (data.images.len(), data.labels.len());
        if (images == 0) != (labels == 0) || (images > 0 && !labels.is_multiple_of(images)) {
            return Err(DataError::new(format!(
                "the dataset has {images} images but {labels} labels; it needs one label per image, or the same \
                 number per image (one per pixel)"
            )));
        }
        Ok(Loader {
            data,
            batch,
            seed,
            epoch: 0,
            order: Vec::with_capacity(data.len()),
            pos: None,
            xs: Vec::new(),
            ys: Vec::new(),
            augment: None,
            shard: (0, 1),
        })
    }

    /// Augments every sample of every batch with `transform`, for images of `shape`
    /// (`[c, h, w]`): from a generator keyed by the loader's seed, the epoch and the sample's
    /// index in the data set, so the result does not depend on the batch size.
    ///
    /// # Panics
    /// If `shape` does not hold `N` values or the transform does not fit it (a crop of another
    /// size, a normalisation with another channel count), with the reason; or if the labels
    /// are per pixel, which a transform of the images would leave behind.
    #[track_caller]
    pub fn augment(mut self, shape: [usize; 3], transform: impl augment::Transform + 'static) -> Self {
        assert!(
            self.data.labels_per_sample() == 1,
            "augment: the labels are per pixel ({} an image), and a transform moves only the images",
            self.data.labels_per_sample()
        );
        let values = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        assert!(values == Some(N), "augment: shape {shape:?} does not hold the images' {N} values");
        if let Err(e) = transform.check(shape) {
            panic!("augment: {e}");
        }
        self.augment = Some((shape, Box::new(transform)));
        self
    }

    /// Makes the loader give process `rank` of `size` its part of each batch, as PyTorch's
    /// `DistributedSampler`: every process draws the same seeded order and cuts each batch of
    /// `batch` samples the same way, into the training step's units of consecutive samples
    /// (see [`crate::exchange::shard_samples`]), whole units to each process in rank
    /// order. A process whose share of a short last batch is no unit gets an empty batch, which
    /// it still passes to the distributed step. With `size` 1 nothing changes.
    ///
    /// ```
    /// use cnn_runtime::data::{Dataset, Loader};
    /// let data = Dataset { images: vec![[0.0f32; 1]; 64], labels: vec![0; 64] };
    /// let parts: Vec<usize> = (0..3).map(|rank| {
    ///     let mut loader = Loader::new(&data, 64, 7).shard(rank, 3);
    ///     loader.next_batch().unwrap().0.len()
    /// }).collect();
    /// assert_eq!(parts, [16, 24, 24]); // the batch's 8 units of 8 samples: 2, 3 and 3
    /// ```
    ///
    /// # Panics
    /// If `rank` is not below `size`.
    #[track_caller]
    pub fn shard(mut self, rank: usize, size: usize) -> Self {
        assert!(rank < size, "shard: rank {rank} is not below the process count {size}");
        self.shard = (rank, size);
        self
    }

    /// Starts a new epoch in a new order, drawn from the seed and the epoch number (the first
    /// epoch is number 0). [`Self::next_batch`] starts one itself when none is under way.
    pub fn shuffle(&mut self) {
        self.order.clear();
        self.order.extend(0..self.data.len());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ self.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.order.shuffle(&mut rng);
        self.epoch += 1;
        self.pos = Some(0);
    }

    /// Sets the epoch the next [`Self::shuffle`] draws (PyTorch's `DistributedSampler.set_epoch`),
    /// ending the one under way: a run resumed at epoch `e` sees the order and augmentation an
    /// unbroken run saw there.
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.pos = None;
    }

    /// Epochs started so far (the next [`Self::shuffle`] draws epoch number `epoch()`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The rank and process count of [`Self::shard`]: `(0, 1)` unless sharded.
    pub fn shard_of(&self) -> (usize, usize) {
        self.shard
    }

    /// Batches in one epoch.
    pub fn batches(&self) -> usize {
        self.data.len().div_ceil(self.batch)
    }

    /// The next batch of the epoch, or `None` when it is over. Each epoch ends with one `None`;
    /// the call after it starts the next epoch (as [`Self::shuffle`] would), so a
    /// `while let Some(..) = loader.next_batch()` loop runs one epoch per pass.
    #[allow(clippy::type_complexity)]
    pub fn next_batch(&mut self) -> Option<(&[[f32; N]], &[usize])> {
        let pos = match self.pos {
            Some(pos) => pos,
            None => {
                self.shuffle();
                0
            }
        };
        if pos >= self.order.len() {
            self.pos = None;
            return None;
        }
        let end = (pos + self.batch).min(self.order.len());
        self.xs.clear();
        self.ys.clear();
        let mine = crate::train::step::shard_samples(end - pos, self.shard.0, self.shard.1);
        let per = self.data.labels_per_sample();
        for &i in &self.order[pos + mine.start..pos + mine.end] {
            self.xs.push(self.data.images[i]);
            self.ys.extend_from_slice(&self.data.labels[i * per..(i + 1) * per]);
            if let (Some((shape, t)), Some(x)) = (&self.augment, self.xs.last_mut()) {
                // `self.epoch` counts the epochs started, this one included.
                let key = self.seed
                    ^ self.epoch.wrapping_mul(0xD6E8_FEB8_6659_FD93)
                    ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                t.apply(*shape, x, &mut ChaCha8Rng::seed_from_u64(key));
            }
        }
        self.pos = Some(end);
        Some((&self.xs, &self.ys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn idx_images(n: u32, rows: u32) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [0x803, n, rows, 28] {
            b.extend(v.to_be_bytes());
        }
        b.extend((0..n as usize * rows as usize * 28).map(|i| (i % 256) as u8));
        b
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(0x801u32.to_be_bytes());
        b.extend((labels.len() as u32).to_be_bytes());
        b.extend(labels);
        b
    }

    #[test]
    fn mnist_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = (dir.path().join("images"), dir.path().join("labels.gz"));
        std::fs::write(&ip, idx_images(3, 28)).unwrap();
        std::fs::write(&lp, gz(&idx_labels(&[7, 0, 9]))).unwrap();
        let d = read_mnist(&ip, &lp).unwrap();
        assert_eq!(d.labels, [7, 0, 9]);
        assert_eq!(d.images[1][0], (784 % 256) as f32 / 255.0);
        assert_eq!(d.images[0][255], 1.0);
        // A multi-member gzip file (what `cat a.gz b.gz` or a parallel gzip writes) is one stream.
        let labels = idx_labels(&[7, 0, 9]);
        std::fs::write(&lp, [gz(&labels[..5]), gz(&labels[5..])].concat()).unwrap();
        assert_eq!(read_mnist(&ip, &lp).unwrap().labels, [7, 0, 9]);
        let from_bytes = parse_mnist(&std::fs::read(&ip).unwrap(), &std::fs::read(&lp).unwrap()).unwrap();
        assert_eq!((from_bytes.images, from_bytes.labels), (d.images, d.labels));
        assert_eq!(
            parse_mnist(b"", b"").unwrap_err().to_string(),
            "images: 0 bytes is too short for an IDX header of 16"
        );
    }

    /// A gzip file that inflates far beyond what its header declares is refused after the
    /// declared bytes, not inflated whole first.
    #[test]
    fn mnist_gzip_is_read_only_as_far_as_the_header_declares() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = (dir.path().join("images.gz"), dir.path().join("labels"));
        let mut bomb = idx_images(1, 28);
        bomb.resize(64 << 20, 0);
        std::fs::write(&ip, gz(&bomb)).unwrap();
        std::fs::write(&lp, idx_labels(&[1])).unwrap();
        let e = read_mnist(&ip, &lp).unwrap_err().to_string();
        assert_eq!(e, format!("{}: longer than the 800 bytes its header declares for 1 images of 28x28", ip.display()));
    }

    #[test]
    fn mnist_errors_name_the_file_and_the_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let (ip, lp) = (dir.path().join("images"), dir.path().join("labels"));
        let err = |images: Vec<u8>, labels: Vec<u8>| {
            std::fs::write(&ip, images).unwrap();
            std::fs::write(&lp, labels).unwrap();
            read_mnist(&ip, &lp).unwrap_err().to_string()
        };
        let mut bad_magic = idx_images(2, 28);
        bad_magic[3] = 0x01;
        assert_eq!(
            err(bad_magic, idx_labels(&[1, 2])),
            format!("{}: magic number 0x00000801, expected 0x00000803", ip.display())
        );
        let mut short = idx_images(2, 28);
        short.truncate(100);
        assert_eq!(
            err(short, idx_labels(&[1, 2])),
            format!("{}: 100 bytes, expected 1584 for 2 images of 28x28 (truncated?)", ip.display())
        );
        assert_eq!(
            err(idx_images(2, 28), idx_labels(&[1, 2, 3])),
            format!("{}: 3 labels for 2 images in {}", lp.display(), ip.display())
        );
        assert_eq!(
            err(idx_images(1, 27), idx_labels(&[1])),
            format!("{}: images are 27x28, expected 28x28", ip.display())
        );
        assert_eq!(
            err(idx_images(1, 28), idx_labels(&[12])),
            format!("{}: label 12 of image 0 is outside 0..=9", lp.display())
        );
        let missing = dir.path().join("nope");
        let e = read_mnist(&missing, &lp).unwrap_err();
        assert_eq!(e.path(), Some(missing.as_path()));
    }

    #[test]
    fn cifar_records_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("data_batch_1.bin");
        let mut b = Vec::new();
        for label in [3u8, 9] {
            b.push(label);
            b.extend((0..3072).map(|i| (i / 1024) as u8 * 100));
        }
        std::fs::write(&p, &b).unwrap();
        let d = read_cifar10(&[&p]).unwrap();
        assert_eq!(d.labels, [3, 9]);
        assert_eq!((d.images[1][0], d.images[1][1024], d.images[1][2048]), (0.0, 100.0 / 255.0, 200.0 / 255.0));
        std::fs::write(&p, &b[..5000]).unwrap();
        assert_eq!(
            read_cifar10(&[&p]).unwrap_err().to_string(),
            format!("{}: 5000 bytes is not a whole number of 3073-byte records (truncated?)", p.display())
        );
        b[3073] = 10;
        std::fs::write(&p, &b).unwrap();
        assert_eq!(
            read_cifar10(&[&p]).unwrap_err().to_string(),
            format!("{}: label 10 of record 1 is outside 0..=9", p.display())
        );
    }

    #[test]
    fn vendored_digits() {
        let d = digits();
        assert_eq!(d.len(), 1797);
        assert_eq!(&d.labels[..5], &[0, 1, 2, 3, 4]);
        assert_eq!(d.images[0][2], 5.0 / 16.0);
        let mut counts = [0; 10];
        d.labels.iter().for_each(|&l| counts[l] += 1);
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
    }

    #[test]
    fn digits_csv_and_errors() {
        let row = |label: &str| format!("{},{label}\n", ["16"; 64].join(","));
        let d = parse_digits_csv(&gz(format!("{}{}", row("3"), row("0")).as_bytes())).unwrap();
        assert_eq!(d.labels, [3, 0]);
        assert_eq!(d.images[0], [1.0; 64]);
        assert_eq!(
            parse_digits_csv(row("11").as_bytes()).unwrap_err().to_string(),
            "line 1: label 11 is outside 0..=9"
        );
        let with_bom = format!("\u{feff}{}", row("3"));
        assert_eq!(
            parse_digits_csv(with_bom.as_bytes()).unwrap().labels,
            [3],
            "a byte-order mark is not part of the first field"
        );
        assert_eq!(
            parse_digits_csv(b"1,2,3\n").unwrap_err().to_string(),
            "line 1: 3 fields, expected 64 pixels and a label"
        );
    }

    #[test]
    fn loader_covers_every_sample_once_per_epoch_in_a_seeded_order() {
        let data = Dataset { images: (0..10).map(|i| [i as f32; 2]).collect(), labels: (0..10).collect() };
        let epoch = |loader: &mut Loader<2>| {
            loader.shuffle();
            let mut seen = Vec::new();
            while let Some((xs, ys)) = loader.next_batch() {
                assert!(xs.len() <= 4);
                for (x, &y) in xs.iter().zip(ys) {
                    assert_eq!(x[0], y as f32);
                    seen.push(y);
                }
            }
            seen
        };
        let mut a = Loader::new(&data, 4, 1);
        let (e1, e2) = (epoch(&mut a), epoch(&mut a));
        let mut sorted = e1.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(e1, e2, "each epoch has its own order");
        let mut b = Loader::new(&data, 4, 1);
        assert_eq!(epoch(&mut b), e1, "the same seed gives the same order");
        assert_eq!(a.batches(), 3);
        // Without `shuffle`, `next_batch` starts the epochs itself, in the same orders.
        let mut c = Loader::new(&data, 4, 1);
        for want in [&e1, &e2] {
            let mut seen = Vec::new();
            while let Some((_, ys)) = c.next_batch() {
                seen.extend_from_slice(ys);
            }
            assert_eq!(&seen, want);
        }
    }

    #[test]
    fn loader_refuses_a_dataset_without_one_label_per_image() {
        let data = Dataset { images: vec![[0.0; 2]; 5], labels: vec![0; 4] };
        let e = Loader::try_new(&data, 2, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the dataset has 5 images but 4 labels; it needs one label per image, or the same number per image (one per pixel)"
        );
        let panic = std::panic::catch_unwind(|| Loader::new(&data, 2, 0)).unwrap_err();
        assert_eq!(panic.downcast_ref::<String>().map(String::as_str), Some(e.to_string().as_str()));
        assert_eq!(Loader::try_new(&data, 0, 0).unwrap_err().to_string(), "the batch size must be at least 1");
        let no_labels = Dataset { images: vec![[0.0; 2]; 3], labels: vec![] };
        assert!(Loader::try_new(&no_labels, 2, 0).is_err());
    }

    /// Per-pixel labels (the same number an image) travel with their image, through shuffling,
    /// sharding and `split_at`; an augmentation, which would move the image alone, is refused.
    #[test]
    fn per_pixel_labels_stay_with_their_image() {
        let data = Dataset { images: (0..7).map(|i| [i as f32; 2]).collect(), labels: (0..21).collect() };
        assert_eq!(data.labels_per_sample(), 3);
        let mut loader = Loader::new(&data, 3, 5);
        let mut seen = 0;
        while let Some((xs, ys)) = loader.next_batch() {
            assert_eq!(ys.len(), 3 * xs.len());
            for (x, l) in xs.iter().zip(ys.chunks(3)) {
                let i = x[0] as usize;
                assert_eq!(l, [3 * i, 3 * i + 1, 3 * i + 2]);
            }
            seen += xs.len();
        }
        assert_eq!(seen, 7);
        let (a, b) = data.split_at(2);
        assert_eq!((a.labels, b.labels.len()), ((0..6).collect(), 15));
        for rank in 0..2 {
            let mut shard = Loader::new(&data, 4, 5).shard(rank, 2);
            while let Some((xs, ys)) = shard.next_batch() {
                assert_eq!(ys.len(), 3 * xs.len());
            }
        }
        let augmented = std::panic::catch_unwind(|| {
            Loader::new(&data, 2, 0).augment([2, 1, 1], augment::RandomHorizontalFlip(0.5))
        });
        let message = augmented.unwrap_err().downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("the labels are per pixel (3 an image)"), "{message}");
    }

    /// A sample's augmentation depends on the seed, the epoch and the sample, not on the batch
    /// size; epochs and seeds draw anew.
    #[test]
    fn augmentation_edges_are_refused_with_their_numbers() {
        use augment::{RandomCrop, MAX_PADDING};
        let data: Dataset<16> = Dataset { images: vec![[1.0; 16]; 3], labels: vec![0, 1, 2] };
        let message = |f: &dyn Fn()| {
            let e = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
            e.downcast_ref::<String>().cloned().unwrap_or_default()
        };
        assert_eq!(
            message(&|| drop(Loader::new(&data, 2, 0).augment([1, 4, 4], RandomCrop { size: (4, 4), padding: usize::MAX }))),
            format!("augment: RandomCrop padding {} is too large: it must be at most {MAX_PADDING} (a crop that far out holds only zeros)", usize::MAX)
        );
        let huge = 1usize << 32;
        assert_eq!(
            message(&|| drop(
                Loader::new(&data, 2, 0).augment([huge, huge, 16], RandomCrop { size: (huge, 16), padding: 1 })
            )),
            format!("augment: shape [{huge}, {huge}, 16] does not hold the images' 16 values")
        );
        // The largest padding works: a shift that far leaves zeros or, drawn as 0, the image.
        let mut loader = Loader::new(&data, 3, 0).augment([1, 4, 4], RandomCrop { size: (4, 4), padding: MAX_PADDING });
        let (xs, _) = loader.next_batch().unwrap();
        assert!(xs.iter().all(|x| x.iter().all(|&v| v == 0.0) || x.iter().all(|&v| v == 1.0)));
    }

    #[test]
    fn augmentation_is_keyed_by_seed_epoch_and_sample() {
        use augment::RandomCrop;
        let data: Dataset<16> = Dataset {
            images: (0..10).map(|i| std::array::from_fn(|j| (i * 16 + j) as f32 + 1.0)).collect(),
            labels: (0..10).collect(),
        };
        let run = |batch: usize, seed: u64| {
            let mut loader =
                Loader::new(&data, batch, seed).augment([1, 4, 4], RandomCrop { size: (4, 4), padding: 1 });
            let mut by_label = vec![Vec::new(); 10];
            for _ in 0..2 {
                while let Some((xs, ys)) = loader.next_batch() {
                    xs.iter().zip(ys).for_each(|(x, &y)| by_label[y].push(x.to_vec()));
                }
            }
            by_label
        };
        let a = run(3, 5);
        assert_eq!(a, run(7, 5), "the batch size changes nothing");
        assert_ne!(a, run(3, 6), "another seed, other shifts");
        assert!(a.iter().any(|epochs| epochs[0] != epochs[1]), "each epoch draws anew");
        assert!(a.iter().flatten().any(|x| x.contains(&0.0)), "shifted images bring in zeros");
        let p = std::panic::catch_unwind(|| {
            Loader::new(&data, 2, 0).augment([1, 4, 4], RandomCrop { size: (3, 3), padding: 1 })
        });
        assert!(p.is_err());
    }
}
