//! Dense postings: a bitset over module positions, kept next to a postings
//! list when the list is dense enough that the bitset is no larger.

use std::mem::size_of;

/// A list gets a bitset when it holds at least one position in
/// `DENSE_RATIO`: then the bitset (1 bit per module) is no larger than the
/// list (32 bits per entry).
pub(crate) const DENSE_RATIO: usize = 32;

/// Whether a list of `len` positions out of `modules` gets a bitset.
pub(crate) fn is_dense(len: usize, modules: usize) -> bool {
    modules > 0 && len.saturating_mul(DENSE_RATIO) >= modules
}

/// Bitsets over `0..modules`, one per dense list, stored flat.
#[derive(Debug, Default)]
pub(crate) struct Bitsets {
    words_per_set: usize,
    words: Vec<u64>,
}

impl Bitsets {
    pub(crate) fn new(modules: usize) -> Self {
        Self {
            words_per_set: modules.div_ceil(64),
            words: Vec::new(),
        }
    }

    /// Adds the set of `list`'s positions; answers its number.
    pub(crate) fn push(&mut self, list: &[u32]) -> u32 {
        let n = u32::try_from(self.words.len() / self.words_per_set.max(1)).expect("few bitsets");
        let start = self.words.len();
        self.words.resize(start + self.words_per_set, 0);
        let set = &mut self.words[start..];
        for &p in list {
            set[p as usize / 64] |= 1 << (p % 64);
        }
        n
    }

    /// Set number `n`.
    pub(crate) fn get(&self, n: u32) -> &[u64] {
        let start = n as usize * self.words_per_set;
        &self.words[start..start + self.words_per_set]
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * size_of::<u64>()
    }
}

/// The first position `>= target` in `set`. O(1) for a dense set, at worst
/// O(words).
pub(crate) fn next_set_bit(set: &[u64], target: u32) -> Option<u32> {
    let mut w = target as usize / 64;
    let mut word = *set.get(w)? & (!0u64 << (target % 64));
    loop {
        if word != 0 {
            return Some((w * 64) as u32 + word.trailing_zeros());
        }
        w += 1;
        word = *set.get(w)?;
    }
}

#[cfg(test)]
mod tests {
    use super::{next_set_bit, Bitsets};

    #[test]
    fn finds_the_next_set_bit() {
        let mut sets = Bitsets::new(200);
        let n = sets.push(&[3, 64, 130, 199]);
        let set = sets.get(n);
        assert_eq!(next_set_bit(set, 0), Some(3));
        assert_eq!(next_set_bit(set, 3), Some(3));
        assert_eq!(next_set_bit(set, 4), Some(64));
        assert_eq!(next_set_bit(set, 65), Some(130));
        assert_eq!(next_set_bit(set, 199), Some(199));
        assert_eq!(next_set_bit(set, 200), None);
        assert_eq!(next_set_bit(set, 5000), None);
    }
}
