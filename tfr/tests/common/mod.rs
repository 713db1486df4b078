//! What tfr's end-to-end tests share: the real `local-server` binary on a
//! free loopback port with its self-signed certificate, and the real `tfr`
//! binary run in a clean environment.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::env;
use std::fs;
use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to print its token and bind its port.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether this runs under CI, where nothing may be skipped.
pub(crate) fn in_ci() -> bool {
    env::var("CI").is_ok_and(|v| v == "true")
}

/// The `local-server` binary beside `tfr` in the target directory. `cargo
/// test --workspace` builds both; after `cargo test -p tfr` alone it is
/// built here (`cargo build -p local-server`), except under CI, where a
/// missing binary fails.
pub(crate) fn local_server_bin() -> PathBuf {
    let tfr = PathBuf::from(env!("CARGO_BIN_EXE_tfr"));
    let bin = tfr
        .with_file_name("local-server")
        .with_extension(env::consts::EXE_EXTENSION);
    if bin.is_file() {
        return bin;
    }
    assert!(
        !in_ci(),
        "{} is missing: build it with the workspace (`cargo test --workspace` or `cargo build -p local-server`)",
        bin.display()
    );
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "local-server", "--bin", "local-server"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build -p local-server");
    assert!(status.success(), "cargo build -p local-server: {status}");
    assert!(bin.is_file(), "cargo built no {}", bin.display());
    bin
}

/// The running `local-server`; killed when dropped, and its output printed
/// if the test panicked.
pub(crate) struct Server {
    child: Child,
    output: Arc<Mutex<String>>,
    /// The port it listens on (127.0.0.1).
    pub(crate) port: u16,
    /// The master token it printed.
    pub(crate) master_token: String,
    /// Its self-signed certificate (IP SAN 127.0.0.1), for SSL_CERT_FILE.
    pub(crate) cert_path: PathBuf,
}

impl Server {
    /// Starts it on a free port with its data in `data_dir` (created on
    /// first start) and `extra_args`; waits for its master token and port.
    pub(crate) fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        let port_file = data_dir.with_extension("port");
        let _ = fs::remove_file(&port_file);
        let mut command = Command::new(local_server_bin());
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
        server.master_token = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(token) = find_token(&line) {
                        break token;
                    }
                }
                Err(e) => panic!(
                    "local-server printed no master token within {STARTUP_TIMEOUT:?} ({e}):\n{}",
                    server.output()
                ),
            }
        };
        server.port = loop {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("local-server exited: {status}\n{}", server.output());
            }
            assert!(
                Instant::now() < deadline,
                "local-server wrote no port to {} within {STARTUP_TIMEOUT:?}",
                port_file.display()
            );
            thread::sleep(Duration::from_millis(50));
        };
        assert!(
            server.cert_path.is_file(),
            "no certificate at {}",
            server.cert_path.display()
        );
        server
    }

    /// `127.0.0.1:PORT`, the host tfr is given.
    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Everything the server printed so far.
    pub(crate) fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- local-server output ---\n{}", self.output());
        }
    }
}

fn drain(
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

/// What a `tfr` run printed, and how it ended.
#[derive(Debug)]
pub(crate) struct Run {
    /// Exit code (`None` if killed).
    pub(crate) code: Option<i32>,
    /// Stdout.
    pub(crate) stdout: String,
    /// Stderr.
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts success and answers stdout.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "tfr failed: {self:#?}");
        &self.stdout
    }

    /// Asserts exit code 1 and answers stderr.
    pub(crate) fn failed(&self) -> &str {
        assert_eq!(self.code, Some(1), "tfr should fail: {self:#?}");
        &self.stderr
    }
}

/// Runs the `tfr` binary with `args` in an environment holding only PATH,
/// HOME (`home`) and `vars`.
pub(crate) fn tfr(home: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tfr"));
    command.env_clear().env("HOME", home);
    if let Some(path) = env::var_os("PATH") {
        command.env("PATH", path);
    }
    let out = command
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run tfr");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A module archive (`main.tf` with `output "v"`), as a .tar.gz, for the
/// tests that publish one.
pub(crate) fn module_archive() -> Vec<u8> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let main_tf = b"output \"v\" {\n  value = \"1.0.0\"\n}\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(main_tf.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "main.tf", &main_tf[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap()
}
