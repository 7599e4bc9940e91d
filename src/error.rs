//! The one error type of the crate, with a kind to match on.

use bevy::reflect::Reflect;
use std::fmt;
use std::sync::Arc;

/// What went wrong, coarsely: match on this, show the [`AssetError`]'s message to people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Reflect)]
#[non_exhaustive]
pub enum AssetErrorKind {
    /// No source had media for the request (nothing pre-made matched and generation was not
    /// allowed, or every source passed on it).
    NoSource,
    /// What was asked for does not exist where it was looked for: the backend answered 404 (an
    /// unknown scene, asset or generation), or a file is missing.
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
    /// A file or answer did not have the expected shape (a malformed manifest or scene), or the
    /// backend refused the request itself as invalid.
    InvalidData,
    /// The request asked for something no configured source supports.
    Unsupported,
    /// The plugin is not running (its runtime has stopped).
    Shutdown,
    /// A generation for the player's request would pass the game's
    /// [`SpendCap`](crate::SpendCap): no generator was asked.
    SpendCapReached,
}

impl AssetErrorKind {
    /// A short, stable, snake_case name for logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSource => "no_source",
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
            Self::SpendCapReached => "spend_cap_reached",
        }
    }
}

impl fmt::Display for AssetErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error from requesting, resolving or decoding media: a [kind](AssetErrorKind) to match
/// on, a message for people that says what was wrong and where, and the underlying error as its
/// [`source`](std::error::Error::source) when there is one (an I/O or parse error).
///
/// Cheap to clone, so it can sit on a [`GenerationTask`](crate::GenerationTask) and travel
/// in messages. Neither its message nor its source ever contains credentials.
#[derive(Clone, Reflect)]
#[reflect(opaque, Debug, PartialEq)]
pub struct AssetError {
    kind: AssetErrorKind,
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// The longest error message, in characters. Errors go into logs, tasks, analytics and
/// recordings; a longer message (text of unbounded length that reached it: a server's, a
/// file's) is cut there, and the cut is marked.
pub const MAX_ERROR_MESSAGE: usize = 4096;

impl AssetError {
    /// An error of `kind` with a message saying what was wrong and where; at most
    /// [`MAX_ERROR_MESSAGE`] characters of it are kept.
    pub fn new(kind: AssetErrorKind, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE
            && let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_MESSAGE)
        {
            let total = message.len();
            message.truncate(cut);
            message.push_str(&format!("… [cut: {total} bytes in all]"));
        }
        Self {
            kind,
            message,
            source: None,
        }
    }

    /// The same error, caused by `source`.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> AssetErrorKind {
        self.kind
    }

    /// The human-readable detail.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for [`AssetErrorKind::NoSource`].
    pub fn no_source(message: impl Into<String>) -> Self {
        Self::new(AssetErrorKind::NoSource, message)
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

impl PartialEq for AssetError {
    /// Errors are equal when their kind and message are; the source is detail.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for AssetError {}

impl fmt::Debug for AssetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AssetError");
        debug
            .field("kind", &self.kind)
            .field("message", &self.message);
        if let Some(source) = &self.source {
            debug.field("source", &without_url_secrets(&source.to_string()));
        }
        debug.finish()
    }
}

impl fmt::Display for AssetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for AssetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

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
    use super::*;

    #[test]
    fn the_cause_is_the_source_and_not_the_message() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "read-only");
        let error = AssetError::io("cannot write blob x").with_source(io);
        assert_eq!(error.to_string(), "io: cannot write blob x");
        let source = std::error::Error::source(&error).unwrap();
        assert_eq!(source.to_string(), "read-only");
        assert_eq!(error, AssetError::io("cannot write blob x"));
        assert_ne!(error.kind(), AssetErrorKind::NoSource);
    }

    #[test]
    fn messages_are_bounded() {
        let error = AssetError::generation(format!("said: {}", "ü".repeat(1 << 20)));
        assert!(error.message().chars().count() < MAX_ERROR_MESSAGE + 40);
        assert!(error.message().starts_with("said: üü"));
        assert!(
            error
                .message()
                .ends_with(&format!("[cut: {} bytes in all]", 6 + (2 << 20)))
        );
        let short = "x".repeat(MAX_ERROR_MESSAGE);
        assert_eq!(AssetError::io(short.clone()).message(), short);
    }

    #[test]
    fn urls_lose_their_secrets() {
        let text = "GET https://me:pw@host:8/a/b?token=s3cret#x failed, see http://h/p";
        assert_eq!(
            super::without_url_secrets(text),
            "GET https://host:8/a/b failed, see http://h/p"
        );
    }
}
