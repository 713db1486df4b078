//! Graceful shutdown of the real `local-server` binary: SIGTERM during a slow
//! download of a large archive through its signed URL. The server stops
//! accepting connections at once, keeps serving the download to its last
//! byte, and then exits with status 0 within its grace period (30 s).

mod common;

use std::io::{ErrorKind, Read as _};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

use common::{
    https_client, incompressible_bytes, large_module_archive, publish, send, text, Server, MODULE,
};

/// The archive's big file: far more than the loopback socket buffers hold, so
/// the server is still writing the response when it gets SIGTERM.
const BIG_FILE_BYTES: usize = 40 << 20;
/// The download is read this many bytes at a time...
const READ_STEP: usize = 64 << 10;
/// ...with this pause after each: about 3 s for the whole archive.
const READ_PAUSE: Duration = Duration::from_millis(5);
/// The server's shutdown grace period (adapter-hyper's default).
const GRACE_PERIOD: Duration = Duration::from_secs(30);
/// Upper bound on the other waits in this test.
const PATIENCE: Duration = Duration::from_secs(10);

#[test]
fn sigterm_finishes_the_download_in_flight_refuses_new_connections_and_exits_0() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    let http = https_client(&server.cert_path);
    let base = format!("https://127.0.0.1:{}", server.port);
    let master = server.master_token.clone();

    let archive = large_module_archive("1.0.0", &incompressible_bytes(BIG_FILE_BYTES));
    let sha = hex::encode(Sha256::digest(&archive));
    publish(&http, &base, &master, "1.0.0", &archive);
    let (status, headers, body) = send(
        http.get(format!("{base}/v1/modules/{MODULE}/1.0.0/download"))
            .bearer_auth(&master),
    );
    assert_eq!(status, StatusCode::NO_CONTENT, "{}", text(&body));
    let archive_url = format!("{base}{}", headers["x-terraform-get"].to_str().unwrap());

    // A client reading the archive slowly, on its own connection.
    let read = Arc::new(AtomicUsize::new(0));
    let (done_tx, done) = mpsc::channel();
    {
        let read = read.clone();
        let http = https_client(&server.cert_path);
        thread::spawn(move || {
            let result = (|| {
                let mut response = http.get(&archive_url).send()?;
                let status = response.status();
                let mut hasher = Sha256::new();
                let mut buf = vec![0; READ_STEP];
                loop {
                    let n = response.read(&mut buf).map_err(|e| e.to_string())?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    read.fetch_add(n, Ordering::SeqCst);
                    thread::sleep(READ_PAUSE);
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((
                    status,
                    hex::encode(hasher.finalize()),
                ))
            })()
            .map_err(|e| format!("{e:?}"));
            let _ = done_tx.send(result);
        });
    }
    let deadline = Instant::now() + PATIENCE;
    while read.load(Ordering::SeqCst) < (1 << 20) {
        assert!(
            Instant::now() < deadline,
            "the download did not start within {PATIENCE:?}"
        );
        thread::sleep(Duration::from_millis(5));
    }

    let read_at_sigterm = read.load(Ordering::SeqCst);
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM: {status}");
    let sigterm = Instant::now();

    // New connections are refused (the listener is closed) while the download
    // is still being served by a live server.
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let deadline = Instant::now() + PATIENCE;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
            // Queued in the backlog as the listener closed, then reset: try again.
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                assert!(
                    Instant::now() < deadline,
                    "still not refusing connections {PATIENCE:?} after SIGTERM"
                );
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("connecting after SIGTERM: {e}"),
            Ok(_accepted_before_the_listener_closed) => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting connections {PATIENCE:?} after SIGTERM"
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
    let refused_after = sigterm.elapsed();
    let read_when_refused = read.load(Ordering::SeqCst);
    assert!(
        read_when_refused < archive.len(),
        "the download finished before new connections were refused"
    );
    assert!(
        server.wait_for_exit(Duration::ZERO).is_none(),
        "the server exited with the download in flight"
    );

    let (status, downloaded_sha) = done
        .recv_timeout(GRACE_PERIOD)
        .expect("the download to end within the grace period")
        .unwrap_or_else(|e| panic!("the download failed after SIGTERM: {e}"));
    let download_done = sigterm.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        read.load(Ordering::SeqCst),
        archive.len(),
        "bytes downloaded"
    );
    assert_eq!(downloaded_sha, sha);

    let left = GRACE_PERIOD.saturating_sub(sigterm.elapsed());
    let exit = server
        .wait_for_exit(left)
        .unwrap_or_else(|| panic!("still running {GRACE_PERIOD:?} after SIGTERM"));
    assert!(
        exit.success(),
        "exit after SIGTERM: {exit}\n{}",
        server.output()
    );
    eprintln!(
        "SIGTERM after {:.1} MiB read; refused new connections after {refused_after:?} \
         (download at {:.1} MiB), download done after {download_done:?}, exit 0 after {:?}; total {:?}",
        read_at_sigterm as f64 / f64::from(1 << 20),
        read_when_refused as f64 / f64::from(1 << 20),
        sigterm.elapsed(),
        started.elapsed()
    );
}
