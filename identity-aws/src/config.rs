//! The verifier's settings, as plain data read from JSON.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// How long a forwarded request may take, connecting included, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of an [`AwsIdentityVerifier`](crate::AwsIdentityVerifier).
///
/// JSON (`deny_unknown_fields`):
///
/// ```json
/// {
///   "server_id": "registry.example.com",
///   "sts_endpoints": ["https://sts.eu-west-1.amazonaws.com", "https://sts.amazonaws.com"],
///   "timeout": "10s"
/// }
/// ```
///
/// - `server_id` (required): the value clients sign in the `x-tfr-server-id`
///   header, the registry's name for itself (its host name is a good
///   choice). Not a secret: it binds a signed request to this registry.
/// - `sts_endpoints` (optional): the STS endpoints a request may go to,
///   each `scheme://host[:port]` with path `/` or none; a request's URL must
///   be one of them exactly (scheme, host and port). Absent: the global
///   endpoint `https://sts.amazonaws.com/` and every regional endpoint
///   `https://sts.{region}.amazonaws.com/` of the `aws` partition (a
///   region being a name such as `eu-west-1` or `us-gov-west-1`). A list
///   replaces that default whole; list China (`.amazonaws.com.cn`) or FIPS
///   endpoints there. `http` only for test servers.
/// - `timeout` (optional, default `10s`): how long one forwarded request may
///   take, connecting included; more is `Unavailable`.
///
/// ```
/// use identity_aws::AwsVerifierConfig;
///
/// let config: AwsVerifierConfig =
///     serde_json::from_str(r#"{"server_id": "registry.example.com"}"#).unwrap();
/// assert_eq!(config, AwsVerifierConfig::new("registry.example.com"));
/// assert!(serde_json::from_str::<AwsVerifierConfig>(r#"{"server_id": "x", "region": "y"}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AwsVerifierConfig {
    /// The value the binding header must have.
    pub server_id: String,
    /// The allowed STS endpoints; `None`: the global and every regional
    /// endpoint of the `aws` partition.
    #[serde(default)]
    pub sts_endpoints: Option<Vec<String>>,
    /// How long one forwarded request may take.
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

impl AwsVerifierConfig {
    /// The settings for the registry `server_id`: the default endpoints and
    /// timeout.
    pub fn new(server_id: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            sts_endpoints: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// These settings with `endpoints` as the allowed STS endpoints.
    pub fn with_sts_endpoints(
        mut self,
        endpoints: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        self.sts_endpoints = Some(endpoints.into_iter().map(Into::into).collect());
        self
    }

    /// These settings with `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}

/// A duration written as `10s`, `1500ms`, `1m`.
fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "timeout {text:?} is not a duration ({e}); write e.g. \"10s\""
        ))
    })
}

/// Why a verifier could not be built from its settings; the message names
/// the field and what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AWS IAM exchange settings: {0}")]
pub struct ConfigError(pub(crate) String);
