//! Weights packed for the direct convolution kernels, kept from call to call while the
//! parameters stay the same, as onnxruntime packs a model's weights once per session: at batch
//! 1 a layer's weights are as large as its work, and packing them on every call cost a
//! ResNet-18 a quarter of its inference time.
//!
//! A network's parameters live in a [`Params`], which hands out the flat array for reading
//! freely and clears every packed copy whenever it is borrowed mutably, so a packed copy can
//! never outlive the weights it was made from.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::OnceLock;

/// The layouts a layer's weights are packed in, one per kind of kernel that packs them: a layer
/// may run under several (Winograd in eval mode and a direct kernel in training; the
/// one-sample kernel of small maps at batch 1 and another at larger batches), and each keeps
/// its own copy, so none ever reads another's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PackKind {
    /// The direct kernels' blocks of output channels (`direct_pixels::pack_weights`).
    Blocks = 0,
    /// The small-map kernel's one-sample layout.
    SmallMaps = 1,
    /// Winograd's transformed weights.
    Winograd = 2,
    /// The weights as the layer convolves with them, computed from its parameters (weight
    /// standardisation), in PyTorch's layout; the other kinds pack these.
    Derived = 3,
}

const KINDS: usize = 4;

/// One layout's packed weights: filled by the first call that needs them (other threads wait
/// for it), read by the calls after, emptied by [`PackSlot::clear`]. The buffer is kept when
/// cleared, so packing again allocates nothing.
#[derive(Default)]
struct Packed {
    /// Set once `data` holds a packing, to its `(param, len)`.
    ready: OnceLock<(usize, usize)>,
    data: UnsafeCell<Vec<f32>>,
}

/// One layer's packed weights, a copy per [`PackKind`].
#[derive(Default)]
pub struct PackSlot {
    kinds: [Packed; KINDS],
}

// SAFETY: each `Packed::data` is written only inside its `ready`'s initialisation, which runs on
// one thread while every other caller of `get_or_pack` for that kind blocks, and read only after
// it completed; `clear` takes `&mut self`, so no reader is alive then.
unsafe impl Sync for PackSlot {}

impl PackSlot {
    /// The weights packed in layout `kind` with `param` (the block width, say), `len` values
    /// that `pack` writes on the first call after a clear; `None` if this layer's `kind` copy
    /// holds another `param` or length (a caller that packs differently from call to call),
    /// which the caller then packs for itself.
    pub(crate) fn get_or_pack(
        &self,
        kind: PackKind,
        param: usize,
        len: usize,
        pack: impl FnOnce(&mut [f32]),
    ) -> Option<&[f32]> {
        let packed = &self.kinds[kind as usize];
        let key = *packed.ready.get_or_init(|| {
            // SAFETY: only the initialising thread runs this, and nobody reads `data` before
            // `ready` is set (see the `Sync` impl).
            let data = unsafe { &mut *packed.data.get() };
            data.resize(len, 0.0);
            pack(&mut data[..len]);
            (param, len)
        });
        if key != (param, len) {
            return None;
        }
        // SAFETY: `ready` is set, so `data` is written and stays unchanged until `clear`, which
        // needs `&mut self` and so waits for this borrow to end.
        let data = unsafe { &*packed.data.get() };
        Some(&data[..len])
    }

    /// Forgets the packed weights (keeping the buffers); the next use packs again.
    pub fn clear(&mut self) {
        for packed in &mut self.kinds {
            packed.ready.take();
        }
    }
}

impl std::fmt::Debug for PackSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packed: Vec<bool> = self.kinds.iter().map(|k| k.ready.get().is_some()).collect();
        f.debug_struct("PackSlot").field("packed", &packed).finish()
    }
}

/// A network's parameters (its flat `state_dict` order) with one [`PackSlot`] per layer.
/// Reading goes through `Deref`; any mutable borrow (`DerefMut`) clears the slots first.
pub struct Params {
    values: Box<[f32]>,
    slots: Box<[PackSlot]>,
}

