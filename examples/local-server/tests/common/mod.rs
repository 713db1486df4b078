//! What the end-to-end tests share: the `local-server` process, the registry's
//! HTTP API through a blocking client, module archives, and the Terraform CLI in
//! a clean environment.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::env;

use std::fs;
use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::StatusCode;

mod terraform;
pub(crate) use terraform::*;

/// How long the server may take to print its token and bind its port.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The module every test publishes and installs.
pub(crate) const MODULE: &str = "acme/greeting/null";

pub(crate) fn create_token(
    http: &Client,
    base: &str,
    master: &str,
    name: &str,
    tier: &str,
) -> String {
    let request = http
        .post(format!("{base}/v1/tokens"))
        .bearer_auth(master)
        .header("content-type", "application/json")
        .body(serde_json::json!({ "name": name, "tier": tier }).to_string());
    let (status, _, body) = send(request);
    assert_eq!(
        status,
        StatusCode::CREATED,
        "POST /v1/tokens: {}",
        text(&body)
    );
    let created: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("POST /v1/tokens should answer JSON ({e}): {}", text(&body)));
    created["token"]
        .as_str()
        .unwrap_or_else(|| panic!("POST /v1/tokens answered no `token`: {created}"))
        .to_owned()
}

pub(crate) fn publish(http: &Client, base: &str, token: &str, version: &str, archive: &[u8]) {
    let url = format!("{base}/v1/modules/{MODULE}/{version}");
    let request = http
        .put(&url)
        .bearer_auth(token)
        .header("content-type", "application/gzip")
        .body(archive.to_vec());
    let (status, _, body) = send(request);
    assert_eq!(status, StatusCode::CREATED, "PUT {url}: {}", text(&body));
}

/// A module whose only content is `output "version"`, as a .tar.gz; with `top_dir` its
/// files sit under that single directory.
pub(crate) fn module_archive(version: &str, top_dir: Option<&str>) -> Vec<u8> {
    let main_tf = format!(
        "output \"version\" {{\n  value = \"{version}\"\n}}\n\noutput \"module_file\" {{\n  value = \"main.tf\"\n}}\n"
    );
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::default()));
    let mut prefix = String::new();
    if let Some(dir) = top_dir {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty())
            .unwrap();
        prefix = format!("{dir}/");
    }
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(main_tf.len() as u64);
    tar.append_data(&mut header, format!("{prefix}main.tf"), main_tf.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}

