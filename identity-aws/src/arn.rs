//! Caller ARNs as STS's `GetCallerIdentity` answers them, and the claims
//! exchange rules match on.

use serde_json::{Map, Value};

/// What kind of principal an ARN names (the `type` claim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    User,
    /// `arn:aws:iam::ACCOUNT:role/PATH/NAME` (STS answers this form only for
    /// a role's own identity, rarely).
    Role,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    AssumedRole,
    /// `arn:aws:sts::ACCOUNT:federated-user/NAME`.
    FederatedUser,
    /// `arn:aws:iam::ACCOUNT:root`.
    Root,
}

impl Kind {
    /// The `type` claim.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Role => "role",
            Self::AssumedRole => "assumed-role",
            Self::FederatedUser => "federated-user",
            Self::Root => "root",
        }
    }
}

/// A caller ARN, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallerArn<'a> {
    /// The whole ARN.
    pub(crate) arn: &'a str,
    /// `aws`, `aws-cn`, `aws-us-gov`...
    pub(crate) partition: &'a str,
    /// The 12-digit account id.
    pub(crate) account: &'a str,
    /// What kind of principal.
    pub(crate) kind: Kind,
    /// The user or role name (an assumed role's role name, a federated user's
    /// name); `None` for root.
    pub(crate) name: Option<&'a str>,
    /// The IAM path of a user or role (`/` or `/a/b/`); `None` where the ARN
    /// does not show it (assumed roles, federated users, root).
    pub(crate) path: Option<&'a str>,
    /// An assumed role's session name.
    pub(crate) session: Option<&'a str>,
}

impl<'a> CallerArn<'a> {
    /// Parses a caller ARN: `arn:PARTITION:iam::ACCOUNT:user/...`,
    /// `role/...`, `root`, or `arn:PARTITION:sts::ACCOUNT:assumed-role/...`,
    /// `federated-user/...`.
    ///
    /// # Errors
    /// What is wrong, as a phrase ("the account is not 12 digits"); it never
    /// quotes the ARN.
    pub(crate) fn parse(arn: &'a str) -> Result<Self, &'static str> {
        if arn.len() > 2048 {
            return Err("it is longer than 2048 characters");
        }
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err("it is not of the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE");
        };
        if !is_partition(partition) {
            return Err("the partition is not aws or aws-*");
        }
        if !region.is_empty() {
            return Err("an IAM or STS principal has no region");
        }
        if account.len() != 12 || !account.bytes().all(|c| c.is_ascii_digit()) {
            return Err("the account is not 12 digits");
        }
        let base = |kind, name, path, session| Self {
            arn,
            partition,
            account,
            kind,
            name,
            path,
            session,
        };
        match service {
            "iam" => {
                if resource == "root" {
                    return Ok(base(Kind::Root, None, None, None));
                }
                let (kind, rest) = if let Some(rest) = resource.strip_prefix("user/") {
                    (Kind::User, rest)
                } else if let Some(rest) = resource.strip_prefix("role/") {
                    (Kind::Role, rest)
                } else {
                    return Err("an IAM caller is a user, a role or root");
                };
                // `user/a/b/alice`: path `/a/b/` (from the `/` after `user`
                // through the last `/`), name `alice`.
                let slash = resource.len() - rest.len() - 1;
                let (path, name) = match resource.rfind('/') {
                    Some(last) if last > slash => (&resource[slash..=last], &resource[last + 1..]),
                    _ => ("/", rest),
                };
                if !is_path(path) {
                    return Err("the IAM path is not valid");
                }
                if !is_name(name, 1, 64) {
                    return Err("the user or role name is not valid");
                }
                Ok(base(kind, Some(name), Some(path), None))
            }
            "sts" => {
                if let Some(rest) = resource.strip_prefix("assumed-role/") {
                    let Some((role, session)) = rest.split_once('/') else {
                        return Err("an assumed role is assumed-role/ROLE/SESSION");
                    };
                    if !is_name(role, 1, 64) {
                        return Err("the role name is not valid");
                    }
                    if !is_name(session, 2, 64) {
                        return Err("the session name is not valid");
                    }
                    Ok(base(Kind::AssumedRole, Some(role), None, Some(session)))
                } else if let Some(name) = resource.strip_prefix("federated-user/") {
                    if !is_name(name, 2, 32) {
                        return Err("the federated user name is not valid");
                    }
                    Ok(base(Kind::FederatedUser, Some(name), None, None))
                } else {
                    Err("an STS caller is an assumed role or a federated user")
                }
            }
            _ => Err("the service is neither iam nor sts"),
        }
    }

    /// The claims exchange rules match on: `arn`, `account`, `user_id`,
    /// `type`, and where the ARN shows them `name`, `path` and `session`.
    /// A claim the ARN does not show is absent (so no rule matches on it),
    /// never a guess.
    pub(crate) fn claims(&self, user_id: &str) -> Map<String, Value> {
        let mut claims = Map::new();
        let mut put = |k: &str, v: &str| {
            claims.insert(k.to_owned(), Value::String(v.to_owned()));
        };
        put("arn", self.arn);
        put("account", self.account);
        put("user_id", user_id);
        put("type", self.kind.as_str());
        if let Some(name) = self.name {
            put("name", name);
        }
        if let Some(path) = self.path {
            put("path", path);
        }
        if let Some(session) = self.session {
            put("session", session);
        }
        claims
    }
}

