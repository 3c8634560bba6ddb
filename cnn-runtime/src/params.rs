//! Named parameters: where each tensor of a network lives in its flat parameter array.
//!
//! A generated network keeps all its parameters in one boxed fixed-size array, in PyTorch
//! `state_dict` order; a [`ParamSpec`] table, written by the macro, names each tensor and gives
//! its shape and place. Weight files, initialisation and (later) optimizers all work through it.

/// One parameter tensor of a network: its `state_dict` name, shape and place in the flat array.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParamSpec {
    /// PyTorch `state_dict` key, e.g. `"0.weight"` or `"conv1.bias"`.
    pub name: &'static str,
    /// PyTorch shape: conv weights `[out, in, kh, kw]`, linear weights `[out, in]`, biases `[out]`.
    pub shape: &'static [usize],
    /// Index of the first element in the flat parameter array.
    pub offset: usize,
    /// How the network's constructor fills it (`crate::init::init_default`).
    pub init: Init,
}

/// A tensor's default initialisation, as PyTorch's modules define it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Uniform in `±1/sqrt(fan_in)`: `kaiming_uniform_(a=sqrt(5))` for conv and linear weights,
    /// and their biases' rule.
    Uniform {
        /// Fan-in of the layer the tensor belongs to.
        fan_in: usize,
    },
    /// All ones: a batch norm's weight and running variance.
    Ones,
    /// All zeros: a batch norm's bias and running mean.
    Zeros,
    /// Every element `value`: a `scale` layer's factors (ConvNeXt's `layer_scale`).
    Const(f32),
}

impl ParamSpec {
    /// Number of elements.
    pub const fn len(&self) -> usize {
        let mut n = 1;
        let mut i = 0;
        while i < self.shape.len() {
            n *= self.shape[i];
            i += 1;
        }
        n
    }

    /// Whether the tensor has no elements (never the case for a checked network).
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element range in the flat parameter array.
    pub const fn range(&self) -> core::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// A parameter tensor, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct Param<'a> {
    /// PyTorch `state_dict` key.
    pub name: &'static str,
    /// PyTorch shape.
    pub shape: &'static [usize],
    /// Row-major elements.
    pub data: &'a [f32],
}

/// A parameter tensor, borrowed mutably.
#[derive(Debug)]
pub struct ParamMut<'a> {
    /// PyTorch `state_dict` key.
    pub name: &'static str,
    /// PyTorch shape.
    pub shape: &'static [usize],
    /// Row-major elements.
    pub data: &'a mut [f32],
}

/// The tensors of `flat`, in table order.
///
/// # Panics
/// If `flat` is shorter than the table says.
#[doc(hidden)]
pub fn params<'a>(specs: &'static [ParamSpec], flat: &'a [f32]) -> impl ExactSizeIterator<Item = Param<'a>> + 'a {
    specs.iter().map(move |s| Param { name: s.name, shape: s.shape, data: &flat[s.range()] })
}

/// The tensors of `flat`, mutably, in table order.
#[doc(hidden)]
pub fn params_mut<'a>(specs: &'static [ParamSpec], flat: &'a mut [f32]) -> ParamsMut<'a> {
    ParamsMut { specs, rest: flat, consumed: 0 }
}

/// Iterator over disjoint mutable parameter tensors; see [`params_mut`].
#[derive(Debug)]
pub struct ParamsMut<'a> {
    specs: &'static [ParamSpec],
    rest: &'a mut [f32],
    consumed: usize,
}

impl<'a> Iterator for ParamsMut<'a> {
    type Item = ParamMut<'a>;

    fn next(&mut self) -> Option<ParamMut<'a>> {
        let (spec, specs) = self.specs.split_first()?;
        self.specs = specs;
        let rest = std::mem::take(&mut self.rest);
        let (_, rest) = rest.split_at_mut(spec.offset - self.consumed);
        let (data, rest) = rest.split_at_mut(spec.len());
        self.rest = rest;
        self.consumed = spec.offset + spec.len();
        Some(ParamMut { name: spec.name, shape: spec.shape, data })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.specs.len(), Some(self.specs.len()))
    }
}

