//! Reading and writing parameters as safetensors files with PyTorch `state_dict` names.

use crate::params::ParamSpec;
use safetensors::tensor::{Dtype, SafeTensors, TensorView, View};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
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
    /// A tensor has another element type than the network's (`F32`, or `I64` for counters).
    Dtype {
        /// The tensor.
        name: String,
        /// Its element type in the file.
        found: String,
        /// The element type the network has.
        expected: String,
    },
    /// A counter holds a value training cannot continue from (a negative count, or one whose
    /// next step could not be written).
    Counter {
        /// The counter.
        name: String,
        /// Its value.
        value: i64,
        /// What it must be.
        expected: &'static str,
    },
    /// The optimizer's state does not fit the optimizer or the network (see
    /// `Optimizer::check_state`).
    Optimizer(String),
    /// Two networks saved into one file both have a tensor of this name.
    Duplicate {
        /// The tensor.
        name: String,
    },
}

impl WeightsError {
    pub(crate) fn new(kind: WeightsErrorKind) -> Self {
        WeightsError { path: None, kind }
    }

    pub(crate) fn at(mut self, path: &Path) -> Self {
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
            WeightsErrorKind::Dtype { name, found, expected } if expected == "F32" => {
                write!(f, "tensor `{name}` is {found}, but the network needs F32 (save it with `.float()`)")
            }
            WeightsErrorKind::Dtype { name, found, expected } => {
                write!(f, "tensor `{name}` is {found}, but the network needs {expected}")
            }
            WeightsErrorKind::Counter { name, value, expected } => {
                write!(f, "counter `{name}` is {value}, but it must be {expected}")
            }
            WeightsErrorKind::Optimizer(why) => write!(f, "the optimizer's state does not fit: {why}"),
            WeightsErrorKind::Duplicate { name } => {
                write!(f, "tensor `{name}` belongs to two of the networks saved into one file")
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

/// The tables of a network's `state_dict`: trainable parameters, `f32` buffers (batch norm's
/// running statistics) and `i64` counters (`num_batches_tracked`, 0-dimensional tensors).
#[derive(Clone, Copy, Debug)]
pub struct StateSpecs {
    /// Parameter tensors, in the flat parameter array.
    pub params: &'static [ParamSpec],
    /// Buffer tensors, in the flat buffer array.
    pub buffers: &'static [ParamSpec],
    /// Counter names, one `i64` each.
    pub counters: &'static [&'static str],
}

/// A network's state, borrowed mutably: what [`load_state_bytes`] writes.
#[derive(Debug)]
pub struct StateMut<'a> {
    /// Parameters.
    pub params: &'a mut [f32],
    /// Buffers.
    pub buffers: &'a mut [f32],
    /// Counters.
    pub counters: &'a mut [i64],
}

/// A network's state, borrowed: what [`save_state_bytes`] reads.
#[derive(Clone, Copy, Debug)]
pub struct StateRef<'a> {
    /// Parameters.
    pub params: &'a [f32],
    /// Buffers.
    pub buffers: &'a [f32],
    /// Counters.
    pub counters: &'a [i64],
}

impl StateSpecs {
    /// Every tensor: name, shape, dtype.
    fn entries(&self) -> impl Iterator<Item = (&'static str, &'static [usize], Dtype)> + '_ {
        let f32s = self.params.iter().chain(self.buffers).map(|s| (s.name, s.shape, Dtype::F32));
        f32s.chain(self.counters.iter().map(|n| (*n, &[][..], Dtype::I64)))
    }
}

/// Replaces the tensors of `state` with those in the safetensors `bytes`.
///
/// Strict, like `load_state_dict(strict=True)`: every tensor of the tables must be present with
/// the tables' shape, parameters and buffers as `F32` and counters as `I64`, and no other tensor
/// may be. Everything is checked before the first element is written, so on error `state` is
/// unchanged.
pub fn load_state_bytes(specs: &StateSpecs, state: StateMut<'_>, bytes: &[u8]) -> Result<(), WeightsError> {
    load_states_bytes(&mut [(specs, state)], bytes)
}

