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

/// One layer's packed weights: filled by the first call that needs them (other threads wait
/// for it), read by the calls after, emptied by [`PackSlot::clear`]. The buffer is kept when
/// cleared, so packing again allocates nothing.
#[derive(Default)]
pub struct PackSlot {
    ready: OnceLock<()>,
    data: UnsafeCell<Vec<f32>>,
}

// SAFETY: `data` is written only inside `ready`'s initialisation, which runs on one thread while
// every other caller of `get_or_pack` blocks, and read only after it completed; `clear` takes
// `&mut self`, so no reader is alive then.
unsafe impl Sync for PackSlot {}

impl PackSlot {
    /// The packed weights: `len` values that `pack` writes on the first call after a clear.
    pub(crate) fn get_or_pack(&self, len: usize, pack: impl FnOnce(&mut [f32])) -> &[f32] {
        self.ready.get_or_init(|| {
            // SAFETY: only the initialising thread runs this, and nobody reads `data` before
            // `ready` is set (see the `Sync` impl).
            let data = unsafe { &mut *self.data.get() };
            data.resize(len, 0.0);
            pack(&mut data[..len]);
        });
        // SAFETY: `ready` is set, so `data` is written and stays unchanged until `clear`, which
        // needs `&mut self` and so waits for this borrow to end.
        let data = unsafe { &*self.data.get() };
        &data[..len]
    }

    /// Forgets the packed weights (keeping the buffer); the next use packs again.
    pub fn clear(&mut self) {
        self.ready.take();
    }
}

impl std::fmt::Debug for PackSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackSlot").field("packed", &self.ready.get().is_some()).finish()
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
                .get_or_pack(4, |dst| {
                    packs.set(packs.get() + 1);
                    dst.iter_mut().zip(p.iter().rev()).for_each(|(d, v)| *d = *v);
                })
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
                    let got = params.pack(0).get_or_pack(3, |dst| {
                        packs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        dst.fill(params[0]);
                    });
                    assert_eq!(got, [5.0; 3]);
                });
            }
        });
        assert_eq!(packs.into_inner(), 1);
    }
}
