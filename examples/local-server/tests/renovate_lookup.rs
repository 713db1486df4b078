//! End to end with the real Renovate: starts the `local-server` binary (TLS, its
//! own self-signed certificate), publishes 1.0.0, 1.1.0 and 2.0.0 of a module,
//! then runs Renovate's lookup-only dry run (`platform=local`, `dryRun=lookup`)
//! on a directory whose `main.tf` pins the module to 1.0.0, with a downloader
//! token in a host rule. Renovate finds the registry through
//! `/.well-known/terraform.json`, lists `/v1/modules/{ns}/{name}/{system}/versions`,
//! and its report (`reportType=file`) must offer 1.1.0 (minor) and 2.0.0 (major);
//! a second module block pinned to 2.0.0 must get no update. Run again without
//! the host rule, Renovate gets the server's 401 and finds no update.
//!
//! Needs Renovate: `$TFR_TEST_RENOVATE`, the path of its `renovate` binary.
//! The README's test command, `scripts/test`, installs the version pinned in
//! `scripts/renovate/package-lock.json` (`scripts/lib/renovate.sh`) and sets it.
//! Without `TFR_TEST_RENOVATE` this test says so and passes, except under
//! `CI=true`, where it fails.
//!
//! Renovate gets a clean environment: its own HOME, base and cache directories,
//! the server's certificate through `NODE_EXTRA_CA_CERTS`, and a proxy that does
//! not exist for every host but 127.0.0.1, so that a request anywhere else (a
//! preset, a changelog, another datasource) fails instead of reaching out.

mod common;

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    create_token, https_client, module_archive, publish, run_with_timeout, Run, Server, MODULE,
};

/// How long one Renovate run may take (its start alone takes some seconds).
const RENOVATE_TIMEOUT: Duration = Duration::from_secs(300);

