//! Maps a request path to a route. Knows nothing of auth or storage.

use http::Method;
use percent_encoding::percent_decode_str;

/// A matched route with its raw (percent-decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Discovery,
    Versions {
        module: [String; 3],
    },
    Download {
        module: [String; 3],
        version: String,
    },
    ModuleVersion {
        module: [String; 3],
        version: String,
    },
    /// `file` is the last segment: `{version}.tar.gz` or `{version}.zip`.
    Archive {
        module: [String; 3],
        file: String,
    },
    Tokens,
    Token {
        name: String,
    },
    Pins,
    Pin {
        module: [String; 3],
        version: String,
    },
}

impl Route {
    /// The methods this route answers; `HEAD` goes with every `GET`.
    pub(crate) fn allowed(&self) -> &'static [Method] {
        const READ: &[Method] = &[Method::GET, Method::HEAD];
        const WRITE: &[Method] = &[Method::PUT, Method::DELETE];
        const TOKENS: &[Method] = &[Method::GET, Method::HEAD, Method::POST];
        const DELETE: &[Method] = &[Method::DELETE];
        const POST: &[Method] = &[Method::POST];
        match self {
            Self::Discovery
            | Self::Versions { .. }
            | Self::Download { .. }
            | Self::Archive { .. }
            | Self::Pins => READ,
            Self::Pin { .. } => POST,
            Self::ModuleVersion { .. } => WRITE,
            Self::Tokens => TOKENS,
            Self::Token { .. } => DELETE,
        }
    }
}

/// The prefix of module routes, also announced by discovery as `modules.v1`.
pub(crate) const MODULES_PREFIX: &str = "/v1/modules/";
/// The prefix of signed archive URLs.
pub(crate) const ARCHIVES_PREFIX: &str = "/v1/archives/";

fn decode(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Matches `path` (no query string) to a route; `None` is a 404.
pub(crate) fn route(path: &str) -> Option<Route> {
    if path == "/.well-known/terraform.json" {
        return Some(Route::Discovery);
    }
    if path == "/v1/tokens" {
        return Some(Route::Tokens);
    }
    if path == "/v1/pins" {
        return Some(Route::Pins);
    }
    let segments: Vec<String> = path
        .strip_prefix('/')?
        .split('/')
        .map(decode)
        .collect::<Option<_>>()?;
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = |a: &str, b: &str, c: &str| [a.to_owned(), b.to_owned(), c.to_owned()];
    match s.as_slice() {
        ["v1", "tokens", name] => Some(Route::Token {
            name: (*name).to_owned(),
        }),
        ["v1", "modules", ns, n, sys, "versions"] => Some(Route::Versions {
            module: m(ns, n, sys),
        }),
        ["v1", "modules", ns, n, sys, ver, "download"] => Some(Route::Download {
            module: m(ns, n, sys),
            version: (*ver).to_owned(),
        }),
        ["v1", "modules", ns, n, sys, ver] => Some(Route::ModuleVersion {
            module: m(ns, n, sys),
            version: (*ver).to_owned(),
        }),
        ["v1", "pins", ns, n, sys, ver] => Some(Route::Pin {
            module: m(ns, n, sys),
            version: (*ver).to_owned(),
        }),
        ["v1", "archives", ns, n, sys, file] => Some(Route::Archive {
            module: m(ns, n, sys),
            file: (*file).to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let m = |a: &str, b: &str, c: &str| [a.to_owned(), b.to_owned(), c.to_owned()];
        assert_eq!(route("/.well-known/terraform.json"), Some(Route::Discovery));
        assert_eq!(
            route("/v1/modules/a/b/c/versions"),
            Some(Route::Versions {
                module: m("a", "b", "c")
            })
        );
        assert_eq!(
            route("/v1/modules/a/b/c/1.0.0%2Bx/download"),
            Some(Route::Download {
                module: m("a", "b", "c"),
                version: "1.0.0+x".into()
            })
        );
        assert_eq!(
            route("/v1/modules/a/b/c/1.0.0"),
            Some(Route::ModuleVersion {
                module: m("a", "b", "c"),
                version: "1.0.0".into()
            })
        );
        assert_eq!(
            route("/v1/archives/a/b/c/1.0.0.zip"),
            Some(Route::Archive {
                module: m("a", "b", "c"),
                file: "1.0.0.zip".into()
            })
        );
        assert_eq!(route("/v1/tokens"), Some(Route::Tokens));
        assert_eq!(route("/v1/pins"), Some(Route::Pins));
        assert_eq!(
            route("/v1/pins/a/b/c/1.0.0"),
            Some(Route::Pin {
                module: m("a", "b", "c"),
                version: "1.0.0".into()
            })
        );
        assert_eq!(
            route("/v1/tokens/ci"),
            Some(Route::Token { name: "ci".into() })
        );
        for none in [
            "",
            "/",
            "/v1",
            "/v1/modules/a/b/c",
            "/v1/modules/a/b/c/versions/",
            "/v1/tokens/",
            "/v1/modules/a/b/c/1/download/x",
            "/v1/modules/%ff/b/c/versions",
            "/v1/pins/a/b/c",
            "/v1/pins/a/b/c/1.0.0/x",
            "v1/tokens",
        ] {
            // "/v1/tokens/" has an empty name segment: it routes, and the handler refuses the name.
            if none == "/v1/tokens/" {
                assert_eq!(
                    route(none),
                    Some(Route::Token {
                        name: String::new()
                    })
                );
                continue;
            }
            assert_eq!(route(none), None, "{none:?}");
        }
    }
}
