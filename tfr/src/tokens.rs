//! `tfr tokens list|create|delete`: the master token's management routes.

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::cli::CreateToken;
use crate::error::Error;
use crate::host::Host;
use crate::http::{printable, Client};
use crate::secret::Secret;

/// The variable the master token is read from (never a flag).
pub(crate) const MASTER_TOKEN_VAR: &str = "TFR_TOKEN";

/// The master token from `value` (the variable's value, `None` if unset).
///
/// # Errors
/// [`Error::Usage`] saying to set the variable if it is unset or blank.
pub(crate) fn master_token(value: Option<String>) -> Result<Secret, Error> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => Err(Error::Usage(format!(
            "set {MASTER_TOKEN_VAR} to the registry's master token (it is read from the environment only, so it stays out of shell history), e.g. read -rs {MASTER_TOKEN_VAR} && export {MASTER_TOKEN_VAR}"
        ))),
    }
}

/// One token of `GET /v1/tokens`.
#[derive(Debug, Deserialize)]
struct Listed {
    name: String,
    tier: String,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
    #[serde(default)]
    namespaces: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct List {
    tokens: Vec<Listed>,
}

/// `GET /v1/tokens`: a table, or the answer as JSON.
///
/// # Errors
/// The registry's refusal or no answer.
pub(crate) async fn list(
    client: &Client,
    host: &Host,
    master: &Secret,
    json: bool,
) -> Result<(), Error> {
    let answer = client
        .send(Method::GET, host, "/v1/tokens", Some(master), None)
        .await?;
    let raw: serde_json::Value = answer.expect(&host.to_string(), StatusCode::OK)?;
    if json {
        println!("{}", pretty(&raw));
        return Ok(());
    }
    let list: List =
        serde_json::from_value(raw).map_err(|e| crate::http::HttpError::Unexpected {
            host: host.to_string(),
            status: StatusCode::OK,
            reason: e.to_string(),
        })?;
    print!("{}", table(&list.tokens));
    Ok(())
}

/// `POST /v1/tokens`: prints the new token on stdout and its details on
/// stderr; or the answer as JSON.
///
/// # Errors
/// The registry's refusal or no answer.
pub(crate) async fn create(
    client: &Client,
    create: &CreateToken,
    master: &Secret,
) -> Result<(), Error> {
    let host = &create.host;
    let answer = client
        .send(
            Method::POST,
            host,
            "/v1/tokens",
            Some(master),
            Some(&create.body),
        )
        .await?;
    let raw: serde_json::Value = answer.expect(&host.to_string(), StatusCode::CREATED)?;
    if create.json {
        println!("{}", pretty(&raw));
        return Ok(());
    }
    #[derive(Deserialize)]
    struct Created {
        token: Secret,
        #[serde(flatten)]
        listed: Listed,
    }
    let created: Created =
        serde_json::from_value(raw).map_err(|e| crate::http::HttpError::Unexpected {
            host: host.to_string(),
            status: StatusCode::CREATED,
            reason: e.to_string(),
        })?;
    println!("{}", created.token.expose());
    let l = &created.listed;
    eprintln!(
        "tfr: created {} token {:?} on {host} ({}); it {}. It is shown only this once.",
        printable(&l.tier),
        printable(&l.name),
        scope(l.namespaces.as_deref()),
        l.expires_at.as_deref().map_or_else(
            || "does not expire".to_owned(),
            |at| format!("expires {}", printable(at))
        )
    );
    Ok(())
}

/// `DELETE /v1/tokens/NAME`.
///
/// # Errors
/// The registry's refusal (`404` for an unknown name) or no answer.
pub(crate) async fn delete(
    client: &Client,
    host: &Host,
    name: &str,
    master: &Secret,
) -> Result<(), Error> {
    let path = format!(
        "/v1/tokens/{}",
        percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
    );
    let answer = client
        .send(Method::DELETE, host, &path, Some(master), None)
        .await?;
    answer.check(&host.to_string(), StatusCode::NO_CONTENT)?;
    eprintln!("tfr: deleted token {:?} on {host}", printable(name));
    Ok(())
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn scope(namespaces: Option<&[String]>) -> String {
    match namespaces {
        None => "every namespace".to_owned(),
        Some([]) => "no namespace".to_owned(),
        Some(list) => format!("namespaces {}", printable(&list.join(", "))),
    }
}

/// The tokens as a table with a header: NAME, TIER, NAMESPACES (`*` for
/// every namespace), EXPIRES (`never`), CREATED BY (`-`), columns padded,
/// server text with control characters escaped.
fn table(tokens: &[Listed]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "TIER".to_owned(),
        "NAMESPACES".to_owned(),
        "EXPIRES".to_owned(),
        "CREATED BY".to_owned(),
    ]];
    for t in tokens {
        rows.push([
            printable(&t.name),
            printable(&t.tier),
            t.namespaces
                .as_ref()
                .map_or_else(|| "*".to_owned(), |l| printable(&l.join(","))),
            t.expires_at
                .as_deref()
                .map_or_else(|| "never".to_owned(), printable),
            t.created_by
                .as_deref()
                .map_or_else(|| "-".to_owned(), printable),
        ]);
    }
    let mut widths = [0usize; 5];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(w - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_master_token_comes_only_from_the_environment() {
        assert_eq!(
            master_token(Some(" tfr_x \n".into())).unwrap().expose(),
            "tfr_x"
        );
        for value in [None, Some(String::new()), Some("  ".into())] {
            let e = master_token(value).unwrap_err().to_string();
            assert!(e.contains("TFR_TOKEN"), "{e}");
        }
    }

    #[test]
    fn the_table_aligns_columns_and_escapes_server_text() {
        let list: List = serde_json::from_value(serde_json::json!({"tokens": [
            {"name": "ci", "tier": "downloader", "created_at": "2026-01-01T00:00:00Z",
             "expires_at": null, "created_by": "master", "namespaces": null},
            {"name": "platform-release", "tier": "uploader", "created_at": "2026-01-01T00:00:00Z",
             "expires_at": "2026-01-01T00:15:00Z", "created_by": null, "namespaces": ["acme", "platform-*"]},
            {"name": "evil\u{1b}[2J", "tier": "downloader"}
        ]}))
        .unwrap();
        let t = table(&list.tokens);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].starts_with("NAME  "), "{t}");
        assert!(lines[0].ends_with("CREATED BY"), "{t}");
        let col = lines[0].find("TIER").unwrap();
        assert_eq!(lines[1].find("downloader"), Some(col), "{t}");
        assert_eq!(lines[2].find("uploader"), Some(col), "{t}");
        assert!(
            lines[1].contains(" * ") && lines[1].contains("never") && lines[1].ends_with("master"),
            "{t}"
        );
        assert!(
            lines[2].contains("acme,platform-*") && lines[2].ends_with('-'),
            "{t}"
        );
        assert!(!t.contains('\u{1b}'), "{t}");
        assert!(t.contains("evil\\u{1b}[2J"), "{t}");
    }
}
