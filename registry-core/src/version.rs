//! Module versions: full SemVer 2.0, sorted by precedence.

pub use semver::Version;

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The version starts with `v` (a tag, not a version).
    #[error("invalid version {0:?}: drop the leading 'v' (publish {rest:?})", rest = &.0[1..])]
    LeadingV(String),
    /// Not a SemVer 2.0 version.
    #[error("invalid version {0:?}: use SemVer 2.0, MAJOR.MINOR.PATCH with an optional -pre-release and +build (e.g. 1.2.0 or 2.0.0-rc.1)")]
    NotSemver(String),
}

/// Parses a version as the registry accepts it: SemVer 2.0, no leading `v`.
///
/// ```
/// use registry_core::version::{parse_version, VersionError};
/// assert_eq!(parse_version("1.2.0-rc.1").unwrap().to_string(), "1.2.0-rc.1");
/// assert!(matches!(parse_version("v1.2.0"), Err(VersionError::LeadingV(_))));
/// ```
///
/// # Errors
/// [`VersionError::LeadingV`] for `v1.2.3`, [`VersionError::NotSemver`] otherwise.
pub fn parse_version(s: &str) -> Result<Version, VersionError> {
    match Version::parse(s) {
        Ok(v) => Ok(v),
        Err(_) if (s.starts_with('v') || s.starts_with('V')) && Version::parse(&s[1..]).is_ok() => {
            Err(VersionError::LeadingV(s.to_owned()))
        }
        Err(_) => Err(VersionError::NotSemver(s.to_owned())),
    }
}

/// Sorts versions ascending by SemVer precedence (pre-releases before their release;
/// build metadata only breaks ties) and removes duplicates.
pub fn sort_versions(versions: &mut Vec<Version>) {
    versions.sort_unstable();
    versions.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_precedence_not_strings() {
        let mut v: Vec<Version> = [
            "10.0.0",
            "2.0.0",
            "1.10.0",
            "1.2.0",
            "1.2.0-rc.1",
            "1.2.0-alpha",
            "1.2.0-rc.10",
            "1.2.0-rc.2",
        ]
        .iter()
        .map(|s| parse_version(s).unwrap())
        .collect();
        sort_versions(&mut v);
        let got: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "1.2.0-alpha",
                "1.2.0-rc.1",
                "1.2.0-rc.2",
                "1.2.0-rc.10",
                "1.2.0",
                "1.10.0",
                "2.0.0",
                "10.0.0"
            ]
        );
    }

    #[test]
    fn refuses_leading_v_with_advice() {
        let e = parse_version("v1.0.0").unwrap_err();
        assert!(e.to_string().contains("drop the leading 'v'"), "{e}");
        assert!(matches!(
            parse_version("1.0"),
            Err(VersionError::NotSemver(_))
        ));
        assert!(matches!(
            parse_version("01.0.0"),
            Err(VersionError::NotSemver(_))
        ));
        assert!(matches!(
            parse_version("vx"),
            Err(VersionError::NotSemver(_))
        ));
    }
}
