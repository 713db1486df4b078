//! Maps a request path to a route. Knows nothing of auth or storage.

use http::Method;
use percent_encoding::percent_decode_str;

/// A matched route with its raw (percent-decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Discovery,
    /// This API's OpenAPI document.
    OpenApi,
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

/// A route's path template, OpenAPI style (`{name}` is one path segment), and
/// the methods it answers.
#[derive(Debug)]
pub(crate) struct RouteSpec {
    /// E.g. `/v1/modules/{namespace}/{name}/{system}/versions`.
    pub(crate) template: &'static str,
    /// `HEAD` goes with every `GET`.
    pub(crate) methods: &'static [Method],
}

const READ: &[Method] = &[Method::GET, Method::HEAD];

const DISCOVERY: RouteSpec = RouteSpec {
    template: "/.well-known/terraform.json",
    methods: READ,
};
const OPENAPI: RouteSpec = RouteSpec {
    template: "/openapi.json",
    methods: READ,
};
const VERSIONS: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/versions",
    methods: READ,
};
const DOWNLOAD: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/{version}/download",
    methods: READ,
};
const MODULE_VERSION: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/{version}",
    methods: &[Method::PUT, Method::DELETE],
};
const ARCHIVE: RouteSpec = RouteSpec {
    template: "/v1/archives/{namespace}/{name}/{system}/{file}",
    methods: READ,
};
const TOKENS: RouteSpec = RouteSpec {
    template: "/v1/tokens",
    methods: &[Method::GET, Method::HEAD, Method::POST],
};
const TOKEN: RouteSpec = RouteSpec {
    template: "/v1/tokens/{name}",
    methods: &[Method::DELETE],
};
const PINS: RouteSpec = RouteSpec {
    template: "/v1/pins",
    methods: READ,
};
const PIN: RouteSpec = RouteSpec {
    template: "/v1/pins/{namespace}/{name}/{system}/{version}",
    methods: &[Method::POST],
};

/// Every route, in one place: what [`Route::allowed`] answers, and what the
/// OpenAPI document (`openapi.json`) must describe (a test checks both).
pub(crate) const ROUTES: &[RouteSpec] = &[
    DISCOVERY,
    OPENAPI,
    VERSIONS,
    DOWNLOAD,
    MODULE_VERSION,
    ARCHIVE,
    TOKENS,
    TOKEN,
    PINS,
    PIN,
];

impl Route {
    /// The path template this route was matched by.
    pub(crate) fn template(&self) -> &'static str {
        match self {
            Self::Discovery => DISCOVERY.template,
            Self::OpenApi => OPENAPI.template,
            Self::Versions { .. } => VERSIONS.template,
            Self::Download { .. } => DOWNLOAD.template,
            Self::ModuleVersion { .. } => MODULE_VERSION.template,
            Self::Archive { .. } => ARCHIVE.template,
            Self::Tokens => TOKENS.template,
            Self::Token { .. } => TOKEN.template,
            Self::Pins => PINS.template,
            Self::Pin { .. } => PIN.template,
        }
    }

    /// The methods this route answers, from [`ROUTES`]; `HEAD` goes with every
    /// `GET`. A route missing from [`ROUTES`] answers nothing (`405`).
    pub(crate) fn allowed(&self) -> &'static [Method] {
        let template = self.template();
        ROUTES
            .iter()
            .find(|spec| spec.template == template)
            .map_or(&[], |spec| spec.methods)
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
    if path == "/openapi.json" {
        return Some(Route::OpenApi);
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
    use std::collections::BTreeSet;

    use super::*;

    /// `template` with its parameters filled in.
    fn sample_path(template: &str) -> String {
        template
            .replace("{namespace}", "a")
            .replace("{name}", "b")
            .replace("{system}", "c")
            .replace("{version}", "1.0.0")
            .replace("{file}", "1.0.0.tar.gz")
    }

    /// The OpenAPI document (`openapi.json`, served at `/openapi.json`) describes
    /// exactly the routes and methods the router answers, `HEAD` aside.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
        assert!(
            doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
            "not an OpenAPI 3 document"
        );
        const METHODS: [&str; 8] = [
            "get", "put", "post", "delete", "patch", "options", "head", "trace",
        ];
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(move |m| (path.clone(), m.to_uppercase()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|spec| {
                spec.methods
                    .iter()
                    .filter(|m| **m != Method::HEAD)
                    .map(|m| (spec.template.to_owned(), m.to_string()))
            })
            .collect();
        assert_eq!(
            documented, routed,
            "openapi.json and the router's ROUTES disagree; describe every route in openapi.json"
        );
        for spec in ROUTES {
            assert_eq!(
                spec.methods.contains(&Method::GET),
                spec.methods.contains(&Method::HEAD),
                "{}: HEAD goes with GET",
                spec.template
            );
            // ROUTES and `route` agree: each template routes back to itself.
            let path = sample_path(spec.template);
            let matched = route(&path).unwrap_or_else(|| panic!("{path} does not route"));
            assert_eq!(matched.template(), spec.template, "{path}");
            assert_eq!(matched.allowed(), spec.methods, "{path}");
        }
        let templates: BTreeSet<_> = ROUTES.iter().map(|s| s.template).collect();
        assert_eq!(templates.len(), ROUTES.len(), "a template twice in ROUTES");
    }

    #[test]
    fn routes() {
        let m = |a: &str, b: &str, c: &str| [a.to_owned(), b.to_owned(), c.to_owned()];
        assert_eq!(route("/.well-known/terraform.json"), Some(Route::Discovery));
        assert_eq!(route("/openapi.json"), Some(Route::OpenApi));
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
