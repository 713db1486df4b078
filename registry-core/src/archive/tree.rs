//! Checks over all entries of an archive, once both formats are read into
//! [`Record`]s: which directory is the module root, whether the root holds
//! Terraform files, and whether hard links and symlinks (resolved through each
//! other, as the file system would) stay inside the module.

use std::collections::{HashMap, HashSet};

use super::paths::check_link_target;
use super::{unsafe_link, unsafe_path, ArchiveError, Kind, Record};

const MAX_LINK_HOPS: u32 = 40;
/// Bytes of paths looked up while resolving all symlinks of one archive.
const LINK_WORK_BUDGET: u64 = 64 << 20;

const R_UNDER_SYMLINK: &str = "it is inside a directory that the archive stores as a symlink; store the directory itself, not a link to it";
const R_DUPLICATE_LINK: &str =
    "the archive stores this path more than once, at least once as a symlink; keep only one entry";
pub(super) const R_LINK_ESCAPES: &str =
    "the target resolves outside the module directory; links must point inside the module";
const R_LINK_LOOP: &str =
    "resolving the target follows more than 40 links (probably a loop); remove the loop";
const R_LINK_COMPLEX: &str = "the archive's symlinks are too many or too deeply chained to check; replace some of them with copies of the files";
const R_HARDLINK_TARGET: &str = "a hard link must name a regular file stored earlier in the archive; store a copy of the file instead";

/// `path` relative to the module root; `None` for the root itself (and for
/// the stripped top-level directory).
pub(super) fn under_root<'a>(path: &'a str, root: Option<&str>) -> Option<&'a str> {
    if path.is_empty() {
        return None;
    }
    match root {
        None => Some(path),
        Some(root) => path.strip_prefix(root)?.strip_prefix('/'),
    }
}

/// The single top-level directory that holds everything else, if any.
pub(super) fn module_root(records: &[Record]) -> Option<&str> {
    let mut top: Option<&str> = None;
    for record in records {
        if record.path.is_empty() {
            continue;
        }
        let first = match record.path.split_once('/') {
            Some((first, _)) => first,
            None if matches!(record.kind, Kind::Dir) => record.path.as_str(),
            None => return None,
        };
        match top {
            Some(t) if t != first => return None,
            _ => top = Some(first),
        }
    }
    top
}

fn is_root_tf(path: &str) -> bool {
    !path.contains('/')
        && !path.starts_with('.')
        && (path.ends_with(".tf") || path.ends_with(".tf.json"))
}

/// Checks links against the module root and that the root has Terraform files.
pub(super) fn check_tree(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut has_tf = false;
    let mut has_symlinks = false;
    let mut has_hardlinks = false;
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        match record.kind {
            Kind::File => has_tf |= is_root_tf(path),
            Kind::HardLink(_) => {
                has_hardlinks = true;
                has_tf |= is_root_tf(path);
            }
            Kind::Symlink(_) => has_symlinks = true,
            Kind::Dir | Kind::Ignored => {}
        }
    }
    if has_hardlinks {
        check_hardlinks(records, root)?;
    }
    if has_symlinks {
        check_symlinks(records, root)?;
    }
    if !has_tf {
        return Err(ArchiveError::NoTerraformFiles);
    }
    Ok(())
}

fn check_hardlinks(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut files: HashSet<&str> = HashSet::new();
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        match &record.kind {
            Kind::File => {
                files.insert(path);
            }
            Kind::HardLink(target) => match under_root(target, root) {
                Some(target) if files.contains(target) => {
                    files.insert(path);
                }
                _ => return Err(unsafe_link(&record.path, target, R_HARDLINK_TARGET)),
            },
            Kind::Dir | Kind::Symlink(_) | Kind::Ignored => {}
        }
    }
    Ok(())
}