/// A flat module of `main.tf` (outputting `version`) and `blob.bin` holding
/// `blob`, as a .tar.gz stored without compression, so its size is about
/// `blob`'s (and, being flat, the registry stores it as it is).
pub(crate) fn large_module_archive(version: &str, blob: &[u8]) -> Vec<u8> {
    let gz = GzEncoder::new(
        Vec::with_capacity(blob.len() + (1 << 20)),
        flate2::Compression::none(),
    );
    let mut tar = tar::Builder::new(gz);
    let main_tf = format!("output \"version\" {{\n  value = \"{version}\"\n}}\n");
    for (path, bytes) in [("main.tf", main_tf.as_bytes()), ("blob.bin", blob)] {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, path, bytes).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// `len` pseudo-random (so incompressible) bytes, the same on every call.
pub(crate) fn incompressible_bytes(len: usize) -> Vec<u8> {
    // xorshift64*
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// The file names in a .tar.gz, without a leading `./`.
pub(crate) fn archive_entries(archive: &[u8]) -> Vec<String> {
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    tar.entries()
        .expect("the served archive should be a .tar.gz")
        .map(|entry| {
            let path = entry
                .unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            path.strip_prefix("./").map(str::to_owned).unwrap_or(path)
        })
        .filter(|path| !path.is_empty())
        .collect()
}

pub(crate) fn https_client(cert_path: &Path) -> Client {
    let pem = fs::read(cert_path).unwrap();
    Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(crate) fn send(request: RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = request.send().unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().unwrap().to_vec())
}

pub(crate) fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------
// The server process

/// The running `local-server`; killed when dropped, also when the test panics, and
/// then its output is printed.
pub(crate) struct Server {
    child: Child,
    output: Arc<Mutex<String>>,
    pub(crate) port: u16,
    pub(crate) master_token: String,
    pub(crate) cert_path: PathBuf,
}

impl Server {
    /// Starts it on a free port with its data in `data_dir` and `extra_args`, and
    /// waits until it has printed the master token and written its port.
    pub(crate) fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn(data_dir, extra_args, None)
    }

    /// Starts it like [`Server::start`] with `--master-token master_token`, e.g.
    /// again on a data directory an earlier run set up (only a first start
    /// without this flag prints a token).
    pub(crate) fn start_with_master_token(
        data_dir: &Path,
        extra_args: &[&str],
        master_token: &str,
    ) -> Self {
        let mut args = vec!["--master-token", master_token];
        args.extend_from_slice(extra_args);
        Self::spawn(data_dir, &args, Some(master_token))
    }

    fn spawn(data_dir: &Path, extra_args: &[&str], master_token: Option<&str>) -> Self {
        let port_file = data_dir.with_extension("port");
        // A restart must not read the port of the previous run.
        let _ = fs::remove_file(&port_file);
        let mut command = Command::new(env!("CARGO_BIN_EXE_local-server"));
        // Its flags also come from TFR_* variables: none of the caller's may leak in.
        for (key, _) in env::vars_os() {
            if key.to_string_lossy().starts_with("TFR_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--port-file")
            .arg(&port_file)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start local-server");
        // Drain both pipes for the whole run so the server never blocks on a full pipe.
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, lines) = mpsc::channel();
        drain(
            child.stdout.take().unwrap(),
            "stdout",
            output.clone(),
            Some(lines_tx),
        );
        drain(child.stderr.take().unwrap(), "stderr", output.clone(), None);
        let mut server = Self {
            child,
            output,
            port: 0,
            master_token: String::new(),
            cert_path: data_dir.join("tls/cert.pem"),
        };

        let deadline = Instant::now() + STARTUP_TIMEOUT;
        server.master_token = match master_token {
            Some(token) => token.to_owned(),
            None => server.printed_master_token(&lines, deadline),
        };
        server.port = loop {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "local-server exited before writing {}: {status}",
                    port_file.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "local-server wrote no port to {} within {STARTUP_TIMEOUT:?}",
                port_file.display()
            );
            thread::sleep(Duration::from_millis(50));
        };
        assert!(
            extra_args.contains(&"--plain-http") || server.cert_path.is_file(),
            "local-server is listening but created no certificate at {}",
            server.cert_path.display()
        );
        server
    }

    /// The master token the server prints on a first start, read from its stdout.
    fn printed_master_token(
        &mut self,
        lines: &mpsc::Receiver<String>,
        deadline: Instant,
    ) -> String {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(token) = find_token(&line) {
                        return token;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "local-server printed no master token (tfr_...) within {STARTUP_TIMEOUT:?}"
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!(
                        "local-server closed stdout without printing a master token: {}",
                        self.exit_status()
                    )
                }
            }
        }
    }

    /// The server's process id (to send it signals).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the server to exit by itself; `None` if it is
    /// still running then.
    pub(crate) fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the server printed so far (stdout and stderr, prefixed).
    pub(crate) fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// How the server ended, waiting a little for it to do so.
    pub(crate) fn exit_status(&mut self) -> String {
        for _ in 0..50 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.to_string();
            }
            thread::sleep(Duration::from_millis(100));
        }
        "still running".to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- local-server output ---\n{}",
                self.output.lock().unwrap()
            );
        }
    }
}

/// Copies `from` line by line into `into` (prefixed with `name`) and, if given, `lines`.
pub(crate) fn drain(
    from: impl Read + Send + 'static,
    name: &'static str,
    into: Arc<Mutex<String>>,
    lines: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut from = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match from.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    into.lock().unwrap().push_str(&format!("[{name}] {line}\n"));
                    if let Some(lines) = &lines {
                        let _ = lines.send(line);
                    }
                }
            }
        }
    });
}

/// The first `tfr_` followed by 43 characters of `[A-Za-z0-9_-]` in `line`.
pub(crate) fn find_token(line: &str) -> Option<String> {
    const BODY: usize = 43;
    let mut rest = line;
    while let Some(at) = rest.find("tfr_") {
        let body: String = rest[at + 4..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .take(BODY)
            .collect();
        if body.len() == BODY {
            return Some(format!("tfr_{body}"));
        }
        rest = &rest[at + 4..];
    }
    None
}

impl Terraform {
    /// A workspace calling [`MODULE`] as `module "greeting"` with `version = "~> 1.0"`,
    /// its `version` output shown as `v`.
    pub(crate) fn workspace(&self, dir: &Path, host: &str, cli_config: &str) -> Workspace {
        let main_tf = format!(
            "module \"greeting\" {{\n  source  = \"{host}/{MODULE}\"\n  version = \"~> 1.0\"\n}}\n\n\
             output \"v\" {{\n  value = module.greeting.version\n}}\n"
        );
        self.workspace_with(dir, &main_tf, cli_config)
    }
}
