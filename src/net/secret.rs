//! [`Secret`]: a token or password that never prints.

use std::fmt;

use crate::error::AssetError;

/// A secret string (an API token, a password). Its `Debug` and `Display` print `<redacted>`,
/// so it can sit in configuration structs that are logged or shown.
///
/// ```
/// use bevy_asset_provider::net::Secret;
///
/// let token = Secret::new("sk-live-123");
/// assert_eq!(format!("{token} {token:?}"), "<redacted> <redacted>");
/// assert_eq!(token.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret from the environment variable `name`. The error names the variable, never a
    /// value.
    pub fn from_env(name: &str) -> Result<Self, AssetError> {
        match std::env::var(name) {
            Ok(value) if !value.trim().is_empty() => Ok(Self(value.trim().to_owned())),
            Ok(_) => Err(AssetError::invalid_data(format!(
                "the environment variable {name} is empty"
            ))),
            Err(std::env::VarError::NotPresent) => Err(AssetError::invalid_data(format!(
                "the environment variable {name} is not set"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(AssetError::invalid_data(format!(
                "the environment variable {name} is not valid UTF-8"
            ))),
        }
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("abc");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.to_string(), "<redacted>");
        assert_eq!(secret.expose(), "abc");
        let error = Secret::from_env("BAP_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(error.message().contains("BAP_TEST_SURELY_UNSET_VARIABLE"));
    }
}
