//! Reading and writing parameters as safetensors files with PyTorch `state_dict` names.

use crate::params::ParamSpec;
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why weights could not be loaded or saved.
#[derive(Debug)]
pub struct WeightsError {
    path: Option<PathBuf>,
    kind: WeightsErrorKind,
}

/// What went wrong with a weights file or buffer.
#[derive(Debug)]
#[non_exhaustive]
pub enum WeightsErrorKind {
    /// Reading or writing the file failed.
    Io(std::io::Error),
    /// The bytes are not a valid safetensors file (truncated, bad header, bad offsets).
    Corrupt(String),
    /// The names do not match the network's, as `load_state_dict(strict=True)` reports them.
    Names {
        /// Tensors the network has and the file lacks.
        missing: Vec<String>,
        /// Tensors the file has and the network lacks.
        unexpected: Vec<String>,
    },
    /// A tensor's shape differs from the network's.
    Shape {
        /// The tensor.
        name: String,
        /// The shape the network has.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is not `F32`.
    Dtype {
        /// The tensor.
        name: String,
        /// Its element type in the file.
        found: String,
    },
}

impl WeightsError {
    fn new(kind: WeightsErrorKind) -> Self {
        WeightsError { path: None, kind }
    }

    fn at(mut self, path: &Path) -> Self {
        self.path = Some(path.to_path_buf());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &WeightsErrorKind {
        &self.kind
    }

    /// The file involved, when the error came from a file.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

fn shape(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        match &self.kind {
            WeightsErrorKind::Io(e) => write!(f, "{e}"),
            WeightsErrorKind::Corrupt(why) => write!(f, "not a valid safetensors file: {why}"),
            WeightsErrorKind::Names { missing, unexpected } => {
                let mut sep = "";
                if !missing.is_empty() {
                    write!(f, "missing tensors: {}", missing.join(", "))?;
                    sep = "; ";
                }
                if !unexpected.is_empty() {
                    write!(f, "{sep}unexpected tensors: {}", unexpected.join(", "))?;
                }
                Ok(())
            }
            WeightsErrorKind::Shape { name, expected, found } => write!(
                f,
                "tensor `{name}` has shape {} in the file, but the network's is {}",
                shape(found),
                shape(expected)
            ),
            WeightsErrorKind::Dtype { name, found } => {
                write!(f, "tensor `{name}` is {found}, but the network needs F32 (save it with `.float()`)")
            }
        }
    }
}

impl std::error::Error for WeightsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            WeightsErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Replaces the tensors of `flat` with those in the safetensors `bytes`.
///
/// Strict, like `load_state_dict(strict=True)`: every tensor of the table must be present as
/// `F32` with the table's shape, and no other tensor may be. Everything is checked before the
/// first element is written, so on error `flat` is unchanged.
pub fn load_safetensors_bytes(specs: &[ParamSpec], flat: &mut [f32], bytes: &[u8]) -> Result<(), WeightsError> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::new(WeightsErrorKind::Corrupt(e.to_string())))?;
    // Look each tensor up once: what is found is kept for the checks and the copy.
    let mut views = Vec::with_capacity(specs.len());
    let mut missing = Vec::new();
    for spec in specs {
        match file.tensor(spec.name) {
            Ok(view) => views.push(view),
            Err(_) => missing.push(spec.name.to_string()),
        }
    }
    let mut unexpected: Vec<String> = file.names().into_iter().filter(|n| !specs.iter().any(|s| s.name == *n)).map(str::to_string).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        unexpected.sort();
        return Err(WeightsError::new(WeightsErrorKind::Names { missing, unexpected }));
    }
    for (spec, view) in specs.iter().zip(&views) {
        if view.dtype() != Dtype::F32 {
            return Err(WeightsError::new(WeightsErrorKind::Dtype { name: spec.name.to_string(), found: format!("{:?}", view.dtype()) }));
        }
        if view.shape() != spec.shape {
            return Err(WeightsError::new(WeightsErrorKind::Shape {
                name: spec.name.to_string(),
                expected: spec.shape.to_vec(),
                found: view.shape().to_vec(),
            }));
        }
    }
    for (spec, view) in specs.iter().zip(views) {
        for (v, b) in flat[spec.range()].iter_mut().zip(view.data().chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }
    Ok(())
}

/// [`load_safetensors_bytes`] from a file.
pub fn load_safetensors(specs: &[ParamSpec], flat: &mut [f32], path: &Path) -> Result<(), WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::new(WeightsErrorKind::Io(e)).at(path))?;
    load_safetensors_bytes(specs, flat, &bytes).map_err(|e| e.at(path))
}

struct F32Tensor<'a> {
    shape: &'static [usize],
    data: &'a [f32],
}

impl View for F32Tensor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
    fn data_len(&self) -> usize {
        self.data.len() * 4
    }
}

