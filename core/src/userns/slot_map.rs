//! Which slots are taken, as a two-level bitmap.
//!
//! Finding a free slot never probes bit by bit: the first level is scanned a
//! word (64 slots) at a time with `trailing_zeros`, and a summary level with one
//! bit per full word lets the scan skip 4096 taken slots per summary word. For
//! 65,535 slots the whole map is 8 KiB plus 128 bytes of summary.

use super::pool::SlotIndex;

/// A set of taken slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// Bit set = slot taken. Bits past `len` are set so they are never found.
    words: Vec<u64>,
    /// Bit set = the word at that index is full. Bits past the last word are set.
    full_words: Vec<u64>,
    len: u32,
    taken: u32,
}

impl SlotMap {
    /// A map of `len` free slots.
    pub fn new(len: u32) -> Self {
        let word_count = (len as usize).div_ceil(64);
        let mut words = vec![0u64; word_count];
        let tail = len as usize % 64;
        if tail != 0 {
            words[word_count - 1] = !0u64 << tail;
        }
        let summary_count = word_count.div_ceil(64).max(1);
        let mut full_words = vec![0u64; summary_count];
        let summary_tail = word_count % 64;
        if summary_tail != 0 || word_count == 0 {
            full_words[summary_count - 1] = !0u64 << summary_tail;
        }
        // No word is full yet: all but the last are zero, and the last one's
        // padding leaves at least its low bit clear. So the summary holds
        // only the padding bits set above.
        Self {
            words,
            full_words,
            len,
            taken: 0,
        }
    }

    /// Number of slots.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True for a map of no slots.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of taken slots.
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// True when `slot` is taken.
    #[inline]
    pub fn is_taken(&self, slot: SlotIndex) -> bool {
        let (word, bit) = split(slot);
        self.words[word] & bit != 0
    }

    /// Marks `slot` taken; returns false if it already was.
    #[inline]
    pub fn take(&mut self, slot: SlotIndex) -> bool {
        debug_assert!(slot < self.len);
        let (word, bit) = split(slot);
        if self.words[word] & bit != 0 {
            return false;
        }
        self.words[word] |= bit;
        self.taken += 1;
        // The summary changes only when this filled the word.
        if self.words[word] == !0 {
            self.full_words[word / 64] |= 1u64 << (word % 64);
        }
        true
    }

    /// Marks `slot` free; returns false if it already was.
    #[inline]
    pub fn free(&mut self, slot: SlotIndex) -> bool {
        debug_assert!(slot < self.len);
        let (word, bit) = split(slot);
        if self.words[word] & bit == 0 {
            return false;
        }
        // The summary changes only when the word was full.
        if self.words[word] == !0 {
            self.full_words[word / 64] &= !(1u64 << (word % 64));
        }
        self.words[word] &= !bit;
        self.taken -= 1;
        true
    }

    /// The first free slot at or after `start`, wrapping around to 0.
    #[inline]
    pub fn first_free_from(&self, start: SlotIndex) -> Option<SlotIndex> {
        // Callers pass an index below len; the division is only a guard.
        let start = if start < self.len {
            start
        } else if self.len == 0 {
            return None;
        } else {
            start % self.len
        };
        // The common case first: a free slot in the start's own word.
        let (start_word, _) = split(start);
        let high_bits = !0u64 << (start % 64);
        let free_here = !self.words[start_word] & high_bits;
        if free_here != 0 {
            return Some(join(start_word, free_here));
        }
        if self.taken == self.len {
            return None;
        }
        let word = self
            .first_non_full_word(start_word + 1, self.words.len())
            .or_else(|| self.first_non_full_word(0, start_word + 1))?;
        Some(join(word, !self.words[word]))
    }

    #[inline]
    fn first_non_full_word(&self, from: usize, to: usize) -> Option<usize> {
        let mut summary = from / 64;
        let mut mask = !0u64 << (from % 64);
        while summary * 64 < to {
            let candidates = !self.full_words[summary] & mask;
            if candidates != 0 {
                let word = summary * 64 + candidates.trailing_zeros() as usize;
                return (word < to).then_some(word);
            }
            summary += 1;
            mask = !0;
        }
        None
    }

    /// Bytes of heap the map uses.
    pub fn heap_bytes(&self) -> usize {
        (self.words.capacity() + self.full_words.capacity()) * std::mem::size_of::<u64>()
    }
}

#[inline]
fn split(slot: SlotIndex) -> (usize, u64) {
    (slot as usize / 64, 1u64 << (slot % 64))
}

#[inline]
fn join(word: usize, free_bits: u64) -> SlotIndex {
    (word * 64 + free_bits.trailing_zeros() as usize) as SlotIndex
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious bit-by-bit scan, as the oracle.
    fn naive_first_free(map: &SlotMap, start: SlotIndex) -> Option<SlotIndex> {
        (0..map.len())
            .map(|step| (start % map.len() + step) % map.len())
            .find(|&slot| !map.is_taken(slot))
    }

    #[test]
    fn finds_the_same_slot_as_a_bitwise_scan() {
        for len in [1u32, 63, 64, 65, 4095, 4096, 4097, 65535] {
            let mut map = SlotMap::new(len);
            let mut state = u64::from(len);
            for round in 0..(len.min(3000) * 2) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let slot = ((state >> 33) % u64::from(len)) as SlotIndex;
                if round % 3 == 2 {
                    map.free(slot);
                } else {
                    map.take(slot);
                }
                let start = ((state >> 17) % u64::from(len)) as SlotIndex;
                assert_eq!(
                    map.first_free_from(start),
                    naive_first_free(&map, start),
                    "len {len}"
                );
            }
        }
    }

    #[test]
    fn full_and_nearly_full_maps() {
        let mut map = SlotMap::new(65535);
        for slot in 0..65535 {
            assert!(map.take(slot));
        }
        assert_eq!(map.first_free_from(0), None);
        map.free(12345);
        assert_eq!(map.first_free_from(20000), Some(12345));
        assert_eq!(map.first_free_from(12345), Some(12345));
        assert_eq!(map.taken(), 65534);
        assert!(map.heap_bytes() <= 64 * 1024);
    }

    #[test]
    fn a_new_map_marks_only_padding_words_full() {
        for len in [0u32, 1, 63, 64, 65, 4095, 4096, 4097, 65535, 262_144] {
            let map = SlotMap::new(len);
            for (word, bits) in map.words.iter().enumerate() {
                let marked = map.full_words[word / 64] & (1u64 << (word % 64)) != 0;
                assert_eq!(marked, *bits == !0, "len {len} word {word}");
            }
            let word_count = map.words.len();
            for index in word_count..map.full_words.len() * 64 {
                let marked = map.full_words[index / 64] & (1u64 << (index % 64)) != 0;
                assert!(marked, "len {len}: padding word {index} not marked full");
            }
        }
    }

    #[test]
    fn empty_map_has_no_free_slot() {
        assert_eq!(SlotMap::new(0).first_free_from(0), None);
    }
}
