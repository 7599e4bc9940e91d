//! The one error type of the crate, with a kind to match on.

use bevy::reflect::Reflect;
use std::fmt;

/// What went wrong, coarsely: match on this, show the [`AssetError`]'s message to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect)]
pub enum AssetErrorKind {
    /// No source could serve the request (nothing pre-made matched and generation was not allowed).
    NotFound,
    /// A source (generator or backend) tried and failed.
    Generation,
    /// The backend refused the content (for example `content_prompt_rejected`).
    Rejected,
    /// The request's `max_wait` passed before media was ready.
    TimedOut,
    /// The request was cancelled (its last holder went away).
    Cancelled,
    /// The bytes arrived but could not be decoded into media.
    Decode,
    /// A file could not be read or written.
    Io,
    /// A file or answer did not have the expected shape (a malformed manifest or scene).
    InvalidData,
    /// The request asked for something no configured source supports.
    Unsupported,
    /// The plugin is not running (its runtime has stopped).
    Shutdown,
}

impl AssetErrorKind {
    /// A short, stable, snake_case name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Generation => "generation",
            Self::Rejected => "rejected",
            Self::TimedOut => "timed_out",
            Self::Cancelled => "cancelled",
            Self::Decode => "decode",
            Self::Io => "io",
            Self::InvalidData => "invalid_data",
            Self::Unsupported => "unsupported",
            Self::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for AssetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from requesting, resolving or decoding media.
///
/// Cheap to clone, so it can sit on a [`GenerationTask`](crate::task::GenerationTask) and travel
/// in messages. Its message never contains credentials.
#[derive(Clone, Debug, PartialEq, Eq, Reflect)]
pub struct AssetError {
    kind: AssetErrorKind,
    message: String,
}

impl AssetError {
    /// An error of `kind` with a message saying what was wrong and where.
    pub fn new(kind: AssetErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> AssetErrorKind {
        self.kind
    }

    /// The human-readable detail.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for [`AssetErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::NotFound, message)
    }

    /// Shorthand for [`AssetErrorKind::Generation`].
    pub fn generation(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::Generation, message)
    }

    /// Shorthand for [`AssetErrorKind::Decode`].
    pub fn decode(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::Decode, message)
    }

    /// Shorthand for [`AssetErrorKind::InvalidData`].
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::InvalidData, message)
    }

    /// Shorthand for [`AssetErrorKind::Io`].
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::Io, message)
    }
}

impl fmt::Display for AssetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for AssetError {}

/// `text` with the userinfo, query and fragment of every URL in it removed: text the crate does
/// not control (a panic's message) may carry a token in a URL.
pub(crate) fn without_url_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | '>' | ','))
            .unwrap_or(tail.len());
        let url = &tail[..end];
        let url = url.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
        out.push_str(authority.rsplit('@').next().unwrap_or_default());
        out.push_str(path);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_lose_their_secrets() {
        let text = "GET https://me:pw@host:8/a/b?token=s3cret#x failed, see http://h/p";
        assert_eq!(
            super::without_url_secrets(text),
            "GET https://host:8/a/b failed, see http://h/p"
        );
    }
}