#[test]
fn renovate_finds_the_newer_versions_of_a_pinned_module() {
    let Some(renovate) = find_renovate() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let base = format!("https://127.0.0.1:{}", server.port);
    let http = https_client(&server.cert_path);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        publish(
            &http,
            &base,
            &server.master_token,
            version,
            &module_archive(version, None),
        );
    }
    let downloader = create_token(
        &http,
        &base,
        &server.master_token,
        "renovate-downloader",
        "downloader",
    );

    // The repository Renovate looks at: a plain directory (the local platform lists
    // its files with `git ls-files`, else a glob; GIT_CEILING_DIRECTORIES below keeps
    // git from finding a repository above it).
    let host = format!("127.0.0.1:{}", server.port);
    let dep_name = format!("{host}/{MODULE}");
    let repo = tmp.path().join("repo");
    fs::create_dir_all(&repo).unwrap();
    fs::write(
        repo.join("main.tf"),
        format!(
            "module \"old\" {{\n  source  = \"{dep_name}\"\n  version = \"1.0.0\"\n}}\n\n\
             module \"newest\" {{\n  source  = \"{dep_name}\"\n  version = \"2.0.0\"\n}}\n"
        ),
    )
    .unwrap();

    let (run, report) = lookup(
        &renovate,
        &repo,
        tmp.path(),
        "with-token",
        &server,
        Some(&downloader),
    );
    print_update_lines(&run, &dep_name);
    assert!(
        run.status.success(),
        "{} failed\n{run}\n--- local-server output ---\n{}",
        run.command,
        server.output()
    );
    eprintln!("--- Renovate's report ---\n{report:#}");

    let deps = terraform_deps(&report);
    let old = find_dep(&deps, &dep_name, "1.0.0", &report);
    let newest = find_dep(&deps, &dep_name, "2.0.0", &report);
    assert_eq!(
        old["datasource"], "terraform-module",
        "the module should be looked up in a Terraform module registry: {old:#}"
    );
    assert!(
        old.get("skipReason").is_none()
            && old
                .get("warnings")
                .is_none_or(|w| w == &serde_json::json!([])),
        "the lookup of {dep_name} should succeed without warnings: {old:#}"
    );
    let mut updates: Vec<(String, String)> = old["updates"]
        .as_array()
        .unwrap_or_else(|| panic!("{dep_name} at 1.0.0 has no `updates`: {old:#}"))
        .iter()
        .map(|u| {
            (
                u["newVersion"].as_str().unwrap_or_default().to_owned(),
                u["updateType"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    updates.sort();
    assert_eq!(
        updates,
        [
            ("1.1.0".to_owned(), "minor".to_owned()),
            ("2.0.0".to_owned(), "major".to_owned())
        ],
        "{dep_name} pinned to 1.0.0 should be offered 1.1.0 (minor) and 2.0.0 (major): {old:#}"
    );
    assert!(
        newest["updates"]
            .as_array()
            .is_none_or(|updates| updates.is_empty()),
        "{dep_name} pinned to 2.0.0, the newest version, should get no update: {newest:#}"
    );
    let problems = &report["problems"];
    assert!(
        problems.as_array().is_none_or(|p| p.is_empty()),
        "Renovate reported problems: {problems:#}"
    );

    // Without the host rule the server answers 401 and Renovate finds no update: the
    // versions above came from the server, through the token.
    let (run, report) = lookup(&renovate, &repo, tmp.path(), "without-token", &server, None);
    print_update_lines(&run, &dep_name);
    let deps = terraform_deps(&report);
    let old = find_dep(&deps, &dep_name, "1.0.0", &report);
    assert!(
        old["updates"].as_array().is_none_or(|u| u.is_empty()),
        "without a token Renovate should find no update for {dep_name}: {old:#}\n{run}"
    );
    let versions_url = format!("{base}/v1/modules/{MODULE}/versions");
    let refused = run
        .stdout
        .lines()
        .find(|l| l.contains(&format!("GET {versions_url} = ")) && l.contains("statusCode=401"));
    eprintln!("{}", refused.unwrap_or("(no 401 in Renovate's log)"));
    assert!(
        refused.is_some(),
        "without a token Renovate should log the registry's 401 for GET {versions_url}\n{run}"
    );
}

/// Runs Renovate's lookup in `repo` with its state under `tmp/{name}-*` (its own
/// cache, so no lookup reuses another's) and, with `token`, a host rule for the
/// server; returns the run and the JSON report it wrote.
fn lookup(
    renovate: &Path,
    repo: &Path,
    tmp: &Path,
    name: &str,
    server: &Server,
    token: Option<&str>,
) -> (Run, serde_json::Value) {
    let base = format!("https://127.0.0.1:{}", server.port);
    let report_path = tmp.join(format!("{name}-report.json"));
    let config_path = tmp.join(format!("{name}-config.json"));
    let host_rules: Vec<serde_json::Value> = token
        .into_iter()
        .map(|token| {
            serde_json::json!({
                "matchHost": base,
                "token": token,
                "authType": "Bearer",
            })
        })
        .collect();
    let config = serde_json::json!({
        "platform": "local",
        "dryRun": "lookup",
        "onboarding": false,
        "requireConfig": "optional",
        "enabledManagers": ["terraform"],
        "baseDir": tmp.join(format!("{name}-base")),
        "cacheDir": tmp.join(format!("{name}-cache")),
        "reportType": "file",
        "reportPath": report_path,
        "hostRules": host_rules,
    });
    fs::write(&config_path, config.to_string()).unwrap();
    let run = run_renovate(renovate, repo, tmp, &config_path, server);
    let bytes = fs::read(&report_path).unwrap_or_else(|e| {
        panic!(
            "Renovate wrote no report at {} ({e})\n{run}",
            report_path.display()
        )
    });
    let report = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("Renovate's report is not JSON ({e})\n{run}"));
    (run, report)
}

/// `$TFR_TEST_RENOVATE`; `None` (after saying so) when it is not set, and a failure
/// instead under `CI=true`. Set but not working, it fails the test.
fn find_renovate() -> Option<PathBuf> {
    const MISSING: &str = "TFR_TEST_RENOVATE is not set: run scripts/test, which installs \
                           Renovate (scripts/renovate, `npm ci`) and sets it";
    let path = match env::var_os("TFR_TEST_RENOVATE").filter(|v| !v.is_empty()) {
        Some(path) => PathBuf::from(path),
        None if env::var("CI").is_ok_and(|ci| ci == "true") => panic!("{MISSING}"),
        None => {
            eprintln!("skipped: {MISSING}");
            return None;
        }
    };
    let mut command = Command::new(&path);
    command
        .arg("--version")
        .env("RENOVATE_X_IGNORE_RE2", "true");
    let run = run_with_timeout(
        command,
        format!("{} --version", path.display()),
        RENOVATE_TIMEOUT,
    );
    assert!(
        run.status.success(),
        "TFR_TEST_RENOVATE={} does not run: {MISSING}\n{run}",
        path.display()
    );
    eprintln!("using {}: Renovate {}", path.display(), run.stdout.trim());
    Some(path)
}

/// Runs Renovate in `repo` with `config` as its global config, in a clean environment.
fn run_renovate(renovate: &Path, repo: &Path, tmp: &Path, config: &Path, server: &Server) -> Run {
    let home = tmp.join("renovate-home");
    fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(renovate);
    command
        .current_dir(repo)
        .env_clear()
        .env("HOME", &home)
        .env("RENOVATE_CONFIG_FILE", config)
        .env("NODE_EXTRA_CA_CERTS", &server.cert_path)
        .env("LOG_LEVEL", "debug")
        .env("LOG_FORMAT", "json")
        // re2 is an optional native add-on that scripts/lib/renovate.sh does not build.
        .env("RENOVATE_X_IGNORE_RE2", "true")
        // Nothing but the local server is reachable: any other request fails fast.
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1")
        .env("GIT_CEILING_DIRECTORIES", tmp);
    if let Some(path) = env::var_os("PATH") {
        command.env("PATH", path);
    }
    if let Some(dir) = env::var_os("TMPDIR") {
        command.env("TMPDIR", dir);
    }
    run_with_timeout(command, "renovate".to_owned(), RENOVATE_TIMEOUT)
}

/// Prints the lines of Renovate's (JSON) log that tell what it found for `dep_name`,
/// for `--nocapture` and for failure reports.
fn print_update_lines(run: &Run, dep_name: &str) {
    eprintln!("--- Renovate's log, the lines about {dep_name} and the run's outcome ---");
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            // The local platform tries `git ls-files` first, in a directory that is no
            // repository, and then lists the files itself.
            if !line.trim().is_empty() && !line.starts_with("fatal: not a git repository") {
                eprintln!("{line}");
            }
            continue;
        };
        let msg = entry["msg"].as_str().unwrap_or_default();
        let level = entry["level"].as_u64().unwrap_or(0);
        if msg == "packageFiles with updates" {
            for file in entry["config"]["terraform"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for dep in file["deps"].as_array().into_iter().flatten() {
                    let updates: Vec<String> = dep["updates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|u| format!("{} ({})", u["newVersion"], u["updateType"]))
                        .collect();
                    eprintln!(
                        "renovate: {} {} in {}: currentValue {} -> updates [{}]",
                        dep["depName"],
                        dep["datasource"],
                        file["packageFile"],
                        dep["currentValue"],
                        updates.join(", ")
                    );
                }
            }
        } else if level >= 40 || line.contains(dep_name) || msg.contains("Repository finished") {
            eprintln!("{line}");
        }
    }
}

/// Every dependency in the report's terraform package files.
fn terraform_deps(report: &serde_json::Value) -> Vec<serde_json::Value> {
    let repositories = report["repositories"]
        .as_object()
        .unwrap_or_else(|| panic!("the report has no `repositories`: {report:#}"));
    repositories
        .values()
        .flat_map(|repo| {
            repo["packageFiles"]["terraform"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|file| file["deps"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn find_dep<'a>(
    deps: &'a [serde_json::Value],
    name: &str,
    current: &str,
    report: &serde_json::Value,
) -> &'a serde_json::Value {
    deps.iter()
        .find(|d| d["depName"] == name && d["currentValue"] == current)
        .unwrap_or_else(|| {
            panic!("the report has no terraform dependency {name} at {current}: {report:#}")
        })
}
