//! The bake's files: names and content hashes.

use std::path::Path;

use crate::files::sha256_hex;
use crate::request::RequestKey;

/// The SHA-256 of the file at `path`, or `None` when it cannot be read.
pub(crate) fn file_sha256(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| sha256_hex(&bytes))
}

/// The file extension for media of `mime`, as the pre-made source reads it back.
pub(crate) fn extension_for(mime: &str) -> Option<&'static str> {
    let essence = mime.split(';').next().unwrap_or_default().trim();
    Some(match essence.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpg",
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/ogg" | "audio/vorbis" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "video/mp4" => "mp4",
        _ => return None,
    })
}

/// A file name for `slot`'s media of key `key`: the slot in lowercase letters, digits, `_` and
/// `-`, then the key's first 12 hex digits, so a changed request gets a new file beside the old
/// one until the manifest no longer names it.
pub(crate) fn file_name(slot: &str, key: RequestKey, extension: &str) -> String {
    const SLUG_CHARS: usize = 80;
    let mut slug = String::with_capacity(slot.len());
    for c in slot.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= SLUG_CHARS {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    format!("{slug}-{}.{extension}", key.short())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_slugs_with_the_key() {
        let key = RequestKey([0xab; 32]);
        assert_eq!(
            file_name("lighthouse/boat/via/row_out/video", key, "mp4"),
            "lighthouse-boat-via-row_out-video-abababababab.mp4"
        );
        assert_eq!(
            file_name("listed/Ünïcode ok", key, "png"),
            "listed-n-code-ok-abababababab.png"
        );
    }

    #[test]
    fn extensions_follow_the_mime_type() {
        assert_eq!(extension_for("image/png"), Some("png"));
        assert_eq!(extension_for("audio/wav; codecs=1"), Some("wav"));
        assert_eq!(extension_for("video/mp4"), Some("mp4"));
        assert_eq!(extension_for("text/html"), None);
    }
}
