//! Handing a token to Terraform: the `TF_TOKEN_<host>` variable and the
//! `credentials.tfrc.json` file.
//!
//! Terraform (1.2 and later) reads a token for a host from the variable
//! `TF_TOKEN_` + the host, after turning every `__` into `-` and then every
//! `_` into `.`; the rest goes through its host normalisation, which keeps a
//! port after a `:` (dropping `:443`). So a host with a port needs a `:` in
//! the variable's name, which `env` can set but no POSIX shell can `export`.
//! (Terraform's `internal/command/cliconfig/credentials.go`,
//! `collectCredentialsFromEnv`, and terraform-svchost's `ForComparison`.)
//!
//! Without a credentials helper, Terraform also reads
//! `credentials.tfrc.json` in its configuration directory
//! (`~/.terraform.d`, `%APPDATA%\terraform.d` on Windows; there is no
//! variable moving it), but not while `TF_CLI_CONFIG_FILE` is set.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::host::Host;
use crate::secret::Secret;

/// The file's name in Terraform's configuration directory.
pub(crate) const FILE_NAME: &str = "credentials.tfrc.json";

/// Why a host's token cannot be handed over as an exported variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Terraform reads the token for {host} from the variable {variable}, whose name has a ':' (the port), which a shell cannot export; \
     use --write-credentials to put the token into Terraform's credentials.tfrc.json instead, \
     or pass the variable with env: env '{variable}=...' terraform init"
)]
pub(crate) struct NotExportable {
    host: String,
    variable: String,
}

/// The variable Terraform reads `host`'s token from, e.g.
/// `TF_TOKEN_registry_example_com` (`.` → `_`, `-` → `__`).
///
/// # Errors
/// [`NotExportable`] for a host with a port other than 443: the name
/// Terraform expects (`TF_TOKEN_127_0_0_1:8443`) is not a shell variable.
pub(crate) fn token_variable(host: &Host) -> Result<String, NotExportable> {
    let name = format!(
        "TF_TOKEN_{}",
        host.name().replace('-', "__").replace('.', "_")
    );
    match host.terraform_port() {
        None if is_shell_name(&name) => Ok(name),
        port => Err(NotExportable {
            host: host.for_terraform(),
            variable: match port {
                Some(port) => format!("{name}:{port}"),
                None => name,
            },
        }),
    }
}

/// `export TF_TOKEN_<host>=<token>`, for `eval "$(tfr login ...)"`.
///
/// # Errors
/// [`ExportError::Host`] as [`token_variable`]; [`ExportError::Token`] if the
/// token has a character a shell would interpret (registry tokens are
/// `tfr_` and URL-safe base64, so only a misbehaving server answers one).
pub(crate) fn export_line(host: &Host, token: &Secret) -> Result<String, ExportError> {
    let variable = token_variable(host)?;
    let value = token.expose();
    if value.is_empty()
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~'))
    {
        return Err(ExportError::Token);
    }
    Ok(format!("export {variable}={value}"))
}

/// Why [`export_line`] wrote nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ExportError {
    /// The host has no exportable variable.
    #[error(transparent)]
    Host(#[from] NotExportable),
    /// The token is not safe to put into a shell line.
    #[error(
        "the registry answered a token with characters a shell would interpret; refusing to print it as a shell command (use --json or --write-credentials)"
    )]
    Token,
}

fn is_shell_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why the credentials file was not updated; the message names the file and
/// says what to do. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredentialsFileError {
    /// The existing file is not the JSON Terraform reads.
    #[error(
        "{path} is not a valid Terraform credentials file ({reason}); it was left unchanged: fix or remove it, or give --write-credentials another path"
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read`, `write`, ...
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// No home directory to find Terraform's configuration directory in.
    #[error(
        "cannot find Terraform's configuration directory: {0} is not set; give the file as --write-credentials PATH"
    )]
    NoHome(&'static str),
}

/// What is wrong with an existing file's content, for
/// [`CredentialsFileError::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct MalformedContent(String);

