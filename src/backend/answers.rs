//! How the PixSim7 service's failed answers are read beyond their status: the waits its 429s
//! name in their body, and the 500s that are final (bad input, another account's generation).
//! They plug into the client's [`NetPolicy`](crate::net::NetPolicy) as its rules.

use std::time::Duration;

use reqwest::StatusCode;

use crate::error::AssetErrorKind;
use crate::net::seconds;

/// The wait a 429 body names when the header is absent: the real service says "Rate limit
/// exceeded. Try again in 54 seconds."
pub(crate) fn try_again_in(body: &[u8]) -> Option<Duration> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let after = &lower[lower.find("try again in")? + "try again in".len()..];
    let number: String = after
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    seconds(number.parse().ok()?)
}

/// The policy's body-wait rule: a 429's "try again in N seconds".
pub(crate) fn body_wait(status: StatusCode, body: &[u8]) -> Option<Duration> {
    (status == StatusCode::TOO_MANY_REQUESTS)
        .then(|| try_again_in(body))
        .flatten()
}

/// What the real service answers with a 500 although the request itself is at fault (an empty
/// prompt, an unknown provider, an image operation without inputs): retrying cannot help.
const BAD_INPUT_500S: &[&str] = &[
    "requires a non-empty",
    "not found or not registered",
    "requires 'composition_assets'",
];

/// The message of the real service when a create was answered with another user's generation
/// and that generation is read.
const OTHER_USERS: &str = "other users";

/// Whether a 5xx `body` names a bad input rather than a server fault.
pub(crate) fn is_bad_input(status: StatusCode, body: &[u8]) -> bool {
    status.is_server_error() && {
        let text = String::from_utf8_lossy(body);
        BAD_INPUT_500S.iter().any(|pattern| text.contains(pattern))
    }
}

/// Whether the server refused to show what was asked because it belongs to another account: a
/// 403, or the real service's 500 "Cannot access other users' generations".
pub(crate) fn is_other_users(status: StatusCode, body: &[u8]) -> bool {
    status == StatusCode::FORBIDDEN
        || (status.is_server_error()
            && String::from_utf8_lossy(body)
                .to_ascii_lowercase()
                .contains(OTHER_USERS))
}

/// The policy's final-answer rule: a 5xx naming bad input is invalid data, one naming another
/// account's generation is final; neither is retried.
pub(crate) fn final_answer(status: StatusCode, body: &[u8]) -> Option<AssetErrorKind> {
    if is_bad_input(status, body) {
        Some(AssetErrorKind::InvalidData)
    } else if status.is_server_error() && is_other_users(status, body) {
        Some(AssetErrorKind::Generation)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::status_error;

    #[test]
    fn final_errors_carry_the_server_message() {
        let body = br#"{"code":"internal_error","message":"Failed to create generation: text_to_image operation requires a non-empty 'prompt'"}"#;
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        let error = status_error("POST /x", status, body, final_answer(status, body));
        assert_eq!(error.kind(), AssetErrorKind::InvalidData);
        assert!(error.message().contains("non-empty 'prompt'"), "{error}");
        let body = br#"{"message":"Cannot access other users' generations"}"#;
        assert_eq!(final_answer(status, body), Some(AssetErrorKind::Generation));
        assert!(is_other_users(StatusCode::FORBIDDEN, b""));
        assert_eq!(final_answer(StatusCode::BAD_GATEWAY, b"upstream"), None);
    }

    #[test]
    fn waits_are_read_from_the_body_and_never_overflow() {
        let body =
            br#"{"code":"http_429","message":"Rate limit exceeded. Try again in 54 seconds."}"#;
        assert_eq!(try_again_in(body), Some(Duration::from_secs(54)));
        assert_eq!(
            body_wait(StatusCode::TOO_MANY_REQUESTS, body),
            Some(Duration::from_secs(54))
        );
        assert_eq!(body_wait(StatusCode::SERVICE_UNAVAILABLE, body), None);
        assert_eq!(
            try_again_in(b"Try again in 1e400 seconds"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(try_again_in(b"slow down"), None);
    }
}
