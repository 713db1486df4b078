//! What the end-to-end tests share: the `local-server` process, the registry's
//! HTTP API through a blocking client, module archives, and the Terraform CLI in
//! a clean environment.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::env;
use std::fmt;
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

/// How long the server may take to print its token and bind its port.
pub(crate) const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one Terraform command may take.
pub(crate) const TERRAFORM_TIMEOUT: Duration = Duration::from_secs(120);
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

/// Every file under `dir`, relative to it, for failure messages.
pub(crate) fn list_files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            out.push(format!("({} cannot be read)", dir.display()));
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
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
        let port_file = data_dir.with_extension("port");
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
        server.master_token = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(token) = find_token(&line) {
                        break token;
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
                        server.exit_status()
                    )
                }
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
            server.cert_path.is_file(),
            "local-server is listening but created no certificate at {}",
            server.cert_path.display()
        );
        server
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

// ---------------------------------------------------------------------------
// Terraform

/// `$TERRAFORM`, else `terraform` on `PATH`; fails the test when there is neither.
pub(crate) fn find_terraform() -> PathBuf {
    const HOW: &str = "run the README's test command, `scripts/test`, which installs Terraform \
                       when it is missing, or set TERRAFORM=/path/to/terraform";
    let found = match env::var_os("TERRAFORM").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => env::var_os("PATH")
            .iter()
            .flat_map(env::split_paths)
            .map(|dir| dir.join("terraform"))
            .find(|path| path.is_file())
            .unwrap_or_else(|| {
                panic!("this test needs the Terraform CLI and found none on PATH: {HOW}")
            }),
    };
    let version = Command::new(&found)
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .unwrap_or_else(|e| panic!("cannot run Terraform at {} ({e}): {HOW}", found.display()));
    assert!(
        version.status.success(),
        "`{} version` failed ({}): {HOW}\n{}",
        found.display(),
        version.status,
        String::from_utf8_lossy(&version.stderr)
    );
    eprintln!(
        "using {}: {}",
        found.display(),
        String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or("")
    );
    found
}

/// Runs Terraform in a clean environment: its own HOME (so no `~/.terraformrc` or
/// `~/.terraform.d/credentials.tfrc.json` leaks in), the server's certificate as the
/// only CA, and a CLI config file per workspace.
pub(crate) struct Terraform {
    bin: PathBuf,
    home: PathBuf,
    ca_cert: PathBuf,
}

/// A directory with a root module calling the registry module, and its CLI config.
pub(crate) struct Workspace {
    pub(crate) dir: PathBuf,
    cli_config: PathBuf,
}

impl Terraform {
    pub(crate) fn new(bin: PathBuf, home: PathBuf, ca_cert: PathBuf) -> Self {
        fs::create_dir_all(&home).unwrap();
        Self { bin, home, ca_cert }
    }

    /// A workspace calling [`MODULE`] as `module "greeting"` with `version = "~> 1.0"`,
    /// its `version` output shown as `v`.
    pub(crate) fn workspace(&self, dir: &Path, host: &str, cli_config: &str) -> Workspace {
        let main_tf = format!(
            "module \"greeting\" {{\n  source  = \"{host}/{MODULE}\"\n  version = \"~> 1.0\"\n}}\n\n\
             output \"v\" {{\n  value = module.greeting.version\n}}\n"
        );
        self.workspace_with(dir, &main_tf, cli_config)
    }

    /// A workspace whose root module is `main_tf`.
    pub(crate) fn workspace_with(&self, dir: &Path, main_tf: &str, cli_config: &str) -> Workspace {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("main.tf"), main_tf).unwrap();
        let config_path = dir.with_extension("tfrc");
        fs::write(&config_path, cli_config).unwrap();
        Workspace {
            dir: dir.to_owned(),
            cli_config: config_path,
        }
    }

    pub(crate) fn run(&self, workspace: &Workspace, args: &[&str]) -> Run {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(&workspace.dir)
            .env_clear()
            .env("HOME", &self.home)
            .env("SSL_CERT_FILE", &self.ca_cert)
            .env("TF_CLI_CONFIG_FILE", &workspace.cli_config)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1");
        for keep in ["PATH", "TMPDIR"] {
            if let Some(value) = env::var_os(keep) {
                command.env(keep, value);
            }
        }
        run_with_timeout(
            command,
            format!("terraform {}", args.join(" ")),
            TERRAFORM_TIMEOUT,
        )
    }

    pub(crate) fn run_ok(&self, workspace: &Workspace, args: &[&str]) -> Run {
        let run = self.run(workspace, args);
        assert!(run.status.success(), "{} failed\n{run}", run.command);
        run
    }
}

/// A finished command and what it printed.
pub(crate) struct Run {
    pub(crate) command: String,
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "--- {} ({}) stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

pub(crate) fn run_with_timeout(mut command: Command, name: String, timeout: Duration) -> Run {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let run = Run {
                command: name,
                status,
                stdout: stdout.join().unwrap(),
                stderr: stderr.join().unwrap(),
            };
            panic!("{} did not finish within {timeout:?}\n{run}", run.command);
        }
        thread::sleep(Duration::from_millis(50));
    };
    Run {
        command: name,
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}
