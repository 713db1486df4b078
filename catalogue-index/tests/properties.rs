//! Property tests: list and search against naive scans over every module.

use std::collections::BTreeMap;

use catalogue_index::{
    CatalogueIndex, ListQuery, ModuleEntry, ModuleKey, NamespaceScope, Page, SearchQuery, Snapshot,
    VersionEntry,
};
use proptest::prelude::*;

const NAMESPACES: [&str; 5] = ["acme", "a", "hashicorp", "team-1", "Acme"];
const NAMES: [&str; 7] = [
    "vpc",
    "vpc-endpoints",
    "aws-vpc",
    "s3_bucket",
    "x1",
    "endpoint",
    "ab",
];
const PROVIDERS: [&str; 4] = ["aws", "azurerm", "google", "ab"];
const WORDS: [&str; 12] = [
    "vpc",
    "endpoints",
    "endpoint",
    "end",
    "Bucket",
    "S3",
    "private",
    "ÉTÉ",
    "a1",
    "aws",
    "x",
    "Team",
];
const SEPARATORS: [&str; 6] = [" ", "-", "_", ", ", "é", "  "];
/// Query words: whole tokens, prefixes (some shorter than 3), unknown words.
const QUERY_WORDS: [&str; 16] = [
    "vpc",
    "endpoints",
    "end",
    "endp",
    "buc",
    "bucket",
    "pri",
    "vp",
    "en",
    "s3",
    "aws",
    "hashi",
    "acme",
    "team",
    "zzz",
    "a",
];

fn text(words: Vec<(usize, usize)>, pool: &'static [&'static str]) -> String {
    let mut s = String::new();
    for (w, sep) in words {
        if !s.is_empty() {
            s.push_str(SEPARATORS[sep]);
        }
        s.push_str(pool[w]);
    }
    s
}

fn modules() -> impl Strategy<Value = Vec<ModuleEntry>> {
    let key = (0..NAMESPACES.len(), 0..NAMES.len(), 0..PROVIDERS.len())
        .prop_map(|(a, b, c)| ModuleKey::new(NAMESPACES[a], NAMES[b], PROVIDERS[c]));
    let description = prop::collection::vec((0..WORDS.len(), 0..SEPARATORS.len()), 0..6)
        .prop_map(|w| text(w, &WORDS));
    prop::collection::btree_map(key, description, 0..60).prop_map(
        |m: BTreeMap<ModuleKey, String>| {
            m.into_iter()
                .map(|(key, description)| ModuleEntry {
                    key,
                    description,
                    versions: vec![VersionEntry::new("1.0.0", "2026-12-03T20:00:00Z")],
                })
                .collect()
        },
    )
}

/// Built through the snapshot's mutations and stored form, in scrambled order.
fn index_of(modules: &[ModuleEntry]) -> CatalogueIndex {
    let mut s = Snapshot::new();
    for m in modules.iter().rev() {
        s.add_version(&m.key, m.versions[0].clone(), Some(m.description.clone()))
            .unwrap();
    }
    CatalogueIndex::build(Snapshot::decode(&s.encode()).unwrap())
}

fn filter() -> impl Strategy<Value = (Option<String>, Option<String>)> {
    (
        prop::option::of(prop_oneof![
            (0..NAMESPACES.len()).prop_map(|i| NAMESPACES[i].to_owned()),
            Just("nope".to_owned())
        ]),
        prop::option::of(prop_oneof![
            (0..PROVIDERS.len()).prop_map(|i| PROVIDERS[i].to_owned()),
            Just("nope".to_owned())
        ]),
    )
}

/// Scope patterns: namespaces, prefixes that overlap them and each other
/// (`a*` covers `acme` and `a`), a prefix of nothing, everything (`*`), and
/// none at all (the empty scope).
const SCOPE_PATTERNS: [&str; 8] = [
    "acme",
    "a*",
    "ac*",
    "team-*",
    "Acme",
    "zz*",
    "*",
    "hashicorp",
];

fn scope() -> impl Strategy<Value = Option<NamespaceScope>> {
    prop::option::of(
        prop::collection::vec(0..SCOPE_PATTERNS.len(), 0..4).prop_map(|picks| {
            NamespaceScope::from_patterns(picks.into_iter().map(|i| SCOPE_PATTERNS[i])).unwrap()
        }),
    )
}

