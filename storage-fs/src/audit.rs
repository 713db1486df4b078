//! [`FsAuditLog`]: audit events as JSON files, one per event, one directory per UTC day.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use registry_core::audit::{AuditEvent, AuditId, AuditLog};
use registry_core::StorageError;

use crate::error::{classify, Context};
use crate::fsutil::{
    blocking, prepare_dir, random_name, remove_stale, sync_dir, sync_dir_or_warn, write_new_synced,
    TempGuard, TEMP_PREFIX,
};

const JSON: &str = ".json";

const MICROS_PER_DAY: u64 = 24 * 60 * 60 * 1_000_000;

/// The last day an [`AuditId`] can name (days since the epoch).
const LAST_DAY: u64 = u64::MAX / MICROS_PER_DAY;

/// An [`AuditLog`] on a local directory:
/// `{root}/audit/{day}/{id}.json` holds one event
/// ([`AuditEvent::to_stored_json`]), where `{day}` is the UTC day of the
/// event's id, named `{inverted day number, 9 digits}-{YYYY-MM-DD}` (e.g.
/// `213483149-2027-01-15`), so that day directories, like ids, sort newest
/// first by name.
///
/// # Guarantees
/// - [`append`](AuditLog::append) writes the event to a temporary file in
///   `{root}/audit/`, flushes it, and hard-links it to its final name: a link
///   never replaces, so an id that exists is [`StorageError::AlreadyExists`]
///   and the first event keeps it. The file is complete the moment it has its
///   name, and the day directory (and, for a new day, `audit/`) is flushed to
///   disk before `append` returns. Every event is its own file, so any number
///   of tasks and processes sharing the directory append without losing one.
/// - [`list`](AuditLog::list) reads the day directories in name order from the
///   `after` id's day, and in each only the names it needs: a page reads and
///   sorts the days it covers, never the whole log. A file that does not hold
///   an event, or holds one whose id is not its name, is skipped with a
///   warning naming it (the page is filled from the next ones). A file that
///   vanished meanwhile is skipped silently. Errors that concern the data
///   directory rather than one record (no permission, a timeout) fail the
///   page: skipping would move a reader's cursor past events it never saw.
/// - Names starting with `.` are ignored; `open` removes temporary files of
///   appends interrupted more than an hour ago.
///
/// The crate README describes the layout. All file I/O runs on tokio's
/// blocking thread pool.
#[derive(Debug, Clone)]
pub struct FsAuditLog {
    root: PathBuf,
    audit: PathBuf,
}

impl FsAuditLog {
    /// Opens (creating if needed) the audit log under `root`: creates
    /// `{root}/audit`, checks that it is writable, and removes temporary files
    /// of appends interrupted more than an hour ago (best effort).
    ///
    /// `root` may be shared with the crate's other stores.
    ///
    /// # Errors
    /// [`StorageError::Misconfigured`] naming the path and the OS error if the
    /// directory cannot be created or written.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        let audit = root.join("audit");
        prepare_dir(&audit, false)?;
        remove_stale(&audit, &[TEMP_PREFIX]);
        Ok(Self { root, audit })
    }

    /// The data directory this log was opened on.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The name of the directory holding the events of `id`'s UTC day.
fn day_dir_name(id: &AuditId) -> String {
    // `AuditId` guarantees 20 digits before the `-`: `u64::MAX - micros`,
    // or for a cursor past every id a larger number, which counts as the
    // epoch's day (the last directory: nothing is listed after it).
    let inverted_micros: u64 = id
        .as_str()
        .split_once('-')
        .and_then(|(digits, _)| digits.parse().ok())
        .unwrap_or(u64::MAX);
    let day = (u64::MAX - inverted_micros) / MICROS_PER_DAY;
    day_name(LAST_DAY - day)
}