/// `bytes` as a safetensors file.
pub(crate) fn parse(bytes: &[u8]) -> Result<SafeTensors<'_>, WeightsError> {
    SafeTensors::deserialize(bytes).map_err(|e| WeightsError::new(WeightsErrorKind::Corrupt(e.to_string())))
}

/// The tensors `specs` lists, found in `file` and checked (present, dtype, shape), in table
/// order; a tensor of the file that the tables do not list is an error unless `other(name)`.
pub(crate) fn checked_views<'f>(
    specs: &StateSpecs,
    file: &SafeTensors<'f>,
    other: impl Fn(&str) -> bool,
) -> Result<Vec<TensorView<'f>>, WeightsError> {
    // Look each tensor up once: what is found is kept for the checks and the copy.
    let mut views = Vec::new();
    let mut missing = Vec::new();
    for (name, shape, dtype) in specs.entries() {
        match file.tensor(name) {
            Ok(view) => views.push((name, shape, dtype, view)),
            Err(_) => missing.push(name.to_string()),
        }
    }
    let mut unexpected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !specs.entries().any(|e| e.0 == *n) && !other(n))
        .map(str::to_string)
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        unexpected.sort();
        return Err(WeightsError::new(WeightsErrorKind::Names { missing, unexpected }));
    }
    for (name, shape, dtype, view) in &views {
        check_view(name, view, *dtype, shape)?;
        if *dtype == Dtype::I64 {
            check_counter(name, read_i64(view))?;
        }
    }
    Ok(views.into_iter().map(|v| v.3).collect())
}

/// Whether a counter (`num_batches_tracked`, a step count) can be continued: at least 0 and
/// below `i64::MAX`, so that the count after one more step can be saved too.
pub(crate) fn check_counter(name: &str, value: i64) -> Result<(), WeightsError> {
    if (0..i64::MAX).contains(&value) {
        return Ok(());
    }
    Err(WeightsError::new(WeightsErrorKind::Counter {
        name: name.to_string(),
        value,
        expected: "in 0..i64::MAX (a count of steps that can go on)",
    }))
}

/// [`check_counter`] on every counter of `state`, before it is written.
pub(crate) fn check_counters(specs: &StateSpecs, state: StateRef<'_>) -> Result<(), WeightsError> {
    specs.counters.iter().zip(state.counters).try_for_each(|(name, &v)| check_counter(name, v))
}

/// Whether `view` has this dtype and shape.
pub(crate) fn check_view(name: &str, view: &TensorView<'_>, dtype: Dtype, shape: &[usize]) -> Result<(), WeightsError> {
    if view.dtype() != dtype {
        return Err(WeightsError::new(WeightsErrorKind::Dtype {
            name: name.to_string(),
            found: format!("{:?}", view.dtype()),
            expected: format!("{dtype:?}"),
        }));
    }
    if view.shape() != shape {
        return Err(WeightsError::new(WeightsErrorKind::Shape {
            name: name.to_string(),
            expected: shape.to_vec(),
            found: view.shape().to_vec(),
        }));
    }
    Ok(())
}