/// `aws`, or `aws-` and lowercase letters and `-` (`aws-cn`, `aws-us-gov`,
/// `aws-iso-b`).
fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 16
                && rest.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')
        })
}

/// An IAM name (user, role, session): `min..=max` characters of letters,
/// digits and `+=,.@_-`.
fn is_name(name: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+=,.@_-".contains(&c))
}

/// An IAM path: `/`, or `/` segments `/`, printable ASCII, at most 512.
fn is_path(path: &str) -> bool {
    path.len() <= 512
        && path.starts_with('/')
        && path.ends_with('/')
        && !path.contains("//")
        && path.bytes().all(|c| (0x21..=0x7e).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(arn: &str) -> CallerArn<'_> {
        CallerArn::parse(arn).unwrap_or_else(|e| panic!("{arn}: {e}"))
    }

    #[test]
    fn assumed_roles_name_the_role_and_session() {
        let a = parse("arn:aws:sts::123456789012:assumed-role/ci-role/session-name");
        assert_eq!(a.kind, Kind::AssumedRole);
        assert_eq!(a.account, "123456789012");
        assert_eq!(a.partition, "aws");
        assert_eq!(
            (a.name, a.path, a.session),
            (Some("ci-role"), None, Some("session-name"))
        );
        let claims = a.claims("AROAEXAMPLE:session-name");
        assert_eq!(
            Value::Object(claims),
            serde_json::json!({
                "arn": "arn:aws:sts::123456789012:assumed-role/ci-role/session-name",
                "account": "123456789012",
                "user_id": "AROAEXAMPLE:session-name",
                "type": "assumed-role",
                "name": "ci-role",
                "session": "session-name",
            })
        );
        // Session names may hold `@`, `=`, `,`, `.`.
        let a = parse("arn:aws:sts::123456789012:assumed-role/r/alice@example.com");
        assert_eq!(a.session, Some("alice@example.com"));
    }

    #[test]
    fn users_and_roles_keep_their_path() {
        let a = parse("arn:aws:iam::123456789012:user/path/alice");
        assert_eq!(
            (a.kind, a.name, a.path),
            (Kind::User, Some("alice"), Some("/path/"))
        );
        let a = parse("arn:aws:iam::123456789012:user/alice");
        assert_eq!(
            (a.kind, a.name, a.path),
            (Kind::User, Some("alice"), Some("/"))
        );
        let a = parse("arn:aws:iam::123456789012:role/a/b/deploy");
        assert_eq!(
            (a.kind, a.name, a.path),
            (Kind::Role, Some("deploy"), Some("/a/b/"))
        );
        assert_eq!(a.claims("AROA")["path"], "/a/b/");
        assert_eq!(a.claims("AROA")["type"], "role");
    }

    #[test]
    fn federated_users_root_and_other_partitions() {
        let a = parse("arn:aws:sts::123456789012:federated-user/bob");
        assert_eq!(
            (a.kind, a.name, a.session),
            (Kind::FederatedUser, Some("bob"), None)
        );
        let a = parse("arn:aws:iam::123456789012:root");
        assert_eq!((a.kind, a.name, a.path), (Kind::Root, None, None));
        let claims = a.claims("123456789012");
        assert_eq!(claims["type"], "root");
        assert!(!claims.contains_key("name") && !claims.contains_key("path"));
        for partition in ["aws-cn", "aws-us-gov", "aws-iso-b"] {
            let arn = format!("arn:{partition}:sts::123456789012:assumed-role/r/s1");
            assert_eq!(CallerArn::parse(&arn).unwrap().partition, partition);
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for arn in [
            "",
            "arn",
            "arn:aws:iam::123456789012",
            "urn:aws:iam::123456789012:user/alice",
            "arn:gcp:iam::123456789012:user/alice",
            "arn:aws-:iam::123456789012:user/alice",
            "arn:AWS:iam::123456789012:user/alice",
            "arn:aws:iam:us-east-1:123456789012:user/alice",
            "arn:aws:iam::12345678901:user/alice",
            "arn:aws:iam::12345678901a:user/alice",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::123456789012:group/admins",
            "arn:aws:iam::123456789012:user/",
            "arn:aws:iam::123456789012:user/a//alice",
            "arn:aws:iam::123456789012:user/al ice",
            "arn:aws:iam::123456789012:user/al*",
            "arn:aws:iam::123456789012:roots",
            "arn:aws:sts::123456789012:assumed-role/role",
            "arn:aws:sts::123456789012:assumed-role/role/s/extra",
            "arn:aws:sts::123456789012:assumed-role//session",
            "arn:aws:sts::123456789012:assumed-role/role/s",
            "arn:aws:sts::123456789012:federated-user/b",
            "arn:aws:sts::123456789012:root",
            "arn:aws:sts::123456789012:user/alice",
        ] {
            assert!(CallerArn::parse(arn).is_err(), "{arn} was accepted");
        }
        assert!(CallerArn::parse(&format!(
            "arn:aws:iam::123456789012:user/{}",
            "a".repeat(65)
        ))
        .is_err());
    }
}
