//! [`CatalogueIndex`]: the in-memory, query-ready catalogue.

use std::fmt;
use std::mem::size_of;
use std::ops::Range;
use std::sync::OnceLock;

use crate::bitset::{is_dense, Bitsets};
use crate::dictionary::{Dictionary, DictionaryBuilder};
use crate::join::{intersect, ListCursor, Operand, UnionCursor};
use crate::query::{PageCollector, Segment};
use crate::snapshot::normalize_modules;
use crate::tokens::tokenize;
use crate::{
    ListQuery, ModuleEntry, ModuleKey, NamespaceScope, Page, PendingChange, SearchQuery, Snapshot,
};

/// A prefix term expands to at most this many dictionary tokens: the first
/// ones in byte order. Bounds a search's work whatever the prefix.
pub const PREFIX_EXPANSION_LIMIT: usize = 256;

/// A prefix term must be at least this long (in bytes, which are ASCII) to
/// match as a prefix; shorter last terms match whole tokens only.
pub const MIN_PREFIX_LEN: usize = 3;

/// The catalogue in memory, ready for queries: modules in key order, a
/// postings list per provider and per search token.
///
/// Immutable once built: the registry builds a new one from each snapshot it
/// loads and swaps it in (it is `Send + Sync`; share it behind an `Arc`).
/// Positions are `u32`, so an index holds fewer than 2^32 modules.
pub struct CatalogueIndex {
    modules: Vec<ModuleEntry>,
    generation: u64,
    pending: Vec<PendingChange>,
    /// `(provider, positions, bitset if dense)`, sorted by provider.
    providers: Vec<(String, Vec<u32>, Option<u32>)>,
    provider_bitsets: Bitsets,
    dictionary: Dictionary,
    /// One rendering per module, made on first use ([`CatalogueIndex::rendered`]).
    renderings: Box<[OnceLock<Box<[u8]>>]>,
}

