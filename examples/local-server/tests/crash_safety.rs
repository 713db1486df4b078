//! Crash safety of publishing on the file system, with the real `local-server`
//! binary: it is SIGKILLed while a large upload streams in, and at several
//! points after the whole body was sent (while it validates and writes the
//! archive). After a restart on the same data directory and master token,
//! each version is either whole (its archive hashes to what was sent, which
//! is flat, so stored as sent) or absent (`404`, not listed, and publishable
//! again), never partial; and the data directory holds nothing but those
//! versions and hidden temporary directories no listing shows.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::{Body, Client};
use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use common::{https_client, incompressible_bytes, large_module_archive, Server, MODULE};

/// The archive's big file: well over what a socket buffers, under the default
/// 50 MiB body and 100 MiB unpacked limits.
const BIG_FILE_BYTES: usize = 24 << 20;
/// The upload is handed to the client this many bytes at a time...
const UPLOAD_STEP: usize = 256 << 10;
/// ...with this pause before each step: about 0.5 s for the whole archive.
const UPLOAD_PAUSE: Duration = Duration::from_millis(4);
/// Upper bound on any one wait in this test.
const PATIENCE: Duration = Duration::from_secs(30);

/// When to kill the server during one publish.
#[derive(Debug, Clone, Copy)]
enum KillAt {
    /// Once the client has handed over this share of the body: the version
    /// must be absent after the restart.
    Uploading(f64),
    /// This long after the client handed over the whole body: the version
    /// may be absent or whole.
    AfterBody(Duration),
}

#[test]
fn a_publish_killed_at_any_point_leaves_the_version_whole_or_absent() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let blob = incompressible_bytes(BIG_FILE_BYTES);

    let mut server = Server::start(&data, &[]);
    let master = server.master_token.clone();

    // Calibration: how long the server takes from the end of the body to its
    // answer (validating, writing, flushing), to spread the kills over it.
    let archive = Arc::new(large_module_archive("0.0.1", &blob));
    let upload = Upload::start(&server, &master, "0.0.1", archive.clone());
    let body_sent = upload.wait_for_bytes(archive.len());
    let (status, body) = upload.wait_for_answer();
    let processing = body_sent.elapsed();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let answered: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answered["sha256"].as_str().unwrap(),
        sha256_hex(&archive),
        "a flat archive is stored as sent"
    );
    let mut expected = BTreeMap::from([("0.0.1".to_owned(), sha256_hex(&archive))]);

    let mut kills = vec![
        KillAt::Uploading(0.05),
        KillAt::Uploading(0.5),
        KillAt::Uploading(0.95),
    ];
    // The last ones likely land after the version was moved into place.
    for share in [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25] {
        kills.push(KillAt::AfterBody(processing.mul_f64(share)));
    }

    let mut outcomes = Vec::new();
    for (i, kill_at) in kills.into_iter().enumerate() {
        let version = format!("1.{i}.0");
        let archive = Arc::new(large_module_archive(&version, &blob));
        let sha = sha256_hex(&archive);
        expected.insert(version.clone(), sha.clone());

        let upload = Upload::start(&server, &master, &version, archive.clone());
        match kill_at {
            KillAt::Uploading(share) => {
                upload.wait_for_bytes((archive.len() as f64 * share) as usize);
            }
            KillAt::AfterBody(delay) => {
                upload.wait_for_bytes(archive.len());
                thread::sleep(delay);
            }
        }
        let answered_first = upload.answer.try_recv().ok();
        drop(server); // SIGKILL (`Child::kill`), then reaps it.
        let answer = answered_first.or_else(|| upload.answer.recv_timeout(PATIENCE).ok());
        let created = matches!(answer, Some(Ok((StatusCode::CREATED, _))));

        server = Server::start_with_master_token(&data, &[], &master);
        let http = https_client(&server.cert_path);
        let base = format!("https://127.0.0.1:{}", server.port);
        let present = listed_versions(&http, &base, &master).contains(&version);
        match download(&http, &base, &master, &version) {
            Some((checksum, bytes)) => {
                assert!(
                    present,
                    "{version} ({kill_at:?}) downloads but is not listed"
                );
                assert_eq!(checksum, sha, "{version} ({kill_at:?}): checksum");
                assert_eq!(bytes.len(), archive.len(), "{version} ({kill_at:?})");
                assert_eq!(sha256_hex(&bytes), sha, "{version} ({kill_at:?})");
            }
            None => assert!(!present, "{version} ({kill_at:?}) is listed but 404s"),
        }
        if created {
            assert!(
                present,
                "{version} ({kill_at:?}) was answered 201 but is gone"
            );
        }
        if let KillAt::Uploading(_) = kill_at {
            assert!(
                !present,
                "{version} ({kill_at:?}): published from half a body"
            );
        }

        let status = put(&http, &base, &master, &version, archive.to_vec());
        if present {
            assert_eq!(status, StatusCode::CONFLICT, "{version} ({kill_at:?})");
        } else {
            assert_eq!(status, StatusCode::CREATED, "{version} ({kill_at:?})");
            let (_, bytes) = download(&http, &base, &master, &version).unwrap();
            assert_eq!(sha256_hex(&bytes), sha, "{version} ({kill_at:?})");
        }
        let temporary = check_data_dir(&data, &expected);
        outcomes.push(format!(
            "{kill_at:?}: {} ({temporary} temporary dirs left)",
            if present { "whole" } else { "absent" }
        ));
    }

    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let listed = listed_versions(&http, &base, &master);
    assert_eq!(listed, expected.keys().cloned().collect::<Vec<_>>());
    eprintln!(
        "server processing after the body: {processing:?}\n{}\ntotal {:?}",
        outcomes.join("\n"),
        started.elapsed()
    );
}

