//! Serves a fake upstream registry until killed, for benchmarks and manual tests.
//!
//! ```sh
//! cargo run -p upstream-registry --features fake --example fake_upstream -- --url-file /tmp/fake-url
//! ```
//!
//! Modules: `hashicorp/consul/aws` versions `0.1.0` to `0.1.3`, each a small
//! valid module (`main.tf` at the archive's root) served from `/archives/...`
//! through a relative `X-Terraform-Get`. The server's URL (e.g.
//! `http://127.0.0.1:40123/`) is printed and, with `--url-file PATH`, written
//! to `PATH` once the server accepts connections.

use std::path::PathBuf;
use std::process::ExitCode;

use upstream_registry::fake::{tar_gz, FakeRegistry};

const USAGE: &str = "usage: fake_upstream [--url-file PATH]";

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

    let fake = FakeRegistry::start().await;
    for version in ["0.1.0", "0.1.1", "0.1.2", "0.1.3"] {
        let main_tf = format!(
            "# hashicorp/consul/aws {version} (fake upstream)\n\noutput \"version\" {{\n  value = \"{version}\"\n}}\n"
        );
        fake.publish(
            "hashicorp/consul/aws",
            version,
            tar_gz(&[("main.tf", main_tf.as_bytes())]),
        );
    }
    let url = fake.url();
    println!("fake upstream registry at {url}");
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
