//! The STS endpoints a signed request may go to, and checking its URL
//! against them.

use registry_core::exchange::ExchangeError;
use reqwest::Url;

use crate::config::ConfigError;

/// One allowed endpoint: scheme, host and port, path `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        Some(Self {
            scheme: url.scheme().to_owned(),
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }
}

/// The allowed STS endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoints {
    /// `https://sts.amazonaws.com/` and every
    /// `https://sts.{region}.amazonaws.com/`.
    AwsDefault,
    /// Exactly these.
    List(Vec<Origin>),
}

impl Endpoints {
    /// The allow-list `configured` describes (`None`: the default).
    ///
    /// # Errors
    /// [`ConfigError`] naming the entry (`sts_endpoints[1]`, from 1) and
    /// what is wrong with it, or an empty list.
    pub(crate) fn from_config(configured: Option<&[String]>) -> Result<Self, ConfigError> {
        let Some(list) = configured else {
            return Ok(Self::AwsDefault);
        };
        if list.is_empty() {
            return Err(ConfigError(
                "sts_endpoints is empty; list at least one endpoint, or leave it out for every AWS STS endpoint".to_owned(),
            ));
        }
        let origins = list
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let bad = |why: String| {
                    ConfigError(format!(
                        "sts_endpoints[{}]: {why}; write e.g. https://sts.eu-west-1.amazonaws.com",
                        i + 1
                    ))
                };
                let url = upstream_http::parse_base_url(
                    text.trim(),
                    "https://sts.eu-west-1.amazonaws.com",
                )
                .map_err(bad)?;
                if url.path() != "/" {
                    return Err(bad(format!("the path must be / (not {:?})", url.path())));
                }
                Origin::of(&url).ok_or_else(|| bad("the URL has no host or port".to_owned()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self::List(origins))
    }

    /// Checks `url`, the signed request's: it must parse, have no
    /// credentials, query or fragment, path `/`, and be an allowed endpoint
    /// (scheme, host and port compared after the URL parser's
    /// normalisation: lowercase host, default port). Answers the parsed URL,
    /// which is where the request is forwarded.
    ///
    /// # Errors
    /// [`ExchangeError::Malformed`] for a URL of the wrong shape;
    /// [`ExchangeError::Rejected`] for one that is not an allowed endpoint.
    /// Neither quotes the URL, which may hold credentials.
    pub(crate) fn check(&self, url: &str) -> Result<Url, ExchangeError> {
        let malformed = |why: &str| {
            ExchangeError::Malformed(format!(
                "the signed request's url {why}; sign the request for an STS endpoint such as https://sts.amazonaws.com/"
            ))
        };
        let parsed = Url::parse(url).map_err(|_| malformed("is not a URL"))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(malformed("holds credentials"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(malformed("has a query or fragment"));
        }
        if parsed.path() != "/" {
            return Err(malformed("has a path other than /"));
        }
        let allowed = match (self, Origin::of(&parsed)) {
            (_, None) => false,
            (Self::AwsDefault, Some(origin)) => {
                origin.scheme == "https" && origin.port == 443 && is_aws_sts_host(&origin.host)
            }
            (Self::List(list), Some(origin)) => list.contains(&origin),
        };
        if !allowed {
            return Err(ExchangeError::Rejected(format!(
                "the signed request goes to {}, which is not an STS endpoint this registry allows; sign it for {}",
                shown_origin(&parsed),
                self.describe()
            )));
        }
        Ok(parsed)
    }

    /// The allowed endpoints, for messages.
    fn describe(&self) -> String {
        match self {
            Self::AwsDefault => {
                "https://sts.amazonaws.com/ or https://sts.{region}.amazonaws.com/".to_owned()
            }
            Self::List(list) => list
                .iter()
                .map(|o| {
                    let default = Url::parse(&format!("{}://{}/", o.scheme, o.host))
                        .ok()
                        .and_then(|u| u.port_or_known_default());
                    if default == Some(o.port) {
                        format!("{}://{}/", o.scheme, o.host)
                    } else {
                        format!("{}://{}:{}/", o.scheme, o.host, o.port)
                    }
                })
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// `scheme://host[:port]` of `url`, for messages (never its credentials).
fn shown_origin(url: &Url) -> String {
    format!("{}://{}", url.scheme(), crate::sts::authority(url))
}

/// `sts.amazonaws.com`, or `sts.{region}.amazonaws.com` with a region name:
/// two or more `-`-separated words of lowercase letters then a number
/// (`eu-west-1`, `us-gov-west-1`, `ap-southeast-5`).
fn is_aws_sts_host(host: &str) -> bool {
    if host == "sts.amazonaws.com" {
        return true;
    }
    let Some(region) = host
        .strip_prefix("sts.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
    else {
        return false;
    };
    let parts: Vec<&str> = region.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|c| c.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(urls: &[&str]) -> Endpoints {
        let owned: Vec<String> = urls.iter().map(|s| (*s).to_owned()).collect();
        Endpoints::from_config(Some(&owned)).unwrap()
    }

    #[test]
    fn the_default_allows_the_global_and_regional_endpoints_only() {
        let d = Endpoints::AwsDefault;
        for ok in [
            "https://sts.amazonaws.com/",
            "https://sts.amazonaws.com",
            "https://STS.AmazonAWS.com:443/",
            "https://sts.eu-west-1.amazonaws.com/",
            "https://sts.us-gov-west-1.amazonaws.com/",
            "https://sts.ap-southeast-5.amazonaws.com/",
        ] {
            let url = d.check(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert_eq!(url.path(), "/");
        }
        for (no, malformed) in [
            ("http://sts.amazonaws.com/", false),
            ("https://sts.amazonaws.com:8443/", false),
            ("https://sts.amazonaws.com.evil.test/", false),
            ("https://sts.amazonaws.com./", false),
            ("https://evil.sts.amazonaws.com/", false),
            ("https://sts.evil.amazonaws.com/", false),
            ("https://sts.eu-west.amazonaws.com/", false),
            ("https://sts.eu-west-1.evil.amazonaws.com/", false),
            ("https://sts.eu-west-1.amazonaws.com.cn/", false),
            ("https://s3.amazonaws.com/", false),
            ("https://iam.amazonaws.com/", false),
            ("https://sts.amazonaws.com@evil.test/", true),
            ("https://u:p@sts.amazonaws.com/", true),
            ("https://sts.amazonaws.com/?Action=AssumeRole", true),
            ("https://sts.amazonaws.com/?", true),
            ("https://sts.amazonaws.com/#x", true),
            ("https://sts.amazonaws.com/x", true),
            ("https://sts.amazonaws.com//", true),
            ("sts.amazonaws.com", true),
            ("", true),
        ] {
            let e = d.check(no).expect_err(no);
            assert_eq!(
                matches!(e, ExchangeError::Malformed(_)),
                malformed,
                "{no}: {e:?}"
            );
            assert!(
                !e.to_string().contains("evil.test/") || !malformed,
                "{no}: {e}"
            );
        }
    }

    #[test]
    fn a_list_replaces_the_default_and_compares_normalised() {
        let l = list(&[
            "http://127.0.0.1:4566",
            "https://sts.eu-west-1.amazonaws.com/",
        ]);
        assert!(l.check("http://127.0.0.1:4566/").is_ok());
        assert!(l.check("https://STS.eu-west-1.amazonaws.com:443/").is_ok());
        for no in [
            "https://127.0.0.1:4566/",
            "http://127.0.0.1:4567/",
            "http://localhost:4566/",
            "https://sts.amazonaws.com/",
        ] {
            let e = l.check(no).expect_err(no);
            assert!(matches!(e, ExchangeError::Rejected(_)), "{no}: {e:?}");
            assert!(e.to_string().contains("http://127.0.0.1:4566/"), "{e}");
        }
    }

    #[test]
    fn bad_lists_name_the_entry() {
        assert!(Endpoints::from_config(Some(&[]))
            .unwrap_err()
            .0
            .contains("empty"));
        for (entry, says) in [
            ("sts.amazonaws.com", "not a URL"),
            ("https://sts.amazonaws.com/x", "path"),
            ("https://sts.amazonaws.com/?a", "query"),
            ("ftp://sts.amazonaws.com/", "scheme"),
        ] {
            let e = Endpoints::from_config(Some(&[
                "https://sts.amazonaws.com".to_owned(),
                entry.to_owned(),
            ]))
            .unwrap_err();
            assert!(
                e.0.starts_with("sts_endpoints[2]:") && e.0.contains(says),
                "{entry}: {e}"
            );
        }
    }
}