impl Params {
    /// `values` with `layers` empty slots.
    pub fn new(values: Box<[f32]>, layers: usize) -> Self {
        Params { values, slots: (0..layers).map(|_| PackSlot::default()).collect() }
    }

    /// Layer `i`'s slot.
    ///
    /// # Panics
    /// If `i` is not below the layer count given to [`Params::new`].
    pub fn pack(&self, i: usize) -> &PackSlot {
        &self.slots[i]
    }
}

impl Deref for Params {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.values
    }
}

impl DerefMut for Params {
    fn deref_mut(&mut self) -> &mut [f32] {
        self.slots.iter_mut().for_each(PackSlot::clear);
        &mut self.values
    }
}

impl Clone for Params {
    fn clone(&self) -> Self {
        Params::new(self.values.clone(), self.slots.len())
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Params").field("len", &self.values.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_packs_once_until_the_params_are_borrowed_mutably() {
        let mut params = Params::new(Box::new([1.0, 2.0, 3.0, 4.0]), 2);
        let packs = std::cell::Cell::new(0);
        let pack = |p: &Params| {
            p.pack(1)
                .get_or_pack(PackKind::Blocks, 8, 4, |dst| {
                    packs.set(packs.get() + 1);
                    dst.iter_mut().zip(p.iter().rev()).for_each(|(d, v)| *d = *v);
                })
                .expect("the same layout")
                .to_vec()
        };
        assert_eq!(pack(&params), [4.0, 3.0, 2.0, 1.0]);
        assert_eq!(pack(&params), [4.0, 3.0, 2.0, 1.0]);
        assert_eq!(packs.get(), 1, "packed once");
        assert_eq!(params[0], 1.0, "reading does not clear");
        assert_eq!(pack(&params).len(), 4);
        assert_eq!(packs.get(), 1);
        params[0] = 9.0;
        assert_eq!(pack(&params), [4.0, 3.0, 2.0, 9.0], "a write clears the packed copy");
        assert_eq!(packs.get(), 2);
        let copy = params.clone();
        assert_eq!(pack(&copy), [4.0, 3.0, 2.0, 9.0]);
        assert_eq!(packs.get(), 3, "a clone packs its own");
    }

    #[test]
    fn threads_share_one_packing() {
        let params = Params::new(Box::new([5.0]), 1);
        let packs = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let got = params.pack(0).get_or_pack(PackKind::Winograd, 0, 3, |dst| {
                        packs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        dst.fill(params[0]);
                    });
                    assert_eq!(got, Some(&[5.0; 3][..]));
                });
            }
        });
        assert_eq!(packs.into_inner(), 1);
    }

    /// Each kernel kind keeps its own layout: one never reads another's (an eval-mode Winograd
    /// packing followed by a training pass's blocks), and a kind asked for another block width
    /// than it holds is told to pack for itself.
    #[test]
    fn layouts_of_different_kernels_never_mix() {
        let params = Params::new(Box::new([1.0, 2.0]), 1);
        let slot = params.pack(0);
        let winograd = slot.get_or_pack(PackKind::Winograd, 0, 3, |d| d.fill(7.0)).map(<[f32]>::to_vec);
        let blocks = slot.get_or_pack(PackKind::Blocks, 4, 2, |d| d.copy_from_slice(&[1.0, 2.0])).map(<[f32]>::to_vec);
        let small = slot.get_or_pack(PackKind::SmallMaps, 8, 2, |d| d.fill(3.0)).map(<[f32]>::to_vec);
        assert_eq!(winograd, Some(vec![7.0; 3]));
        assert_eq!(blocks, Some(vec![1.0, 2.0]));
        assert_eq!(small, Some(vec![3.0; 2]));
        assert_eq!(slot.get_or_pack(PackKind::Winograd, 0, 3, |_| unreachable!()), Some(&[7.0; 3][..]));
        assert_eq!(slot.get_or_pack(PackKind::Blocks, 8, 2, |_| unreachable!()), None, "another width");
        assert_eq!(slot.get_or_pack(PackKind::Blocks, 4, 3, |_| unreachable!()), None, "another length");
    }
}
