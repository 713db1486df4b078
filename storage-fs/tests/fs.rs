//! File-system specific behaviour of `FsStorage`, `FsTokenStore` and
//! `FsPinStore`: several instances over one directory, crash left-overs,
//! hand-placed versions, the on-disk layout the README documents, what token
//! files contain, and which pin files are listed.
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use registry_core::{
    Archive, ArchiveAccess, ArchiveFormat, ModuleAddress, NewToken, PinRecord, PinStore,
    Sha256Digest, Storage, StorageError, Tier, TokenHash, TokenRecord, TokenStore, Version,
};
use storage_fs::{FsPinStore, FsStorage, FsTokenStore};

fn module(ns: &str, name: &str, system: &str) -> ModuleAddress {
    ModuleAddress::new(ns, name, system).unwrap()
}

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

fn archive(format: ArchiveFormat, seed: u8, len: usize) -> Archive {
    let bytes: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    Archive::new(format, Bytes::from(bytes))
}

fn record(name: &str, token: &NewToken) -> TokenRecord {
    TokenRecord {
        name: name.to_owned(),
        tier: Tier::Uploader,
        hash: token.hash(),
        created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        expires_at: None,
        namespaces: None,
        created_by: None,
    }
}

fn pin(m: &ModuleAddress, ver: &str, source: &str) -> PinRecord {
    PinRecord::new(
        m.clone(),
        v(ver),
        "registry.terraform.io",
        source,
        Some(format!("v{ver}")),
        Sha256Digest::of(source.as_bytes()),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    )
}