/// `{inverted:09}-{YYYY-MM-DD}` for the day `LAST_DAY - inverted`.
fn day_name(inverted: u64) -> String {
    let (y, m, d) = civil_from_days(LAST_DAY - inverted);
    format!("{inverted:09}-{y:04}-{m:02}-{d:02}")
}

/// Whether `name` is a day directory's name as [`day_dir_name`] makes them.
fn is_day_name(name: &str) -> bool {
    name.get(..9)
        .filter(|digits| digits.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u64>().ok())
        .filter(|&inverted| inverted <= LAST_DAY)
        .is_some_and(|inverted| day_name(inverted) == name)
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

fn append_blocking(audit: &Path, event: &AuditEvent) -> Result<(), StorageError> {
    let day = audit.join(day_dir_name(&event.id));
    match fs::create_dir(&day) {
        // A new day: its entry in `audit/` must be on disk before any event in it
        // counts as appended (also when another process created it a moment ago).
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(classify(e, Context::op("creating", &day))),
    }
    sync_dir(audit).map_err(|e| classify(e, Context::op("flushing", audit)))?;

    let path = day.join(format!("{}{JSON}", event.id));
    let mut json = event.to_stored_json();
    json.push(b'\n');
    // Write the whole event under a temporary name, then link it to its final
    // name: linking never replaces, so the first event of an id keeps it, and
    // the file is complete the moment it has its name.
    let tmp = TempGuard::new(audit.join(random_name(TEMP_PREFIX)));
    write_new_synced(tmp.path(), &json)?;
    fs::hard_link(tmp.path(), &path).map_err(|e| classify(e, Context::op("linking", &path)))?;
    drop(tmp); // removes the temporary name; the event keeps the file
    sync_dir_or_warn(&day);
    Ok(())
}

/// The visible entry names of `dir` that `keep` accepts, sorted.
fn sorted_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<String>, StorageError> {
    // Nothing removes `audit/` or a day directory: a missing one is an error.
    let entries = fs::read_dir(dir).map_err(|e| classify(e, Context::op("listing", dir)))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| classify(e, Context::op("listing", dir)))?;
        if let Some(name) = entry.file_name().to_str() {
            if !name.starts_with('.') && keep(name) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The ids of the events in the day directory `dir`, newest first.
fn ids_in(dir: &Path) -> Result<Vec<AuditId>, StorageError> {
    let names = sorted_names(dir, |n| n.ends_with(JSON))?;
    Ok(names
        .iter()
        .filter_map(|n| n.strip_suffix(JSON).and_then(AuditId::parse))
        .collect())
}

/// Reads the event with `id` in the day directory `dir`: `None` (with a
/// warning unless it vanished) if it cannot be used.
fn read_event(dir: &Path, id: &AuditId) -> Result<Option<AuditEvent>, StorageError> {
    let path = dir.join(format!("{id}{JSON}"));
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            return match classify(e, Context::lookup("reading", &path)) {
                StorageError::NotFound => Ok(None),
                e @ (StorageError::Misconfigured { .. } | StorageError::Unavailable { .. }) => {
                    Err(e)
                }
                e => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping an audit event file that cannot be read");
                    Ok(None)
                }
            };
        }
    };
    // The format is registry-core's (`AuditEvent::to_stored_json`).
    match AuditEvent::from_stored_json(&bytes) {
        Ok(event) if event.id == *id => Ok(Some(event)),
        Ok(event) => {
            tracing::warn!(path = %path.display(), id = %event.id, "skipping an audit event file that holds an event with another id than its name");
            Ok(None)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "skipping a file that does not hold an audit event");
            Ok(None)
        }
    }
}

