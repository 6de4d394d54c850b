//! Keyed randomness without state: every random choice the core makes is a function of the
//! pool's secret seed (which the caller provides), the task and a counter. A colluding group
//! that does not know the seed cannot predict which tasks it lands on, and the restored core
//! makes exactly the choices the crashed one would have made (no generator state to persist).

use quorate_primitives::TaskId;

/// 64 random-looking bits for (`seed`, `task`, `counter`): SplitMix64's finalizer over the seed,
/// the task id's first 16 bytes and the counter.
pub(crate) fn draw(seed: u64, task: &TaskId, counter: u64) -> u64 {
    let bytes = task.0.as_slice();
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    for (dst, src) in lo.iter_mut().zip(bytes.iter()) {
        *dst = *src;
    }
    for (dst, src) in hi.iter_mut().zip(bytes.iter().skip(8)) {
        *dst = *src;
    }
    let mut z = mix(seed ^ u64::from_le_bytes(lo));
    z = mix(z ^ u64::from_le_bytes(hi));
    mix(z ^ counter.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Uniform in `0..n` (0 when `n` is 0).
pub(crate) fn below(bits: u64, n: u64) -> u64 {
    let wide = u128::from(bits).wrapping_mul(u128::from(n));
    u64::try_from(wide >> 64).unwrap_or(0)
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use quorate_primitives::{B256, DealId, U256};

    use super::*;

    #[test]
    fn draws_depend_on_seed_task_and_counter_only() {
        let deal = DealId::derive(B256::repeat_byte(3), U256::ZERO);
        let (a, b) = (TaskId::derive(deal, 0), TaskId::derive(deal, 1));
        assert_eq!(draw(7, &a, 0), draw(7, &a, 0));
        assert_ne!(draw(7, &a, 0), draw(8, &a, 0));
        assert_ne!(draw(7, &a, 0), draw(7, &b, 0));
        assert_ne!(draw(7, &a, 0), draw(7, &a, 1));
        // Roughly uniform: 10,000 draws below 10 fill every bucket near 1,000.
        let mut buckets = [0u32; 10];
        for i in 0..10_000 {
            let k = usize::try_from(below(draw(1, &a, i), 10)).unwrap_or(0);
            if let Some(b) = buckets.get_mut(k) {
                *b += 1;
            }
        }
        assert!(buckets.iter().all(|n| (850..1150).contains(n)), "{buckets:?}");
    }
}
