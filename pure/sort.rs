//! An in-place heapsort for the pure code.
//!
//! `core`'s `sort_unstable` pulls in code paths that 6.12's objtool does not know end in a
//! panic ("falls through to next function" warnings in the module build); a heapsort is
//! small, allocation-free, O(n log n) in the worst case, and has no such paths.

/// Sorts `v` in ascending order.
pub fn heapsort<T: Ord + Copy>(v: &mut [T]) {
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// Restores the max-heap property of `v[..end]` below `root`.
fn sift_down<T: Ord + Copy>(v: &mut [T], mut root: usize, end: usize) {
    loop {
        let left = 2 * root + 1;
        if left >= end {
            return;
        }
        let right = left + 1;
        let child = match (v.get(left), v.get(right)) {
            (Some(l), Some(r)) if right < end && r > l => right,
            _ => left,
        };
        match (v.get(root), v.get(child)) {
            (Some(r), Some(c)) if c > r => v.swap(root, child),
            _ => return,
        }
        root = child;
    }
}
