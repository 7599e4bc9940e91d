//! [`Auth`]: the credential a request carries.

use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use crate::error::AssetError;
use crate::net::Secret;

/// The credential sent with a request: none, a bearer token, or a named header (`x-api-key`,
/// `api-key`) whose value is secret. Its `Debug` shows which, never the value.
///
/// A [`PolicyClient`](crate::net::PolicyClient) sends it only to its base URL's origin: a CDN
/// or another host a result or a redirect points to never sees it, whatever header carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// No credential.
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `<name>: <value>`.
    Header {
        /// The header's name.
        name: HeaderName,
        /// Its value.
        value: Secret,
    },
}

impl Auth {
    /// A bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(Secret::new(token))
    }

    /// A header `name` carrying `value`; fails (naming the header, not the value) when `name` is
    /// not a header name.
    pub fn header(name: &str, value: impl Into<String>) -> Result<Self, AssetError> {
        let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
            AssetError::invalid_data(format!("{name:?} is not an HTTP header name"))
        })?;
        Ok(Self::Header {
            name,
            value: Secret::new(value),
        })
    }

    /// The secret value, if any.
    pub(crate) fn secret(&self) -> Option<&str> {
        match self {
            Self::None => None,
            Self::Bearer(token) => Some(token.expose()),
            Self::Header { value, .. } => Some(value.expose()),
        }
    }

    /// The header to send, marked sensitive (so HTTP tooling does not print it). `None` for no
    /// credential; an error (naming the header, never the value) for a value that cannot be
    /// sent in a header.
    pub(crate) fn to_header(&self) -> Result<Option<(HeaderName, HeaderValue)>, AssetError> {
        let (name, value) = match self {
            Self::None => return Ok(None),
            Self::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose())),
            Self::Header { name, value } => (name.clone(), value.expose().to_owned()),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            AssetError::invalid_data(format!(
                "the {name} credential has characters a header cannot carry"
            ))
        })?;
        value.set_sensitive(true);
        Ok(Some((name, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_become_sensitive_headers_and_never_print() {
        let auth = Auth::bearer("tok-1");
        assert!(!format!("{auth:?}").contains("tok-1"));
        let (name, value) = auth.to_header().unwrap().unwrap();
        assert_eq!(name, AUTHORIZATION);
        assert!(value.is_sensitive());
        assert_eq!(value.to_str().unwrap(), "Bearer tok-1");
        let auth = Auth::header("x-api-key", "key-2").unwrap();
        assert!(!format!("{auth:?}").contains("key-2"));
        assert!(Auth::header("bad name", "v").is_err());
        let error = Auth::bearer("new\nline-secret").to_header().unwrap_err();
        assert!(!error.message().contains("line-secret"), "{error}");
        assert_eq!(Auth::None.to_header().unwrap(), None);
    }
}