fn check_symlinks(records: &[Record], root: Option<&str>) -> Result<(), ArchiveError> {
    let mut links: HashMap<&str, &str> = HashMap::new();
    for record in records {
        if let (Some(path), Kind::Symlink(target)) = (under_root(&record.path, root), &record.kind)
        {
            if links.insert(path, target).is_some() {
                return Err(unsafe_path(&record.path, R_DUPLICATE_LINK));
            }
        }
    }
    for record in records {
        let Some(path) = under_root(&record.path, root) else {
            continue;
        };
        if !matches!(record.kind, Kind::Symlink(_)) && links.contains_key(path) {
            return Err(unsafe_path(&record.path, R_DUPLICATE_LINK));
        }
        // Nothing may be unpacked through a symlink.
        for (at, _) in path.match_indices('/') {
            if links.contains_key(&path[..at]) {
                return Err(unsafe_path(&record.path, R_UNDER_SYMLINK));
            }
        }
    }
    let mut work = LINK_WORK_BUDGET;
    for record in records {
        if let (Some(path), Kind::Symlink(target)) = (under_root(&record.path, root), &record.kind)
        {
            resolve_symlink(path, target, &links, &mut work)
                .map_err(|reason| unsafe_link(&record.path, target, reason))?;
        }
    }
    Ok(())
}