fn list_blocking(
    audit: &Path,
    after: Option<&AuditId>,
    limit: usize,
) -> Result<Vec<AuditEvent>, StorageError> {
    let mut page = Vec::new();
    if limit == 0 {
        return Ok(page);
    }
    let first_day = after.map(day_dir_name);
    let days = sorted_names(audit, is_day_name)?;
    for day in days
        .iter()
        .filter(|d| first_day.as_ref().is_none_or(|first| *d >= first))
    {
        let dir = audit.join(day);
        let ids = match fs::symlink_metadata(&dir) {
            Ok(meta) if meta.is_dir() => ids_in(&dir)?,
            _ => continue,
        };
        for id in ids.iter().filter(|id| after.is_none_or(|a| *id > a)) {
            if let Some(event) = read_event(&dir, id)? {
                page.push(event);
                if page.len() == limit {
                    return Ok(page);
                }
            }
        }
    }
    Ok(page)
}

#[async_trait]
impl AuditLog for FsAuditLog {
    /// Writes `audit/{day}/{id}.json` without replacing (temporary file,
    /// flush, hard link, flush of the directories).
    async fn append(&self, event: &AuditEvent) -> Result<(), StorageError> {
        let (audit, event) = (self.audit.clone(), event.clone());
        blocking(move || append_blocking(&audit, &event)).await
    }

    /// Reads the day directories from the `after` id's day, newest first,
    /// until `limit` events are found or the log ends.
    async fn list(
        &self,
        after: Option<&AuditId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StorageError> {
        let (audit, after) = (self.audit.clone(), after.cloned());
        blocking(move || list_blocking(&audit, after.as_ref(), limit)).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use registry_core::audit::AuditAction;

    use super::*;

    /// The id of an event `micros` after the epoch (made exactly, unlike
    /// `AuditId::new`, which may move an id a little to keep a process's ids
    /// in order).
    fn id_at(micros: u64) -> AuditId {
        AuditId::parse(&format!("{:020}-0123456789abcdef", u64::MAX - micros)).unwrap()
    }

    fn at(secs: u64) -> AuditId {
        id_at(secs * 1_000_000)
    }

    #[test]
    fn day_names_sort_newest_first_and_name_the_utc_date() {
        // 2027-01-15T08:00:00Z, its midnight, and the second before it.
        let t = 1_800_000_000;
        let name = day_dir_name(&at(t));
        assert_eq!(name, "213483149-2027-01-15");
        assert!(is_day_name(&name), "{name}");
        assert_eq!(day_dir_name(&at(1_799_971_200)), name);
        assert_eq!(
            day_dir_name(&id_at(1_799_971_200_000_000 - 1)),
            "213483150-2027-01-14"
        );
        assert!(
            day_dir_name(&at(t + 86_400)) < name,
            "newer days sort first"
        );
        assert!(day_dir_name(&at(t - 86_400)) > name);
        assert_eq!(day_dir_name(&at(0)), "213503982-1970-01-01");
        assert!(day_dir_name(&at(951_782_400)).ends_with("-2000-02-29"));
        assert!(day_dir_name(&at(951_868_800)).ends_with("-2000-03-01"));
        assert_eq!(day_dir_name(&id_at(u64::MAX)).len(), name.len() + 2);
        assert!(day_dir_name(&id_at(u64::MAX)).starts_with("000000000-"));
        for bad in [
            "",
            "2027-01-15",
            "213483149",
            "213483149-2027-01-16",
            "x13483149-2027-01-15",
            "213503983-1969-12-31",
        ] {
            assert!(!is_day_name(bad), "{bad}");
        }
    }

    #[test]
    fn day_names_agree_with_the_stored_time() {
        let mut micros: u64 = 1_234_567;
        // Every 17 days and an hour, from 1970 to 2126.
        while micros < 4_955_000_000_000_000 {
            let t = UNIX_EPOCH + Duration::from_micros(micros);
            let mut e = AuditEvent::new(t, "a", AuditAction::Pin, "t", 200, None);
            e.id = id_at(micros);
            let stored = e.to_json()["time"].as_str().unwrap().to_owned();
            assert!(day_dir_name(&e.id).ends_with(&stored[..10]), "{stored}");
            micros += (86_400 * 17 + 3_607) * 1_000_000;
        }
    }
}