fn passes(
    m: &ModuleEntry,
    namespace: &Option<String>,
    provider: &Option<String>,
    scope: &Option<NamespaceScope>,
) -> bool {
    namespace.as_ref().is_none_or(|n| *n == m.key.namespace)
        && provider.as_ref().is_none_or(|p| *p == m.key.provider)
        && scope.as_ref().is_none_or(|s| s.allows(&m.key.namespace))
}

/// The naive token rule: ASCII alphanumeric runs, lowercased, of every field,
/// plus the whole lowercased namespace, name and provider.
fn naive_tokens(m: &ModuleEntry) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut tokens = Vec::new();
    for field in [
        &m.key.namespace,
        &m.key.name,
        &m.key.provider,
        &m.description,
    ] {
        tokens.extend(split(field));
    }
    for field in [&m.key.namespace, &m.key.name, &m.key.provider] {
        tokens.push(field.to_ascii_lowercase());
    }
    tokens
}

fn naive_matches(m: &ModuleEntry, q: &str) -> bool {
    let terms: Vec<String> = q
        .to_ascii_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    if terms.is_empty() {
        return false;
    }
    let tokens = naive_tokens(m);
    terms.iter().enumerate().all(|(i, term)| {
        let prefix = i == terms.len() - 1 && term.len() >= 3;
        tokens.iter().any(|t| {
            if prefix {
                t.starts_with(term.as_str())
            } else {
                t == term
            }
        })
    })
}

