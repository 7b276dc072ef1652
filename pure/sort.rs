//! An in-place heapsort for the pure code.
//!
//! `core`'s `sort_unstable` pulls in code paths that 6.12's objtool does not know end in a
//! panic ("falls through to next function" warnings in the module build); a heapsort is
//! small, allocation-free, O(n log n) in the worst case, and has no such paths.

/// Sorts `v` in ascending order.
pub fn heapsort<T: Ord + Copy>(v: &mut [T]) {
    heapsort_by_key(v, |x| *x);
}

/// Sorts `v` in ascending order of `key` (not stable: equal keys end in any order).
pub fn heapsort_by_key<T: Copy, K: Ord>(v: &mut [T], key: impl Fn(&T) -> K) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n, &key);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end, &key);
    }
}

/// Restores the max-heap property (by `key`) of `v[..end]` below `root`.
fn sift_down<T: Copy, K: Ord>(v: &mut [T], mut root: usize, end: usize, key: &impl Fn(&T) -> K) {
    loop {
        let left = 2 * root + 1;
        if left >= end {
            return;
        }
        let right = left + 1;
        let child = match (v.get(left), v.get(right)) {
            (Some(l), Some(r)) if right < end && key(r) > key(l) => right,
            _ => left,
        };
        match (v.get(root), v.get(child)) {
            (Some(r), Some(c)) if key(c) > key(r) => v.swap(root, child),
            _ => return,
        }
        root = child;
    }
}
