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
pub(crate) fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|part| name.contains(part))
}

/// `url` as it may be shown: without userinfo, fragment, or any query parameter whose name
/// looks like a credential (`api_key`, `token`, `X-Amz-Signature`, ...). Other parameters stay,
/// so `?page=2` still says which page failed.
pub(crate) fn scrub_url(url: &Url) -> String {
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
pub(crate) fn scrub_text(text: &str) -> String {
    without_url_secrets(text)
}

/// The most characters of a server's own words (an error message, a job's failure reason, a
/// value its answer quoted) that go into an error; the rest is cut and the cut is marked.
pub(crate) const MAX_SERVER_TEXT: usize = 400;

/// `text`, a server's own words, as it may go into an error, a log line, a task or a
/// recording: URLs without userinfo, query or fragment ([`scrub_text`]); anything shaped like a
/// token (a `Bearer …` value, a JWT, an `sk-…` key) replaced by `<redacted>`; control
/// characters (line breaks) as spaces; and at most [`MAX_SERVER_TEXT`] characters, cut on a
/// character boundary with `… [cut: N bytes in all]` after it.
pub(crate) fn server_text(text: &str) -> String {
    server_text_without(text, &[])
}

/// [`server_text`], with every occurrence of each of `secrets` (the credential a call sent, a
/// password it carried) replaced by `<redacted>` first.
pub(crate) fn server_text_without(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        if text.contains(secret) {
            text = text.replace(secret, "<redacted>");
        }
    }
    // Line breaks could forge log lines; and they end a URL or a token for the scrubbing.
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = redact_token_shapes(&scrub_text(&text));
    let total = text.len();
    let mut shown: String = text.chars().take(MAX_SERVER_TEXT).collect();
    if shown.len() < total {
        shown.push_str(&format!("… [cut: {total} bytes in all]"));
    }
    shown
}

/// `text` with the words that look like credentials replaced: the word after `Bearer`, JWTs
/// (`eyJ….….…`) and API keys (`sk-…`, 20 characters or more).
fn redact_token_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    for (index, word) in text.split(' ').enumerate() {
        if index > 0 {
            out.push(' ');
        }
        let bare = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
        let looks_like_token = bare != "redacted"
            && ((after_bearer && !bare.is_empty())
                || (bare.starts_with("eyJ") && bare.matches('.').count() == 2)
                || (bare.starts_with("sk-") && bare.len() >= 20));
        if looks_like_token {
            out.push_str(&word.replace(bare, "<redacted>"));
        } else {
            out.push_str(word);
        }
        after_bearer = word.eq_ignore_ascii_case("bearer");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_words_are_bounded_and_lose_what_looks_secret() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        let said = format!(
            "token {jwt} refused; key sk-abcdefghijklmnopqrstuv; Bearer tok-9\r\nforged line; \
             see https://u:p@h/x?sig=1"
        );
        let shown = server_text_without(&said, &["tok-9"]);
        assert_eq!(
            shown,
            "token <redacted> refused; key <redacted>; Bearer <redacted>  forged line; see https://h/x"
        );
        let long = "é".repeat(MAX_SERVER_TEXT * 3);
        let shown = server_text(&long);
        assert!(shown.starts_with(&"é".repeat(MAX_SERVER_TEXT)), "{shown}");
        assert!(
            shown.ends_with(&format!("… [cut: {} bytes in all]", long.len())),
            "{shown}"
        );
        assert_eq!(server_text("short and fine"), "short and fine");
    }

    #[test]
    fn a_long_answer_with_a_key_is_cut_and_loses_the_key() {
        let said = format!(
            "bad key Bearer sk-live-abcdefghijklmnopqrstuvwxyz\n{}",
            "x".repeat(20_000)
        );
        let shown = server_text(&said);
        assert!(!shown.contains("sk-live") && !shown.contains('\n'));
        assert!(shown.chars().count() < MAX_SERVER_TEXT + 40 && shown.ends_with("bytes in all]"));
    }

    #[test]
    fn credentials_leave_and_the_rest_stays() {
        let url = Url::parse("https://me:pw@cdn.example/a.png?page=2&api_key=sk-1#top").unwrap();
        assert_eq!(scrub_url(&url), "https://cdn.example/a.png?page=2");
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
