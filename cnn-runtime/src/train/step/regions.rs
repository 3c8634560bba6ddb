//! The regions of a tile's buffers that a layer's code reads and writes: per-sample offsets,
//! `samples` wide, and disjoint ranges of the flat parameter arrays.

/// One region of a tile's buffer to write and `R` to read (per-sample offset and length each,
/// `samples` wide): a layer's output and inputs. Reads may overlap each other, not the write.
///
/// # Panics
/// If a region lies outside `buf`, or a read overlaps the write.
#[track_caller]
#[inline]
pub fn regions<const R: usize>(
    buf: &mut [f32],
    samples: usize,
    write: (usize, usize),
    reads: [(usize, usize); R],
) -> (&mut [f32], [&[f32]; R]) {
    let span = |(at, len): (usize, usize)| samples * at..samples * (at + len);
    let w = span(write);
    assert!(w.end <= buf.len(), "region {w:?} outside a buffer of {}", buf.len());
    for r in reads.map(span) {
        assert!(r.end <= buf.len(), "region {r:?} outside a buffer of {}", buf.len());
        assert!(
            r.end <= w.start || w.end <= r.start || r.is_empty() || w.is_empty(),
            "regions {r:?} and {w:?} overlap"
        );
    }
    let ptr = buf.as_mut_ptr();
    // SAFETY: every range lies inside `buf` (checked above), and no read range overlaps the write
    // range, so the one mutable slice aliases none of the shared ones; all borrow `buf`, which
    // outlives them.
    unsafe {
        let out = std::slice::from_raw_parts_mut(ptr.add(w.start), w.len());
        (out, reads.map(|r| std::slice::from_raw_parts(ptr.add(samples * r.0), samples * r.1)))
    }
}

/// `K` disjoint ranges `start..end` of `buf`, in ascending order, each as a mutable slice: a
/// layer's parameter tensors (or their gradients) in the flat array.
///
/// # Panics
/// If the ranges are not ascending and disjoint, or pass the end of `buf`.
#[track_caller]
#[inline]
pub fn slices_mut<const K: usize>(buf: &mut [f32], ranges: [(usize, usize); K]) -> [&mut [f32]; K] {
    let mut rest = buf;
    let mut consumed = 0;
    ranges.map(|(start, end)| {
        assert!(start >= consumed && end >= start, "ranges must ascend without overlapping");
        let tail = std::mem::take(&mut rest);
        let (_, tail) = tail.split_at_mut(start - consumed);
        let (mine, tail) = tail.split_at_mut(end - start);
        rest = tail;
        consumed = end;
        mine
    })
}

/// The region at per-sample offset `at`, `len` per sample, of one tile's buffer.
#[inline]
pub fn region<T>(buf: &[T], samples: usize, at: usize, len: usize) -> &[T] {
    &buf[samples * at..samples * (at + len)]
}

/// The region at per-sample offset `at`, `len` per sample, of one tile's buffer, writable.
#[inline]
pub fn region_mut<T>(buf: &mut [T], samples: usize, at: usize, len: usize) -> &mut [T] {
    &mut buf[samples * at..samples * (at + len)]
}
