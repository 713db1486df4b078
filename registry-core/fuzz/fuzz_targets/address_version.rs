//! Address, pattern and version parsing on arbitrary text: never a panic, and
//! whatever is accepted round-trips through `Display`.
//!
//! The input is UTF-8 text; up to its first three `\n`-separated lines are a
//! module address's parts, and the whole text is tried as a proxy pattern and
//! as a version.

#![no_main]

use libfuzzer_sys::fuzz_target;
use registry_core::version::parse_version;
use registry_core::{ModuleAddress, ModulePattern};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let mut parts = text.splitn(3, '\n');
    let (ns, name, system) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(address) = ModuleAddress::new(ns, name, system) {
        let shown = address.to_string();
        assert_eq!(shown, format!("{ns}/{name}/{system}"));
        let again: Vec<&str> = shown.split('/').collect();
        assert_eq!(again.len(), 3, "{shown:?}");
        assert_eq!(
            ModuleAddress::new(again[0], again[1], again[2]).as_ref(),
            Ok(&address)
        );
        let pattern: ModulePattern = shown.parse().expect("a valid address is a valid pattern");
        assert!(pattern.matches(&address));
    }

    for candidate in [text, ns] {
        if let Ok(pattern) = candidate.parse::<ModulePattern>() {
            let shown = pattern.to_string();
            let again: ModulePattern = shown.parse().expect("a shown pattern parses");
            assert_eq!(again, pattern);
            assert_eq!(again.to_string(), shown);
        }
        match parse_version(candidate) {
            Ok(version) => {
                assert_eq!(version.to_string(), candidate);
                assert_eq!(parse_version(&version.to_string()).as_ref(), Ok(&version));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
});