/// The tensors of `flat` as a safetensors file, which `safetensors.torch.load_file` reads
/// into a `state_dict`.
pub fn save_safetensors_bytes(specs: &[ParamSpec], flat: &[f32]) -> Vec<u8> {
    let tensors = specs.iter().map(|s| (s.name, F32Tensor { shape: s.shape, data: &flat[s.range()] }));
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize(tensors, Some(metadata)).expect("f32 tensors whose shapes match their data always serialize")
}

/// [`save_safetensors_bytes`] to a file, atomically: the bytes go to a temporary file in the
/// same directory, which is flushed to disk and then renamed over `path`, so a crash leaves
/// either the old file or the new one, never a half-written one.
pub fn save_safetensors(specs: &[ParamSpec], flat: &[f32], path: &Path) -> Result<(), WeightsError> {
    let io = |e: std::io::Error| WeightsError::new(WeightsErrorKind::Io(e)).at(path);
    let bytes = save_safetensors_bytes(specs, flat);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".cnn-weights-").suffix(".tmp").tempfile_in(dir).map_err(io)?;
    tmp.write_all(&bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPECS: &[ParamSpec] = &[
        ParamSpec { name: "0.weight", shape: &[2, 1, 1, 2], offset: 0, fan_in: 2 },
        ParamSpec { name: "0.bias", shape: &[2], offset: 4, fan_in: 2 },
    ];

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        struct Raw<'a>(Dtype, &'a [usize], &'a [u8]);
        impl View for Raw<'_> {
            fn dtype(&self) -> Dtype {
                self.0
            }
            fn shape(&self) -> &[usize] {
                self.1
            }
            fn data(&self) -> Cow<'_, [u8]> {
                Cow::Borrowed(self.2)
            }
            fn data_len(&self) -> usize {
                self.2.len()
            }
        }
        safetensors::tensor::serialize(tensors.iter().map(|(n, d, s, b)| (*n, Raw(*d, s, b))), None).unwrap()
    }

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn round_trip() {
        let flat = [1.0, -2.0, 3.5, 4.0, 0.25, -0.5];
        let bytes = save_safetensors_bytes(SPECS, &flat);
        let mut back = [0.0; 6];
        load_safetensors_bytes(SPECS, &mut back, &bytes).unwrap();
        assert_eq!(back, flat);
    }

    fn load_err(bytes: &[u8]) -> String {
        let mut flat = [7.0; 6];
        let e = load_safetensors_bytes(SPECS, &mut flat, bytes).unwrap_err();
        assert_eq!(flat, [7.0; 6], "a failed load must leave the parameters alone");
        e.to_string()
    }

    #[test]
    fn strict_errors_name_the_tensor_and_leave_params_alone() {
        let w = ("0.weight", Dtype::F32, vec![2, 1, 1, 2], f32s(&[1.0; 4]));
        let b = ("0.bias", Dtype::F32, vec![2], f32s(&[1.0; 2]));
        let e = load_err(&file(std::slice::from_ref(&w)));
        assert_eq!(e, "missing tensors: 0.bias");
        let e = load_err(&file(&[w.clone(), b.clone(), ("1.weight", Dtype::F32, vec![1], f32s(&[0.0]))]));
        assert_eq!(e, "unexpected tensors: 1.weight");
        let e = load_err(&file(&[("0.weight", Dtype::F32, vec![2, 2], f32s(&[1.0; 4])), b.clone()]));
        assert_eq!(e, "tensor `0.weight` has shape [2, 2] in the file, but the network's is [2, 1, 1, 2]");
        let e = load_err(&file(&[w.clone(), ("0.bias", Dtype::F64, vec![2], vec![0; 16])]));
        assert_eq!(e, "tensor `0.bias` is F64, but the network needs F32 (save it with `.float()`)");
        let good = file(&[w, b]);
        let e = load_err(&good[..good.len() - 3]);
        assert!(e.starts_with("not a valid safetensors file"), "{e}");
        assert!(load_err(b"\x02").starts_with("not a valid safetensors file"));
    }

    #[test]
    fn atomic_save_replaces_and_reports_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        std::fs::write(&path, b"old").unwrap();
        let flat = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        save_safetensors(SPECS, &flat, &path).unwrap();
        let mut back = [0.0; 6];
        load_safetensors(SPECS, &mut back, &path).unwrap();
        assert_eq!(back, flat);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
        let missing = dir.path().join("nope.safetensors");
        let e = load_safetensors(SPECS, &mut back, &missing).unwrap_err();
        assert_eq!(e.path(), Some(missing.as_path()));
        assert!(e.to_string().starts_with(&missing.display().to_string()));
        let e = save_safetensors(SPECS, &flat, &dir.path().join("no/such/dir/w.safetensors")).unwrap_err();
        assert!(matches!(e.kind(), WeightsErrorKind::Io(_)));
    }
}