impl ExactSizeIterator for ParamsMut<'_> {}

/// The tensor called `name` in `flat`, laid out by `specs`.
#[doc(hidden)]
pub fn tensor<'a>(specs: &'static [ParamSpec], flat: &'a [f32], name: &str) -> Option<Param<'a>> {
    let spec = specs.iter().find(|s| s.name == name)?;
    Some(Param { name: spec.name, shape: spec.shape, data: &flat[spec.range()] })
}

/// The tensor called `name` in `flat`, mutably.
#[doc(hidden)]
pub fn tensor_mut<'a>(specs: &'static [ParamSpec], flat: &'a mut [f32], name: &str) -> Option<ParamMut<'a>> {
    let spec = specs.iter().find(|s| s.name == name)?;
    Some(ParamMut { name: spec.name, shape: spec.shape, data: &mut flat[spec.range()] })
}

/// Allocates a zeroed `[f32; N]` on the heap without building it on the stack first, where a
/// large network's parameters would not fit.
#[doc(hidden)]
pub fn zeroed_array<const N: usize>() -> Box<[f32; N]> {
    vec![0.0f32; N].into_boxed_slice().try_into().expect("a Vec of N elements converts to [f32; N]")
}

/// `rows` zeroed `[f32; N]` rows, without building a row on the stack (a large network's output
/// row would not fit there).
#[doc(hidden)]
pub fn zeroed_rows<const N: usize>(rows: usize) -> Vec<[f32; N]> {
    let mut v: Vec<[f32; N]> = Vec::with_capacity(rows);
    // SAFETY: the capacity holds `rows` rows; all-zero bytes are a valid `[f32; N]` (each
    // element 0.0), so after writing them the first `rows` rows are initialised.
    unsafe {
        std::ptr::write_bytes(v.as_mut_ptr(), 0, rows);
        v.set_len(rows);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_rows_are_zero_and_counted() {
        let rows = zeroed_rows::<3>(4);
        assert_eq!(rows, vec![[0.0; 3]; 4]);
        assert!(zeroed_rows::<1000>(0).is_empty());
    }

    static SPECS: &[ParamSpec] = &[
        ParamSpec { name: "0.weight", shape: &[2, 1, 1, 2], offset: 0, init: Init::Uniform { fan_in: 2 } },
        ParamSpec { name: "0.bias", shape: &[2], offset: 4, init: Init::Uniform { fan_in: 2 } },
        ParamSpec { name: "fc.weight", shape: &[1, 3], offset: 6, init: Init::Uniform { fan_in: 3 } },
    ];

    #[test]
    fn views_cover_the_table() {
        let mut flat: Vec<f32> = (0..9).map(|i| i as f32).collect();
        let got: Vec<_> = params(SPECS, &flat).map(|p| (p.name, p.data.to_vec())).collect();
        assert_eq!(got[1], ("0.bias", vec![4.0, 5.0]));
        assert_eq!(got[2].1, vec![6.0, 7.0, 8.0]);
        for p in params_mut(SPECS, &mut flat) {
            p.data.iter_mut().for_each(|v| *v = -*v);
        }
        assert_eq!(flat[8], -8.0);
        assert_eq!(tensor(SPECS, &flat, "fc.weight").unwrap().data, &[-6.0, -7.0, -8.0]);
        assert!(tensor(SPECS, &flat, "fc.bias").is_none());
        tensor_mut(SPECS, &mut flat, "0.bias").unwrap().data[1] = 9.0;
        assert_eq!(flat[5], 9.0);
        assert!(tensor_mut(SPECS, &mut flat, "fc.bias").is_none());
        assert_eq!(zeroed_array::<5>().as_slice(), &[0.0; 5]);
    }
}
