//! Intersection of postings lists: seekable cursors and a leapfrog join
//! that stops as soon as the caller has enough results.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::ControlFlow;

use crate::bitset::next_set_bit;

/// A cursor over one ascending postings list.
#[derive(Debug, Clone)]
pub(crate) struct ListCursor<'a> {
    list: &'a [u32],
    at: usize,
}

impl<'a> ListCursor<'a> {
    pub(crate) fn new(list: &'a [u32]) -> Self {
        Self { list, at: 0 }
    }

    /// Moves to the first element `>= target` (never backwards) and answers
    /// it. Galloping: O(log d) for a move of d elements.
    pub(crate) fn seek(&mut self, target: u32) -> Option<u32> {
        let rest = &self.list[self.at..];
        match rest.first() {
            None => return None,
            Some(&first) if first >= target => return Some(first),
            Some(_) => {}
        }
        // rest[lo] < target; grow the step until rest[lo + step] >= target.
        let (mut lo, mut step) = (0, 1);
        while lo + step < rest.len() && rest[lo + step] < target {
            lo += step;
            step *= 2;
        }
        let hi = (lo + step).min(rest.len());
        let i = lo + 1 + rest[lo + 1..hi].partition_point(|&x| x < target);
        self.at += i;
        self.list.get(self.at).copied()
    }
}

/// A cursor over the union of several ascending lists (the tokens a prefix
/// term expands to), merged lazily with a min-heap.
#[derive(Debug)]
pub(crate) struct UnionCursor<'a> {
    cursors: Vec<ListCursor<'a>>,
    heap: BinaryHeap<Reverse<(u32, usize)>>,
}

impl<'a> UnionCursor<'a> {
    pub(crate) fn new(lists: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let cursors: Vec<ListCursor<'a>> = lists.into_iter().map(ListCursor::new).collect();
        let heap = cursors
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.list.first().map(|&v| Reverse((v, i))))
            .collect();
        Self { cursors, heap }
    }

    /// Moves to the smallest element `>= target` of any list and answers it.
    pub(crate) fn seek(&mut self, target: u32) -> Option<u32> {
        while let Some(&Reverse((value, i))) = self.heap.peek() {
            if value >= target {
                return Some(value);
            }
            self.heap.pop();
            if let Some(next) = self.cursors[i].seek(target) {
                self.heap.push(Reverse((next, i)));
            }
        }
        None
    }

    fn total_len(&self) -> usize {
        self.cursors.iter().map(|c| c.list.len()).sum()
    }
}

/// One conjunct of a query.
#[derive(Debug)]
pub(crate) enum Operand<'a> {
    /// Modules containing one token (or matching one provider).
    List(ListCursor<'a>),
    /// The same, for a dense list: its bitset, and the list's length.
    Bits(&'a [u64], usize),
    /// Modules containing any of several tokens.
    Union(UnionCursor<'a>),
}

impl Operand<'_> {
    fn seek(&mut self, target: u32) -> Option<u32> {
        match self {
            Operand::List(c) => c.seek(target),
            Operand::Bits(set, _) => next_set_bit(set, target),
            Operand::Union(c) => c.seek(target),
        }
    }

    /// An upper bound on the operand's size: the join is driven by the
    /// smallest.
    fn size(&self) -> usize {
        match self {
            Operand::List(c) => c.list.len(),
            Operand::Bits(_, len) => *len,
            Operand::Union(c) => c.total_len(),
        }
    }
}

/// Calls `emit` with every position in `lo..hi` present in all `operands`,
/// ascending, until `emit` breaks. Leapfrog join driven by the smallest
/// operand: each step seeks every operand to the current candidate and jumps
/// the candidate to the largest answer. Does nothing when `operands` is
/// empty.
pub(crate) fn intersect(
    operands: &mut [Operand<'_>],
    lo: u32,
    hi: u32,
    mut emit: impl FnMut(u32) -> ControlFlow<()>,
) {
    if operands.is_empty() {
        return;
    }
    operands.sort_by_key(Operand::size);
    let (driver, others) = operands.split_first_mut().expect("not empty");
    let mut candidate = lo;
    'search: while candidate < hi {
        let Some(x) = driver.seek(candidate) else {
            return;
        };
        if x >= hi {
            return;
        }
        candidate = x;
        for op in others.iter_mut() {
            let Some(y) = op.seek(candidate) else {
                return;
            };
            if y != candidate {
                candidate = y;
                continue 'search;
            }
        }
        if emit(candidate).is_break() {
            return;
        }
        candidate += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use proptest::prelude::*;

    use super::{intersect, ListCursor, Operand, UnionCursor};
    use crate::bitset::Bitsets;

    fn sorted_set() -> impl Strategy<Value = Vec<u32>> {
        proptest::collection::btree_set(0u32..200, 0..80).prop_map(|s| s.into_iter().collect())
    }

    #[test]
    fn seek_gallops_forward() {
        let list = [1, 3, 5, 7, 9, 11, 13, 100];
        let mut c = ListCursor::new(&list);
        assert_eq!(c.seek(0), Some(1));
        assert_eq!(c.seek(6), Some(7));
        assert_eq!(c.seek(7), Some(7));
        assert_eq!(c.seek(14), Some(100));
        assert_eq!(c.seek(101), None);
    }

    proptest! {
        #[test]
        fn join_equals_set_intersection(
            a in sorted_set(),
            b in sorted_set(),
            u in proptest::collection::vec(sorted_set(), 1..4),
            lo in 0u32..50,
            hi in 50u32..210,
        ) {
            let mut sets = Bitsets::new(200);
            let n = sets.push(&b);
            let mut ops = vec![
                Operand::List(ListCursor::new(&a)),
                Operand::Bits(sets.get(n), b.len()),
                Operand::Union(UnionCursor::new(u.iter().map(Vec::as_slice))),
            ];
            let mut got = Vec::new();
            intersect(&mut ops, lo, hi, |p| { got.push(p); ControlFlow::Continue(()) });
            let want: Vec<u32> = (lo..hi)
                .filter(|p| a.contains(p) && b.contains(p) && u.iter().any(|l| l.contains(p)))
                .collect();
            prop_assert_eq!(got, want);
        }
    }
}
