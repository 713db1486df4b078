//! Snapshot format: round trip and every refusal of `decode`.

use std::io::Write;

use catalogue_index::{
    ModuleEntry, ModuleKey, PendingChange, PendingOp, Snapshot, SnapshotError, VersionEntry,
};
use flate2::write::GzEncoder;
use flate2::Compression;

fn key(ns: &str, name: &str, provider: &str) -> ModuleKey {
    ModuleKey::new(ns, name, provider)
}

fn sample() -> Snapshot {
    let mut s = Snapshot::new();
    s.generation = 42;
    let t = "2026-12-03T20:00:00Z";
    s.add_version(
        &key("hashicorp", "consul", "aws"),
        VersionEntry::new("0.1.0", t),
        Some("Consul cluster".into()),
    )
    .unwrap();
    s.add_version(
        &key("hashicorp", "consul", "aws"),
        VersionEntry::new("1.0.0-rc.1", t),
        None,
    )
    .unwrap();
    s.add_version(
        &key("acme", "vpc", "google"),
        VersionEntry::new("2.3.4+build.5", t),
        None,
    )
    .unwrap();
    s.begin(PendingChange {
        key: key("acme", "vpc", "google"),
        version: "2.4.0".into(),
        op: PendingOp::Publish,
        started_at: t.into(),
        id: "change-1".into(),
    });
    s
}

fn gzip(json: &str) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(json.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn module_json(versions: &[&str]) -> String {
    let versions: Vec<String> = versions
        .iter()
        .map(|v| format!(r#"{{"version":"{v}","published_at":"2026-01-01T00:00:00Z"}}"#))
        .collect();
    format!(
        r#"{{"key":{{"namespace":"a","name":"b","provider":"c"}},"description":"","versions":[{}]}}"#,
        versions.join(",")
    )
}

fn decode_json(json: &str) -> Result<Snapshot, SnapshotError> {
    Snapshot::decode(&gzip(json))
}

#[test]
fn round_trip_keeps_everything() {
    let s = sample();
    let bytes = s.encode();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip");
    let back = Snapshot::decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.encode(), bytes, "deterministic");
}

#[test]
fn empty_snapshot_round_trips() {
    let s = Snapshot::new();
    assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
}

#[test]
fn documented_json_shape_decodes() {
    let json = r#"{"format":1,"generation":7,
        "modules":[{"key":{"namespace":"acme","name":"vpc","provider":"aws"},
                    "description":"A VPC","versions":[{"version":"1.0.0","published_at":"2026-12-03T20:00:00Z"}]}],
        "pending":[{"key":{"namespace":"acme","name":"vpc","provider":"aws"},"version":"1.1.0",
                    "op":"delete","started_at":"2026-12-03T20:00:01Z","id":"x"}],
        "some_future_field":true}"#;
    let s = decode_json(json).unwrap();
    assert_eq!(s.generation, 7);
    assert_eq!(s.modules[0].description, "A VPC");
    assert_eq!(s.pending[0].op, PendingOp::Delete);
}

#[test]
fn modules_out_of_order_are_sorted() {
    let json = r#"{"format":1,"generation":0,"modules":[
        {"key":{"namespace":"b","name":"x","provider":"aws"},"description":"","versions":[{"version":"1.0.0","published_at":""}]},
        {"key":{"namespace":"a","name":"x","provider":"aws"},"description":"","versions":[{"version":"1.0.0","published_at":""}]}]}"#;
    let s = decode_json(json).unwrap();
    assert_eq!(s.modules[0].key.namespace, "a");
    assert!(s.pending.is_empty(), "pending defaults to empty");
}