/// `existing` (the file's content; `None` or blank for no file) with
/// `host`'s token set to `token`, as Terraform itself updates the file
/// (`terraform login`): every other host and top-level key kept, any entry
/// naming the same host in another spelling (`Registry.Example.com`,
/// `host:443`) replaced by one under [`Host::for_terraform`], pretty-printed.
///
/// # Errors
/// [`MalformedContent`] if `existing` is not a JSON object or its
/// `credentials` is not an object. The message never quotes the content.
pub(crate) fn merge(
    existing: Option<&str>,
    host: &Host,
    token: &Secret,
) -> Result<String, MalformedContent> {
    let mut root = match existing.map(str::trim) {
        None | Some("") => serde_json::Map::new(),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => return Err(MalformedContent("it is not a JSON object".into())),
            // serde_json's message has a line and column, not the content.
            Err(e) => return Err(MalformedContent(format!("invalid JSON: {e}"))),
        },
    };
    let credentials = root
        .entry("credentials")
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    let Some(credentials) = credentials.as_object_mut() else {
        return Err(MalformedContent(
            "its \"credentials\" is not a JSON object".into(),
        ));
    };
    let ours = host.for_terraform();
    credentials.retain(|key, _| {
        key.parse::<Host>()
            .map_or(true, |other| other.for_terraform() != ours)
    });
    credentials.insert(ours, serde_json::json!({ "token": token.expose() }));
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(root))
        .map_err(|e| MalformedContent(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

/// Terraform's default credentials file: `$HOME/.terraform.d/credentials.tfrc.json`
/// (`%APPDATA%\terraform.d\credentials.tfrc.json` on Windows), from the
/// variable's value `home` (`None` if unset).
///
/// # Errors
/// [`CredentialsFileError::NoHome`] if the variable is unset or empty.
pub(crate) fn default_path(home: Option<PathBuf>) -> Result<PathBuf, CredentialsFileError> {
    let (var, dir) = if cfg!(windows) {
        ("APPDATA", "terraform.d")
    } else {
        ("HOME", ".terraform.d")
    };
    match home {
        Some(home) if !home.as_os_str().is_empty() => Ok(home.join(dir).join(FILE_NAME)),
        _ => Err(CredentialsFileError::NoHome(var)),
    }
}

/// The variable [`default_path`] reads.
pub(crate) const fn home_variable() -> &'static str {
    if cfg!(windows) {
        "APPDATA"
    } else {
        "HOME"
    }
}

/// Sets `host`'s token in the file at `path` ([`merge`]), creating it (and
/// its directory, mode 0700) if needed.
///
/// # Contract
/// The file is replaced atomically (a temporary file beside it, then a
/// rename), with mode 0600 whatever the old file's; a symbolic link is
/// followed and its target replaced. On any error the file is unchanged.
/// Two concurrent writers may lose one update (as with Terraform's own).
///
/// # Errors
/// [`CredentialsFileError::Malformed`] for an existing file [`merge`]
/// refuses; [`CredentialsFileError::Io`] if it cannot be read or written.
pub(crate) fn write(path: &Path, host: &Host, token: &Secret) -> Result<(), CredentialsFileError> {
    let io = |action, path: &Path| {
        let path = path.to_owned();
        move |source| CredentialsFileError::Io {
            action,
            path,
            source,
        }
    };
    let path = match fs::canonicalize(path) {
        Ok(target) => target,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_owned(),
        Err(e) => return Err(io("resolve", path)(e)),
    };
    let existing = match fs::read(&path) {
        Ok(bytes) => {
            Some(
                String::from_utf8(bytes).map_err(|_| CredentialsFileError::Malformed {
                    path: path.clone(),
                    reason: "it is not UTF-8 text".into(),
                })?,
            )
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io("read", &path)(e)),
    };
    let text =
        merge(existing.as_deref(), host, token).map_err(|e| CredentialsFileError::Malformed {
            path: path.clone(),
            reason: e.0,
        })?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir).map_err(io("create the directory", &dir))?;
    let mut file = tempfile::Builder::new()
        .prefix(".credentials.tfrc.json.")
        .tempfile_in(&dir)
        .map_err(io("create a temporary file in", &dir))?;
    set_private(file.as_file()).map_err(io("set the permissions of", file.path()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.as_file().sync_all())
        .map_err(io("write", file.path()))?;
    file.persist(&path)
        .map_err(|e| io("replace", &path)(e.error))?;
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn set_private(file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    file.set_permissions(fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_file: &fs::File) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(s: &str) -> Host {
        s.parse().unwrap()
    }

    fn secret(s: &str) -> Secret {
        Secret::new(s.into())
    }

    #[test]
    fn variable_names_follow_terraforms_rule() {
        for (given, want) in [
            ("registry.example.com", "TF_TOKEN_registry_example_com"),
            ("Registry.Example.com", "TF_TOKEN_registry_example_com"),
            (
                "my-registry.ex-ample.com",
                "TF_TOKEN_my__registry_ex__ample_com",
            ),
            ("xn--caf-dma.fr", "TF_TOKEN_xn____caf__dma_fr"),
            ("127.0.0.1", "TF_TOKEN_127_0_0_1"),
            ("registry.example.com:443", "TF_TOKEN_registry_example_com"),
        ] {
            assert_eq!(token_variable(&host(given)).unwrap(), want, "{given}");
        }
    }

    /// Terraform's decoding (`collectCredentialsFromEnv`), to check the
    /// encoding round-trips.
    fn terraform_decodes(variable: &str) -> String {
        variable
            .strip_prefix("TF_TOKEN_")
            .unwrap()
            .replace("__", "-")
            .replace('_', ".")
    }

    #[test]
    fn terraform_decodes_the_name_back_to_the_host() {
        for given in ["a-b.c-d.example", "x.y", "a--b.example", "1-2.3"] {
            let h = host(given);
            assert_eq!(
                terraform_decodes(&token_variable(&h).unwrap()),
                h.for_terraform()
            );
        }
    }

    #[test]
    fn a_port_is_not_exportable_and_the_error_says_what_to_do() {
        let e = token_variable(&host("127.0.0.1:8443"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("TF_TOKEN_127_0_0_1:8443"), "{e}");
        assert!(e.contains("--write-credentials"), "{e}");
    }

    #[test]
    fn the_export_line_has_the_token_and_refuses_shell_syntax() {
        let h = host("registry.example.com");
        assert_eq!(
            export_line(&h, &secret("tfr_abc-DEF_123")).unwrap(),
            "export TF_TOKEN_registry_example_com=tfr_abc-DEF_123"
        );
        for hostile in ["", "tfr_x; rm -rf ~", "$(id)", "a'b", "a\nb", "`x`", "a b"] {
            let e = export_line(&h, &secret(hostile)).unwrap_err();
            assert_eq!(e, ExportError::Token, "{hostile:?}");
            assert!(!e.to_string().contains(hostile) || hostile.is_empty());
        }
    }

    fn parse(text: &str) -> serde_json::Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn merge_creates_a_file_and_keeps_other_hosts_and_keys() {
        let h = host("registry.example.com");
        assert_eq!(
            parse(&merge(None, &h, &secret("tfr_new")).unwrap()),
            serde_json::json!({"credentials": {"registry.example.com": {"token": "tfr_new"}}})
        );
        assert_eq!(
            parse(&merge(Some("  \n"), &h, &secret("tfr_new")).unwrap()),
            serde_json::json!({"credentials": {"registry.example.com": {"token": "tfr_new"}}})
        );
        let existing = r#"{
            "credentials": {
                "app.terraform.io": {"token": "other"},
                "REGISTRY.example.com:443": {"token": "old", "extra": 1},
                "127.0.0.1:8443": {"token": "local"},
                "not a host!": {"token": "kept"}
            },
            "something_else": [1, 2.5, "x"]
        }"#;
        assert_eq!(
            parse(&merge(Some(existing), &h, &secret("tfr_new")).unwrap()),
            serde_json::json!({
                "credentials": {
                    "app.terraform.io": {"token": "other"},
                    "registry.example.com": {"token": "tfr_new"},
                    "127.0.0.1:8443": {"token": "local"},
                    "not a host!": {"token": "kept"}
                },
                "something_else": [1, 2.5, "x"]
            })
        );
        // A port is part of the host: another port is another host.
        let merged = merge(Some(existing), &host("127.0.0.1:9443"), &secret("tfr_9")).unwrap();
        let merged = parse(&merged);
        assert_eq!(merged["credentials"]["127.0.0.1:8443"]["token"], "local");
        assert_eq!(merged["credentials"]["127.0.0.1:9443"]["token"], "tfr_9");
    }

    #[test]
    fn merge_refuses_malformed_content_without_quoting_it() {
        let h = host("registry.example.com");
        for (existing, says) in [
            (
                "{\"credentials\": {\"secret-host\": {\"token\": \"hunter2\"",
                "invalid JSON",
            ),
            ("[\"hunter2\"]", "not a JSON object"),
            ("\"hunter2\"", "not a JSON object"),
            (
                "{\"credentials\": [\"hunter2\"]}",
                "\"credentials\" is not a JSON object",
            ),
            (
                "{\"credentials\": \"hunter2\"}",
                "\"credentials\" is not a JSON object",
            ),
        ] {
            let e = merge(Some(existing), &h, &secret("tfr_new"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{existing}: {e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn the_default_path_is_in_terraforms_configuration_directory() {
        let home = PathBuf::from("/home/me");
        let path = default_path(Some(home)).unwrap();
        if cfg!(windows) {
            assert!(path.ends_with("terraform.d/credentials.tfrc.json"));
        } else {
            assert_eq!(
                path,
                PathBuf::from("/home/me/.terraform.d/credentials.tfrc.json")
            );
        }
        let e = default_path(None).unwrap_err().to_string();
        assert!(
            e.contains(home_variable()) && e.contains("--write-credentials PATH"),
            "{e}"
        );
        assert!(default_path(Some(PathBuf::new())).is_err());
    }

    #[test]
    fn write_creates_the_directory_and_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home/.terraform.d").join(FILE_NAME);
        write(&path, &host("registry.example.com"), &secret("tfr_1")).unwrap();
        write(&path, &host("other.example.com"), &secret("tfr_2")).unwrap();
        let merged = parse(&fs::read_to_string(&path).unwrap());
        assert_eq!(
            merged["credentials"]["registry.example.com"]["token"],
            "tfr_1"
        );
        assert_eq!(merged["credentials"]["other.example.com"]["token"], "tfr_2");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // No temporary file left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
    }

    #[cfg(unix)]
    #[test]
    fn write_tightens_a_world_readable_file_and_follows_a_symlink() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles-credentials.json");
        fs::write(&target, r#"{"credentials": {"a.example": {"token": "a"}}}"#).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join(FILE_NAME);
        std::os::unix::fs::symlink(&target, &link).unwrap();

        write(&link, &host("b.example"), &secret("tfr_b")).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let merged = parse(&fs::read_to_string(&target).unwrap());
        assert_eq!(merged["credentials"]["a.example"]["token"], "a");
        assert_eq!(merged["credentials"]["b.example"]["token"], "tfr_b");
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn a_malformed_file_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let broken = "{\"credentials\": {\"x.example\": {\"token\": \"keep-me\"}";
        fs::write(&path, broken).unwrap();
        let e = write(&path, &host("registry.example.com"), &secret("tfr_new")).unwrap_err();
        assert!(matches!(e, CredentialsFileError::Malformed { .. }), "{e}");
        let message = e.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("left unchanged"), "{message}");
        assert!(
            !message.contains("keep-me") && !message.contains("tfr_new"),
            "{message}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), broken);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        fs::write(&path, [0xff, 0xfe, b'{']).unwrap();
        let e = write(&path, &host("registry.example.com"), &secret("tfr_new")).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }
}
