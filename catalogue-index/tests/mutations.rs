//! Snapshot mutations, `latest`, and a model check of random edit sequences.

use std::collections::BTreeMap;

use catalogue_index::{AddOutcome, ModuleKey, PendingChange, PendingOp, Snapshot, VersionEntry};
use proptest::prelude::*;

fn key(name: &str) -> ModuleKey {
    ModuleKey::new("acme", name, "aws")
}

fn versions(s: &Snapshot, name: &str) -> Vec<String> {
    s.get(&key(name))
        .map(|m| m.versions.iter().map(|v| v.version.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn add_version_keeps_versions_sorted_and_unique() {
    let mut s = Snapshot::new();
    let k = key("vpc");
    assert_eq!(
        s.add_version(&k, VersionEntry::new("1.10.0", "t1"), Some("first".into()))
            .unwrap(),
        AddOutcome::CreatedModule
    );
    for v in [
        "1.2.0",
        "1.0.0-rc.1",
        "1.0.0",
        "0.9.9",
        "2.0.0-beta.2",
        "2.0.0-beta.10",
        "1.0.0+b",
    ] {
        assert_eq!(
            s.add_version(&k, VersionEntry::new(v, "t1"), None).unwrap(),
            AddOutcome::AddedVersion
        );
    }
    assert_eq!(
        versions(&s, "vpc"),
        [
            "0.9.9",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.0+b",
            "1.2.0",
            "1.10.0",
            "2.0.0-beta.2",
            "2.0.0-beta.10"
        ]
    );
    // Idempotent: keeps the earlier published_at; description replaced only when Some.
    assert_eq!(
        s.add_version(&k, VersionEntry::new("1.2.0", "t2"), None)
            .unwrap(),
        AddOutcome::AlreadyPresent
    );
    let m = s.get(&k).unwrap();
    assert_eq!(m.version("1.2.0").unwrap().published_at, "t1");
    assert_eq!(m.description, "first");
    s.add_version(&k, VersionEntry::new("1.2.0", "t3"), Some("second".into()))
        .unwrap();
    assert_eq!(s.get(&k).unwrap().description, "second");
    assert_eq!(s.get(&k).unwrap().versions.len(), 8);
}

#[test]
fn add_version_refuses_non_semver_and_changes_nothing() {
    let mut s = Snapshot::new();
    let err = s
        .add_version(
            &key("vpc"),
            VersionEntry::new("v1.0", "t"),
            Some("x".into()),
        )
        .unwrap_err();
    assert_eq!(err.version, "v1.0");
    assert!(err.to_string().contains("not a semantic version"), "{err}");
    assert_eq!(s, Snapshot::new());
}

#[test]
fn latest_prefers_releases() {
    let mut s = Snapshot::new();
    let k = key("vpc");
    s.add_version(&k, VersionEntry::new("2.0.0-rc.1", "t"), None)
        .unwrap();
    assert_eq!(
        s.get(&k).unwrap().latest().unwrap().version,
        "2.0.0-rc.1",
        "only pre-releases: highest one"
    );
    s.add_version(&k, VersionEntry::new("1.5.0+build-7", "t"), None)
        .unwrap();
    s.add_version(&k, VersionEntry::new("1.4.0", "t"), None)
        .unwrap();
    assert_eq!(
        s.get(&k).unwrap().latest().unwrap().version,
        "1.5.0+build-7",
        "a '-' in build metadata is no pre-release"
    );
}

#[test]
fn removing_the_last_version_removes_the_module() {
    let mut s = Snapshot::new();
    s.add_version(&key("a"), VersionEntry::new("1.0.0", "t"), None)
        .unwrap();
    s.add_version(&key("a"), VersionEntry::new("1.1.0", "t"), None)
        .unwrap();
    s.add_version(&key("b"), VersionEntry::new("1.0.0", "t"), None)
        .unwrap();
    assert!(!s.remove_version(&key("a"), "9.9.9"));
    assert!(!s.remove_version(&key("zzz"), "1.0.0"));
    assert!(s.remove_version(&key("a"), "1.0.0"));
    assert_eq!(versions(&s, "a"), ["1.1.0"]);
    assert!(s.remove_version(&key("a"), "1.1.0"));
    assert!(s.get(&key("a")).is_none());
    assert_eq!(s.modules.len(), 1);
    assert!(!s.remove_version(&key("a"), "1.1.0"));
}

#[test]
fn begin_and_finish_pending_changes() {
    let change = |id: &str, version: &str| PendingChange {
        key: key("vpc"),
        version: version.into(),
        op: PendingOp::Publish,
        started_at: "2026-12-03T20:00:00Z".into(),
        id: id.into(),
    };
    let mut s = Snapshot::new();
    s.begin(change("one", "1.0.0"));
    s.begin(change("two", "1.1.0"));
    s.begin(change("one", "1.0.1")); // retry with the same id: replaced in place
    assert_eq!(s.pending.len(), 2);
    assert_eq!(s.pending[0].version, "1.0.1");
    let back = Snapshot::decode(&s.encode()).unwrap();
    assert_eq!(back.pending, s.pending);
    assert_eq!(s.finish("one").unwrap().version, "1.0.1");
    assert!(s.finish("one").is_none());
    assert_eq!(s.finish("two").unwrap().id, "two");
    assert!(s.pending.is_empty());
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, String, Option<String>),
    Remove(usize, String),
}

fn op() -> impl Strategy<Value = Op> {
    let version = (0u8..3, 0u8..3, prop::option::of(0u8..2)).prop_map(|(a, b, pre)| match pre {
        None => format!("{a}.{b}.0"),
        Some(p) => format!("{a}.{b}.0-rc.{p}"),
    });
    prop_oneof![
        (0usize..6, version.clone(), prop::option::of("[a-z]{0,5}"))
            .prop_map(|(k, v, d)| Op::Add(k, v, d)),
        (0usize..6, version).prop_map(|(k, v)| Op::Remove(k, v)),
    ]
}

proptest! {
    /// Random add/remove sequences agree with a BTreeMap model, keep every
    /// invariant, and round-trip through the stored form.
    #[test]
    fn mutations_match_a_model(ops in prop::collection::vec(op(), 0..60)) {
        let names = ["a", "b", "c-d", "c", "B", "a_b"];
        let mut s = Snapshot::new();
        let mut model: BTreeMap<ModuleKey, (String, BTreeMap<semver::Version, String>)> = BTreeMap::new();
        for (step, op) in ops.into_iter().enumerate() {
            match op {
                Op::Add(k, v, d) => {
                    let k = key(names[k]);
                    s.add_version(&k, VersionEntry::new(v.clone(), step.to_string()), d.clone()).unwrap();
                    let entry = model.entry(k).or_default();
                    if let Some(d) = d { entry.0 = d; }
                    entry.1.entry(semver::Version::parse(&v).unwrap()).or_insert(step.to_string());
                }
                Op::Remove(k, v) => {
                    let k = key(names[k]);
                    let parsed = semver::Version::parse(&v).unwrap();
                    let present = model.get_mut(&k).is_some_and(|e| e.1.remove(&parsed).is_some());
                    if model.get(&k).is_some_and(|e| e.1.is_empty()) { model.remove(&k); }
                    prop_assert_eq!(s.remove_version(&k, &v), present);
                }
            }
        }
        let got: Vec<_> = s.modules.iter().map(|m| (
            m.key.clone(),
            m.description.clone(),
            m.versions.iter().map(|v| (v.version.clone(), v.published_at.clone())).collect::<Vec<_>>(),
        )).collect();
        let want: Vec<_> = model.into_iter().map(|(k, (d, vs))| (
            k, d, vs.into_iter().map(|(v, t)| (v.to_string(), t)).collect::<Vec<_>>(),
        )).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
    }
}