/// Every file and directory under `dir`, as sorted relative paths with `/`.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if path.is_dir() {
                out.insert(format!("{rel}/"));
                walk(base, &path, out);
            } else {
                out.insert(rel);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn module_dir(root: &Path, ns: &str, name: &str, system: &str) -> PathBuf {
    root.join("modules").join(ns).join(name).join(system)
}

fn assert_other_naming(e: StorageError, needle: &str) {
    assert!(
        matches!(e, StorageError::Other { backend: "fs", .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
}

fn set_age(path: &Path, age: Duration) {
    let f = fs::File::open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_one_directory_race_and_one_publish_wins() {
    let dir = tempfile::tempdir().unwrap();
    let instances: [Arc<dyn Storage>; 2] = [
        Arc::new(FsStorage::open(dir.path()).unwrap()),
        Arc::new(FsStorage::open(dir.path()).unwrap()),
    ];
    let (m, ver) = (module("acme", "race", "aws"), v("1.0.0"));
    let tasks: Vec<_> = (0..16u8)
        .map(|i| {
            let (s, m, ver) = (
                instances[usize::from(i % 2)].clone(),
                m.clone(),
                ver.clone(),
            );
            tokio::spawn(async move {
                let a = archive(ArchiveFormat::TarGz, i, 100_000 + usize::from(i));
                (s.publish(&m, &ver, &a).await, a)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Ok(()), a) => winners.push(a),
            (Err(StorageError::AlreadyExists), _) => {}
            (Err(e), _) => panic!("a losing publish must be AlreadyExists, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of 16 racing publishes wins");
    for s in &instances {
        assert_eq!(s.read_archive(&m, &ver).await.unwrap(), winners[0]);
        assert_eq!(
            s.list_versions(&m).await.unwrap(),
            std::slice::from_ref(&ver)
        );
    }
    // The losers' temporary directories are gone.
    let md = module_dir(dir.path(), "acme", "race", "aws");
    let names: Vec<_> = fs::read_dir(&md)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["1.0.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_token_store_instances_race_and_one_create_wins() {
    let dir = tempfile::tempdir().unwrap();
    let instances: [Arc<dyn TokenStore>; 2] = [
        Arc::new(FsTokenStore::open(dir.path()).unwrap()),
        Arc::new(FsTokenStore::open(dir.path()).unwrap()),
    ];
    let tasks: Vec<_> = (0..16usize)
        .map(|i| {
            let s = instances[i % 2].clone();
            tokio::spawn(async move {
                let token = NewToken::generate();
                let rec = record("race", &token);
                (s.create(&rec).await, token, rec)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (Ok(()), token, rec) => winners.push((token, rec)),
            (Err(StorageError::AlreadyExists), _, _) => {}
            (Err(e), _, _) => panic!("a losing create must be AlreadyExists, got {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let (token, rec) = &winners[0];
    for s in &instances {
        assert_eq!(
            s.find_by_hash(&token.hash()).await.unwrap().as_ref(),
            Some(rec)
        );
        assert_eq!(s.list().await.unwrap(), std::slice::from_ref(rec));
    }
    // Only the winner's files remain: no temporary names, no losers' index entries.
    let tokens = dir.path().join("tokens");
    assert_eq!(
        tree(&tokens),
        set(&[
            "by-hash/",
            &format!("by-hash/{}", token.hash().to_hex()),
            "by-name/",
            "by-name/race.json"
        ])
    );
}

#[tokio::test]
async fn leftovers_of_an_interrupted_publish_or_delete_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
    let md = module_dir(dir.path(), "acme", "vpc", "aws");
    // A publish that crashed before its rename, and a delete that crashed before
    // removing its trash: both look like complete versions inside.
    for leftover in [".tmp-xyz", ".trash-abc"] {
        fs::create_dir_all(md.join(leftover)).unwrap();
        fs::write(md.join(leftover).join("vpc-aws-1.0.0.tar.gz"), b"partial").unwrap();
        fs::write(
            md.join(leftover).join("archive.json"),
            r#"{"format":"tar.gz","sha256":"00","size":7}"#,
        )
        .unwrap();
    }
    assert!(s.list_versions(&m).await.unwrap().is_empty());
    assert!(matches!(
        s.read_archive(&m, &ver).await,
        Err(StorageError::NotFound)
    ));

    let a = archive(ArchiveFormat::TarGz, 1, 500);
    s.publish(&m, &ver, &a).await.unwrap();
    assert_eq!(
        s.list_versions(&m).await.unwrap(),
        std::slice::from_ref(&ver)
    );
    assert_eq!(s.read_archive(&m, &ver).await.unwrap(), a);
    // Young left-overs may belong to another process's write in progress: kept.
    drop(s);
    FsStorage::open(dir.path()).unwrap();
    assert!(md.join(".tmp-xyz").exists() && md.join(".trash-abc").exists());
}

#[tokio::test]
async fn open_removes_leftovers_older_than_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let md = module_dir(dir.path(), "acme", "vpc", "aws");
    for name in [".tmp-old", ".trash-old", ".tmp-new", "1.0.0"] {
        fs::create_dir_all(md.join(name)).unwrap();
        fs::write(md.join(name).join("vpc-aws-1.0.0.zip"), b"x").unwrap();
    }
    let by_name = dir.path().join("tokens/by-name");
    fs::create_dir_all(&by_name).unwrap();
    fs::write(by_name.join(".tmp-old"), b"{}").unwrap();
    let pd = dir.path().join("pins/acme/vpc/aws");
    fs::create_dir_all(&pd).unwrap();
    for name in [".tmp-old", ".tmp-new", "1.0.0.json"] {
        fs::write(pd.join(name), b"{}").unwrap();
    }
    for old in [
        md.join(".tmp-old"),
        md.join(".trash-old"),
        md.join("1.0.0"),
        by_name.join(".tmp-old"),
        pd.join(".tmp-old"),
        pd.join("1.0.0.json"),
    ] {
        set_age(&old, Duration::from_secs(2 * 3600));
    }
    FsStorage::open(dir.path()).unwrap();
    FsTokenStore::open(dir.path()).unwrap();
    FsPinStore::open(dir.path()).unwrap();
    assert!(!md.join(".tmp-old").exists());
    assert!(!md.join(".trash-old").exists());
    assert!(!by_name.join(".tmp-old").exists());
    assert!(!pd.join(".tmp-old").exists());
    assert!(
        pd.join(".tmp-new").exists(),
        "a young temp file may be a put in progress"
    );
    assert!(
        pd.join("1.0.0.json").exists(),
        "pin files are never cleaned up"
    );
    assert!(
        md.join(".tmp-new").exists(),
        "a young temp dir may be a publish in progress"
    );
    assert!(md.join("1.0.0").exists(), "versions are never cleaned up");
}

#[tokio::test]
async fn a_version_directory_without_an_archive_is_not_a_version() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
    let vd = module_dir(dir.path(), "acme", "vpc", "aws").join("1.0.0");
    fs::create_dir_all(&vd).unwrap();
    fs::write(vd.join("notes.txt"), b"copy in progress").unwrap();

    assert!(s.list_versions(&m).await.unwrap().is_empty());
    assert!(matches!(
        s.read_archive(&m, &ver).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(
        s.locate_archive(&m, &ver).await,
        Err(StorageError::NotFound)
    ));
    // Documented: never replaced automatically (it may be a copy in progress) ...
    assert!(matches!(
        s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 10))
            .await,
        Err(StorageError::AlreadyExists)
    ));
    assert_eq!(fs::read(vd.join("notes.txt")).unwrap(), b"copy in progress");
    // ... but deleting the version clears it.
    s.delete_version(&m, &ver).await.unwrap();
    let a = archive(ArchiveFormat::TarGz, 2, 10);
    s.publish(&m, &ver, &a).await.unwrap();
    assert_eq!(s.read_archive(&m, &ver).await.unwrap(), a);
}

#[tokio::test]
async fn hand_placed_versions_are_listed_located_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let m = module("acme", "vpc", "aws");
    let md = module_dir(dir.path(), "acme", "vpc", "aws");
    let tgz = b"hand-placed tar.gz bytes".to_vec();
    let zip = b"hand-placed zip bytes".to_vec();
    for (version, file, bytes) in [
        ("1.2.3", "anything.tar.gz", &tgz),
        ("2.0.0-beta.1", "vpc-aws-2.0.0-beta.1.zip", &zip),
    ] {
        fs::create_dir_all(md.join(version)).unwrap();
        fs::write(md.join(version).join(file), bytes).unwrap();
    }
    // Not versions: two archives and no archive.json, a non-SemVer name, a
    // non-canonical name, a file.
    fs::create_dir_all(md.join("1.2.4")).unwrap();
    fs::write(md.join("1.2.4/a.tar.gz"), b"a").unwrap();
    fs::write(md.join("1.2.4/b.tar.gz"), b"b").unwrap();
    fs::create_dir_all(md.join("latest")).unwrap();
    fs::write(md.join("latest/a.tar.gz"), b"a").unwrap();
    fs::create_dir_all(md.join("v1.0.0")).unwrap();
    fs::write(md.join("v1.0.0/a.tar.gz"), b"a").unwrap();
    fs::write(md.join("3.0.0"), b"a file").unwrap();

    let mut listed = s.list_versions(&m).await.unwrap();
    listed.sort();
    assert_eq!(listed, [v("1.2.3"), v("2.0.0-beta.1")]);

    for (version, format, bytes) in [
        ("1.2.3", ArchiveFormat::TarGz, &tgz),
        ("2.0.0-beta.1", ArchiveFormat::Zip, &zip),
    ] {
        let loc = s.locate_archive(&m, &v(version)).await.unwrap();
        assert_eq!(loc.access, ArchiveAccess::ThroughRegistry);
        assert_eq!(loc.info.format, format);
        assert_eq!(loc.info.sha256, Sha256Digest::of(bytes));
        assert_eq!(loc.info.size, bytes.len() as u64);
        let read = s.read_archive(&m, &v(version)).await.unwrap();
        assert_eq!(read.to_bytes().unwrap().as_ref(), bytes.as_slice());
        assert_eq!(read.info(), &loc.info);
        // Computed, not cached.
        assert!(!md.join(version).join("archive.json").exists());
    }
    assert!(matches!(
        s.read_archive(&m, &v("1.2.4")).await,
        Err(StorageError::NotFound)
    ));

    // Changing a hand-placed archive changes the answer (nothing cached).
    fs::write(md.join("1.2.3/anything.tar.gz"), b"replaced").unwrap();
    let loc = s.locate_archive(&m, &v("1.2.3")).await.unwrap();
    assert_eq!(loc.info.sha256, Sha256Digest::of(b"replaced"));
}

#[tokio::test]
async fn on_disk_layout_matches_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let t = FsTokenStore::open(dir.path()).unwrap();
    let p = FsPinStore::open(dir.path()).unwrap();
    let m = module("acme", "vpc", "aws");
    let pinned = pin(
        &module("hashicorp", "consul", "aws"),
        "0.1.0+b.5",
        "https://x/a.zip",
    );
    p.put(&pinned).await.unwrap();
    let tgz = archive(ArchiveFormat::TarGz, 1, 300);
    let zip = archive(ArchiveFormat::Zip, 2, 400);
    let before = SystemTime::now();
    s.publish(&m, &v("1.0.0"), &tgz).await.unwrap();
    s.publish(&m, &v("1.1.0-rc.1+b.5"), &zip).await.unwrap();
    let token = NewToken::generate();
    t.create(&record("ci", &token)).await.unwrap();
    let hash = token.hash().to_hex();

    assert_eq!(
        tree(dir.path()),
        set(&[
            "modules/",
            "modules/acme/",
            "modules/acme/vpc/",
            "modules/acme/vpc/aws/",
            "modules/acme/vpc/aws/1.0.0/",
            "modules/acme/vpc/aws/1.0.0/archive.json",
            "modules/acme/vpc/aws/1.0.0/vpc-aws-1.0.0.tar.gz",
            "modules/acme/vpc/aws/1.1.0-rc.1+b.5/",
            "modules/acme/vpc/aws/1.1.0-rc.1+b.5/archive.json",
            "modules/acme/vpc/aws/1.1.0-rc.1+b.5/vpc-aws-1.1.0-rc.1+b.5.zip",
            "pins/",
            "pins/hashicorp/",
            "pins/hashicorp/consul/",
            "pins/hashicorp/consul/aws/",
            "pins/hashicorp/consul/aws/0.1.0+b.5.json",
            "tokens/",
            "tokens/by-hash/",
            &format!("tokens/by-hash/{hash}"),
            "tokens/by-name/",
            "tokens/by-name/ci.json",
        ])
    );

    let vd = module_dir(dir.path(), "acme", "vpc", "aws");
    assert_eq!(
        fs::read(vd.join("1.0.0/vpc-aws-1.0.0.tar.gz")).unwrap(),
        tgz.to_bytes().unwrap().as_ref()
    );
    for (version, a, format) in [("1.0.0", &tgz, "tar.gz"), ("1.1.0-rc.1+b.5", &zip, "zip")] {
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(vd.join(version).join("archive.json")).unwrap())
                .unwrap();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.len(), 4, "{json}");
        assert_eq!(json["format"], format);
        assert_eq!(json["sha256"], a.info().sha256.to_hex());
        assert_eq!(json["size"], a.info().size);
        let published_at = json["published_at"].as_u64().unwrap();
        let since_epoch =
            |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert!(
            published_at >= since_epoch(before) && published_at <= since_epoch(SystemTime::now())
        );
    }

    let rec: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("tokens/by-name/ci.json")).unwrap())
            .unwrap();
    assert_eq!(
        rec,
        serde_json::json!({"name": "ci", "tier": "uploader", "sha256": hash, "created_at": 1_700_000_000u64})
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("tokens/by-hash").join(&hash)).unwrap(),
        "ci"
    );

    let pin_file = fs::read(dir.path().join("pins/hashicorp/consul/aws/0.1.0+b.5.json")).unwrap();
    assert_eq!(pin_file.last(), Some(&b'\n'), "one line");
    assert_eq!(PinRecord::from_json(&pin_file).unwrap(), pinned);
    let json: serde_json::Value = serde_json::from_slice(&pin_file).unwrap();
    assert_eq!(json["namespace"], "hashicorp");
    assert_eq!(json["version"], "0.1.0+b.5");
    assert_eq!(json["ref"], "v0.1.0+b.5");
    assert_eq!(json["pinned_at"], 1_700_000_000u64);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir.path().join("tokens"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "tokens/ is private");
    }
}

#[tokio::test]
async fn token_files_hold_no_plaintext_token() {
    let dir = tempfile::tempdir().unwrap();
    let t = FsTokenStore::open(dir.path()).unwrap();
    let tokens: Vec<NewToken> = (0..3).map(|_| NewToken::generate()).collect();
    for (i, token) in tokens.iter().enumerate() {
        t.create(&record(&format!("t{i}"), token)).await.unwrap();
    }
    t.delete("t2").await.unwrap();
    let mut contents = Vec::new();
    for path in tree(dir.path()).iter().filter(|p| !p.ends_with('/')) {
        contents.push(fs::read(dir.path().join(path)).unwrap());
    }
    let all = String::from_utf8(contents.concat()).unwrap();
    let all_names = tree(dir.path()).into_iter().collect::<Vec<_>>().concat();
    for token in &tokens {
        let secret = token.expose_secret();
        let random_part = secret.strip_prefix("tfr_").unwrap();
        assert!(
            !all.contains(random_part),
            "a token file holds a plaintext token"
        );
        assert!(
            !all_names.contains(random_part),
            "a file name holds a plaintext token"
        );
    }
    for token in &tokens[..2] {
        assert!(
            all.contains(&token.hash().to_hex()),
            "records hold the hash"
        );
    }
}

#[test]
fn open_on_a_regular_file_is_misconfigured() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, b"x").unwrap();
    for root in [file.clone(), file.join("below")] {
        let errors = [
            FsStorage::open(&root).unwrap_err(),
            FsTokenStore::open(&root).unwrap_err(),
            FsPinStore::open(&root).unwrap_err(),
        ];
        for e in errors {
            match e {
                StorageError::Misconfigured {
                    backend: "fs",
                    message,
                } => {
                    assert!(message.contains(&file.display().to_string()), "{message}");
                }
                e => panic!("expected Misconfigured, got {e:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_stale_hash_index_never_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let t = FsTokenStore::open(dir.path()).unwrap();
    let (current, old) = (NewToken::generate(), NewToken::generate());
    let rec = record("ci", &current);
    t.create(&rec).await.unwrap();
    // An index entry left behind for an older token of the same name.
    fs::write(
        dir.path().join("tokens/by-hash").join(old.hash().to_hex()),
        "ci",
    )
    .unwrap();
    assert_eq!(t.find_by_hash(&old.hash()).await.unwrap(), None);
    assert_eq!(t.find_by_hash(&current.hash()).await.unwrap(), Some(rec));
    // An index naming a missing record finds nothing.
    let ghost = NewToken::generate();
    fs::write(
        dir.path()
            .join("tokens/by-hash")
            .join(ghost.hash().to_hex()),
        "ghost",
    )
    .unwrap();
    assert_eq!(t.find_by_hash(&ghost.hash()).await.unwrap(), None);
}

#[tokio::test]
async fn corrupt_metadata_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let t = FsTokenStore::open(dir.path()).unwrap();
    let (m, ver) = (module("acme", "vpc", "aws"), v("1.0.0"));
    s.publish(&m, &ver, &archive(ArchiveFormat::TarGz, 1, 100))
        .await
        .unwrap();
    let vd = module_dir(dir.path(), "acme", "vpc", "aws").join("1.0.0");
    fs::write(vd.join("archive.json"), b"{not json").unwrap();
    assert_eq!(
        s.list_versions(&m).await.unwrap(),
        std::slice::from_ref(&ver)
    );
    assert_other_naming(s.read_archive(&m, &ver).await.unwrap_err(), "archive.json");
    assert_other_naming(
        s.locate_archive(&m, &ver).await.unwrap_err(),
        "archive.json",
    );

    let token = NewToken::generate();
    t.create(&record("ok", &token)).await.unwrap();
    let by_name = dir.path().join("tokens/by-name");
    fs::write(by_name.join("bad.json"), b"nope").unwrap();
    assert_other_naming(t.list().await.unwrap_err(), "bad.json");
    fs::write(by_name.join("ok.json"), b"{\"name\":\"ok\"}").unwrap();
    assert_other_naming(t.find_by_hash(&token.hash()).await.unwrap_err(), "ok.json");
    // A corrupt record can still be deleted.
    t.delete("bad").await.unwrap();
    t.delete("ok").await.unwrap();
    assert_eq!(t.find_by_hash(&token.hash()).await.unwrap(), None);
}

#[tokio::test]
async fn a_tampered_archive_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let m = module("acme", "vpc", "aws");
    let vd = module_dir(dir.path(), "acme", "vpc", "aws");
    for ver in ["1.0.0", "1.0.1"] {
        s.publish(&m, &v(ver), &archive(ArchiveFormat::TarGz, 1, 100))
            .await
            .unwrap();
    }
    // Same size, other bytes: `read_archive` checks the digest.
    fs::write(vd.join("1.0.0/vpc-aws-1.0.0.tar.gz"), [0u8; 100]).unwrap();
    assert_other_naming(
        s.read_archive(&m, &v("1.0.0")).await.unwrap_err(),
        "vpc-aws-1.0.0.tar.gz",
    );
    // Other size: `locate_archive` notices without reading.
    fs::write(vd.join("1.0.1/vpc-aws-1.0.1.tar.gz"), [0u8; 10]).unwrap();
    assert_other_naming(
        s.locate_archive(&m, &v("1.0.1")).await.unwrap_err(),
        "vpc-aws-1.0.1.tar.gz",
    );
}

#[tokio::test]
async fn unsafe_token_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = FsTokenStore::open(dir.path()).unwrap();
    let token = NewToken::generate();
    for name in ["../x", ".hidden", "a/b", "a\\b", ""] {
        let e = t.create(&record(name, &token)).await.unwrap_err();
        assert!(matches!(e, StorageError::Other { .. }), "{name:?}: {e:?}");
        let e = t.delete(name).await.unwrap_err();
        assert!(matches!(e, StorageError::Other { .. }), "{name:?}: {e:?}");
    }
    assert!(t.list().await.unwrap().is_empty());
    assert!(!dir.path().join("tokens/x.json").exists());
    assert_eq!(
        t.find_by_hash(&TokenHash::of(token.expose_secret()))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn delete_removes_emptied_module_directories() {
    let dir = tempfile::tempdir().unwrap();
    let s = FsStorage::open(dir.path()).unwrap();
    let (vpc, other) = (module("acme", "vpc", "aws"), module("acme", "other", "aws"));
    for m in [&vpc, &other] {
        s.publish(m, &v("1.0.0"), &archive(ArchiveFormat::Zip, 0, 10))
            .await
            .unwrap();
    }
    s.delete_version(&vpc, &v("1.0.0")).await.unwrap();
    assert!(!dir.path().join("modules/acme/vpc").exists());
    assert!(dir.path().join("modules/acme/other/aws/1.0.0").exists());
    s.delete_version(&other, &v("1.0.0")).await.unwrap();
    assert_eq!(tree(dir.path()), set(&["modules/"]));
    // And publishing recreates them.
    s.publish(&vpc, &v("1.0.0"), &archive(ArchiveFormat::Zip, 0, 10))
        .await
        .unwrap();
    assert_eq!(s.list_versions(&vpc).await.unwrap(), [v("1.0.0")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishes_racing_deletes_of_the_last_version_all_succeed() {
    // Deleting the only version removes the module's directories while other
    // publishes of the same module are creating them.
    let dir = tempfile::tempdir().unwrap();
    let s: Arc<dyn Storage> = Arc::new(FsStorage::open(dir.path()).unwrap());
    let m = module("acme", "churn", "aws");
    for round in 0..20u64 {
        let keep = v(&format!("1.0.{round}"));
        let churn = v(&format!("0.0.{round}"));
        s.publish(&m, &churn, &archive(ArchiveFormat::TarGz, 0, 10))
            .await
            .unwrap();
        let (s1, s2, m1, m2, k, c) = (
            s.clone(),
            s.clone(),
            m.clone(),
            m.clone(),
            keep.clone(),
            churn.clone(),
        );
        let publish = tokio::spawn(async move {
            s1.publish(&m1, &k, &archive(ArchiveFormat::TarGz, 1, 10))
                .await
        });
        let delete = tokio::spawn(async move { s2.delete_version(&m2, &c).await });
        publish.await.unwrap().unwrap();
        delete.await.unwrap().unwrap();
        assert!(s.list_versions(&m).await.unwrap().contains(&keep));
        s.delete_version(&m, &keep).await.unwrap();
    }
}

#[tokio::test]
async fn pin_files_that_are_not_records_of_their_path_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = FsPinStore::open(dir.path()).unwrap();
    let m = module("acme", "vpc", "aws");
    let good = pin(&m, "1.0.0", "s1");
    p.put(&good).await.unwrap();
    let md = dir.path().join("pins/acme/vpc/aws");
    let other = pin(&m, "2.0.0", "s2").to_json();
    // Not a record, a record of another version or module, a temporary file (of
    // an interrupted put) holding a whole record, a file that is not `.json`,
    // a directory where a record would be, and a file where a directory would be.
    fs::write(md.join("1.1.0.json"), b"not json").unwrap();
    fs::write(md.join("1.2.0.json"), br#"{"namespace":"acme"}"#).unwrap();
    fs::write(md.join("3.0.0.json"), &other).unwrap();
    fs::create_dir_all(dir.path().join("pins/acme/vpc/gcp")).unwrap();
    fs::write(dir.path().join("pins/acme/vpc/gcp/2.0.0.json"), &other).unwrap();
    fs::write(md.join(".tmp-0123456789abcdef"), &other).unwrap();
    fs::write(md.join("2.0.0.json.bak"), &other).unwrap();
    fs::write(md.join("README"), b"hand-written notes").unwrap();
    fs::create_dir_all(md.join("4.0.0.json")).unwrap();
    fs::write(dir.path().join("pins/acme/stray.json"), &other).unwrap();
    fs::write(dir.path().join("pins/stray"), b"x").unwrap();
    assert_eq!(p.list().await.unwrap(), std::slice::from_ref(&good));

    // Deleting reaches only the record's own path.
    assert!(matches!(
        p.delete(&m, &v("2.0.0")).await,
        Err(StorageError::NotFound)
    ));
    p.delete(&m, &v("1.0.0")).await.unwrap();
    assert!(p.list().await.unwrap().is_empty());
    assert!(md.join("3.0.0.json").exists());
    // A misplaced file is replaced by a put of its path's version.
    let fixed = pin(&m, "3.0.0", "s3");
    p.put(&fixed).await.unwrap();
    assert_eq!(p.list().await.unwrap(), [fixed]);
}

#[tokio::test]
async fn a_missing_pins_directory_lists_empty_and_delete_leaves_directories() {
    let dir = tempfile::tempdir().unwrap();
    let p = FsPinStore::open(dir.path()).unwrap();
    fs::remove_dir(dir.path().join("pins")).unwrap();
    assert!(p.list().await.unwrap().is_empty());
    let m = module("acme", "vpc", "aws");
    p.put(&pin(&m, "1.0.0", "s")).await.unwrap();
    p.delete(&m, &v("1.0.0")).await.unwrap();
    assert_eq!(
        tree(dir.path()),
        set(&[
            "pins/",
            "pins/acme/",
            "pins/acme/vpc/",
            "pins/acme/vpc/aws/"
        ])
    );
    assert!(p.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_puts_from_two_instances_leave_one_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let instances: [Arc<dyn PinStore>; 2] = [
        Arc::new(FsPinStore::open(dir.path()).unwrap()),
        Arc::new(FsPinStore::open(dir.path()).unwrap()),
    ];
    let m = module("acme", "race", "aws");
    let records: Vec<PinRecord> = (0..16)
        .map(|i| pin(&m, "1.0.0", &format!("https://example.com/{i}.zip")))
        .collect();
    let tasks: Vec<_> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (p, r) = (instances[i % 2].clone(), r.clone());
            tokio::spawn(async move { p.put(&r).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for p in &instances {
        let listed = p.list().await.unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(records.contains(&listed[0]), "one of the puts, whole");
    }
    // No temporary files are left behind.
    assert_eq!(
        tree(&dir.path().join("pins/acme/race/aws")),
        set(&["1.0.0.json"])
    );
}

/// Two stores on one data directory (as two servers are) share the
/// snapshot: a write through one makes the other's tag stale, and a
/// snapshot removed by hand makes any tag stale.
#[tokio::test]
async fn catalogue_stores_on_one_directory_compare_and_swap_together() {
    use registry_core::CatalogueStore as _;
    let dir = tempfile::tempdir().unwrap();
    let a = storage_fs::FsCatalogueStore::open(dir.path()).unwrap();
    let b = storage_fs::FsCatalogueStore::open(dir.path()).unwrap();
    let first = a
        .store(bytes::Bytes::from_static(b"one"), None)
        .await
        .unwrap();
    let seen_by_b = b.load().await.unwrap().unwrap();
    assert_eq!(seen_by_b.tag, first, "tags are the same in every process");
    assert_eq!(
        b.load_if_changed(&first).await.unwrap(),
        registry_core::SnapshotRead::Unchanged
    );
    a.store(bytes::Bytes::from_static(b"two"), Some(&first))
        .await
        .unwrap();
    // B last read the old file: the new one is a different file.
    match b.load_if_changed(&first).await.unwrap() {
        registry_core::SnapshotRead::Changed(stored) => assert_eq!(stored.bytes, &b"two"[..]),
        other => panic!("another process's write is Changed, got {other:?}"),
    }
    let err = b
        .store(bytes::Bytes::from_static(b"late"), Some(&seen_by_b.tag))
        .await
        .unwrap_err();
    assert!(
        matches!(err, registry_core::StorageError::Conflict),
        "{err:?}"
    );
    assert_eq!(b.load().await.unwrap().unwrap().bytes, &b"two"[..]);

    let current = b.load().await.unwrap().unwrap().tag;
    std::fs::remove_file(dir.path().join("catalogue/snapshot.json.gz")).unwrap();
    let err = a
        .store(bytes::Bytes::from_static(b"three"), Some(&current))
        .await
        .unwrap_err();
    assert!(
        matches!(err, registry_core::StorageError::Conflict),
        "{err:?}"
    );
    assert_eq!(a.load().await.unwrap(), None, "nothing was stored");
}

#[tokio::test]
async fn the_probe_fails_while_the_modules_directory_is_gone_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStorage::open(dir.path()).unwrap();
    store.probe().await.expect("probe of a fresh store");
    let modules = dir.path().join("modules");
    let away = dir.path().join("modules.away");
    fs::rename(&modules, &away).unwrap();
    let e = store.probe().await.expect_err("no modules directory");
    assert!(e.to_string().contains("modules"), "{e}");
    fs::rename(&away, &modules).unwrap();
    store
        .probe()
        .await
        .expect("probe after the directory is back");
}
