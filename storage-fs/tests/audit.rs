//! `FsAuditLog` beyond the conformance suite: the on-disk layout, files that
//! are not events, left-overs of interrupted appends, and two instances
//! (standing in for two processes) appending to one directory at once.
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry_core::audit::{AuditAction, AuditEvent, AuditLog};
use storage_fs::FsAuditLog;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// 2027-01-15T08:00:00Z.
fn base() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn event(time: SystemTime, n: usize) -> AuditEvent {
    AuditEvent::new(
        time,
        "ci",
        AuditAction::Publish,
        format!("acme/vpc/aws/1.0.{n}"),
        201,
        None,
    )
}

/// The file `event` is stored in: the only `{id}.json` below `{root}/audit`.
fn file_of(root: &Path, event: &AuditEvent) -> PathBuf {
    let name = format!("{}.json", event.id);
    let found: Vec<PathBuf> = fs::read_dir(root.join("audit"))
        .unwrap()
        .map(|e| e.unwrap().path().join(&name))
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(found.len(), 1, "{name}: {found:?}");
    found.into_iter().next().unwrap()
}

#[tokio::test]
async fn events_are_files_in_one_directory_per_utc_day() {
    let dir = tempfile::tempdir().unwrap();
    let log = FsAuditLog::open(dir.path()).unwrap();
    let today = event(base(), 1);
    let tomorrow = event(base() + DAY, 2);
    log.append(&today).await.unwrap();
    log.append(&tomorrow).await.unwrap();

    let path = file_of(dir.path(), &today);
    let day = path
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(day.ends_with("-2027-01-15"), "{day}");
    let mut stored = today.to_stored_json();
    stored.push(b'\n');
    assert_eq!(fs::read(&path).unwrap(), stored);

    let next = file_of(dir.path(), &tomorrow);
    let next_day = next
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    assert!(next_day.ends_with("-2027-01-16"), "{next_day}");
    assert!(next_day < day, "newer days sort first: {next_day} {day}");

    // Only the two day directories: no temporary file is left behind.
    let mut names: Vec<String> = fs::read_dir(dir.path().join("audit"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [next_day, day]);
}

#[tokio::test]
async fn files_that_are_not_events_are_skipped_and_pages_still_fill() {
    let dir = tempfile::tempdir().unwrap();
    let log = FsAuditLog::open(dir.path()).unwrap();
    let events: Vec<AuditEvent> = (0..5)
        .map(|n| event(base() + Duration::from_secs(60) * n as u32, n))
        .collect();
    for e in &events {
        log.append(e).await.unwrap();
    }
    // Newest first: events[4], [3], [2], [1], [0].
    // [3] is truncated, [2] holds another event than its name says.
    let corrupt = file_of(dir.path(), &events[3]);
    let bytes = fs::read(&corrupt).unwrap();
    fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    fs::write(file_of(dir.path(), &events[2]), events[0].to_stored_json()).unwrap();
    // Things that are not events at all, which listing ignores.
    let day_dir = corrupt.parent().unwrap().to_owned();
    fs::write(day_dir.join("README"), "notes").unwrap();
    fs::write(day_dir.join("not-an-id.json"), "{}").unwrap();
    fs::write(day_dir.join(".tmp-0123456789abcdef"), "{").unwrap();
    fs::create_dir(dir.path().join("audit/archive")).unwrap();
    fs::write(dir.path().join("audit/999999999-2000-01-01"), "a file").unwrap();

    let listed = log.list(None, 10).await.unwrap();
    assert_eq!(
        listed,
        [events[4].clone(), events[1].clone(), events[0].clone()]
    );
    // A page is filled from past the skipped files.
    assert_eq!(
        log.list(None, 2).await.unwrap(),
        [events[4].clone(), events[1].clone()]
    );
    assert_eq!(
        log.list(Some(&events[4].id), 1).await.unwrap(),
        [events[1].clone()]
    );
    // A skipped file still holds its id: appending it again is refused.
    assert!(matches!(
        log.append(&events[3]).await,
        Err(registry_core::StorageError::AlreadyExists)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_one_directory_append_without_losing_any() {
    let dir = tempfile::tempdir().unwrap();
    let instances: [Arc<dyn AuditLog>; 2] = [
        Arc::new(FsAuditLog::open(dir.path()).unwrap()),
        Arc::new(FsAuditLog::open(dir.path()).unwrap()),
    ];
    // 20 tasks, each on one instance, appending 10 events each over 4 days,
    // so both instances create the same day directories at once.
    let tasks: Vec<_> = (0..20usize)
        .map(|task| {
            let log = instances[task % 2].clone();
            tokio::spawn(async move {
                let mut appended = Vec::new();
                for i in 0..10 {
                    let n = task * 10 + i;
                    let e = event(
                        base() + DAY * (i % 4) as u32 + Duration::from_micros(n as u64),
                        n,
                    );
                    log.append(&e).await.unwrap();
                    appended.push(e);
                }
                appended
            })
        })
        .collect();
    let mut appended = Vec::new();
    for t in tasks {
        appended.extend(t.await.unwrap());
    }
    appended.sort_by(|a, b| a.id.cmp(&b.id));
    for log in &instances {
        let listed = log.list(None, 1_000).await.unwrap();
        let ids: HashSet<_> = listed.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids.len(), 200);
        assert_eq!(listed, appended);
    }
}

#[tokio::test]
async fn open_removes_temporary_files_older_than_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let log = FsAuditLog::open(dir.path()).unwrap();
    log.append(&event(base(), 1)).await.unwrap();
    let (old, young) = (
        dir.path().join("audit/.tmp-00000000000000aa"),
        dir.path().join("audit/.tmp-00000000000000bb"),
    );
    fs::write(&old, "{").unwrap();
    fs::write(&young, "{").unwrap();
    fs::File::open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(2 * 60 * 60))
        .unwrap();
    let reopened = FsAuditLog::open(dir.path()).unwrap();
    assert!(!old.exists());
    assert!(young.exists(), "it may belong to an append in progress");
    assert_eq!(reopened.list(None, 10).await.unwrap().len(), 1);
}
