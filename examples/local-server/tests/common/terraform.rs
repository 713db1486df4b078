//! The Terraform CLI in a clean environment, for end-to-end tests. Shared by the
//! end-to-end tests of `local-server` (through `mod.rs`) and of `github-server`
//! (`#[path]`): it uses nothing but std.

// Each test crate that includes this module uses a different part of it.
#![allow(dead_code)]

use std::env;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one Terraform command may take.
pub(crate) const TERRAFORM_TIMEOUT: Duration = Duration::from_secs(120);

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