/// Walks every page from offset 0, checking each page's shape and that its
/// positions resolve to its items in `index`.
fn walk<'a>(
    index: &CatalogueIndex,
    limit: usize,
    mut page_at: impl FnMut(usize) -> Page<'a>,
) -> Result<Vec<ModuleKey>, TestCaseError> {
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = page_at(offset);
        prop_assert!(page.items.len() <= limit);
        let resolved: Vec<_> = page.positions.iter().map(|&p| index.at(p)).collect();
        let items: Vec<_> = page.items.iter().map(|&m| Some(m)).collect();
        prop_assert_eq!(resolved, items);
        seen.extend(page.items.iter().map(|m| m.key.clone()));
        match page.next_offset {
            Some(next) => {
                prop_assert_eq!(next, offset + limit);
                prop_assert_eq!(page.items.len(), limit, "only the last page is short");
                offset = next;
            }
            None => return Ok(seen),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn list_pages_visit_every_match_once_in_key_order(
        modules in modules(),
        (namespace, provider) in filter(),
        scope in scope(),
        limit in 1usize..7,
        offset in 0usize..70,
    ) {
        let index = index_of(&modules);
        prop_assert_eq!(index.len(), modules.len());
        let want: Vec<ModuleKey> = modules.iter().filter(|m| passes(m, &namespace, &provider, &scope)).map(|m| m.key.clone()).collect();
        let query = |offset| ListQuery { namespace: namespace.clone(), provider: provider.clone(), scope: scope.clone(), offset, limit };
        let got = walk(&index, limit, |offset| index.list(&query(offset)))?;
        prop_assert_eq!(&got, &want);
        // Any single page is the naive slice.
        let page = index.list(&query(offset));
        let slice: Vec<ModuleKey> = want.iter().skip(offset).take(limit).cloned().collect();
        prop_assert_eq!(page.items.iter().map(|m| m.key.clone()).collect::<Vec<_>>(), slice);
        prop_assert_eq!(page.next_offset.is_some(), want.len() > offset + limit);
        // limit 0: no items; next_offset says whether anything is at offset or later.
        let zero = index.list(&query(offset).clone_with_limit(0));
        prop_assert!(zero.items.is_empty());
        prop_assert_eq!(zero.next_offset, (want.len() > offset).then_some(offset));
    }

    #[test]
    fn search_equals_the_naive_rule(
        modules in modules(),
        words in prop::collection::vec((0..QUERY_WORDS.len(), 0..SEPARATORS.len(), any::<bool>()), 0..4),
        trailing in prop_oneof![Just(""), Just(" "), Just("-")],
        (namespace, provider) in filter(),
        scope in scope(),
        limit in 1usize..7,
        offset in 0usize..40,
    ) {
        let mut q = String::new();
        for (w, sep, upper) in words {
            if !q.is_empty() { q.push_str(SEPARATORS[sep]); }
            let w = QUERY_WORDS[w];
            q.push_str(&if upper { w.to_ascii_uppercase() } else { w.to_owned() });
        }
        q.push_str(trailing);
        let index = index_of(&modules);
        let want: Vec<ModuleKey> = modules
            .iter()
            .filter(|m| passes(m, &namespace, &provider, &scope) && naive_matches(m, &q))
            .map(|m| m.key.clone())
            .collect();
        let query = |offset| SearchQuery { q: q.clone(), namespace: namespace.clone(), provider: provider.clone(), scope: scope.clone(), offset, limit };
        let got = walk(&index, limit, |offset| index.search(&query(offset)))?;
        prop_assert_eq!(&got, &want, "q = {:?}", q);
        // Any single page is the naive slice.
        let page = index.search(&query(offset));
        let slice: Vec<ModuleKey> = want.iter().skip(offset).take(limit).cloned().collect();
        prop_assert_eq!(page.items.iter().map(|m| m.key.clone()).collect::<Vec<_>>(), slice);
        prop_assert_eq!(page.next_offset.is_some(), want.len() > offset + limit);
    }
}

trait WithLimit {
    fn clone_with_limit(&self, limit: usize) -> Self;
}

impl WithLimit for ListQuery {
    fn clone_with_limit(&self, limit: usize) -> Self {
        ListQuery {
            limit,
            ..self.clone()
        }
    }
}

#[test]
fn get_and_modules_named() {
    let modules: Vec<ModuleEntry> = ["aws", "google", "azurerm"]
        .iter()
        .flat_map(|p| {
            ["vpc", "vpc-x"].map(|n| ModuleEntry {
                key: ModuleKey::new("acme", n, *p),
                description: String::new(),
                versions: vec![VersionEntry::new("1.0.0", "t")],
            })
        })
        .collect();
    let index = CatalogueIndex::from_modules(modules);
    let named: Vec<&str> = index
        .modules_named("acme", "vpc")
        .iter()
        .map(|m| m.key.provider.as_str())
        .collect();
    assert_eq!(named, ["aws", "azurerm", "google"]);
    assert!(index.modules_named("acme", "vp").is_empty());
    assert!(index.modules_named("acm", "vpc").is_empty());
    assert!(index
        .get(&ModuleKey::new("acme", "vpc-x", "google"))
        .is_some());
    assert!(index.get(&ModuleKey::new("acme", "vpc-x", "aw")).is_none());
}

#[test]
fn empty_query_and_empty_index() {
    let index = CatalogueIndex::default();
    assert!(index.is_empty());
    assert_eq!(
        index.list(&ListQuery {
            limit: 10,
            ..Default::default()
        }),
        Page::default()
    );
    let full = CatalogueIndex::from_modules(vec![ModuleEntry {
        key: ModuleKey::new("a", "b", "c"),
        description: "words".into(),
        versions: vec![VersionEntry::new("1.0.0", "t")],
    }]);
    for q in ["", "  ", "-_-", "ÉÉ"] {
        let page = full.search(&SearchQuery {
            q: q.into(),
            limit: 10,
            ..Default::default()
        });
        assert_eq!(page, Page::default(), "q = {q:?}");
    }
}

/// A prefix expands to the first `PREFIX_EXPANSION_LIMIT` tokens in byte
/// order; modules reachable only through later tokens are not found.
#[test]
fn prefix_expansion_is_capped() {
    let modules: Vec<ModuleEntry> = (0..300)
        .map(|i| ModuleEntry {
            key: ModuleKey::new("acme", format!("m{i:03}"), "aws"),
            description: format!("capword{i:03}"),
            versions: vec![VersionEntry::new("1.0.0", "t")],
        })
        .collect();
    let index = CatalogueIndex::from_modules(modules);
    let mut offset = 0;
    let mut found = Vec::new();
    loop {
        let page = index.search(&SearchQuery {
            q: "capw".into(),
            offset,
            limit: 100,
            ..Default::default()
        });
        found.extend(page.items.iter().map(|m| m.description.clone()));
        match page.next_offset {
            Some(n) => offset = n,
            None => break,
        }
    }
    assert_eq!(found.len(), catalogue_index::PREFIX_EXPANSION_LIMIT);
    assert_eq!(found.last().unwrap(), "capword255");
    // The exact token is still found however far the prefix reaches.
    let page = index.search(&SearchQuery {
        q: "capword299".into(),
        limit: 5,
        ..Default::default()
    });
    assert_eq!(page.items.len(), 1);
}

#[test]
fn index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CatalogueIndex>();
}
