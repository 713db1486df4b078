//! A 100,000-module index (20,000 in debug builds, to keep `cargo test`
//! quick), generated deterministically, and a few queries' exact answers.

mod support;

use catalogue_index::{CatalogueIndex, ListQuery, SearchQuery, Snapshot};
use support::synthetic;

#[test]
fn large_index_answers_known_queries() {
    let count = if cfg!(debug_assertions) {
        20_000
    } else {
        100_000
    };
    let modules = synthetic::modules(count, 3);
    let want_production = modules
        .iter()
        .filter(|m| m.description.contains("production"))
        .count();
    let want_quokka: Vec<_> = {
        let mut keys: Vec<_> = modules
            .iter()
            .filter(|m| m.description.contains("quokka"))
            .map(|m| m.key.clone())
            .collect();
        keys.sort();
        keys
    };
    let aws_in_team_3 = modules
        .iter()
        .filter(|m| m.key.namespace == "team-0003" && m.key.provider == "aws")
        .count();
    let snapshot = Snapshot {
        generation: 3,
        modules,
        pending: Vec::new(),
    };
    let snapshot = Snapshot::decode(&snapshot.encode()).unwrap();
    let index = CatalogueIndex::build(snapshot);
    assert_eq!(index.len(), count);
    assert_eq!(index.generation(), 3);

    // Deep list page: key order, so the page starts with module number `offset`
    // in key order.
    let page = index.list(&ListQuery {
        offset: count / 2,
        limit: 20,
        ..Default::default()
    });
    assert_eq!(page.items.len(), 20);
    assert_eq!(page.next_offset, Some(count / 2 + 20));
    assert!(page.items.windows(2).all(|w| w[0].key < w[1].key));
    assert_eq!(page.items[0].key, index.modules()[count / 2].key);

    let page = index.list(&ListQuery {
        namespace: Some("team-0003".into()),
        provider: Some("aws".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(page.items.len(), aws_in_team_3);
    assert_eq!(page.next_offset, None);

    // Rare term: exactly the quokka modules.
    let page = index.search(&SearchQuery {
        q: "Quokka".into(),
        limit: 100,
        ..Default::default()
    });
    let got: Vec<_> = page.items.iter().map(|m| m.key.clone()).collect();
    assert_eq!(got, want_quokka);
    assert_eq!(want_quokka.len(), count / 20_000);

    // Common term: half the modules; walk them all with the largest page.
    let mut offset = 0;
    let mut seen = 0;
    loop {
        let page = index.search(&SearchQuery {
            q: "production".into(),
            offset,
            limit: 100,
            ..Default::default()
        });
        seen += page.items.len();
        match page.next_offset {
            Some(n) => offset = n,
            None => break,
        }
    }
    assert_eq!(seen, want_production);
    assert_eq!(seen, count / 2);

    // Prefix search, two terms, provider filter.
    let page = index.search(&SearchQuery {
        q: "vpc endp".into(),
        provider: Some("google".into()),
        limit: 100,
        ..Default::default()
    });
    assert!(!page.items.is_empty());
    assert!(page
        .items
        .iter()
        .all(|m| m.key.name == "vpc-endpoints" && m.key.provider == "google"));
}

#[test]
fn renderings_are_made_once_per_module_and_counted_in_memory() {
    let index = CatalogueIndex::from_modules(synthetic::modules(50, 3));
    let before = index.approx_heap_bytes();
    let calls = std::cell::Cell::new(0);
    let render = |entry: &catalogue_index::ModuleEntry| {
        calls.set(calls.get() + 1);
        entry.key.name.clone().into_bytes().into_boxed_slice()
    };
    let first = index.rendered(7, render).unwrap().to_vec();
    assert_eq!(first, index.at(7).unwrap().key.name.as_bytes());
    let again = index.rendered(7, |_| unreachable!("kept from the first call"));
    assert_eq!(again.unwrap(), first.as_slice());
    assert_eq!(calls.get(), 1);
    assert!(index.rendered(50, render).is_none(), "past the end");
    assert_eq!(calls.get(), 1);
    assert_eq!(index.approx_heap_bytes(), before + first.len());
}
