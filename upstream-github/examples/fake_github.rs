//! Serves a fake GitHub API (and codeload host) until killed, for benchmarks
//! and manual tests.
//!
//! ```sh
//! cargo run -p upstream-github --features fake --example fake_github -- --url-file /tmp/fake-github-url
//! ```
//!
//! Repositories: `acme/terraform-aws-vpc` with tags `v0.1.0` to `v0.1.3` (each
//! a small valid module shaped like a GitHub tarball) and a non-SemVer
//! `latest`. No credentials are required. The API's URL (e.g.
//! `http://127.0.0.1:40123/`, for `TFR_GITHUB_API_URL`) is printed and, with
//! `--url-file PATH`, written to `PATH` once the server accepts connections.

use std::path::PathBuf;
use std::process::ExitCode;

use upstream_github::fake::{github_tarball, FakeGithub};

const USAGE: &str = "usage: fake_github [--url-file PATH]";

#[tokio::main]
async fn main() -> ExitCode {
    let mut url_file: Option<PathBuf> = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--url-file") => match args.next() {
                Some(path) => url_file = Some(PathBuf::from(path)),
                None => {
                    eprintln!("--url-file needs a path\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            Some("-h" | "--help") => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("unknown argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }

    let fake = FakeGithub::start().await;
    for version in ["0.1.0", "0.1.1", "0.1.2", "0.1.3"] {
        let main_tf = format!(
            "# acme/vpc/aws {version} (fake GitHub)\n\noutput \"version\" {{\n  value = \"{version}\"\n}}\n"
        );
        fake.add_tag(
            "acme",
            "terraform-aws-vpc",
            &format!("v{version}"),
            github_tarball(
                &format!("acme-terraform-aws-vpc-{version}"),
                &[("main.tf", main_tf.as_bytes())],
            ),
        );
    }
    fake.add_plain_tag("acme", "terraform-aws-vpc", "latest");
    let url = fake.api_url();
    println!("fake GitHub API at {url}");
    if let Some(path) = url_file {
        // Write then rename, so a reader never sees a half-written file.
        let tmp = path.with_extension("tmp");
        if let Err(e) =
            std::fs::write(&tmp, url.as_str()).and_then(|()| std::fs::rename(&tmp, &path))
        {
            eprintln!("cannot write the URL to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    match tokio::signal::ctrl_c().await {
        Ok(()) => {
            fake.shutdown().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot wait for Ctrl-C: {e}");
            // Keep serving: killed with SIGTERM/SIGKILL instead.
            std::future::pending::<()>().await;
            ExitCode::FAILURE
        }
    }
}