/// Little-endian `F32` data into `dst`.
pub(crate) fn read_f32s(view: &TensorView<'_>, dst: &mut [f32]) {
    for (v, b) in dst.iter_mut().zip(view.data().chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// A checked 0-dimensional `I64` tensor's value.
pub(crate) fn read_i64(view: &TensorView<'_>) -> i64 {
    i64::from_le_bytes(view.data()[..8].try_into().expect("a checked I64 scalar has 8 bytes"))
}

/// Writes views checked by [`checked_views`] into `state`.
pub(crate) fn write_views(specs: &StateSpecs, views: Vec<TensorView<'_>>, state: StateMut<'_>) {
    let (np, nb) = (specs.params.len(), specs.buffers.len());
    for (i, view) in views.into_iter().enumerate() {
        if i < np {
            read_f32s(&view, &mut state.params[specs.params[i].range()]);
        } else if i < np + nb {
            read_f32s(&view, &mut state.buffers[specs.buffers[i - np].range()]);
        } else {
            state.counters[i - np - nb] = read_i64(&view);
        }
    }
}

/// Replaces the tensors of several networks' states with those of one safetensors file that
/// holds them all (a model PyTorch keeps in one `state_dict` and `cnn` builds as several
/// networks, such as Faster R-CNN's two). Strict over the union, as [`load_state_bytes`] is
/// over one: every tensor of every part must be present, and every tensor of the file must
/// belong to a part. Everything is checked before the first element is written, so on error
/// no state changes.
pub fn load_states_bytes(parts: &mut [(&StateSpecs, StateMut<'_>)], bytes: &[u8]) -> Result<(), WeightsError> {
    let file = parse(bytes)?;
    let specs: Vec<StateSpecs> = parts.iter().map(|(s, _)| **s).collect();
    let known = |name: &str| specs.iter().any(|s| s.entries().any(|e| e.0 == name));
    let mut missing = Vec::new();
    let mut views = Vec::new();
    for s in &specs {
        match checked_views(s, &file, known) {
            Ok(v) => views.push(v),
            Err(WeightsError { kind: WeightsErrorKind::Names { missing: m, .. }, .. }) => missing.extend(m),
            Err(e) => return Err(e),
        }
    }
    let mut unexpected: Vec<String> = file.names().into_iter().filter(|n| !known(n)).map(str::to_string).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        unexpected.sort();
        return Err(WeightsError::new(WeightsErrorKind::Names { missing, unexpected }));
    }
    for ((s, state), views) in parts.iter_mut().zip(views) {
        write_views(s, views, StateMut { params: state.params, buffers: state.buffers, counters: state.counters });
    }
    Ok(())
}

/// [`load_states_bytes`] from a file.
pub fn load_states(parts: &mut [(&StateSpecs, StateMut<'_>)], path: &Path) -> Result<(), WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::new(WeightsErrorKind::Io(e)).at(path))?;
    load_states_bytes(parts, &bytes).map_err(|e| e.at(path))
}

/// [`load_state_bytes`] from a file.
pub fn load_state(specs: &StateSpecs, state: StateMut<'_>, path: &Path) -> Result<(), WeightsError> {
    let bytes = std::fs::read(path).map_err(|e| WeightsError::new(WeightsErrorKind::Io(e)).at(path))?;
    load_state_bytes(specs, state, &bytes).map_err(|e| e.at(path))
}

/// Replaces the tensors of `flat` (parameters only, no buffers) with those in `bytes`; see
/// [`load_state_bytes`].
pub fn load_safetensors_bytes(specs: &'static [ParamSpec], flat: &mut [f32], bytes: &[u8]) -> Result<(), WeightsError> {
    let tables = StateSpecs { params: specs, buffers: &[], counters: &[] };
    load_state_bytes(&tables, StateMut { params: flat, buffers: &mut [], counters: &mut [] }, bytes)
}

/// [`load_safetensors_bytes`] from a file.
pub fn load_safetensors(specs: &'static [ParamSpec], flat: &mut [f32], path: &Path) -> Result<(), WeightsError> {
    let tables = StateSpecs { params: specs, buffers: &[], counters: &[] };
    load_state(&tables, StateMut { params: flat, buffers: &mut [], counters: &mut [] }, path)
}

/// One tensor to write: its shape and little-endian bytes, borrowed from the state.
pub(crate) struct Raw<'a> {
    pub dtype: Dtype,
    pub shape: Cow<'static, [usize]>,
    pub f32s: &'a [f32],
    pub i64: Option<i64>,
}

impl<'a> Raw<'a> {
    /// An `F32` tensor.
    pub(crate) fn f32s(shape: impl Into<Cow<'static, [usize]>>, f32s: &'a [f32]) -> Self {
        Raw { dtype: Dtype::F32, shape: shape.into(), f32s, i64: None }
    }
    /// A 0-dimensional `I64` tensor.
    pub(crate) fn i64(v: i64) -> Self {
        Raw { dtype: Dtype::I64, shape: Cow::Borrowed(&[]), f32s: &[], i64: Some(v) }
    }
}

impl View for Raw<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        match self.i64 {
            Some(v) => Cow::Owned(v.to_le_bytes().to_vec()),
            None => f32_bytes(self.f32s),
        }
    }
    fn data_len(&self) -> usize {
        if self.i64.is_some() {
            8
        } else {
            self.f32s.len() * 4
        }
    }
}

/// `values` as little-endian bytes: borrowed where the machine is little-endian (no copy of a
/// large tensor), converted elsewhere.
fn f32_bytes(values: &[f32]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        // SAFETY: any f32 is 4 initialised bytes and u8 has alignment 1; the slice borrows
        // `values` for its own lifetime.
        Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        })
    } else {
        Cow::Owned(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

/// The tensors of `state` as a safetensors file, which `safetensors.torch.load_file` reads
/// into a `state_dict`.
pub fn save_state_bytes(specs: &StateSpecs, state: StateRef<'_>) -> Vec<u8> {
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::tensor::serialize(tensors(specs, state), Some(metadata))
        .expect("tensors whose shapes match their data always serialize")
}

/// The tensors of `state` in file order: parameters, buffers, counters.
pub(crate) fn tensors<'a>(
    specs: &'a StateSpecs,
    state: StateRef<'a>,
) -> impl Iterator<Item = (Cow<'static, str>, Raw<'a>)> + 'a {
    let params =
        specs.params.iter().map(move |s| (Cow::Borrowed(s.name), Raw::f32s(s.shape, &state.params[s.range()])));
    let buffers =
        specs.buffers.iter().map(move |s| (Cow::Borrowed(s.name), Raw::f32s(s.shape, &state.buffers[s.range()])));
    let counters = specs.counters.iter().zip(state.counters).map(|(n, v)| (Cow::Borrowed(*n), Raw::i64(*v)));
    params.chain(buffers).chain(counters)
}

