//! Data sets and mini-batches: the digits CSV, MNIST IDX files (raw or gzip), CIFAR-10 binary
//! batches, and a seeded shuffling batch loader that reuses its buffers.
//!
//! Pixels are scaled to `[0, 1]` (digits divide by 16, MNIST and CIFAR by 255) and laid out
//! as the network input expects, one `[f32; C·H·W]` per sample, channel-major (CHW), as
//! `torchvision.transforms.ToTensor` gives them.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Images and their class labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<const N: usize> {
    /// One flattened `[C, H, W]` image a sample.
    pub images: Vec<[f32; N]>,
    /// The class of each image.
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

    /// The first `n` samples and the rest, as two data sets.
    ///
    /// # Panics
    /// If `n > self.len()`.
    #[track_caller]
    pub fn split_at(&self, n: usize) -> (Dataset<N>, Dataset<N>) {
        assert!(n <= self.len(), "cannot split {} samples at {n}", self.len());
        (
            Dataset { images: self.images[..n].to_vec(), labels: self.labels[..n].to_vec() },
            Dataset { images: self.images[n..].to_vec(), labels: self.labels[n..].to_vec() },
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

/// The bytes of `raw`, gunzipped if they start with the gzip magic number.
fn maybe_gunzip(raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| DataError::new(format!("bad gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    maybe_gunzip(raw).map_err(|e| e.at(path))
}

/// Parses the digits CSV (gzip or plain): rows of 64 pixel values 0..16 then a label 0..9.
pub fn parse_digits_csv(bytes: &[u8]) -> Result<Dataset<64>, DataError> {
    let text = maybe_gunzip(bytes.to_vec())?;
    let text = std::str::from_utf8(&text).map_err(|e| DataError::new(format!("not UTF-8 text: {e}")))?;
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
        let label: usize = fields[64].parse().map_err(|_| DataError::new(format!("line {row}: label `{}` is not a class index", fields[64])))?;
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
    parse_digits_csv(include_bytes!("../data/digits.csv.gz")).expect("the vendored digits file is valid")
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
    let ib = read_file(ipath)?;
    let lb = read_file(lpath)?;
    let header = |b: &[u8], path: &Path, magic: u32, len: usize| -> Result<(), DataError> {
        if b.len() < len {
            return Err(DataError::new(format!("{} bytes is too short for an IDX header of {len}", b.len())).at(path));
        }
        let found = be_u32(b, 0);
        if found != magic {
            return Err(DataError::new(format!("magic number {found:#010x}, expected {magic:#010x}")).at(path));
        }
        Ok(())
    };
    header(&ib, ipath, 0x0000_0803, 16)?;
    header(&lb, lpath, 0x0000_0801, 8)?;
    let (n, rows, cols) = (be_u32(&ib, 4) as usize, be_u32(&ib, 8) as usize, be_u32(&ib, 12) as usize);
    if (rows, cols) != (28, 28) {
        return Err(DataError::new(format!("images are {rows}x{cols}, expected 28x28")).at(ipath));
    }
    let want = 16 + n * 784;
    if ib.len() != want {
        return Err(DataError::new(format!("{} bytes, expected {want} for {n} images of 28x28 (truncated?)", ib.len())).at(ipath));
    }
    let nl = be_u32(&lb, 4) as usize;
    if nl != n {
        return Err(DataError::new(format!("{nl} labels for {n} images in {}", ipath.display())).at(lpath));
    }
    if lb.len() != 8 + n {
        return Err(DataError::new(format!("{} bytes, expected {} for {n} labels (truncated?)", lb.len(), 8 + n)).at(lpath));
    }
    let mut data = Dataset { images: Vec::with_capacity(n), labels: Vec::with_capacity(n) };
    for (i, (px, &label)) in ib[16..].chunks_exact(784).zip(&lb[8..]).enumerate() {
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
            return Err(DataError::new(format!("{} bytes is not a whole number of {RECORD}-byte records (truncated?)", bytes.len())).at(path));
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
    pos: usize,
    xs: Vec<[f32; N]>,
    ys: Vec<usize>,
}

impl<'a, const N: usize> Loader<'a, N> {
    /// A loader of batches of `batch` samples; call [`Self::shuffle`] to start each epoch.
    ///
    /// # Panics
    /// If `batch` is 0.
    #[track_caller]
    pub fn new(data: &'a Dataset<N>, batch: usize, seed: u64) -> Self {
        assert!(batch > 0, "the batch size must be at least 1");
        Loader { data, batch, seed, epoch: 0, order: (0..data.len()).collect(), pos: data.len(), xs: Vec::new(), ys: Vec::new() }
    }

    /// Starts a new epoch in a new order, drawn from the seed and the epoch number.
    pub fn shuffle(&mut self) {
        self.order.clear();
        self.order.extend(0..self.data.len());
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ self.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        self.order.shuffle(&mut rng);
        self.epoch += 1;
        self.pos = 0;
    }

    /// Batches in one epoch.
    pub fn batches(&self) -> usize {
        self.data.len().div_ceil(self.batch)
    }

    /// The next batch of the epoch, or `None` when it is over.
    #[allow(clippy::type_complexity)]
    pub fn next_batch(&mut self) -> Option<(&[[f32; N]], &[usize])> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch).min(self.order.len());
        self.xs.clear();
        self.ys.clear();
        for &i in &self.order[self.pos..end] {
            self.xs.push(self.data.images[i]);
            self.ys.push(self.data.labels[i]);
        }
        self.pos = end;
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
        assert_eq!(err(bad_magic, idx_labels(&[1, 2])), format!("{}: magic number 0x00000801, expected 0x00000803", ip.display()));
        let mut short = idx_images(2, 28);
        short.truncate(100);
        assert_eq!(err(short, idx_labels(&[1, 2])), format!("{}: 100 bytes, expected 1584 for 2 images of 28x28 (truncated?)", ip.display()));
        assert_eq!(err(idx_images(2, 28), idx_labels(&[1, 2, 3])), format!("{}: 3 labels for 2 images in {}", lp.display(), ip.display()));
        assert_eq!(err(idx_images(1, 27), idx_labels(&[1])), format!("{}: images are 27x28, expected 28x28", ip.display()));
        assert_eq!(err(idx_images(1, 28), idx_labels(&[12])), format!("{}: label 12 of image 0 is outside 0..=9", lp.display()));
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
        assert_eq!(read_cifar10(&[&p]).unwrap_err().to_string(), format!("{}: 5000 bytes is not a whole number of 3073-byte records (truncated?)", p.display()));
        b[3073] = 10;
        std::fs::write(&p, &b).unwrap();
        assert_eq!(read_cifar10(&[&p]).unwrap_err().to_string(), format!("{}: label 10 of record 1 is outside 0..=9", p.display()));
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
        assert_eq!(parse_digits_csv(row("11").as_bytes()).unwrap_err().to_string(), "line 1: label 11 is outside 0..=9");
        assert_eq!(parse_digits_csv(b"1,2,3\n").unwrap_err().to_string(), "line 1: 3 fields, expected 64 pixels and a label");
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
    }
}
