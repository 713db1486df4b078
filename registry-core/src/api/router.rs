//! Maps a request path to a route. Knows nothing of auth or storage.

use http::Method;
use percent_encoding::percent_decode_str;

use crate::tokens::Tier;

/// A matched route with its raw (percent-decoded) path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Discovery,
    /// This API's OpenAPI document.
    OpenApi,
    /// `GET /healthz`: liveness.
    Health,
    /// `GET /readyz`: readiness.
    Ready,
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
    /// `GET /v1/modules`.
    ModuleList,
    /// `GET /v1/modules/search`.
    Search,
    /// `GET /v1/modules/{namespace}`.
    NamespaceList {
        namespace: String,
    },
    /// `GET /v1/modules/{namespace}/{name}`: its providers.
    ModuleProviders {
        namespace: String,
        name: String,
    },
    /// `GET /v1/modules/{namespace}/{name}/{system}`: the latest version's details.
    Module {
        module: [String; 3],
    },
    /// `GET /v1/modules/{namespace}/{name}/{system}/download`: to the latest's download.
    DownloadLatest {
        module: [String; 3],
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
    /// `POST /v1/exchange/oidc`.
    ExchangeOidc,
    /// `POST /v1/exchange/aws`.
    ExchangeAws,
    /// `GET /v1/audit`.
    Audit,
}

/// Who may call an operation, decided on the request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Anyone (discovery, the OpenAPI document).
    Public,
    /// Whoever holds a URL this registry signed (archives: Terraform sends no
    /// token when it fetches one).
    SignedUrl,
    /// A bearer token of this tier or higher (downloader routes are open to
    /// everyone when anonymous reads are on).
    Tier(Tier),
}

/// What body an operation takes; decides how much an adapter may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// None is expected; a small one is read and ignored.
    None,
    /// A small JSON document.
    Json,
    /// A module archive, up to the registry's upload limit, spooled to disk
    /// past a few hundred KiB.
    Archive,
}

/// One method of a route: who may call it and what body it takes.
#[derive(Debug)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) access: Access,
    pub(crate) body: BodyKind,
}

/// A route's path template, OpenAPI style (`{name}` is one path segment), and
/// its operations. `HEAD` is answered wherever `GET` is, with `GET`'s access.
#[derive(Debug)]
pub(crate) struct RouteSpec {
    /// E.g. `/v1/modules/{namespace}/{name}/{system}/versions`; what the
    /// OpenAPI test matches the document against.
    pub(crate) template: &'static str,
    pub(crate) operations: &'static [Operation],
    /// The methods answered, `HEAD` included: the `Allow` header of a `405`.
    pub(crate) methods: &'static [Method],
}

impl RouteSpec {
    /// The operation `method` calls (`HEAD` calls `GET`'s); `None` is a `405`.
    pub(crate) fn operation(&self, method: &Method) -> Option<&'static Operation> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.operations.iter().find(|op| op.method == method)
    }
}

const fn get(access: Access) -> Operation {
    Operation {
        method: Method::GET,
        access,
        body: BodyKind::None,
    }
}

const fn op(method: Method, access: Access, body: BodyKind) -> Operation {
    Operation {
        method,
        access,
        body,
    }
}

const READ: &[Method] = &[Method::GET, Method::HEAD];
const DOWNLOADER: Access = Access::Tier(Tier::Downloader);
const MASTER: Access = Access::Tier(Tier::Master);