impl fmt::Debug for CatalogueIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogueIndex")
            .field("generation", &self.generation)
            .field("modules", &self.modules.len())
            .field("providers", &self.providers.len())
            .field("tokens", &self.dictionary.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Default for CatalogueIndex {
    fn default() -> Self {
        Self::from_modules(Vec::new())
    }
}

impl CatalogueIndex {
    /// Builds the index from a snapshot, keeping its generation and pending
    /// changes. O(total text) plus sorting the distinct tokens; 100,000
    /// modules take well under a second in release (see the README).
    ///
    /// Trusts the snapshot's invariants except the module order: modules out
    /// of key order are sorted, and of duplicate keys the first is kept (a
    /// decoded snapshot has neither problem).
    ///
    /// # Panics
    /// With 2^32 modules or more.
    pub fn build(snapshot: Snapshot) -> Self {
        let mut index = Self::from_modules(snapshot.modules);
        index.generation = snapshot.generation;
        index.pending = snapshot.pending;
        index
    }

    /// Builds the index from modules alone (generation 0, nothing pending);
    /// otherwise as [`build`](Self::build).
    ///
    /// # Panics
    /// With 2^32 modules or more.
    pub fn from_modules(mut modules: Vec<ModuleEntry>) -> Self {
        normalize_modules(&mut modules);
        assert!(
            u32::try_from(modules.len()).is_ok_and(|n| n < u32::MAX),
            "a catalogue index holds fewer than 2^32 modules"
        );
        let mut dictionary = DictionaryBuilder::default();
        let mut providers: Vec<(String, Vec<u32>, Option<u32>)> = Vec::new();
        for (position, module) in modules.iter().enumerate() {
            let position = position as u32;
            let key = &module.key;
            for text in [
                &key.namespace,
                &key.name,
                &key.provider,
                &module.description,
            ] {
                dictionary.add_text(position, text);
            }
            // Few distinct providers, and consecutive modules often share one.
            match providers
                .iter_mut()
                .rev()
                .find(|(p, _, _)| *p == key.provider)
            {
                Some((_, list, _)) => list.push(position),
                None => providers.push((key.provider.clone(), vec![position], None)),
            }
        }
        providers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut provider_bitsets = Bitsets::new(modules.len());
        for (_, list, bitset) in &mut providers {
            list.shrink_to_fit();
            if is_dense(list.len(), modules.len()) {
                *bitset = Some(provider_bitsets.push(list));
            }
        }
        let modules_len = modules.len();
        Self {
            modules,
            generation: 0,
            pending: Vec::new(),
            providers,
            provider_bitsets,
            dictionary: dictionary.finish(modules_len),
            renderings: (0..modules_len).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The snapshot's generation (0 for [`from_modules`](Self::from_modules)).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of modules.
    pub fn len(&self) -> usize {
        self.modules.len()
    }

    /// Whether there are no modules.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Every module, in key order.
    pub fn modules(&self) -> &[ModuleEntry] {
        &self.modules
    }

    /// The snapshot's pending changes, oldest first.
    pub fn pending(&self) -> &[PendingChange] {
        &self.pending
    }

    /// The module at index position `position` (as [`Page::positions`]
    /// gives them), or `None` past the end. O(1).
    pub fn at(&self, position: u32) -> Option<&ModuleEntry> {
        self.modules.get(position as usize)
    }

    /// The rendering of the module at `position` (e.g. its JSON summary in a
    /// list), made by `render` on the first call for that position and kept
    /// for the life of this index, which never changes, so neither does the
    /// rendering. `None` past the end.
    ///
    /// One rendering per module: every caller must pass the same `render`
    /// (the first one's answer is kept). Memory: the renderings of the
    /// modules asked for since the index was built, plus one empty slot
    /// (24 bytes) per module.
    pub fn rendered(
        &self,
        position: u32,
        render: impl FnOnce(&ModuleEntry) -> Box<[u8]>,
    ) -> Option<&[u8]> {
        let entry = self.modules.get(position as usize)?;
        let slot = self.renderings.get(position as usize)?;
        Some(slot.get_or_init(|| render(entry)))
    }

    /// The module with this key. O(log modules).
    pub fn get(&self, key: &ModuleKey) -> Option<&ModuleEntry> {
        self.modules
            .binary_search_by(|m| m.key.cmp(key))
            .ok()
            .map(|i| &self.modules[i])
    }

    /// Every provider of `namespace/name`, in provider order (for
    /// `GET /v1/modules/{namespace}/{name}`). O(log modules + answer).
    pub fn modules_named(&self, namespace: &str, name: &str) -> Vec<&ModuleEntry> {
        let start = self.modules.partition_point(|m| {
            (m.key.namespace.as_str(), m.key.name.as_str()) < (namespace, name)
        });
        self.modules[start..]
            .iter()
            .take_while(|m| m.key.namespace == namespace && m.key.name == name)
            .collect()
    }

    /// The positions of `namespace`'s modules: contiguous, as modules are in
    /// key order. O(log modules).
    fn namespace_range(&self, namespace: &str) -> Range<usize> {
        let start = self
            .modules
            .partition_point(|m| m.key.namespace.as_str() < namespace);
        let end = start
            + self.modules[start..].partition_point(|m| m.key.namespace.as_str() <= namespace);
        start..end
    }

    /// The positions of the modules in `scope` within `within`: sorted,
    /// disjoint ranges (a namespace and a prefix are each one contiguous
    /// run of positions). O(patterns x log modules).
    fn scope_ranges(&self, scope: &NamespaceScope, within: Range<usize>) -> Vec<Range<usize>> {
        let mut ranges: Vec<Range<usize>> = scope
            .exact()
            .iter()
            .map(|ns| self.namespace_range(ns))
            .chain(scope.prefixes().iter().map(|p| self.prefix_range(p)))
            .map(|r| r.start.max(within.start)..r.end.min(within.end))
            .filter(|r| !r.is_empty())
            .collect();
        ranges.sort_unstable_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }

    /// The positions of the modules whose namespace starts with `prefix`.
    fn prefix_range(&self, prefix: &str) -> Range<usize> {
        let start = self
            .modules
            .partition_point(|m| m.key.namespace.as_str() < prefix);
        let end =
            start + self.modules[start..].partition_point(|m| m.key.namespace.starts_with(prefix));
        start..end
    }

    /// `provider`'s entry in `providers`, or `None` for an unknown provider.
    fn provider(&self, provider: &str) -> Option<usize> {
        self.providers
            .binary_search_by(|(p, _, _)| p.as_str().cmp(provider))
            .ok()
    }

    /// The positions of `provider`'s modules within `range`, ascending, or
    /// `None` for an unknown provider. O(log modules).
    fn provider_positions(&self, provider: &str, range: Range<usize>) -> Option<&[u32]> {
        let list = &self.providers[self.provider(provider)?].1;
        let start = list.partition_point(|&p| (p as usize) < range.start);
        let end = list.partition_point(|&p| (p as usize) < range.end);
        Some(&list[start..end])
    }

    /// One page of the modules matching the filters, in key order.
    ///
    /// O(log modules + limit) for every filter combination and any offset:
    /// a namespace is a contiguous range of positions, a provider a
    /// precomputed postings list (cut to the namespace's range when both are
    /// given), so the page is a slice.
    pub fn list(&self, query: &ListQuery) -> Page<'_> {
        let range = match &query.namespace {
            Some(ns) => self.namespace_range(ns),
            None => 0..self.modules.len(),
        };
        if let Some(scope) = &query.scope {
            let ranges = self.scope_ranges(scope, range);
            let segments: Vec<Segment<'_>> = match &query.provider {
                None => ranges.into_iter().map(Segment::Positions).collect(),
                Some(provider) => ranges
                    .into_iter()
                    .filter_map(|r| self.provider_positions(provider, r))
                    .map(Segment::List)
                    .collect(),
            };
            return Page::of_segments(&self.modules, &segments, query.offset, query.limit);
        }
        match &query.provider {
            None => Page::of_slice(
                &self.modules,
                &self.modules[range.clone()],
                query.offset,
                query.limit,
                |i, _| (range.start + i) as u32,
            ),
            Some(provider) => match self.provider_positions(provider, range) {
                None => Page::default(),
                Some(positions) => Page::of_slice(
                    &self.modules,
                    positions,
                    query.offset,
                    query.limit,
                    |_, &p| p,
                ),
            },
        }
    }

    /// One page of the modules matching `q` and the filters, in key order
    /// (no relevance ranking: the order is stable, so pages never overlap).
    ///
    /// # Matching
    /// `q` is split into terms by [`tokenize`](crate::tokenize) (ASCII
    /// letters and digits, lowercased). A module's tokens are those of its
    /// namespace, name, provider and description, split the same way. A
    /// module matches when every term is one of its tokens — except the last
    /// term when it has at least [`MIN_PREFIX_LEN`] characters, which
    /// matches any token it is a prefix of (search as you type: `endp` finds
    /// `endpoints`). A prefix expands to at most [`PREFIX_EXPANSION_LIMIT`]
    /// tokens, the first in byte order; modules reachable only through later
    /// tokens are not found. A `q` with no terms matches nothing.
    ///
    /// # Cost
    /// Postings lists are intersected by a leapfrog join driven by the
    /// shortest, galloping through the others, and the join stops at the
    /// first match past the page: about O(terms × (offset + limit) × log)
    /// when the terms are common, less when one is rare, plus O(expansion)
    /// for a prefix term. A query that reduces to one postings list (one
    /// term, no provider filter, or a prefix that expands to one token)
    /// answers any page in O(log modules + limit); other deep pages cost
    /// O(offset).
    pub fn search(&self, query: &SearchQuery) -> Page<'_> {
        let terms = tokenize(&query.q);
        let Some((last, init)) = terms.split_last() else {
            return Page::default();
        };
        let prefix = (last.len() >= MIN_PREFIX_LEN).then_some(last.as_str());
        let mut exact: Vec<&str> = init.iter().map(String::as_str).collect();
        if prefix.is_none() {
            exact.push(last);
        }
        exact.sort_unstable();
        exact.dedup();

        let range = match &query.namespace {
            Some(ns) => self.namespace_range(ns),
            None => 0..self.modules.len(),
        };
        // The runs of positions to answer from: the scope's, else the range.
        let runs = match &query.scope {
            Some(scope) => self.scope_ranges(scope, range.clone()),
            None => vec![range.clone()],
        };
        if runs.iter().all(Range::is_empty) {
            return Page::default();
        }
        let mut operands = Vec::with_capacity(exact.len() + 2);
        let mut sole_list: Option<&[u32]> = None;
        for term in &exact {
            let Some(i) = self.dictionary.find(term) else {
                return Page::default();
            };
            let postings = self.dictionary.postings(i);
            sole_list = Some(postings);
            operands.push(match self.dictionary.bitset(i) {
                Some(set) => Operand::Bits(set, postings.len()),
                None => Operand::List(ListCursor::new(postings)),
            });
        }
        // An exact term that starts with the prefix already implies it.
        if let Some(prefix) = prefix.filter(|p| !exact.iter().any(|t| t.starts_with(p))) {
            let tokens = self.dictionary.prefix_range(prefix, PREFIX_EXPANSION_LIMIT);
            match tokens.len() {
                0 => return Page::default(),
                1 => {
                    let postings = self.dictionary.postings(tokens.start);
                    sole_list = Some(postings);
                    operands.push(Operand::List(ListCursor::new(postings)));
                }
                _ => operands.push(Operand::Union(UnionCursor::new(
                    tokens.map(|i| self.dictionary.postings(i)),
                ))),
            }
        }
        if let Some(provider) = &query.provider {
            let Some(positions) = self.provider_positions(provider, range.clone()) else {
                return Page::default();
            };
            sole_list = Some(positions);
            let bitset = self.providers[self.provider(provider).expect("known")].2;
            operands.push(match bitset {
                Some(set) => Operand::Bits(self.provider_bitsets.get(set), positions.len()),
                None => Operand::List(ListCursor::new(positions)),
            });
        }

        // One whole postings list: the answer is slices of it, any offset.
        if let ([Operand::List(_) | Operand::Bits(..)], Some(list)) =
            (operands.as_slice(), sole_list)
        {
            let segments: Vec<Segment<'_>> = runs
                .iter()
                .map(|r| {
                    let start = list.partition_point(|&p| (p as usize) < r.start);
                    let end = list.partition_point(|&p| (p as usize) < r.end);
                    Segment::List(&list[start..end])
                })
                .collect();
            return Page::of_segments(&self.modules, &segments, query.offset, query.limit);
        }
        let mut page = PageCollector::new(query.offset, query.limit);
        // Runs ascend and cursors only move forward: one join per run.
        for run in &runs {
            let mut full = false;
            intersect(&mut operands, run.start as u32, run.end as u32, |p| {
                let flow = page.push(p, &self.modules[p as usize]);
                full = flow.is_break();
                flow
            });
            if full {
                break;
            }
        }
        page.finish()
    }

    /// An estimate of the heap memory the index holds, in bytes: the
    /// capacities of every string and vector (module entries, versions,
    /// pending changes, provider lists, the token dictionary and its
    /// postings). Excludes allocator overhead (typically 8–16 bytes per
    /// allocation; an entry with three versions makes ten allocations) and
    /// the `CatalogueIndex` struct itself.
    pub fn approx_heap_bytes(&self) -> usize {
        let modules: usize = self.modules.capacity() * size_of::<ModuleEntry>()
            + self.modules.iter().map(entry_heap_bytes).sum::<usize>();
        let pending: usize = self.pending.capacity() * size_of::<PendingChange>()
            + self
                .pending
                .iter()
                .map(|p| {
                    key_heap_bytes(&p.key)
                        + p.version.capacity()
                        + p.started_at.capacity()
                        + p.id.capacity()
                })
                .sum::<usize>();
        let providers: usize = self.providers.capacity()
            * size_of::<(String, Vec<u32>, Option<u32>)>()
            + self
                .providers
                .iter()
                .map(|(p, l, _)| p.capacity() + l.capacity() * size_of::<u32>())
                .sum::<usize>()
            + self.provider_bitsets.heap_bytes();
        let renderings: usize = self.renderings.len() * size_of::<OnceLock<Box<[u8]>>>()
            + self
                .renderings
                .iter()
                .filter_map(OnceLock::get)
                .map(|r| r.len())
                .sum::<usize>();
        modules + pending + providers + self.dictionary.heap_bytes() + renderings
    }
}

fn key_heap_bytes(key: &ModuleKey) -> usize {
    key.namespace.capacity() + key.name.capacity() + key.provider.capacity()
}

fn entry_heap_bytes(entry: &ModuleEntry) -> usize {
    key_heap_bytes(&entry.key)
        + entry.description.capacity()
        + entry.versions.capacity() * size_of::<crate::VersionEntry>()
        + entry
            .versions
            .iter()
            .map(|v| v.version.capacity() + v.published_at.capacity())
            .sum::<usize>()
}
