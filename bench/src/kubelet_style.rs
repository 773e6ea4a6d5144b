//! The allocation strategy of kubelet's user-namespace manager, rebuilt for a
//! side-by-side comparison in the same run: a random start, then probing one
//! bit at a time until a free slot is found. (kubelet probes a `big.Int`;
//! probing a `Vec<u64>` is faster than that, so the comparison flatters it.)

/// A bitmap probed bit by bit.
#[derive(Debug, Clone)]
pub struct BitByBitAllocator {
    bits: Vec<u64>,
    len: u32,
}

impl BitByBitAllocator {
    /// `len` free slots.
    pub fn new(len: u32) -> Self {
        Self {
            bits: vec![0; (len as usize).div_ceil(64)],
            len,
        }
    }

    fn is_set(&self, slot: u32) -> bool {
        self.bits[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    /// Marks `slot` taken.
    pub fn take(&mut self, slot: u32) {
        self.bits[slot as usize / 64] |= 1 << (slot % 64);
    }

    /// Marks `slot` free.
    pub fn free(&mut self, slot: u32) {
        self.bits[slot as usize / 64] &= !(1 << (slot % 64));
    }

    /// The first free slot at or after `start`, probing one bit at a time.
    pub fn allocate_from(&mut self, start: u32) -> Option<u32> {
        for step in 0..self.len {
            let slot = (start + step) % self.len;
            if !self.is_set(slot) {
                self.take(slot);
                return Some(slot);
            }
        }
        None
    }
}
