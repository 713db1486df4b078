//! Runs the built `local-server` binary in a temporary directory: first start
//! creates the data directory and prints the master token once; a second start
//! reuses everything and does not print it again.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;

/// Upper bound on start-up and shutdown; a failure panics instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// One run of the binary; killed if the test panics before stopping it.
struct Running {
    child: Child,
    port: u16,
    stderr_path: PathBuf,
}

impl Running {
    /// Starts the server in `dir` on a free port and waits until it listens.
    fn start(dir: &Path, extra_args: &[&str]) -> Self {
        let port_file = dir.join("port");
        let _ = fs::remove_file(&port_file);
        let stderr_path = dir.join("stderr.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_local-server"));
        command
            .current_dir(dir)
            .args(["--listen", "127.0.0.1:0", "--port-file", "port"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).unwrap());
        // The test decides every setting; none leaks in from the environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("TFR_") {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().expect("start local-server");

        let deadline = Instant::now() + PATIENCE;
        let port = loop {
            // The port file is written after the banner, atomically.
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "local-server exited ({status}) before listening:\n{}",
                    fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no port file within {PATIENCE:?}"
            );
            thread::sleep(Duration::from_millis(20));
        };
        Self {
            child,
            port,
            stderr_path,
        }
    }

    /// Sends SIGTERM, expects a clean exit, and returns everything printed on stdout.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit within {PATIENCE:?} of SIGTERM"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = fs::read_to_string(&self.stderr_path).unwrap_or_default();
        assert!(status.success(), "exit {status} after SIGTERM:\n{stderr}");
        let mut stdout = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        stdout
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// GET `path` over HTTP/1.1 on `port`: over TLS trusting only `cert` when given,
/// else plain. Returns the status.
fn get(port: u16, path: &str, cert: Option<&Path>) -> http::StatusCode {
    get_with_token(port, path, cert, None)
}

/// [`get`] with an optional bearer token.
fn get_with_token(
    port: u16,
    path: &str,
    cert: Option<&Path>,
    token: Option<&str>,
) -> http::StatusCode {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut request = http::Request::get(path)
            .header(http::header::HOST, format!("127.0.0.1:{port}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        if let Some(token) = token {
            request.headers_mut().insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        match cert {
            Some(cert) => {
                let mut roots = rustls::RootCertStore::empty();
                for der in rustls_pemfile::certs(&mut fs::read(cert).unwrap().as_slice()) {
                    roots.add(der.unwrap()).unwrap();
                }
                let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .expect("TLS handshake trusting the generated certificate");
                send(TokioIo::new(tls), request).await
            }
            None => send(TokioIo::new(tcp), request).await,
        }
    })
}

async fn send<I>(io: I, request: http::Request<Empty<Bytes>>) -> http::StatusCode
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    response.into_body().collect().await.unwrap();
    status
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The value after `prefix` on the line that starts with it.
fn line_value<'a>(stdout: &'a str, prefix: &str) -> Option<&'a str> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

#[test]
fn first_start_creates_the_data_directory_and_a_restart_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("registry-data");
    let cert = data.join("tls/cert.pem");
    let key = data.join("tls/key.pem");
    let hash_file = data.join("master-token.sha256");
    let signing_key = data.join("signing-key");

    // First start.
    let server = Running::start(dir.path(), &[]);
    let port = server.port;
    for file in [&cert, &key, &hash_file, &signing_key] {
        assert!(file.is_file(), "{} was not created", file.display());
    }
    for store in ["modules", "tokens"] {
        assert!(
            data.join(store).is_dir(),
            "the stores' {store}/ was not created"
        );
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&key), 0o600, "TLS key mode");
        assert_eq!(mode(&signing_key), 0o600, "signing key mode");
    }
    assert_eq!(get(port, "/.well-known/terraform.json", Some(&cert)), 200);
    let stdout = server.stop();

    assert_eq!(
        line_value(&stdout, "listening on "),
        Some(format!("https://127.0.0.1:{port}").as_str()),
        "{stdout}"
    );
    let token = line_value(&stdout, "master token: ").expect("master token printed");
    assert!(token.starts_with("tfr_"), "{stdout}");
    let stored = fs::read_to_string(&hash_file).unwrap();
    assert_eq!(stored.trim(), hex::encode(Sha256::digest(token.as_bytes())));
    assert!(
        stdout.contains(&format!("SSL_CERT_FILE={}", cert.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "credentials \"127.0.0.1:{port}\" {{\n    token = \"{token}\"\n  }}"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "curl --cacert {} -H \"Authorization: Bearer $TOKEN\" --upload-file module.tar.gz \
             https://127.0.0.1:{port}/v1/modules/acme/vpc/aws/1.0.0",
            cert.display()
        )),
        "{stdout}"
    );
    let first: Vec<Vec<u8>> = [&cert, &key, &hash_file, &signing_key]
        .iter()
        .map(|f| fs::read(f).unwrap())
        .collect();

    // Second start: same files, same certificate served, no token printed.
    let server = Running::start(dir.path(), &[]);
    assert_eq!(
        get(server.port, "/.well-known/terraform.json", Some(&cert)),
        200
    );
    let stdout = server.stop();
    assert!(!stdout.contains(token), "token printed again:\n{stdout}");
    assert!(!stdout.contains("tfr_"), "{stdout}");
    assert!(
        line_value(&stdout, "master token: ").is_some_and(|v| v.starts_with("not shown again")),
        "{stdout}"
    );
    let second: Vec<Vec<u8>> = [&cert, &key, &hash_file, &signing_key]
        .iter()
        .map(|f| fs::read(f).unwrap())
        .collect();
    assert!(first == second, "files changed on restart");
}

#[test]
fn plain_http_creates_no_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), &["--plain-http", "--data-dir", "data"]);
    let port = server.port;
    assert_eq!(get(port, "/.well-known/terraform.json", None), 200);
    let stdout = server.stop();
    assert_eq!(
        line_value(&stdout, "listening on "),
        Some(format!("http://127.0.0.1:{port}").as_str()),
        "{stdout}"
    );
    assert!(!dir.path().join("data/tls").exists());
    assert!(dir.path().join("data/signing-key").is_file());
    assert!(line_value(&stdout, "master token: ").is_some_and(|t| t.starts_with("tfr_")));
}

#[test]
fn a_configured_master_token_replaces_the_generated_one() {
    let dir = tempfile::tempdir().unwrap();
    let token = "tfr_operator-chosen-master-token";
    let hash = registry_core::TokenHash::of(token).to_hex();
    let server = Running::start(
        dir.path(),
        &[
            "--plain-http",
            "--data-dir",
            "data",
            "--master-token-sha256",
            &hash,
        ],
    );
    let port = server.port;
    assert_eq!(get_with_token(port, "/v1/tokens", None, Some(token)), 200);
    assert_eq!(
        get_with_token(port, "/v1/tokens", None, Some("tfr_other")),
        401
    );
    let stdout = server.stop();
    assert!(
        !stdout.contains("tfr_"),
        "no token is generated or printed:\n{stdout}"
    );
    assert!(!dir.path().join("data/master-token.sha256").exists());

    let refused = Command::new(env!("CARGO_BIN_EXE_local-server"))
        .current_dir(dir.path())
        .args([
            "--plain-http",
            "--data-dir",
            "data",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--master-token-sha256", "not-hex"])
        .env_remove("TFR_MASTER_TOKEN")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("must be 64 hex digits"), "{stderr}");
}