static DISCOVERY: RouteSpec = RouteSpec {
    template: "/.well-known/terraform.json",
    operations: &[get(Access::Public)],
    methods: READ,
};
static OPENAPI: RouteSpec = RouteSpec {
    template: "/openapi.json",
    operations: &[get(Access::Public)],
    methods: READ,
};
static HEALTH: RouteSpec = RouteSpec {
    template: "/healthz",
    operations: &[get(Access::Public)],
    methods: READ,
};
static READY: RouteSpec = RouteSpec {
    template: "/readyz",
    operations: &[get(Access::Public)],
    methods: READ,
};
static VERSIONS: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/versions",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static DOWNLOAD: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/{version}/download",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static MODULE_VERSION: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/{version}",
    operations: &[
        get(DOWNLOADER),
        op(Method::PUT, Access::Tier(Tier::Uploader), BodyKind::Archive),
        op(Method::DELETE, MASTER, BodyKind::None),
    ],
    methods: &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE],
};
static MODULE_LIST: RouteSpec = RouteSpec {
    template: "/v1/modules",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static SEARCH: RouteSpec = RouteSpec {
    template: "/v1/modules/search",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static NAMESPACE_LIST: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static MODULE_PROVIDERS: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static MODULE: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static DOWNLOAD_LATEST: RouteSpec = RouteSpec {
    template: "/v1/modules/{namespace}/{name}/{system}/download",
    operations: &[get(DOWNLOADER)],
    methods: READ,
};
static ARCHIVE: RouteSpec = RouteSpec {
    template: "/v1/archives/{namespace}/{name}/{system}/{file}",
    operations: &[get(Access::SignedUrl)],
    methods: READ,
};
static TOKENS: RouteSpec = RouteSpec {
    template: "/v1/tokens",
    operations: &[get(MASTER), op(Method::POST, MASTER, BodyKind::Json)],
    methods: &[Method::GET, Method::HEAD, Method::POST],
};
static TOKEN: RouteSpec = RouteSpec {
    template: "/v1/tokens/{name}",
    operations: &[op(Method::DELETE, MASTER, BodyKind::None)],
    methods: &[Method::DELETE],
};
static PINS: RouteSpec = RouteSpec {
    template: "/v1/pins",
    operations: &[get(MASTER)],
    methods: READ,
};
static PIN: RouteSpec = RouteSpec {
    template: "/v1/pins/{namespace}/{name}/{system}/{version}",
    operations: &[op(Method::POST, MASTER, BodyKind::None)],
    methods: &[Method::POST],
};

static EXCHANGE_OIDC: RouteSpec = RouteSpec {
    template: "/v1/exchange/oidc",
    // The credential is the body: checked by the exchange, not on the head.
    operations: &[op(Method::POST, Access::Public, BodyKind::Json)],
    methods: &[Method::POST],
};
static EXCHANGE_AWS: RouteSpec = RouteSpec {
    template: "/v1/exchange/aws",
    operations: &[op(Method::POST, Access::Public, BodyKind::Json)],
    methods: &[Method::POST],
};
static AUDIT: RouteSpec = RouteSpec {
    template: "/v1/audit",
    operations: &[get(MASTER)],
    methods: READ,
};

/// Every route, in one place: it drives routing ([`Route::spec`]), admission
/// (each operation's [`Access`] and [`BodyKind`]), `405`s, and what the
/// OpenAPI document (`openapi.json`) must describe (a test checks both).
#[cfg(test)]
pub(crate) static ROUTES: &[&RouteSpec] = &[
    &DISCOVERY,
    &OPENAPI,
    &HEALTH,
    &READY,
    &VERSIONS,
    &DOWNLOAD,
    &MODULE_VERSION,
    &MODULE_LIST,
    &SEARCH,
    &NAMESPACE_LIST,
    &MODULE_PROVIDERS,
    &MODULE,
    &DOWNLOAD_LATEST,
    &ARCHIVE,
    &TOKENS,
    &TOKEN,
    &PINS,
    &PIN,
    &EXCHANGE_OIDC,
    &EXCHANGE_AWS,
    &AUDIT,
];

impl Route {
    /// The spec this route was matched by.
    pub(crate) fn spec(&self) -> &'static RouteSpec {
        match self {
            Self::Discovery => &DISCOVERY,
            Self::OpenApi => &OPENAPI,
            Self::Health => &HEALTH,
            Self::Ready => &READY,
            Self::Versions { .. } => &VERSIONS,
            Self::Download { .. } => &DOWNLOAD,
            Self::ModuleVersion { .. } => &MODULE_VERSION,
            Self::ModuleList => &MODULE_LIST,
            Self::Search => &SEARCH,
            Self::NamespaceList { .. } => &NAMESPACE_LIST,
            Self::ModuleProviders { .. } => &MODULE_PROVIDERS,
            Self::Module { .. } => &MODULE,
            Self::DownloadLatest { .. } => &DOWNLOAD_LATEST,
            Self::Archive { .. } => &ARCHIVE,
            Self::Tokens => &TOKENS,
            Self::Token { .. } => &TOKEN,
            Self::Pins => &PINS,
            Self::Pin { .. } => &PIN,
            Self::ExchangeOidc => &EXCHANGE_OIDC,
            Self::ExchangeAws => &EXCHANGE_AWS,
            Self::Audit => &AUDIT,
        }
    }

    /// The path template this route was matched by.
    #[cfg(test)]
    pub(crate) fn template(&self) -> &'static str {
        self.spec().template
    }
}

