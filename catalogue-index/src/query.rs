//! Query and answer types: [`ListQuery`], [`SearchQuery`], [`Page`].

use std::ops::{ControlFlow, Range};

use crate::{ModuleEntry, NamespaceScope};

/// `GET /v1/modules[/{namespace}]`: every module, optionally filtered, in key
/// order, one page at a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only modules in this namespace (exact, byte-for-byte match).
    pub namespace: Option<String>,
    /// Only modules for this provider (exact match). Combines with
    /// `namespace` by AND.
    pub provider: Option<String>,
    /// Only modules whose namespace is in this scope (`None`: every
    /// namespace). Combines with the other filters by AND.
    pub scope: Option<NamespaceScope>,
    /// How many matching modules to skip.
    pub offset: usize,
    /// At most this many items. The caller clamps it (the registry: 1..=100);
    /// 0 answers no items (see [`Page::next_offset`]).
    pub limit: usize,
}

/// `GET /v1/modules/search`: the modules matching every term of `q`, with
/// the same filters and paging as [`ListQuery`]. See
/// [`CatalogueIndex::search`](crate::CatalogueIndex::search) for the
/// matching rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// The query text; split into terms like module text.
    pub q: String,
    /// Only modules in this namespace (exact match).
    pub namespace: Option<String>,
    /// Only modules for this provider (exact match).
    pub provider: Option<String>,
    /// Only modules whose namespace is in this scope (`None`: every
    /// namespace).
    pub scope: Option<NamespaceScope>,
    /// How many matching modules to skip.
    pub offset: usize,
    /// At most this many items; 0 answers no items.
    pub limit: usize,
}

/// One page of an answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page<'a> {
    /// The matching modules at positions `offset..offset + limit` of the
    /// full answer, in key order.
    pub items: Vec<&'a ModuleEntry>,
    /// The index positions of `items`, one per item: resolve them again
    /// with [`CatalogueIndex::at`](crate::CatalogueIndex::at) to keep a
    /// page without borrowing the index (e.g. next to an `Arc` of it).
    pub positions: Vec<u32>,
    /// `Some(offset + limit)` exactly when the full answer has more than
    /// `offset + limit` modules, i.e. when another page follows. With
    /// `limit` 0 that is `Some(offset)` whenever a module matches at
    /// `offset` or later, so walking pages with `limit` 0 never ends: clamp
    /// first.
    pub next_offset: Option<usize>,
}

impl<'a> Page<'a> {
    /// The page of a fully known, ordered answer: `all[i]` is at index
    /// position `position(i, &all[i])` of `modules`. O(limit).
    pub(crate) fn of_slice<T>(
        modules: &'a [ModuleEntry],
        all: &[T],
        offset: usize,
        limit: usize,
        mut position: impl FnMut(usize, &T) -> u32,
    ) -> Self {
        let end = offset.saturating_add(limit);
        let start = offset.min(all.len());
        let positions: Vec<u32> = all
            .get(start..end.min(all.len()))
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .map(|(i, t)| position(start + i, t))
            .collect();
        Page {
            items: positions.iter().map(|&p| &modules[p as usize]).collect(),
            positions,
            next_offset: (all.len() > end).then_some(end),
        }
    }
}

/// A run of an ordered answer: a range of index positions, or a slice of a
/// postings list.
#[derive(Debug)]
pub(crate) enum Segment<'b> {
    Positions(Range<usize>),
    List(&'b [u32]),
}

impl Segment<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Positions(r) => r.len(),
            Self::List(l) => l.len(),
        }
    }

    fn at(&self, i: usize) -> u32 {
        match self {
            Self::Positions(r) => (r.start + i) as u32,
            Self::List(l) => l[i],
        }
    }
}

impl<'a> Page<'a> {
    /// The page of an answer that is `segments` one after the other, in
    /// order. O(segments + limit).
    pub(crate) fn of_segments(
        modules: &'a [ModuleEntry],
        segments: &[Segment<'_>],
        offset: usize,
        limit: usize,
    ) -> Self {
        let end = offset.saturating_add(limit);
        let mut positions = Vec::with_capacity(limit.min(128));
        let mut before = 0usize;
        let mut total = 0usize;
        for segment in segments {
            let len = segment.len();
            total += len;
            let from = offset.max(before);
            let to = end.min(before + len);
            for i in from..to {
                positions.push(segment.at(i - before));
            }
            before += len;
        }
        Page {
            items: positions.iter().map(|&p| &modules[p as usize]).collect(),
            positions,
            next_offset: (total > end).then_some(end),
        }
    }
}

/// Builds a [`Page`] from an answer produced in order, one match at a time,
/// and says when to stop: after the first match past the page (which proves
/// a next page exists).
#[derive(Debug)]
pub(crate) struct PageCollector<'a> {
    offset: usize,
    end: usize,
    seen: usize,
    page: Page<'a>,
}

impl<'a> PageCollector<'a> {
    pub(crate) fn new(offset: usize, limit: usize) -> Self {
        Self {
            offset,
            end: offset.saturating_add(limit),
            seen: 0,
            page: Page {
                items: Vec::with_capacity(limit.min(128)),
                positions: Vec::with_capacity(limit.min(128)),
                next_offset: None,
            },
        }
    }

    /// Takes the next match of the answer, `entry` at index `position`.
    pub(crate) fn push(&mut self, position: u32, entry: &'a ModuleEntry) -> ControlFlow<()> {
        if self.seen >= self.end {
            self.page.next_offset = Some(self.end);
            return ControlFlow::Break(());
        }
        if self.seen >= self.offset {
            self.page.items.push(entry);
            self.page.positions.push(position);
        }
        self.seen += 1;
        ControlFlow::Continue(())
    }

    pub(crate) fn finish(self) -> Page<'a> {
        self.page
    }
}
