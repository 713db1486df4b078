//! [`Setting`] (a flag and its variable) and [`SettingsError`] (why settings
//! were refused, naming them).

use std::fmt;
use std::path::PathBuf;

use clap::error::ErrorKind;

/// One setting: its flag (`--long`) and its environment variable, the two
/// names it is read from. Shown as `--long (VARIABLE)`.
///
/// ```
/// use registry_settings::Setting;
///
/// let s = Setting::new("s3-bucket", "TFR_S3_BUCKET");
/// assert_eq!(s.to_string(), "--s3-bucket (TFR_S3_BUCKET)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Setting {
    long: &'static str,
    env: &'static str,
}

impl Setting {
    /// The setting read from `--{long}` and from `env`.
    pub const fn new(long: &'static str, env: &'static str) -> Self {
        Self { long, env }
    }

    /// The flag's name without its dashes, e.g. `s3-bucket`.
    pub const fn long(&self) -> &'static str {
        self.long
    }

    /// The environment variable, e.g. `TFR_S3_BUCKET`.
    pub const fn env(&self) -> &'static str {
        self.env
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--{} ({})", self.long, self.env)
    }
}

/// Why settings were refused. Each message names the setting (flag and
/// variable) and what to do, and never repeats a secret's value (a token, a
/// token's hash given by mistake for the token, a key).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// A value cannot be used.
    #[error("{setting} {problem}")]
    Invalid {
        /// The setting.
        setting: Setting,
        /// What is wrong and what to do, e.g. "is invalid: use ...".
        problem: String,
    },
    /// A setting that must be given is not.
    #[error("{setting} {problem}")]
    Missing {
        /// The setting to give.
        setting: Setting,
        /// Why, e.g. "is not set: set it to ...".
        problem: String,
    },
    /// A choice the server never makes for you was not made (TLS or plain
    /// HTTP; tokens or anonymous reads).
    #[error("{0}")]
    Unchosen(&'static str),
    /// Two settings that exclude each other are both given.
    #[error("{first} and {second} are both set: {advice}")]
    Conflict {
        /// One setting.
        first: Setting,
        /// The other.
        second: Setting,
        /// What to do.
        advice: &'static str,
    },
    /// Settings given that only apply with another choice, which was not made.
    #[error(
        "{} only {} with {needs}; add it, or remove {}",
        Names(given),
        if given.len() == 1 { "applies" } else { "apply" },
        if given.len() == 1 { "it (and its variable)" } else { "them (and their variables)" }
    )]
    Unused {
        /// The settings given.
        given: Vec<Setting>,
        /// The choice they need, e.g. "--storage s3 (TFR_STORAGE=s3)".
        needs: String,
    },
    /// A file a setting names cannot be read.
    #[error("cannot read {setting} {}: {source}", path.display())]
    File {
        /// The setting naming the file.
        setting: Setting,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The environment could not be parsed (environment-only parsing, see
    /// [`parse_env_only`](crate::parse_env_only)); the message names the variable.
    #[error("{0}")]
    Environment(String),
    /// A library refused a configuration for a reason no one setting explains.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl SettingsError {
    /// The clap error kind that fits, for a usage error (exit status 2).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::File { .. } | Self::Environment(_) | Self::Other(_) => {
                ErrorKind::ValueValidation
            }
            Self::Missing { .. } | Self::Unchosen(_) => ErrorKind::MissingRequiredArgument,
            Self::Conflict { .. } | Self::Unused { .. } => ErrorKind::ArgumentConflict,
        }
    }

    /// This error as a usage error of `command`, which prints it and exits
    /// with status 2 as clap's own errors do:
    /// `Args::command()` gives the command of a `#[derive(Parser)] struct Args`.
    pub fn usage(&self, command: &mut clap::Command) -> clap::Error {
        command.error(self.kind(), self.to_string())
    }

    pub(crate) fn invalid(setting: Setting, problem: impl Into<String>) -> Self {
        Self::Invalid {
            setting,
            problem: problem.into(),
        }
    }

    pub(crate) fn missing(setting: Setting, problem: impl Into<String>) -> Self {
        Self::Missing {
            setting,
            problem: problem.into(),
        }
    }
}

/// Settings shown as a list: `--a (A), --b (B)`.
struct Names<'a>(&'a [Setting]);

impl fmt::Display for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, setting) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{setting}")?;
        }
        Ok(())
    }
}

/// The settings of `candidates` that are given, in order.
pub(crate) fn given(candidates: &[(Setting, bool)]) -> Vec<Setting> {
    candidates
        .iter()
        .filter_map(|(setting, given)| given.then_some(*setting))
        .collect()
}

/// `Err(Unused)` when any of `given` is.
pub(crate) fn refuse_unused(given: Vec<Setting>, needs: &str) -> Result<(), SettingsError> {
    if given.is_empty() {
        Ok(())
    } else {
        Err(SettingsError::Unused {
            given,
            needs: needs.to_owned(),
        })
    }
}
