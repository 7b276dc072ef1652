//! The pure heapsort against std's sort.

use bcache_nvm_core::sort::heapsort;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn sorts_like_std_for_every_small_length_and_random_inputs() {
    let mut seed = 0x2545_f491_4f6c_dd1d;
    for len in 0..200usize {
        for modulus in [2u64, 7, 1000, u64::MAX] {
            let mut v: Vec<u64> = (0..len).map(|_| xorshift(&mut seed) % modulus).collect();
            let mut want = v.clone();
            want.sort();
            heapsort(&mut v);
            assert_eq!(v, want, "len {len} modulus {modulus}");
        }
    }
}

#[test]
fn sorts_already_sorted_and_reversed_input() {
    let mut up: Vec<u32> = (0..1000).collect();
    let mut down: Vec<u32> = (0..1000).rev().collect();
    heapsort(&mut up);
    heapsort(&mut down);
    assert_eq!(up, down);
    assert!(up.windows(2).all(|w| w[0] <= w[1]));
}
