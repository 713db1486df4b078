//! What the groups share: a value parser that ignores surrounding
//! whitespace, range checks and file reads that name their setting.

use std::ffi::OsStr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use clap::builder::{PossibleValue, TypedValueParser};

use crate::error::{Setting, SettingsError};

/// `P`, on the value with surrounding whitespace removed (as the Lambda
/// function always read its variables): `TFR_MAX_BODY_BYTES=" 1000 "` is 1000.
#[derive(Debug, Clone)]
pub(crate) struct Trimmed<P>(pub(crate) P);

impl<P: TypedValueParser> TypedValueParser for Trimmed<P> {
    type Value = P::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Self::Value, clap::Error> {
        let value = value.to_str().map_or(value, |s| OsStr::new(s.trim()));
        self.0.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        self.0.possible_values()
    }
}

/// A boolean flag's parser: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`
/// (any case, surrounding whitespace ignored).
pub(crate) fn boolish() -> Trimmed<clap::builder::BoolishValueParser> {
    Trimmed(clap::builder::BoolishValueParser::new())
}

/// A whole number's parser (range checks come later, with the setting's own message).
pub(crate) fn number<T>() -> Trimmed<clap::builder::RangedU64ValueParser<T>>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
    <T as TryFrom<u64>>::Error: std::error::Error + Send + Sync + 'static,
{
    Trimmed(clap::builder::RangedU64ValueParser::new())
}

/// `value` seconds, refused outside `range` ("use a whole number of seconds
/// from {min} to {max}{note}").
pub(crate) fn secs(
    setting: Setting,
    value: Option<u64>,
    range: RangeInclusive<u64>,
    note: &str,
) -> Result<Option<Duration>, SettingsError> {
    value
        .map(|n| {
            if range.contains(&n) {
                Ok(Duration::from_secs(n))
            } else {
                Err(SettingsError::invalid(
                    setting,
                    format!(
                        "is invalid: use a whole number of seconds from {} to {}{note}",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        })
        .transpose()
}

/// The text of an optional string setting: trimmed, `None` when empty.
pub(crate) fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The bytes of the file `path` that `setting` names.
pub(crate) fn read(setting: Setting, path: &Path) -> Result<Vec<u8>, SettingsError> {
    std::fs::read(path).map_err(|source| SettingsError::File {
        setting,
        path: path.to_owned(),
        source,
    })
}
