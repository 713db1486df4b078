//! Builds a 100,000-module × 3-version catalogue index and times it:
//! build, snapshot encode/decode, memory, and each query kind.
//!
//! `cargo run -p catalogue-index --release --example index_bench`
#![allow(missing_docs)]

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::hint::black_box;
use std::time::{Duration, Instant};

use catalogue_index::{
    CatalogueIndex, ListQuery, ModuleKey, NamespaceScope, SearchQuery, Snapshot,
};

const MODULES: usize = 100_000;
const ITERATIONS: usize = 20_000;

/// VmRSS or VmHWM of this process in KiB (Linux), for a rough cross-check.
fn proc_status_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn time<R>(label: &str, mut f: impl FnMut() -> R) {
    for _ in 0..ITERATIONS / 10 {
        black_box(f());
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(ITERATIONS);
    for _ in 0..ITERATIONS {
        let start = Instant::now();
        black_box(f());
        samples.push(start.elapsed());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / ITERATIONS as u32;
    let p99 = samples[ITERATIONS * 99 / 100];
    println!(
        "{label:<48} mean {:>8.2} µs   p99 {:>8.2} µs",
        mean.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
}

fn main() {
    let modules = synthetic::modules(MODULES, 3);
    let snapshot = Snapshot {
        generation: 1,
        modules,
        pending: Vec::new(),
    };

    let start = Instant::now();
    let bytes = snapshot.encode();
    let encode = start.elapsed();
    let start = Instant::now();
    let decoded = Snapshot::decode(&bytes).expect("decodes");
    let decode = start.elapsed();
    drop(snapshot);

    let start = Instant::now();
    let index = CatalogueIndex::build(decoded);
    let build = start.elapsed();
    let encoded_len = bytes.len();
    drop(bytes);
    let rss_after = proc_status_kib("VmRSS:");

    println!("modules                 {}", index.len());
    println!(
        "snapshot encode         {:.1} ms",
        encode.as_secs_f64() * 1e3
    );
    println!("snapshot size           {encoded_len} bytes (gzip JSON)");
    println!(
        "snapshot decode         {:.1} ms (gunzip + parse + checks)",
        decode.as_secs_f64() * 1e3
    );
    println!(
        "index build             {:.1} ms (from the decoded snapshot)",
        build.as_secs_f64() * 1e3
    );
    println!(
        "approx_heap_bytes       {:.1} MiB",
        index.approx_heap_bytes() as f64 / 1048576.0
    );
    println!("index                   {index:?}");
    if let Some(rss) = rss_after {
        println!("RSS after build         {:.1} MiB (whole process, freed memory the allocator kept included)", rss as f64 / 1024.0);
    }
    if let Some(hwm) = proc_status_kib("VmHWM:") {
        println!("peak RSS (whole run)    {:.1} MiB", hwm as f64 / 1024.0);
    }
    println!();

    let list = |offset, namespace: Option<&str>, provider: Option<&str>| ListQuery {
        namespace: namespace.map(str::to_owned),
        provider: provider.map(str::to_owned),
        scope: None,
        offset,
        limit: 20,
    };
    let search = |q: &str, offset, provider: Option<&str>| SearchQuery {
        q: q.to_owned(),
        provider: provider.map(str::to_owned),
        offset,
        limit: 20,
        ..SearchQuery::default()
    };
    let checks = [
        (
            "search common",
            index.search(&search("production", 0, None)).items.len(),
        ),
        (
            "search rare",
            index.search(&search("quokka", 0, None)).items.len(),
        ),
    ];
    println!("(items: {checks:?})");

    let q = list(0, None, None);
    time("list, first page (limit 20)", || index.list(&q));
    let q = list(50_000, None, None);
    time("list, offset 50,000", || index.list(&q));
    let q = list(0, None, Some("aws"));
    time("list, provider=aws, first page", || index.list(&q));
    let q = list(5_000, None, Some("aws"));
    time("list, provider=aws, offset 5,000", || index.list(&q));
    let q = list(20, Some("team-1234"), Some("aws"));
    time("list, namespace+provider", || index.list(&q));
    let q = search("production", 0, None);
    time("search common term (~50%), first page", || index.search(&q));
    let q = search("quokka", 0, None);
    time("search rare term (5 modules)", || index.search(&q));
    let q = search("vpc endpoints", 0, None);
    time("search two terms (vpc endpoints)", || index.search(&q));
    let q = search("production s3", 0, None);
    time("search common + rare-ish (production s3)", || {
        index.search(&q)
    });
    let q = search("production buck", 0, None);
    time("search common + prefix (production buck)", || {
        index.search(&q)
    });
    let q = search("production endp", 0, None);
    time("search, empty intersection of 50k and 2k lists", || {
        index.search(&q)
    });
    let q = search("ser", 0, None);
    time("search short prefix (ser: many tokens)", || {
        index.search(&q)
    });
    let q = search("production", 0, Some("google"));
    time("search common term, provider=google", || index.search(&q));
    let q = search("production", 1_000, None);
    time("search common term, offset 1,000", || index.search(&q));
    let q = search("production", 25_000, None);
    time("search common term, offset 25,000", || index.search(&q));
    let q = search("production terraform", 10_000, None);
    time("search 2 common terms, offset 10,000 (O(offset))", || {
        index.search(&q)
    });
    // A scoped caller: two namespaces and the 100 namespaces team-10xx.
    let scope = NamespaceScope::from_patterns(["team-0007", "team-1999", "team-10*"]).unwrap();
    let q = ListQuery {
        scope: Some(scope.clone()),
        ..list(40, None, None)
    };
    time("list, scope of 3 patterns, offset 40", || index.list(&q));
    let q = SearchQuery {
        scope: Some(scope.clone()),
        ..search("production", 0, None)
    };
    time("search common term, scope of 3 patterns", || {
        index.search(&q)
    });
    let q = SearchQuery {
        scope: Some(scope),
        ..search("production terraform", 0, None)
    };
    time("search 2 common terms, scope of 3 patterns", || {
        index.search(&q)
    });
    let key: ModuleKey = index.modules_named("team-1234", "vpc")[0].key.clone();
    time("get", || index.get(&key));
    time("modules_named", || index.modules_named("team-1234", "vpc"));
}
