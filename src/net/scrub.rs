//! URL scrubbing: what of a URL may go into an error or a log line.

use reqwest::Url;

use crate::error::without_url_secrets;

/// Query parameter names (lowercase substrings) that mark a value as a credential: API keys,
/// tokens, signatures of pre-signed URLs, passwords, session ids.
const SECRET_PARAMS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "sig",
    "credential",
    "session",
    "code",
];

/// Whether a query parameter named `name` looks like it carries a credential.
pub fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|part| name.contains(part))
}

/// `url` as it may be shown: without userinfo, fragment, or any query parameter whose name
/// looks like a credential (`api_key`, `token`, `X-Amz-Signature`, ...). Other parameters stay,
/// so `?page=2` still says which page failed.
///
/// ```
/// use bevy_asset_provider::net::scrub_url;
/// use reqwest::Url;
///
/// let url = Url::parse("https://me:pw@cdn.example/a.png?page=2&api_key=sk-1#top").unwrap();
/// assert_eq!(scrub_url(&url), "https://cdn.example/a.png?page=2");
/// ```
pub fn scrub_url(url: &Url) -> String {
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    clean.set_fragment(None);
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(name, _)| !is_secret_param(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    if kept.is_empty() {
        clean.set_query(None);
    } else {
        clean.query_pairs_mut().clear().extend_pairs(kept);
    }
    clean.to_string()
}

/// `text` with the userinfo, query and fragment of every URL in it removed: for text the crate
/// does not write itself (an error from a library), where a URL cannot be parsed reliably.
pub fn scrub_text(text: &str) -> String {
    without_url_secrets(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_and_the_rest_stays() {
        let url = Url::parse(
            "https://user:pw@host:8443/v1/x?page=2&API_KEY=a&access_token=b&X-Amz-Signature=c&size=big#f",
        )
        .unwrap();
        assert_eq!(scrub_url(&url), "https://host:8443/v1/x?page=2&size=big");
        let plain = Url::parse("http://127.0.0.1:9/a?token=t").unwrap();
        assert_eq!(scrub_url(&plain), "http://127.0.0.1:9/a");
        assert_eq!(
            scrub_text("GET http://u:p@h/a?k=v failed"),
            "GET http://h/a failed"
        );
    }
}