/// Every refusal has its own variant and its own message.
#[test]
fn decode_refuses_bad_input_with_distinct_errors() {
    let good = sample().encode();
    let mut cases: Vec<(&str, SnapshotError)> = Vec::new();

    cases.push((
        "garbage",
        Snapshot::decode(b"this is not a snapshot").unwrap_err(),
    ));
    cases.push(("empty", Snapshot::decode(b"").unwrap_err()));
    cases.push((
        "truncated gzip",
        Snapshot::decode(&good[..good.len() / 2]).unwrap_err(),
    ));
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0xff;
    cases.push(("corrupt gzip", Snapshot::decode(&flipped).unwrap_err()));
    cases.push(("not json", decode_json("{not json").unwrap_err()));
    cases.push((
        "no format",
        decode_json(r#"{"generation":1,"modules":[]}"#).unwrap_err(),
    ));
    cases.push((
        "unknown format",
        decode_json(r#"{"format":2,"generation":1,"modules":[],"pending":[]}"#).unwrap_err(),
    ));
    cases.push((
        "unknown format, other shape",
        decode_json(r#"{"format":9,"things":{}}"#).unwrap_err(),
    ));
    let m = module_json(&["1.0.0"]);
    cases.push((
        "duplicate module",
        decode_json(&format!(
            r#"{{"format":1,"generation":1,"modules":[{m},{m}]}}"#
        ))
        .unwrap_err(),
    ));
    let m = module_json(&["1.0.0", "0.9.0"]);
    cases.push((
        "unsorted versions",
        decode_json(&format!(r#"{{"format":1,"generation":1,"modules":[{m}]}}"#)).unwrap_err(),
    ));
    let m = module_json(&["1.0.0", "1.0.0"]);
    cases.push((
        "duplicate version",
        decode_json(&format!(r#"{{"format":1,"generation":1,"modules":[{m}]}}"#)).unwrap_err(),
    ));
    let m = module_json(&["v1"]);
    cases.push((
        "invalid version",
        decode_json(&format!(r#"{{"format":1,"generation":1,"modules":[{m}]}}"#)).unwrap_err(),
    ));
    let m = module_json(&[]);
    cases.push((
        "no versions",
        decode_json(&format!(r#"{{"format":1,"generation":1,"modules":[{m}]}}"#)).unwrap_err(),
    ));
    let p = r#"{"key":{"namespace":"a","name":"b","provider":"c"},"version":"1.0.0","op":"publish","started_at":"","id":"same"}"#;
    cases.push((
        "duplicate pending",
        decode_json(&format!(
            r#"{{"format":1,"generation":1,"modules":[],"pending":[{p},{p}]}}"#
        ))
        .unwrap_err(),
    ));

    let check = |name: &str, e: &SnapshotError| -> bool {
        match name {
            "garbage" | "empty" => matches!(e, SnapshotError::NotGzip),
            "truncated gzip" | "corrupt gzip" => matches!(e, SnapshotError::CorruptGzip { .. }),
            "not json" => matches!(e, SnapshotError::Json { .. }),
            "no format" => matches!(e, SnapshotError::MissingFormat),
            "unknown format" => matches!(
                e,
                SnapshotError::UnknownFormat {
                    found: 2,
                    supported: 1
                }
            ),
            "unknown format, other shape" => {
                matches!(e, SnapshotError::UnknownFormat { found: 9, .. })
            }
            "duplicate module" => matches!(e, SnapshotError::DuplicateModule { .. }),
            "unsorted versions" => matches!(e, SnapshotError::UnsortedVersions { .. }),
            "duplicate version" => matches!(e, SnapshotError::DuplicateVersion { .. }),
            "invalid version" => matches!(e, SnapshotError::InvalidVersion { .. }),
            "no versions" => matches!(e, SnapshotError::NoVersions { .. }),
            "duplicate pending" => matches!(e, SnapshotError::DuplicatePending { .. }),
            _ => false,
        }
    };
    let mut messages = std::collections::HashSet::new();
    for (name, e) in &cases {
        assert!(check(name, e), "{name}: unexpected {e:?}");
        let message = e.to_string();
        assert!(
            message.starts_with("catalogue snapshot"),
            "{name}: {message}"
        );
        messages.insert(message);
    }
    // "garbage" and "empty" are the same refusal; every other message differs.
    assert_eq!(messages.len(), cases.len() - 1, "messages: {messages:#?}");
    let unsorted = cases
        .iter()
        .find(|(n, _)| *n == "unsorted versions")
        .unwrap();
    assert_eq!(
        unsorted.1.to_string(),
        "catalogue snapshot lists the versions of a/b/c out of order: 0.9.0 after 1.0.0"
    );
}

#[test]
fn encode_writes_hand_edited_modules_in_key_order() {
    let mut s = sample();
    s.modules.reverse();
    let back = Snapshot::decode(&s.encode()).unwrap();
    assert_eq!(back, sample());
    let entry: &ModuleEntry = back.get(&key("acme", "vpc", "google")).unwrap();
    assert_eq!(entry.versions[0].version, "2.3.4+build.5");
}

/// A snapshot that expands past the reader's limit is refused, not read
/// into memory; one exactly at the limit is read.
#[test]
fn decode_refuses_a_snapshot_expanding_past_the_limit() {
    let good = sample().encode();
    let json_len = {
        use std::io::Read as _;
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&good[..])
            .read_to_end(&mut json)
            .unwrap();
        json.len() as u64
    };
    assert_eq!(
        Snapshot::decode_within(&good, json_len).unwrap(),
        Snapshot::decode(&good).unwrap()
    );
    let err = Snapshot::decode_within(&good, json_len - 1).unwrap_err();
    assert!(
        matches!(err, SnapshotError::TooLarge { limit } if limit == json_len - 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("rebuild the catalogue"), "{err}");

    // A gzip bomb: 64 MiB of zeros in a few KiB, against a 1 MiB limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![0u8; 64 << 20]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 128 * 1024);
    assert!(matches!(
        Snapshot::decode_within(&bomb, 1 << 20),
        Err(SnapshotError::TooLarge { .. })
    ));
}
