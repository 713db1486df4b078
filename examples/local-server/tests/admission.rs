//! Admission before the body, on the real `local-server` binary: uploads that
//! will be refused (no token, a downloader's token, a declared size over the
//! limit) are answered on their head, before their body is read, so a crowd
//! of them costs the server no memory; admitted uploads stream to disk, so a
//! crowd of them costs little.
//!
//! Memory is the server's peak RSS (`VmHWM` in `/proc/PID/status`, reset with
//! `/proc/PID/clear_refs` before each phase) over its RSS just before the
//! phase. Plain HTTP (`--plain-http`): TLS adds the same small per-connection
//! buffers to every case.

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{create_token, incompressible_bytes, large_module_archive, Server, MODULE};

const MIB: u64 = 1 << 20;
/// Each refused upload declares and tries to send this much.
const REFUSED_BODY: u64 = 40 * MIB;
/// How long any one connection may take.
const PATIENCE: Duration = Duration::from_secs(60);

/// `VmRSS` or `VmHWM` of `pid`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable {line:?}"));
    kib * 1024
}

/// Runs `phase` and returns how far the server's peak RSS rose above its RSS
/// before it.
fn rss_growth(pid: u32, phase: impl FnOnce()) -> u64 {
    // "5" resets the peak RSS (VmHWM) to the current RSS.
    fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
    let before = status_bytes(pid, "VmRSS:");
    phase();
    status_bytes(pid, "VmHWM:").saturating_sub(before)
}

/// What one upload connection saw.
#[derive(Debug)]
struct Outcome {
    status: u16,
    /// Body bytes the client managed to hand to the socket before it had the
    /// answer or the server closed the connection.
    sent: u64,
    headers: String,
}

/// PUTs `declared` bytes of zeros to `path` with `auth`, writing while it
/// watches for the answer; stops writing once the answer is in or the server
/// closed the connection.
fn refused_upload(port: u16, path: &str, auth: Option<&str>, declared: u64) -> Outcome {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: application/gzip\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let mut reader = stream.try_clone().unwrap();
    let answer = thread::spawn(move || {
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the head is complete and the connection closes (the
        // server says `Connection: close`), or a reset.
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("reading the answer: {e}"),
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    });
    let chunk = vec![0u8; 64 << 10];
    let mut sent = 0u64;
    while sent < declared && !answer.is_finished() {
        let n = chunk.len().min((declared - sent) as usize);
        match stream.write(&chunk[..n]) {
            Ok(n) => sent += n as u64,
            // The server answered and closed: what a refusal looks like here.
            Err(_) => break,
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let response = answer.join().expect("reader thread");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to {path}: {response:?}"));
    let headers = response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Outcome {
        status,
        sent,
        headers,
    }
}

/// 32 concurrent refused uploads of `REFUSED_BODY` bytes each, with `auth`
/// and `declared`; returns their outcomes and the server's RSS growth.
fn crowd_of_refused_uploads(
    server: &Server,
    auth: Option<String>,
    declared: u64,
) -> (Vec<Outcome>, u64) {
    let port = server.port;
    let mut outcomes = Vec::new();
    let growth = rss_growth(server.pid(), || {
        let uploads: Vec<_> = (0..32)
            .map(|i| {
                let auth = auth.clone();
                thread::spawn(move || {
                    let path = format!("/v1/modules/{MODULE}/9.0.{i}");
                    refused_upload(port, &path, auth.as_deref(), declared)
                })
            })
            .collect();
        outcomes = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    });
    (outcomes, growth)
}

fn assert_refused_on_the_head(outcomes: &[Outcome], status: u16, declared: u64) {
    for outcome in outcomes {
        assert_eq!(outcome.status, status, "{outcome:?}");
        assert!(
            outcome.headers.contains("connection: close"),
            "a refusal with a body on the way closes the connection: {outcome:?}"
        );
        // A server that read the body before answering would have taken all of it.
        assert!(
            outcome.sent < declared,
            "the answer came only after the whole body was sent: {outcome:?}"
        );
    }
}

#[test]
fn refused_uploads_cost_no_memory_and_admitted_ones_stream_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--plain-http"]);
    let base = format!("http://127.0.0.1:{}", server.port);
    let http = reqwest::blocking::Client::builder()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    let downloader = create_token(&http, &base, &server.master_token, "dl", "downloader");
    let uploader = create_token(&http, &base, &server.master_token, "up", "uploader");

    // No token: 401 on the head.
    let (outcomes, growth) = crowd_of_refused_uploads(&server, None, REFUSED_BODY);
    assert_refused_on_the_head(&outcomes, 401, REFUSED_BODY);
    println!(
        "32 unauthenticated 40 MiB PUTs: RSS grew by {} KiB",
        growth / 1024
    );
    assert!(growth < 32 * MIB, "RSS grew by {growth} bytes");

    // A downloader's token cannot publish: 403 on the head.
    let (outcomes, growth) = crowd_of_refused_uploads(&server, Some(downloader), REFUSED_BODY);
    assert_refused_on_the_head(&outcomes, 403, REFUSED_BODY);
    println!(
        "32 downloader-token 40 MiB PUTs: RSS grew by {} KiB",
        growth / 1024
    );
    assert!(growth < 32 * MIB, "RSS grew by {growth} bytes");

    // An uploader declaring more than the 50 MiB limit: 413 at once.
    let (outcomes, growth) = crowd_of_refused_uploads(&server, Some(uploader.clone()), 60 * MIB);
    assert_refused_on_the_head(&outcomes, 413, 60 * MIB);
    println!("32 over-limit PUTs: RSS grew by {} KiB", growth / 1024);
    assert!(growth < 32 * MIB, "RSS grew by {growth} bytes");

    // 8 concurrent admitted 40 MiB uploads all succeed, in bounded memory.
    let blob = incompressible_bytes(40 * MIB as usize - (64 << 10));
    let archives: Vec<Arc<Vec<u8>>> = (0..8)
        .map(|i| Arc::new(large_module_archive(&format!("1.0.{i}"), &blob)))
        .collect();
    drop(blob);
    let growth = rss_growth(server.pid(), || {
        let uploads: Vec<_> = archives
            .iter()
            .enumerate()
            .map(|(i, archive)| {
                let (http, base, token, archive) = (
                    http.clone(),
                    base.clone(),
                    uploader.clone(),
                    archive.clone(),
                );
                thread::spawn(move || {
                    let response = http
                        .put(format!("{base}/v1/modules/{MODULE}/1.0.{i}"))
                        .bearer_auth(token)
                        .header("content-type", "application/gzip")
                        .body(archive.as_ref().clone())
                        .send()
                        .expect("upload");
                    let status = response.status().as_u16();
                    (status, response.text().unwrap_or_default())
                })
            })
            .collect();
        for upload in uploads {
            let (status, body) = upload.join().unwrap();
            assert_eq!(status, 201, "{body}");
        }
    });
    println!(
        "8 authenticated 40 MiB uploads: RSS grew by {} KiB",
        growth / 1024
    );
    assert!(growth < 64 * MIB, "RSS grew by {growth} bytes");

    // They are all there, whole.
    let listed = http
        .get(format!("{base}/v1/modules/{MODULE}/versions"))
        .bearer_auth(&server.master_token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    for i in 0..8 {
        assert!(listed.contains(&format!("\"1.0.{i}\"")), "{listed}");
    }
    // No refused upload left anything behind.
    assert!(!listed.contains("9.0."), "{listed}");
}
