//! End to end with the real Terraform CLI: the `github-server` binary in front of
//! upstream-github's in-process fake GitHub (no internet).
//!
//! The fake requires a GitHub App: it verifies the RS256 JWT against the public
//! half of a key pair generated here, and answers API calls only with the
//! installation token it issued. The repository has SemVer tags mixed with
//! others and a pre-release; tarballs are redirected to a fake codeload host and
//! wrap the module in GitHub's top directory. `terraform init` with `~> 1.0` must
//! install v1.1.0's files at the module root. A second, warm `init` is served
//! from the registry's caches. The GitHub API requests of both are printed.
//!
//! Needs Terraform: `$TERRAFORM`, else `terraform` on `PATH` (`scripts/test`
//! installs one); never skips.

#[path = "../../local-server/tests/common/terraform.rs"]
mod terraform;

use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
use sha2::{Digest as _, Sha256};
use upstream_github::fake::{github_tarball, FakeGithub};

use terraform::{find_terraform, list_files, Terraform};

const APP_ID: &str = "424242";
const INSTALLATION: u64 = 77;
const MASTER: &str = "tfr_github-e2e-master-token-0000000000000000000";

#[test]
fn terraform_installs_the_right_tag_through_the_github_server() {
    let terraform = find_terraform();
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(FakeGithub::start());

    // The GitHub App: a fresh key pair; the server gets the private half.
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let private_pem = key.to_pkcs8_pem(LineEnding::LF).unwrap();
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let key_file = tmp.path().join("app.pem");
    fs::write(&key_file, private_pem.as_bytes()).unwrap();
    fake.require_app(APP_ID, &public_pem, "acme", INSTALLATION);

    // acme/greeting/null is github.com/acme/terraform-null-greeting.
    for tag in ["v1.0.0", "v1.1.0", "v1.2.0-rc.1", "v2.0.0"] {
        let main_tf = format!("output \"version\" {{\n  value = \"{tag}\"\n}}\n");
        fake.add_tag(
            "acme",
            "terraform-null-greeting",
            tag,
            github_tarball(
                &format!("acme-terraform-null-greeting-{}", &tag[1..]),
                &[
                    ("main.tf", main_tf.as_bytes()),
                    ("README.md", b"# greeting\n"),
                ],
            ),
        );
    }
    for tag in ["latest", "release-2020"] {
        fake.add_plain_tag("acme", "terraform-null-greeting", tag);
    }

    let (cert, key) = tls_files(tmp.path());
    let master_hash = hex(&Sha256::digest(MASTER));
    let server_args = |extra: &[&'static str]| {
        let mut args = vec![
            "--tls-cert".to_owned(),
            path_str(&cert).to_owned(),
            "--tls-key".to_owned(),
            path_str(&key).to_owned(),
            "--master-token-sha256".to_owned(),
            master_hash.clone(),
            "--github-api-url".to_owned(),
            fake.api_url().as_str().to_owned(),
            "--github-app-id".to_owned(),
            APP_ID.to_owned(),
            "--github-app-private-key-file".to_owned(),
            path_str(&key_file).to_owned(),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    };
    let args = server_args(&["--cache-archives"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = GithubServer::start(&tmp.path().join("data"), &args);
    let server_port = server.port;
    let base = format!("https://127.0.0.1:{}", server.port);
    let host = format!("127.0.0.1:{}", server.port);
    let http = https_client(&cert);
    let downloader = create_downloader(&http, &base);
    let tf = Terraform::new(terraform, tmp.path().join("home"), cert.clone());
    let main_tf = format!(
        "module \"greeting\" {{\n  source  = \"{host}/acme/greeting/null\"\n  version = \"~> 1.0\"\n}}\n\n\
         output \"v\" {{\n  value = module.greeting.version\n}}\n"
    );
    let credentials = format!("credentials \"{host}\" {{\n  token = \"{downloader}\"\n}}\n");

    // Cold: nothing cached.
    let (api_before, codeload_before) = (fake.requests("/"), fake.codeload_requests());
    let cold = tf.workspace_with(&tmp.path().join("cold"), &main_tf, &credentials);
    tf.run_ok(&cold, &["init", "-input=false", "-no-color"]);
    let cold_api = fake.requests("/") - api_before;
    let installed = cold.dir.join(".terraform/modules/greeting");
    assert!(
        installed.join("main.tf").is_file() && installed.join("README.md").is_file(),
        "the tag's files should be at the module root; {} holds:\n{}",
        installed.display(),
        list_files(&installed).join("\n")
    );
    tf.run_ok(
        &cold,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    let output = tf.run_ok(&cold, &["output", "-raw", "v"]);
    assert_eq!(
        output.stdout.trim(),
        "v1.1.0",
        "`~> 1.0` should pick v1.1.0\n{output}"
    );
    assert_eq!(
        fake.codeload_requests() - codeload_before,
        1,
        "one tarball fetched"
    );
    assert_eq!(
        fake.codeload_authorized_requests(),
        0,
        "no token sent to codeload"
    );
    assert_eq!(fake.token_exchanges(), 1, "one installation token");

    // Warm, in a fresh directory: versions from the cache, the archive from
    // {data-dir}/github-cache.
    let api_before = fake.requests("/");
    let warm = tf.workspace_with(&tmp.path().join("warm"), &main_tf, &credentials);
    tf.run_ok(&warm, &["init", "-input=false", "-no-color"]);
    let warm_api = fake.requests("/") - api_before;
    assert!(warm
        .dir
        .join(".terraform/modules/greeting/main.tf")
        .is_file());
    assert_eq!(
        fake.codeload_requests() - codeload_before,
        1,
        "the warm init fetched no tarball"
    );
    assert!(
        warm_api < cold_api,
        "warm {warm_api} vs cold {cold_api} API requests"
    );
    eprintln!(
        "GitHub API requests: cold terraform init {cold_api}, warm terraform init {warm_api}"
    );

    // The installed version's details: derived when its archive was cached,
    // so reading them fetches no tarball.
    let response = http
        .get(format!("{base}/v1/modules/acme/greeting/null/1.1.0"))
        .bearer_auth(&downloader)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let details: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    assert_eq!(details["id"], "acme/greeting/null/1.1.0");
    assert_eq!(details["root"]["readme"], "# greeting\n");
    assert_eq!(details["root"]["outputs"][0]["name"], "version");
    assert_eq!(
        details["versions"],
        serde_json::json!(["1.0.0", "1.1.0", "1.2.0-rc.1", "2.0.0"])
    );
    assert_eq!(
        fake.codeload_requests() - codeload_before,
        1,
        "the details fetched no tarball"
    );

    // Terraform without a token is refused by the registry, GitHub or not.
    let anonymous = tf.workspace_with(
        &tmp.path().join("anonymous"),
        &main_tf,
        "# no credentials\n",
    );
    let init = tf.run(&anonymous, &["init", "-input=false", "-no-color"]);
    assert!(
        !init.status.success(),
        "init without a token should fail\n{init}"
    );
    assert!(
        init.stdout.contains("401") || init.stderr.contains("401"),
        "{init}"
    );
    drop(server);

    // Without the archive cache, Terraform's HEAD before its GET of the
    // archive URL is answered without GitHub: one tarball per install.
    let args = server_args(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let uncached = GithubServer::start(&tmp.path().join("data-uncached"), &args);
    let host = format!("127.0.0.1:{}", uncached.port);
    let main_tf = main_tf.replace(&format!("127.0.0.1:{}/", server_port), &format!("{host}/"));
    let credentials = format!("credentials \"{host}\" {{\n  token = \"{MASTER}\"\n}}\n");
    let codeload_before = fake.codeload_requests();
    let api_before = fake.requests("/");
    let fresh = tf.workspace_with(&tmp.path().join("uncached"), &main_tf, &credentials);
    tf.run_ok(&fresh, &["init", "-input=false", "-no-color"]);
    assert!(fresh
        .dir
        .join(".terraform/modules/greeting/main.tf")
        .is_file());
    assert_eq!(
        fake.codeload_requests() - codeload_before,
        1,
        "HEAD and GET of the archive URL cost one tarball, not two"
    );
    eprintln!(
        "uncached cold terraform init: {} GitHub API requests, 1 tarball",
        fake.requests("/") - api_before
    );
    drop(uncached);
    rt.block_on(fake.shutdown());
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A self-signed certificate for 127.0.0.1 (an IP SAN), as `cert.pem`, `key.pem`.
fn tls_files(dir: &Path) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "github-server e2e");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    fs::write(&cert_path, cert.pem()).unwrap();
    fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn https_client(cert: &Path) -> Client {
    let pem = fs::read(cert).unwrap();
    Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn create_downloader(http: &Client, base: &str) -> String {
    let response = http
        .post(format!("{base}/v1/tokens"))
        .bearer_auth(MASTER)
        .header("content-type", "application/json")
        .body(r#"{"name":"e2e","tier":"downloader"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    created["token"].as_str().unwrap().to_owned()
}

/// The running `github-server`; killed when dropped, and its output printed if
/// the test panicked.
struct GithubServer {
    child: Child,
    output: Arc<Mutex<String>>,
    port: u16,
}

impl GithubServer {
    fn start(data_dir: &Path, extra_args: &[&str]) -> Self {
        let port_file = data_dir.with_extension("port");
        let mut command = Command::new(env!("CARGO_BIN_EXE_github-server"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TFR_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--port-file")
            .arg(&port_file)
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start github-server");
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "github-server exited before listening ({status}):\n{}",
                    output.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "github-server did not listen within 30 s"
            );
            thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            output,
            port,
        }
    }
}

impl Drop for GithubServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!(
                "--- github-server output ---\n{}",
                self.output.lock().unwrap()
            );
        }
    }
}
