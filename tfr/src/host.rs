//! The registry's host, as the user names it on the command line and as
//! Terraform compares it.

use std::fmt;
use std::str::FromStr;

/// The longest host name DNS allows.
const MAX_NAME_LEN: usize = 253;
/// The longest label DNS allows.
const MAX_LABEL_LEN: usize = 63;

/// A registry host: an ASCII DNS name or IPv4 address, optionally with a port
/// (`registry.example.com`, `127.0.0.1:8443`).
///
/// # Contract
/// The name is lowercased and made only of labels of `a-z`, `0-9` and `-`
/// (not at either end), joined by single dots: so it can go into a URL, a
/// JSON key and (without a port) a shell variable name unquoted. Port `443`
/// is kept for the URL but dropped from [`for_terraform`](Self::for_terraform),
/// as Terraform drops it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Host {
    name: String,
    port: Option<u16>,
}

/// Why a command-line host was refused; the message says what to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid host {given:?}: {reason}")]
pub(crate) struct HostError {
    given: String,
    reason: String,
}

impl Host {
    /// The name, lowercased, without the port.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The port Terraform keeps in its host names: the given one unless it
    /// is the default, 443.
    pub(crate) fn terraform_port(&self) -> Option<u16> {
        self.port.filter(|p| *p != 443)
    }

    /// `name[:port]` as it goes into `https://{authority}/`.
    pub(crate) fn authority(&self) -> String {
        match self.port {
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }

    /// The host as Terraform compares and stores it (svchost's
    /// `ForComparison` for an ASCII name): lowercase, `:443` dropped.
    pub(crate) fn for_terraform(&self) -> String {
        match self.terraform_port() {
            Some(port) => format!("{}:{port}", self.name),
            None => self.name.clone(),
        }
    }

    /// `https://{authority}{path}`; `path` starts with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.authority())
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl FromStr for Host {
    type Err = HostError;

    fn from_str(given: &str) -> Result<Self, HostError> {
        let fail = |reason: String| HostError {
            given: given.to_owned(),
            reason,
        };
        if given.is_empty() {
            return Err(fail(
                "it is empty; give the registry's host name, e.g. registry.example.com".into(),
            ));
        }
        if given.contains("://") || given.contains('/') {
            return Err(fail(
                "give the host only, e.g. registry.example.com or 127.0.0.1:8443, not a URL or path (tfr always uses https://)".into(),
            ));
        }
        if given.contains('@') {
            return Err(fail("give the host only, without user information".into()));
        }
        if given.starts_with('[') {
            return Err(fail(
                "IPv6 addresses are not supported (Terraform's host names cannot be one either); use a DNS name".into(),
            ));
        }
        if !given.is_ascii() {
            return Err(fail(
                "give an internationalized name in its ASCII (punycode, xn--...) form".into(),
            ));
        }
        let (name, port) = match given.split_once(':') {
            None => (given, None),
            Some((name, port)) => {
                let parsed = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0 && port.bytes().all(|b| b.is_ascii_digit()));
                match parsed {
                    Some(p) => (name, Some(p)),
                    None => {
                        return Err(fail(format!(
                            "the port {port:?} is not a number from 1 to 65535"
                        )))
                    }
                }
            }
        };
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix('.').unwrap_or(&name).to_owned();
        if name.is_empty() {
            return Err(fail("the host name before the port is empty".into()));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(fail(format!(
                "the name is {} characters long; DNS names have at most {MAX_NAME_LEN}",
                name.len()
            )));
        }
        for label in name.split('.') {
            if label.is_empty() {
                return Err(fail("it has an empty label (two dots in a row)".into()));
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(fail(format!(
                    "the label {label:?} is longer than {MAX_LABEL_LEN} characters"
                )));
            }
            if let Some(c) = label
                .chars()
                .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
            {
                return Err(fail(format!(
                    "{c:?} is not allowed; a host name has letters, digits, hyphens and dots"
                )));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(fail(format!(
                    "the label {label:?} starts or ends with a hyphen"
                )));
            }
        }
        Ok(Self { name, port })
    }
}

#[cfg(test)]
mod tests {
    use super::Host;

    fn host(s: &str) -> Host {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn names_are_lowercased_and_the_default_port_is_dropped_for_terraform() {
        let h = host("Registry.Example.COM");
        assert_eq!(h.authority(), "registry.example.com");
        assert_eq!(h.for_terraform(), "registry.example.com");
        assert_eq!(
            h.url("/v1/tokens"),
            "https://registry.example.com/v1/tokens"
        );

        let h = host("registry.example.com:443");
        assert_eq!(h.authority(), "registry.example.com:443");
        assert_eq!(h.for_terraform(), "registry.example.com");
        assert_eq!(h.terraform_port(), None);

        let h = host("127.0.0.1:8443");
        assert_eq!(h.for_terraform(), "127.0.0.1:8443");
        assert_eq!(h.terraform_port(), Some(8443));
        assert_eq!(h.to_string(), "127.0.0.1:8443");

        assert_eq!(host("registry.example.com.").name(), "registry.example.com");
        assert_eq!(host("xn--caf-dma.fr").name(), "xn--caf-dma.fr");
    }

    #[test]
    fn urls_paths_and_hostile_names_are_refused_with_what_to_give() {
        for (given, says) in [
            ("", "empty"),
            ("https://registry.example.com", "not a URL"),
            ("registry.example.com/v1", "not a URL"),
            ("user@registry.example.com", "user information"),
            ("[::1]:8443", "IPv6"),
            ("café.fr", "punycode"),
            ("registry.example.com:", "port"),
            ("registry.example.com:0", "port"),
            ("registry.example.com:65536", "port"),
            ("registry.example.com:+80", "port"),
            ("registry.example.com:80:81", "port"),
            (":8443", "empty"),
            ("a..b", "empty label"),
            ("reg_istry.example.com", "not allowed"),
            ("registry.example.com;rm -rf ~", "not allowed"),
            ("$(id).example.com", "not allowed"),
            ("a b", "not allowed"),
            ("-registry.example.com", "hyphen"),
            ("registry-.example.com", "hyphen"),
        ] {
            let e = given.parse::<Host>().unwrap_err().to_string();
            assert!(e.contains(says), "{given:?}: {e}");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(long_label.parse::<Host>().is_err());
        let long_name = vec!["a".repeat(60); 5].join(".");
        assert!(long_name.parse::<Host>().is_err());
    }
}
