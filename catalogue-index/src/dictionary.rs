//! The token dictionary: every token in byte order, each with its postings
//! (the ascending positions of the modules that contain it), stored flat.

use std::collections::HashMap;
use std::mem::size_of;
use std::ops::Range;

use crate::bitset::{is_dense, Bitsets};
use crate::tokens::for_each_token;

/// Sorted tokens and their postings, in flat vectors (no allocation
/// per token).
#[derive(Debug, Default)]
pub(crate) struct Dictionary {
    /// All tokens, concatenated in order.
    text: String,
    /// `text_ends[i]`: where token `i` ends in `text`.
    text_ends: Vec<u32>,
    /// All postings lists, concatenated in token order.
    postings: Vec<u32>,
    /// `postings_ends[i]`: where token `i`'s postings end in `postings`.
    postings_ends: Vec<u32>,
    /// `(token, bitset)` for the dense tokens, by token.
    dense: Vec<(u32, u32)>,
    bitsets: Bitsets,
}

impl Dictionary {
    /// Number of distinct tokens.
    pub(crate) fn len(&self) -> usize {
        self.text_ends.len()
    }

    fn start(ends: &[u32], i: usize) -> usize {
        if i == 0 {
            0
        } else {
            ends[i - 1] as usize
        }
    }

    /// Token `i`'s text.
    pub(crate) fn token(&self, i: usize) -> &str {
        &self.text[Self::start(&self.text_ends, i)..self.text_ends[i] as usize]
    }

    /// Token `i`'s postings: ascending, unique module positions.
    pub(crate) fn postings(&self, i: usize) -> &[u32] {
        &self.postings[Self::start(&self.postings_ends, i)..self.postings_ends[i] as usize]
    }

    /// Token `i`'s bitset, if its postings are dense
    /// ([`is_dense`](crate::bitset::is_dense)).
    pub(crate) fn bitset(&self, i: usize) -> Option<&[u64]> {
        let at = self
            .dense
            .binary_search_by_key(&(i as u32), |&(t, _)| t)
            .ok()?;
        Some(self.bitsets.get(self.dense[at].1))
    }

    /// The index of `token`, if present. O(log tokens).
    pub(crate) fn find(&self, token: &str) -> Option<usize> {
        let i = self.lower_bound(token);
        (i < self.len() && self.token(i) == token).then_some(i)
    }

    /// The first index whose token is not less than `token`.
    fn lower_bound(&self, token: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.token(mid) < token {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The indexes of the tokens that start with `prefix`, in dictionary
    /// order, at most `cap` of them (the first `cap`). O(log tokens).
    pub(crate) fn prefix_range(&self, prefix: &str, cap: usize) -> Range<usize> {
        let start = self.lower_bound(prefix);
        // Tokens with the prefix are contiguous from `start`: find their end
        // by binary search within at most `cap` entries.
        let limit = self.len().min(start.saturating_add(cap));
        let (mut lo, mut hi) = (start, limit);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.token(mid).starts_with(prefix) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        start..lo
    }

    /// Heap bytes held (capacities, not lengths).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + (self.text_ends.capacity() + self.postings.capacity() + self.postings_ends.capacity())
                * size_of::<u32>()
            + self.dense.capacity() * size_of::<(u32, u32)>()
            + self.bitsets.heap_bytes()
    }
}

/// Collects tokens module by module, in position order.
#[derive(Debug, Default)]
pub(crate) struct DictionaryBuilder {
    ids: HashMap<Box<str>, u32>,
    lists: Vec<Vec<u32>>,
    buf: String,
}

impl DictionaryBuilder {
    /// Adds the tokens of `text` to the module at `position`. Positions must
    /// be added in ascending order (a module's fields one after another).
    pub(crate) fn add_text(&mut self, position: u32, text: &str) {
        let Self { ids, lists, buf } = self;
        for_each_token(text, buf, |token| {
            let id = match ids.get(token) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(lists.len()).expect("fewer than 2^32 distinct tokens");
                    ids.insert(token.into(), id);
                    lists.push(Vec::new());
                    id
                }
            };
            let list = &mut lists[id as usize];
            if list.last() != Some(&position) {
                list.push(position);
            }
        });
    }

    /// The finished dictionary, tokens sorted, for `modules` modules.
    pub(crate) fn finish(self, modules: usize) -> Dictionary {
        let mut tokens: Vec<(Box<str>, u32)> = self.ids.into_iter().collect();
        tokens.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let text_len = tokens.iter().map(|(t, _)| t.len()).sum();
        let postings_len = self.lists.iter().map(Vec::len).sum();
        let mut dict = Dictionary {
            text: String::with_capacity(text_len),
            text_ends: Vec::with_capacity(tokens.len()),
            postings: Vec::with_capacity(postings_len),
            postings_ends: Vec::with_capacity(tokens.len()),
            dense: Vec::new(),
            bitsets: Bitsets::new(modules),
        };
        let mut lists = self.lists;
        for (i, (token, id)) in tokens.into_iter().enumerate() {
            let list = &lists[id as usize];
            if is_dense(list.len(), modules) {
                let set = dict.bitsets.push(list);
                dict.dense.push((i as u32, set));
            }
            dict.text.push_str(&token);
            dict.text_ends
                .push(u32::try_from(dict.text.len()).expect("token text under 4 GiB"));
            dict.postings
                .extend_from_slice(&std::mem::take(&mut lists[id as usize]));
            dict.postings_ends
                .push(u32::try_from(dict.postings.len()).expect("fewer than 2^32 postings"));
        }
        dict
    }
}

#[cfg(test)]
mod tests {
    use super::DictionaryBuilder;

    fn sample() -> super::Dictionary {
        let mut b = DictionaryBuilder::default();
        b.add_text(0, "vpc endpoints end");
        b.add_text(0, "VPC");
        b.add_text(1, "endpoint enda");
        b.add_text(2, "vpc zebra");
        b.finish(3)
    }

    #[test]
    fn tokens_are_sorted_with_unique_postings() {
        let d = sample();
        let tokens: Vec<&str> = (0..d.len()).map(|i| d.token(i)).collect();
        assert_eq!(
            tokens,
            ["end", "enda", "endpoint", "endpoints", "vpc", "zebra"]
        );
        assert_eq!(d.postings(d.find("vpc").unwrap()), [0, 2]);
        assert_eq!(d.find("vp"), None);
        assert_eq!(d.find("zzz"), None);
        // Every token of 3 modules is dense.
        assert_eq!(d.bitset(d.find("vpc").unwrap()), Some(&[0b101u64][..]));
    }

    #[test]
    fn prefix_ranges_are_contiguous_and_capped() {
        let d = sample();
        let names =
            |r: std::ops::Range<usize>| r.map(|i| d.token(i).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            names(d.prefix_range("endp", 256)),
            ["endpoint", "endpoints"]
        );
        assert_eq!(
            names(d.prefix_range("end", 256)),
            ["end", "enda", "endpoint", "endpoints"]
        );
        assert_eq!(names(d.prefix_range("end", 2)), ["end", "enda"]);
        assert!(d.prefix_range("q", 256).is_empty());
        assert!(d.prefix_range("zzz", 256).is_empty());
    }
}
