//! `ModuleAddress::new`, `ModulePattern::from_str` (`namespace[/name[/system]]`)
//! and `version::parse_version`: never a panic, accepted values round-trip
//! through `Display`, generated valid values are accepted, and the verdict is
//! the documented grammar's.

use proptest::prelude::*;
use registry_core::version::{parse_version, sort_versions, VersionError};
use registry_core::{ModuleAddress, ModulePattern, Version};

use super::support::config;

// -- oracles: the grammars as documented, written independently ------------

/// `^[0-9A-Za-z](?:[0-9A-Za-z-_]{0,62}[0-9A-Za-z])?$`
fn grammar_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    (1..=64).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

/// `^[0-9a-z]{1,64}$`
fn grammar_system(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
}

// -- strategies --------------------------------------------------------------

fn valid_name_part() -> impl Strategy<Value = String> {
    "[0-9A-Za-z]([0-9A-Za-z_-]{0,62}[0-9A-Za-z])?"
}

fn valid_system() -> impl Strategy<Value = String> {
    "[0-9a-z]{1,64}"
}

/// Strings near the grammar's edges: its alphabet plus the characters most
/// likely to be mishandled, around the length limit.
fn near_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9A-Za-z_./ -]{0,3}",
        "[0-9A-Za-z_-]{60,68}",
        "[0-9A-Za-z_.\\-/%é\u{0}A-Z]{0,12}",
        any::<String>(),
    ]
}

/// Numeric SemVer identifier: no leading zeros.
fn numeric() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

fn pre_identifier() -> impl Strategy<Value = String> {
    prop_oneof![numeric(), "[0-9A-Za-z-]{0,6}[A-Za-z-][0-9A-Za-z-]{0,6}",]
}

fn build_identifier() -> impl Strategy<Value = String> {
    "[0-9A-Za-z-]{1,8}"
}

fn valid_version() -> impl Strategy<Value = String> {
    (
        numeric(),
        numeric(),
        numeric(),
        prop::collection::vec(pre_identifier(), 0..4),
        prop::collection::vec(build_identifier(), 0..3),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let mut s = format!("{major}.{minor}.{patch}");
            if !pre.is_empty() {
                s.push('-');
                s.push_str(&pre.join("."));
            }
            if !build.is_empty() {
                s.push('+');
                s.push_str(&build.join("."));
            }
            s
        })
}

/// Version-shaped strings with the usual mistakes mixed in.
fn near_version() -> impl Strategy<Value = String> {
    prop_oneof![
        valid_version(),
        valid_version().prop_map(|v| format!("v{v}")),
        valid_version().prop_map(|v| format!("V{v}")),
        "[v0-9.+-]{0,12}",
        "[0-9A-Za-z.+\\-é ]{0,20}",
        any::<String>(),
    ]
}

// -- addresses ---------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn address_verdict_is_the_grammar(ns in near_name(), name in near_name(), system in near_name()) {
        let expected = grammar_name_part(&ns) && grammar_name_part(&name) && grammar_system(&system);
        match ModuleAddress::new(ns.as_str(), name.as_str(), system.as_str()) {
            Ok(a) => {
                prop_assert!(expected, "accepted {ns:?}/{name:?}/{system:?}");
                prop_assert_eq!(a.to_string(), format!("{ns}/{name}/{system}"));
                prop_assert_eq!((a.namespace(), a.name(), a.system()), (&*ns, &*name, &*system));
            }
            Err(e) => {
                prop_assert!(!expected, "refused {ns:?}/{name:?}/{system:?}: {e}");
                // The message names what was refused.
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn valid_addresses_are_accepted_and_round_trip(
        ns in valid_name_part(), name in valid_name_part(), system in valid_system(),
    ) {
        let a = ModuleAddress::new(ns.as_str(), name.as_str(), system.as_str()).unwrap();
        let shown = a.to_string();
        let parts: Vec<&str> = shown.split('/').collect();
        prop_assert_eq!(parts.len(), 3);
        prop_assert_eq!(ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap(), a.clone());
        // The full address is also a pattern that matches it, case-insensitively.
        let p: ModulePattern = shown.parse().unwrap();
        prop_assert!(p.matches(&a));
        let upper = ModuleAddress::new(ns.to_ascii_uppercase(), name.to_ascii_uppercase(), system.as_str()).unwrap();
        prop_assert!(p.matches(&upper));
    }

    #[test]
    fn pattern_parse_never_panics_and_round_trips(s in prop_oneof![
        any::<String>(),
        prop::collection::vec(near_name(), 0..5).prop_map(|p| p.join("/")),
        (valid_name_part(), valid_name_part(), valid_system())
            .prop_map(|(a, b, c)| format!("{a}/{b}/{c}")),
        (valid_name_part(), valid_name_part()).prop_map(|(a, b)| format!(" {a}/{b} ")),
    ]) {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let expected = match parts.as_slice() {
            [ns] => grammar_name_part(ns),
            [ns, name] => grammar_name_part(ns) && grammar_name_part(name),
            [ns, name, system] => {
                grammar_name_part(ns) && grammar_name_part(name) && grammar_system(system)
            }
            _ => false,
        };
        match s.parse::<ModulePattern>() {
            Ok(p) => {
                prop_assert!(expected, "accepted {s:?}");
                let shown = p.to_string();
                // Namespace and name are case-insensitive and shown lowercase.
                let mut want: Vec<String> = parts.iter().map(|x| x.to_ascii_lowercase()).collect();
                if let Some(system) = parts.get(2) {
                    want[2] = (*system).to_owned();
                }
                prop_assert_eq!(&shown, &want.join("/"));
                let again: ModulePattern = shown.parse().unwrap();
                prop_assert_eq!(&again, &p);
                prop_assert_eq!(again.to_string(), shown);
            }
            Err(e) => {
                prop_assert!(!expected, "refused {s:?}: {e}");
                prop_assert!(e.to_string().contains("invalid module pattern"));
            }
        }
    }
}

// -- versions ----------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn version_parse_never_panics_and_round_trips(s in near_version()) {
        match parse_version(&s) {
            Ok(v) => {
                // Strict SemVer 2.0: what is accepted is shown exactly as sent.
                prop_assert_eq!(v.to_string(), s.clone());
                prop_assert_eq!(parse_version(&v.to_string()).unwrap(), v.clone());
                prop_assert_eq!(Version::parse(&s).unwrap(), v);
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.contains("invalid version"), "{message}");
                match e {
                    VersionError::LeadingV(_) => {
                        prop_assert!(s.starts_with(['v', 'V']));
                        prop_assert!(parse_version(&s[1..]).is_ok());
                    }
                    VersionError::NotSemver(_) => prop_assert!(Version::parse(&s).is_err()),
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn valid_versions_are_accepted(s in valid_version()) {
        let v = parse_version(&s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        prop_assert_eq!(v.to_string(), s.clone());
        let tagged = format!("v{s}");
        prop_assert!(matches!(parse_version(&tagged), Err(VersionError::LeadingV(_))));
    }

    #[test]
    fn sorted_versions_are_ascending_and_unique(list in prop::collection::vec(valid_version(), 0..12)) {
        let mut versions: Vec<Version> = list.iter().map(|s| parse_version(s).unwrap()).collect();
        let before = versions.clone();
        sort_versions(&mut versions);
        prop_assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        prop_assert!(before.iter().all(|v| versions.contains(v)));
    }
}