/// A PUT of an archive in the background, handed to the client slowly.
struct Upload {
    /// Bytes of the body the client has taken so far.
    sent: Arc<AtomicUsize>,
    /// The answer, or why there is none (the server died).
    answer: mpsc::Receiver<Result<(StatusCode, String), String>>,
}

impl Upload {
    fn start(server: &Server, token: &str, version: &str, archive: Arc<Vec<u8>>) -> Self {
        let http = https_client(&server.cert_path);
        let url = format!(
            "https://127.0.0.1:{}/v1/modules/{MODULE}/{version}",
            server.port
        );
        let sent = Arc::new(AtomicUsize::new(0));
        let len = archive.len() as u64;
        let body = Throttled {
            archive,
            at: 0,
            sent: sent.clone(),
        };
        let request = http
            .put(url)
            .bearer_auth(token)
            .header("content-type", "application/gzip")
            .body(Body::sized(body, len));
        let (tx, answer) = mpsc::channel();
        thread::spawn(move || {
            let result = request
                .send()
                .and_then(|r| Ok((r.status(), r.text()?)))
                .map_err(|e| format!("{e:?}"));
            let _ = tx.send(result);
        });
        Self { sent, answer }
    }

    /// Waits until the client has taken `n` bytes of the body; returns when.
    fn wait_for_bytes(&self, n: usize) -> Instant {
        let deadline = Instant::now() + PATIENCE;
        while self.sent.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the upload took fewer than {n} bytes within {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(1));
        }
        Instant::now()
    }

    fn wait_for_answer(&self) -> (StatusCode, String) {
        self.answer
            .recv_timeout(PATIENCE)
            .expect("an answer to the upload")
            .unwrap_or_else(|e| panic!("upload failed: {e}"))
    }
}

/// The body of an [`Upload`]: [`UPLOAD_STEP`] bytes per [`UPLOAD_PAUSE`].
struct Throttled {
    archive: Arc<Vec<u8>>,
    at: usize,
    sent: Arc<AtomicUsize>,
}

impl Read for Throttled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.archive.len() {
            return Ok(0);
        }
        if self.at.is_multiple_of(UPLOAD_STEP) {
            thread::sleep(UPLOAD_PAUSE);
        }
        let step_end = (self.at / UPLOAD_STEP + 1) * UPLOAD_STEP;
        let n = buf
            .len()
            .min(step_end - self.at)
            .min(self.archive.len() - self.at);
        buf[..n].copy_from_slice(&self.archive[self.at..self.at + n]);
        self.at += n;
        self.sent.store(self.at, Ordering::SeqCst);
        Ok(n)
    }
}

fn put(http: &Client, base: &str, token: &str, version: &str, archive: Vec<u8>) -> StatusCode {
    http.put(format!("{base}/v1/modules/{MODULE}/{version}"))
        .bearer_auth(token)
        .header("content-type", "application/gzip")
        .body(archive)
        .send()
        .unwrap()
        .status()
}

/// The versions the registry lists for [`MODULE`], sorted; none on `404`.
fn listed_versions(http: &Client, base: &str, token: &str) -> Vec<String> {
    let url = format!("{base}/v1/modules/{MODULE}/versions");
    let r = http.get(&url).bearer_auth(token).send().unwrap();
    if r.status() == StatusCode::NOT_FOUND {
        return Vec::new();
    }
    assert_eq!(r.status(), StatusCode::OK, "GET {url}");
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().unwrap()).unwrap();
    let mut versions: Vec<String> = v["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect();
    versions.sort();
    versions
}

/// The checksum in the version's signed archive URL and the archive's bytes;
/// `None` if the download endpoint says `404`.
fn download(http: &Client, base: &str, token: &str, version: &str) -> Option<(String, Vec<u8>)> {
    let url = format!("{base}/v1/modules/{MODULE}/{version}/download");
    let r = http.get(&url).bearer_auth(token).send().unwrap();
    if r.status() == StatusCode::NOT_FOUND {
        return None;
    }
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "GET {url}");
    let location = r.headers()["x-terraform-get"].to_str().unwrap().to_owned();
    let checksum = location
        .rsplit_once("checksum=sha256:")
        .map(|(_, hex)| hex.to_owned())
        .unwrap_or_else(|| panic!("no checksum in {location}"));
    let r = http.get(format!("{base}{location}")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK, "GET {location}");
    Some((checksum, r.bytes().unwrap().to_vec()))
}

/// Checks the module's directory: every visible entry is one of `expected`
/// that is present, holding `archive.json` and the archive with its SHA-256;
/// hidden entries are only temporary or trash directories. Returns how many
/// temporary ones there are.
fn check_data_dir(data: &Path, expected: &BTreeMap<String, String>) -> usize {
    let module_dir = data.join("modules").join(MODULE);
    let mut temporary = 0;
    for entry in fs::read_dir(&module_dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            assert!(
                name.starts_with(".tmp-") || name.starts_with(".trash-"),
                "unexpected hidden entry {name} in {}",
                module_dir.display()
            );
            temporary += 1;
            continue;
        }
        let sha = expected
            .get(&name)
            .unwrap_or_else(|| panic!("{name} in {} is no version", module_dir.display()));
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(entry.path().join("archive.json")).unwrap()).unwrap();
        assert_eq!(json["sha256"].as_str(), Some(sha.as_str()), "{name}");
        let archive = fs::read(entry.path().join(format!("greeting-null-{name}.tar.gz"))).unwrap();
        assert_eq!(&sha256_hex(&archive), sha, "{name}");
    }
    temporary
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