/// The parameters in `flat` as a safetensors file; see [`save_state_bytes`].
pub fn save_safetensors_bytes(specs: &'static [ParamSpec], flat: &[f32]) -> Vec<u8> {
    save_state_bytes(
        &StateSpecs { params: specs, buffers: &[], counters: &[] },
        StateRef { params: flat, buffers: &[], counters: &[] },
    )
}

/// [`save_state_bytes`] to a file, atomically: the tensors are streamed, one at a time and
/// never copied whole, into a file in a private directory beside the destination, which is
/// flushed to disk and then renamed over the destination, so a crash leaves either the old file
/// or the new one, never a half-written one.
///
/// The destination is `path`, or, where `path` is a symbolic link, the file it points to (the
/// link stays). The file keeps the permissions of the file it replaces; a new file gets those
/// `File::create` would give it (`0o666` less the process's umask).
///
/// # Errors
/// Writing fails, `path` starts a loop of symbolic links, or a counter is one a load would
/// refuse (then nothing is written).
pub fn save_state(specs: &StateSpecs, state: StateRef<'_>, path: &Path) -> Result<(), WeightsError> {
    save_states(&[(specs, state)], path)
}

/// Several networks' states as one safetensors file (see [`load_states`]), replaced atomically
/// as [`save_state`] replaces one.
///
/// # Errors
/// As [`save_state`], and a tensor name two parts both have (then nothing is written).
pub fn save_states(parts: &[(&StateSpecs, StateRef<'_>)], path: &Path) -> Result<(), WeightsError> {
    let mut seen = std::collections::HashSet::new();
    for (specs, state) in parts {
        check_counters(specs, *state).map_err(|e| e.at(path))?;
        if let Some((name, ..)) = specs.entries().find(|e| !seen.insert(e.0)) {
            return Err(WeightsError::new(WeightsErrorKind::Duplicate { name: name.to_string() }).at(path));
        }
    }
    write_file(parts.iter().flat_map(|(specs, state)| tensors(specs, *state)), path)
}

/// `tensors` as a safetensors file at `path`, as [`save_state`] writes one.
pub(crate) fn write_file<'a>(
    tensors: impl Iterator<Item = (Cow<'static, str>, Raw<'a>)>,
    path: &Path,
) -> Result<(), WeightsError> {
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    // `serialize_to_file` streams the tensors into the staged file, one at a time.
    replace_file(path, |staged| {
        safetensors::tensor::serialize_to_file(tensors, Some(metadata), staged).map_err(|e| match e {
            safetensors::SafeTensorError::IoError(e) => e,
            other => std::io::Error::other(other.to_string()),
        })
    })
    .map_err(|e| WeightsError::new(WeightsErrorKind::Io(e)).at(path))
}

/// Replaces the file at `path` atomically with what `write` writes to the staged path it is
/// given: the file is staged in a private directory beside the destination (the same file
/// system, so the final rename is atomic), flushed to disk and renamed over the destination, so
/// a crash leaves either the old file or the new one, never a half-written one. The destination
/// is `path`, or, where `path` is a symbolic link, the file it points to (the link stays); the
/// file keeps the permissions of the file it replaces, and a new one gets those `File::create`
/// gives. On any error the destination is as it was and the staging directory is removed.
///
/// # Errors
/// `write`'s, the file system's, or a loop of symbolic links at `path`.
#[doc(hidden)]
pub fn replace_file(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> std::io::Result<()> {
    let target = link_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let staging = tempfile::Builder::new().prefix(".cnn-staging-").tempdir_in(dir)?;
    let staged = staging.path().join("staged");
    // A file created as `File::create` creates one shows which permissions a new file gets.
    let fresh = std::fs::File::create(&staged).and_then(|f| f.metadata())?.permissions();
    let permissions = std::fs::metadata(&target).map_or(fresh, |m| m.permissions());
    write(&staged)?;
    let file = std::fs::File::open(&staged)?;
    file.set_permissions(permissions)?;
    file.sync_all()?;
    std::fs::rename(&staged, &target)
}

/// The file a write to `path` lands in: `path` itself, or the end of the chain of symbolic
/// links it starts (a link's relative target is relative to the link's directory).
///
/// # Errors
/// As the kernel's `ELOOP`, a chain of more than 40 links (a loop among them).
fn link_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut target = path.to_path_buf();
    for _ in 0..=40 {
        match std::fs::read_link(&target) {
            Ok(next) => target = target.parent().map_or_else(|| next.clone(), |dir| dir.join(&next)),
            Err(_) => return Ok(target),
        }
    }
    Err(std::io::Error::other(format!(
        "too many levels of symbolic links (more than 40, a loop?) from {}",
        path.display()
    )))
}

/// [`save_safetensors_bytes`] to a file, atomically; see [`save_state`].
pub fn save_safetensors(specs: &'static [ParamSpec], flat: &[f32], path: &Path) -> Result<(), WeightsError> {
    save_state(
        &StateSpecs { params: specs, buffers: &[], counters: &[] },
        StateRef { params: flat, buffers: &[], counters: &[] },
        path,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Init;

    static SPECS: &[ParamSpec] = &[
        ParamSpec { name: "0.weight", shape: &[2, 1, 1, 2], offset: 0, init: Init::Uniform { fan_in: 2 } },
        ParamSpec { name: "0.bias", shape: &[2], offset: 4, init: Init::Uniform { fan_in: 2 } },
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

    #[test]
    fn buffers_and_counters_round_trip_with_their_dtypes() {
        static BUFFERS: &[ParamSpec] =
            &[ParamSpec { name: "1.running_mean", shape: &[2], offset: 0, init: Init::Zeros }];
        let tables = StateSpecs { params: SPECS, buffers: BUFFERS, counters: &["1.num_batches_tracked"] };
        let (p, b, c) = ([1.0, -2.0, 3.5, 4.0, 0.25, -0.5], [7.0, 8.0], [42i64]);
        let bytes = save_state_bytes(&tables, StateRef { params: &p, buffers: &b, counters: &c });
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let counter = file.tensor("1.num_batches_tracked").unwrap();
        assert_eq!((counter.dtype(), counter.shape()), (Dtype::I64, &[][..]));
        let (mut p2, mut b2, mut c2) = ([0.0; 6], [0.0; 2], [0i64]);
        load_state_bytes(&tables, StateMut { params: &mut p2, buffers: &mut b2, counters: &mut c2 }, &bytes).unwrap();
        assert_eq!((p2, b2, c2), (p, b, c));
        // A float counter is refused, and nothing is written.
        let w = ("0.weight", Dtype::F32, vec![2, 1, 1, 2], f32s(&[1.0; 4]));
        let bias = ("0.bias", Dtype::F32, vec![2], f32s(&[1.0; 2]));
        let rm = ("1.running_mean", Dtype::F32, vec![2], f32s(&[1.0; 2]));
        let bad = file_of(&[w, bias, rm, ("1.num_batches_tracked", Dtype::F32, vec![], f32s(&[1.0]))]);
        let e = load_state_bytes(&tables, StateMut { params: &mut p2, buffers: &mut b2, counters: &mut c2 }, &bad)
            .unwrap_err();
        assert_eq!(e.to_string(), "tensor `1.num_batches_tracked` is F32, but the network needs I64");
        assert_eq!((p2, b2, c2), (p, b, c));
    }

    /// A new file gets the permissions `File::create` gives; a replaced file keeps its own.
    #[cfg(unix)]
    #[test]
    fn saved_files_get_ordinary_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let path = dir.path().join("w.safetensors");
        save_safetensors(SPECS, &[0.0; 6], &path).unwrap();
        assert_eq!(mode(&path), mode(&plain));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        save_safetensors(SPECS, &[1.0; 6], &path).unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    /// Saving through a symbolic link (relative, and a chain of two) writes the file it points
    /// to; the links stay links.
    #[cfg(unix)]
    #[test]
    fn saves_write_through_symbolic_links() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let target = dir.path().join("real/w.safetensors");
        std::os::unix::fs::symlink("real/w.safetensors", dir.path().join("link")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("link"), dir.path().join("link2")).unwrap();
        for (i, via) in ["link", "link2"].iter().enumerate() {
            let flat = [i as f32; 6];
            save_safetensors(SPECS, &flat, &dir.path().join(via)).unwrap();
            let mut back = [9.0; 6];
            load_safetensors(SPECS, &mut back, &target).unwrap();
            assert_eq!(back, flat);
            for link in ["link", "link2"] {
                assert!(std::fs::symlink_metadata(dir.path().join(link)).unwrap().file_type().is_symlink());
            }
        }
        assert_eq!(std::fs::read_dir(dir.path().join("real")).unwrap().count(), 1, "nothing left beside the file");
    }

    #[test]
    fn tensor_bytes_are_borrowed_not_copied() {
        let values = [1.0f32, -2.5];
        let bytes = f32_bytes(&values);
        assert_eq!(&*bytes, &f32s(&values)[..]);
        if cfg!(target_endian = "little") {
            assert!(matches!(bytes, Cow::Borrowed(_)));
        }
    }

    fn file_of(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        file(tensors)
    }
}
