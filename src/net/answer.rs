//! [`Answer`]: a whole successful answer.

use std::fmt;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

/// A successful answer, read whole within the call's size limit.
pub struct Answer {
    /// Its status (2xx).
    pub status: StatusCode,
    /// Its `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Its body.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// The MIME type without parameters (`image/png` of `image/png; q=1`), lowercase.
    pub fn mime(&self) -> Option<String> {
        self.content_type
            .as_deref()
            .and_then(|value| value.split(';').next())
            .map(|mime| mime.trim().to_ascii_lowercase())
            .filter(|mime| !mime.is_empty())
    }

    /// The body as JSON of type `T`; the error says what did not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        let mut reader = serde_json::Deserializer::from_slice(&self.bytes);
        serde_path_to_error::deserialize(&mut reader).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            if path == "." {
                format!("malformed JSON: {inner}")
            } else {
                format!("malformed JSON at {path}: {inner}")
            }
        })
    }
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}