/// The prefix of module routes, also announced by discovery as `modules.v1`.
pub(crate) const MODULES_PREFIX: &str = "/v1/modules/";

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
    match path {
        "/healthz" => return Some(Route::Health),
        "/readyz" => return Some(Route::Ready),
        _ => {}
    }
    if path == "/v1/tokens" {
        return Some(Route::Tokens);
    }
    if path == "/v1/pins" {
        return Some(Route::Pins);
    }
    match path {
        "/v1/exchange/oidc" => return Some(Route::ExchangeOidc),
        "/v1/exchange/aws" => return Some(Route::ExchangeAws),
        "/v1/audit" => return Some(Route::Audit),
        _ => {}
    }
    if path == "/v1/modules" {
        return Some(Route::ModuleList);
    }
    if path == "/v1/modules/search" {
        return Some(Route::Search);
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
        ["v1", "modules", ns] if !ns.is_empty() => Some(Route::NamespaceList {
            namespace: (*ns).to_owned(),
        }),
        ["v1", "modules", ns, n] => Some(Route::ModuleProviders {
            namespace: (*ns).to_owned(),
            name: (*n).to_owned(),
        }),
        ["v1", "modules", ns, n, sys] => Some(Route::Module {
            module: m(ns, n, sys),
        }),
        ["v1", "modules", ns, n, sys, "versions"] => Some(Route::Versions {
            module: m(ns, n, sys),
        }),
        // Before `{version}`: `download` is no version.
        ["v1", "modules", ns, n, sys, "download"] => Some(Route::DownloadLatest {
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
            assert!(std::ptr::eq(matched.spec(), *spec), "{path}");
            // `methods` (the `Allow` header) lists exactly the operations, plus HEAD.
            let mut from_operations: Vec<Method> =
                spec.operations.iter().map(|op| op.method.clone()).collect();
            if from_operations.contains(&Method::GET) {
                from_operations.push(Method::HEAD);
            }
            let sorted = |m: &[Method]| {
                let mut v: Vec<String> = m.iter().map(ToString::to_string).collect();
                v.sort();
                v
            };
            assert_eq!(
                sorted(&from_operations),
                sorted(spec.methods),
                "{}",
                spec.template
            );
        }
        let templates: BTreeSet<_> = ROUTES.iter().map(|s| s.template).collect();
        assert_eq!(templates.len(), ROUTES.len(), "a template twice in ROUTES");
    }

    /// Each operation's access in the route table is what `openapi.json`
    /// documents: public and signed-URL operations have `security: []`, the
    /// others inherit the bearer scheme and name their tier in `x-tier`.
    #[test]
    fn openapi_security_matches_the_route_table() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("openapi.json")).expect("openapi.json is JSON");
        assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
        for spec in ROUTES {
            for op in spec.operations {
                let documented = &doc["paths"][spec.template][op.method.as_str().to_lowercase()];
                let at = format!("{} {}", op.method, spec.template);
                match op.access {
                    Access::Public | Access::SignedUrl => {
                        assert_eq!(documented["security"], serde_json::json!([]), "{at}");
                        assert!(documented.get("x-tier").is_none(), "{at}");
                    }
                    Access::Tier(tier) => {
                        assert!(
                            documented.get("security").is_none(),
                            "{at}: inherits bearer"
                        );
                        assert_eq!(documented["x-tier"], tier.to_string(), "{at}");
                    }
                }
                // Operations taking a body document it; the others do not.
                assert_eq!(
                    documented.get("requestBody").is_some(),
                    op.body != BodyKind::None,
                    "{at}: requestBody"
                );
            }
        }
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
        assert_eq!(route("/v1/modules"), Some(Route::ModuleList));
        assert_eq!(route("/v1/modules/search"), Some(Route::Search));
        assert_eq!(
            route("/v1/modules/a"),
            Some(Route::NamespaceList {
                namespace: "a".into()
            })
        );
        assert_eq!(
            route("/v1/modules/a/b"),
            Some(Route::ModuleProviders {
                namespace: "a".into(),
                name: "b".into()
            })
        );
        assert_eq!(
            route("/v1/modules/a/b/c"),
            Some(Route::Module {
                module: m("a", "b", "c")
            })
        );
        // `download` is matched before `{version}`.
        assert_eq!(
            route("/v1/modules/a/b/c/download"),
            Some(Route::DownloadLatest {
                module: m("a", "b", "c")
            })
        );
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
            "/v1/modules/",
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
