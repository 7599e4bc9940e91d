//! Turning one image of an answer into checked media: base64 decoded within a size bound, a URL
//! fetched through the same policy, and the MIME type checked against the request's kind.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::AssetError;
use crate::net::{NetRequest, PolicyClient, scrub_url, server_text};
use crate::request::MediaKind;

/// Bytes and their MIME type.
#[derive(Debug)]
pub(crate) struct Image {
    pub bytes: Vec<u8>,
    pub mime: String,
}

/// Decodes base64 `text` of at most `max` bytes once decoded; `what` names it in errors.
pub(crate) fn from_base64(text: &str, max: u64, what: &str) -> Result<Vec<u8>, AssetError> {
    let text = text.trim();
    // Checked before decoding: 4 characters carry 3 bytes.
    let decoded_len = (text.len() as u64 / 4) * 3;
    if decoded_len > max.saturating_add(3) {
        return Err(AssetError::invalid_data(format!(
            "{what} is about {decoded_len} bytes, over the {max}-byte limit"
        )));
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|error| AssetError::decode(format!("{what} is not valid base64: {error}")))?;
    if bytes.len() as u64 > max {
        return Err(AssetError::invalid_data(format!(
            "{what} is {} bytes, over the {max}-byte limit",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// The MIME type of `bytes` from their first bytes, when they are an image format.
fn sniff(bytes: &[u8]) -> Option<String> {
    image::guess_format(bytes)
        .ok()
        .map(|format| format.to_mime_type().to_owned())
}

/// `bytes` as an image of `kind`: `claimed` (a `Content-Type` or a data URL's type) when it
/// says image, else what the bytes look like. Anything else is a decode error naming `what`.
pub(crate) fn checked(
    bytes: Vec<u8>,
    claimed: Option<&str>,
    kind: MediaKind,
    what: &str,
) -> Result<Image, AssetError> {
    let claimed = claimed
        .map(|mime| {
            mime.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|mime| !mime.is_empty());
    let mime = match claimed {
        Some(mime) if kind.accepts_mime(&mime) => mime,
        // A generic type says nothing: look at the bytes.
        Some(mime) if mime == "application/octet-stream" || mime == "binary/octet-stream" => {
            sniff(&bytes).unwrap_or(mime)
        }
        Some(mime) => mime,
        None => sniff(&bytes).unwrap_or_else(|| "application/octet-stream".to_owned()),
    };
    if !kind.accepts_mime(&mime) {
        return Err(AssetError::decode(format!(
            "{what} is {mime:?}, not {} media",
            kind.as_str()
        )));
    }
    Ok(Image { bytes, mime })
}

/// A `data:image/png;base64,…` URL's type and bytes.
pub(crate) fn from_data_url(
    url: &str,
    max: u64,
    what: &str,
) -> Result<(Option<String>, Vec<u8>), AssetError> {
    let rest = &url["data:".len()..];
    let (header, payload) = rest
        .split_once(',')
        .ok_or_else(|| AssetError::invalid_data(format!("{what} is a data URL without a comma")))?;
    let Some(mime) = header.strip_suffix(";base64") else {
        return Err(AssetError::invalid_data(format!(
            "{what} is a data URL that is not base64"
        )));
    };
    let bytes = from_base64(payload, max, what)?;
    Ok(((!mime.is_empty()).then(|| mime.to_owned()), bytes))
}

/// Fetches `url` through `client` (so the same retries, limits and timeouts apply; the
/// credential only when it is the server's own origin), at most `max` bytes.
pub(crate) async fn fetch(
    client: &PolicyClient,
    url: &str,
    max: u64,
    kind: MediaKind,
    what: &str,
) -> Result<Image, AssetError> {
    if url.starts_with("data:") {
        let (mime, bytes) = from_data_url(url, max, what)?;
        return checked(bytes, mime.as_deref(), kind, what);
    }
    let target = client.url(url)?;
    let answer = client
        .send(
            NetRequest::get(target.as_str())
                .max_bytes(max)
                // The URL is the server's word: bounded like the rest of what it says.
                .what(format!(
                    "download of {what} from {}",
                    server_text(&scrub_url(&target))
                )),
        )
        .await?;
    let mime = answer.mime();
    checked(answer.bytes, mime.as_deref(), kind, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AssetErrorKind;

    const PNG_HEAD: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn base64_is_bounded_before_it_is_decoded() {
        let text = STANDARD.encode(vec![7u8; 300]);
        assert_eq!(from_base64(&text, 300, "image 0").unwrap().len(), 300);
        let error = from_base64(&text, 100, "image 0").unwrap_err();
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert!(error.message().contains("100-byte"), "{error}");
        let error = from_base64("not base64!", 100, "image 0").unwrap_err();
        assert_eq!(error.kind(), AssetErrorKind::Decode);
    }

    #[test]
    fn types_are_claimed_or_sniffed_and_must_be_images() {
        let image = checked(PNG_HEAD.to_vec(), None, MediaKind::Image, "x").unwrap();
        assert_eq!(image.mime, "image/png");
        let image = checked(
            PNG_HEAD.to_vec(),
            Some("application/octet-stream"),
            MediaKind::Image,
            "x",
        )
        .unwrap();
        assert_eq!(image.mime, "image/png");
        let image = checked(vec![1, 2], Some("image/webp; q=1"), MediaKind::Image, "x").unwrap();
        assert_eq!(image.mime, "image/webp");
        let error =
            checked(b"<html>".to_vec(), Some("text/html"), MediaKind::Image, "x").unwrap_err();
        assert_eq!(error.kind(), AssetErrorKind::Decode);
        assert!(checked(b"garbage".to_vec(), None, MediaKind::Image, "x").is_err());
        let (mime, bytes) = from_data_url(
            &format!("data:image/png;base64,{}", STANDARD.encode(PNG_HEAD)),
            1024,
            "x",
        )
        .unwrap();
        assert_eq!(
            (mime.as_deref(), bytes.as_slice()),
            (Some("image/png"), PNG_HEAD)
        );
        assert!(from_data_url("data:image/png,raw", 1024, "x").is_err());
    }
}