/// Resolves the symlink at `path` (relative to the module root) as the file
/// system would once unpacked, following the archive's other symlinks, and
/// fails if that leaves the module root. `work` bounds the bytes looked up
/// over all links of an archive, so crafted link chains cannot stall it.
fn resolve_symlink(
    path: &str,
    target: &str,
    links: &HashMap<&str, &str>,
    work: &mut u64,
) -> Result<(), &'static str> {
    check_link_target(target)?;
    // `current` is the resolved directory; `marks[i]` its length before component i.
    let mut current = String::with_capacity(path.len() + target.len());
    let mut marks: Vec<usize> = Vec::new();
    let push = |current: &mut String, marks: &mut Vec<usize>, part: &str| {
        marks.push(current.len());
        if !current.is_empty() {
            current.push('/');
        }
        current.push_str(part);
    };
    if let Some((dir, _)) = path.rsplit_once('/') {
        for part in dir.split('/') {
            push(&mut current, &mut marks, part);
        }
    }
    // Components still to resolve, the next one last.
    let mut pending: Vec<&str> = target.rsplit('/').collect();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part {
            "" | "." => {}
            ".." => match marks.pop() {
                Some(mark) => current.truncate(mark),
                None => return Err(R_LINK_ESCAPES),
            },
            _ => {
                push(&mut current, &mut marks, part);
                *work = work
                    .checked_sub(current.len() as u64 + 1)
                    .ok_or(R_LINK_COMPLEX)?;
                if let Some(next) = links.get(current.as_str()) {
                    hops += 1;
                    if hops > MAX_LINK_HOPS {
                        return Err(R_LINK_LOOP);
                    }
                    *work = work.checked_sub(next.len() as u64).ok_or(R_LINK_COMPLEX)?;
                    check_link_target(next)?;
                    // Replace the link by its target, from the link's directory.
                    if let Some(mark) = marks.pop() {
                        current.truncate(mark);
                    }
                    pending.extend(next.rsplit('/'));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::Bytes;

    use super::super::paths::{R_ABSOLUTE, R_DRIVE, R_LINK_ABSOLUTE, R_LINK_EMPTY, R_PARENT};
    use super::super::test_support::*;
    use super::*;

    #[test]
    fn archives_without_root_tf_files_are_refused() {
        for entries in [
            &[E::File("README.md", b"# x")][..],
            &[
                E::File("README.md", b"# x"),
                E::File("modules/x/main.tf", MAIN_TF),
            ],
            &[E::File("a/b/main.tf", MAIN_TF)], // flattened one level only
            &[E::File(".hidden.tf", MAIN_TF)],
            &[E::Dir("mod/")],
            &[E::Symlink("main.tf", "other")],
        ] {
            assert_eq!(
                check(targz(entries)).unwrap_err(),
                ArchiveError::NoTerraformFiles
            );
        }
        assert_eq!(
            check(targz(&[])).unwrap_err(),
            ArchiveError::NoTerraformFiles
        );
        assert_eq!(
            check(Bytes::from_static(
                b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
            ))
            .unwrap_err(),
            ArchiveError::NoTerraformFiles
        );
        assert!(ArchiveError::NoTerraformFiles
            .to_string()
            .contains("put main.tf at the top level"));
    }

    #[test]
    fn escaping_symlinks_are_refused() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_link(
            check(targz(&[ok, E::Symlink("link", "../../etc/passwd")])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Symlink("link", "/etc/passwd")])),
            R_LINK_ABSOLUTE,
        );
        assert_unsafe_link(
            check(targz(&[
                ok,
                E::Dir("sub/"),
                E::Symlink("sub/link", "../.."),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(check(targz(&[ok, E::Symlink("link", "")])), R_LINK_EMPTY);
        assert_unsafe_link(check(targz(&[ok, E::Symlink("link", "C:/x")])), R_DRIVE);
    }

    #[test]
    fn symlinks_inside_the_module_are_accepted() {
        assert_unchanged(targz(&[
            E::File("main.tf", MAIN_TF),
            E::Dir("sub/"),
            E::File("sub/main.tf", MAIN_TF),
            E::Symlink("link", "sub/main.tf"),
            E::Symlink("sub/up.tf", "../main.tf"),
            E::Symlink("sub/dir", "."),
            E::Symlink("self", "./"),
            E::Symlink("dangling", "sub/missing"),
        ]));
    }

    #[test]
    fn chained_symlinks_cannot_escape() {
        // sub/d -> .. is the root; sub/e -> d/.. is then the root's parent.
        assert_unsafe_link(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Dir("sub/"),
                E::Symlink("sub/d", ".."),
                E::Symlink("sub/e", "d/.."),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("a", "b"),
                E::Symlink("b", "a"),
            ])),
            R_LINK_LOOP,
        );
    }

    #[test]
    fn link_resolution_work_is_bounded() {
        // Each target is 2,000 plain components: quadratic to resolve naively.
        let deep = vec!["d"; 2000].join("/");
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, E::File("main.tf", MAIN_TF));
        for i in 0..3000 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_mode(0o777);
            h.set_size(0);
            b.append_link(&mut h, format!("l{i}"), &deep).unwrap();
        }
        let bytes = Bytes::from(gz(&b.into_inner().unwrap()));
        let start = Instant::now();
        assert_unsafe_link(check(bytes), R_LINK_COMPLEX);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn nothing_is_unpacked_through_a_symlink() {
        assert_unsafe_path(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Dir("sub/"),
                E::Symlink("lnk", "sub"),
                E::File("lnk/x.tf", b"x"),
            ])),
            R_UNDER_SYMLINK,
        );
        assert_unsafe_path(
            check(targz(&[
                E::File("main.tf", MAIN_TF),
                E::Symlink("x.tf", "main.tf"),
                E::File("x.tf", b"x"),
            ])),
            R_DUPLICATE_LINK,
        );
    }

    #[test]
    fn hard_links_must_name_an_earlier_file() {
        let ok = E::File("main.tf", MAIN_TF);
        assert_unsafe_link(
            check(targz(&[ok, E::Hard("evil", "../etc/passwd")])),
            R_PARENT,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Hard("evil", "/etc/passwd")])),
            R_ABSOLUTE,
        );
        assert_unsafe_link(
            check(targz(&[
                ok,
                E::Hard("x", "later.tf"),
                E::File("later.tf", b""),
            ])),
            R_HARDLINK_TARGET,
        );
        assert_unsafe_link(
            check(targz(&[ok, E::Dir("d/"), E::Hard("x", "d")])),
            R_HARDLINK_TARGET,
        );
        assert_unchanged(targz(&[
            E::File("./a.tf", MAIN_TF),
            E::Hard("./b.tf", "./a.tf"),
        ]));
    }

    #[test]
    fn flattening_rechecks_links_against_the_new_root() {
        // Inside the upload, but outside the module once `mod/` is the root.
        assert_unsafe_link(
            check(targz(&[
                E::Dir("mod/"),
                E::File("mod/main.tf", MAIN_TF),
                E::Symlink("mod/up", "../mod/main.tf"),
            ])),
            R_LINK_ESCAPES,
        );
        assert_unsafe_link(
            check(zip_bytes(&[
                E::File("mod/main.tf", MAIN_TF),
                E::Symlink("mod/up", "../mod/main.tf"),
            ])),
            R_LINK_ESCAPES,
        );
    }
}
