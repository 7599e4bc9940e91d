//! [`OpenAiImagesBuilder`]: the adapter's settings.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use crate::error::{AssetError, AssetErrorKind};
use crate::net::{NetPolicy, PolicyClient, Secret, scrub_url};
use crate::openai::source::{Inner, OpenAiImages, REFUSED_CODES};
use crate::openai::wire::ResponseFormat;
use crate::request::LONGEST_WAIT;

/// Where the token comes from.
#[derive(Clone)]
enum Token {
    None,
    Value(Secret),
    Env(String),
}

/// Builds an [`OpenAiImages`] source. Every setting has a default but the base URL.
#[derive(Clone)]
#[must_use]
pub struct OpenAiImagesBuilder {
    base_url: String,
    model: String,
    size: String,
    format: Option<ResponseFormat>,
    token: Token,
    policy: NetPolicy,
    poll_start: Duration,
    poll_max: Duration,
    job_timeout: Duration,
    max_image_bytes: u64,
    scope_tag: bool,
    salt: Option<String>,
    source_id: Option<String>,
}

impl fmt::Debug for OpenAiImagesBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = match &self.token {
            Token::None => "none".to_owned(),
            Token::Value(_) => "<redacted>".to_owned(),
            Token::Env(name) => format!("from ${name}"),
        };
        f.debug_struct("OpenAiImagesBuilder")
            .field("base_url", &crate::net::scrub_text(&self.base_url))
            .field("model", &self.model)
            .field("size", &self.size)
            .field("format", &self.format)
            .field("token", &token)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl OpenAiImages {
    /// A builder for the server at `base_url` (`https://api.openai.com`, or
    /// `http://127.0.0.1:8080`; a trailing `/v1` is accepted too).
    pub fn builder(base_url: impl Into<String>) -> OpenAiImagesBuilder {
        OpenAiImagesBuilder::new(base_url.into())
    }
}

impl OpenAiImagesBuilder {
    pub(crate) fn new(base_url: String) -> Self {
        Self {
            base_url,
            model: "gpt-image-1".to_owned(),
            size: "1024x1024".to_owned(),
            format: None,
            token: Token::None,
            policy: NetPolicy::new(),
            poll_start: Duration::from_secs(1),
            poll_max: Duration::from_secs(10),
            job_timeout: Duration::from_secs(600),
            max_image_bytes: 32 * 1024 * 1024,
            scope_tag: true,
            salt: None,
            source_id: None,
        }
    }

    /// The model asked for (default `gpt-image-1`).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// The image size, `WIDTHxHEIGHT` (default `1024x1024`).
    pub fn size(mut self, size: impl Into<String>) -> Self {
        self.size = size.into();
        self
    }

    /// Asks for base64 images in the answer or for URLs to fetch, sending `response_format`.
    /// By default the field is not sent, since OpenAI's gpt-image models refuse it (400
    /// `unknown_parameter`) and always answer base64, and the server's own default is taken:
    /// either shape of answer is accepted whatever was asked.
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Sends `token` as the bearer token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Token::Value(Secret::new(token));
        self
    }

    /// Reads the bearer token from the environment variable `name` when built (for example
    /// `OPENAI_API_KEY`); building fails, naming the variable, when it is not set.
    pub fn token_from_env(mut self, name: impl Into<String>) -> Self {
        self.token = Token::Env(name.into());
        self
    }

    /// The network policy: retries, backoff, `Retry-After` cap, timeouts, concurrency (default
    /// [`NetPolicy::new`]). The token set here replaces the policy's credential, and the
    /// adapter sets the policy's final-answer rule (a refused prompt is
    /// [`Rejected`](AssetErrorKind::Rejected)).
    pub fn policy(mut self, policy: NetPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Polling an asynchronous job starts every `start` and backs off to every `max` (default
    /// 1 s to 10 s).
    pub fn poll_interval(mut self, start: Duration, max: Duration) -> Self {
        self.poll_start = start.clamp(Duration::from_millis(1), LONGEST_WAIT);
        self.poll_max = max.clamp(self.poll_start, LONGEST_WAIT);
        self
    }

    /// How long an asynchronous job may run before the request fails as
    /// [`TimedOut`](AssetErrorKind::TimedOut) (default 10 min).
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout.min(LONGEST_WAIT);
        self
    }

    /// The largest image accepted, in bytes (default 32 MiB); base64 is checked before it is
    /// decoded, a download as it arrives.
    pub fn max_image_bytes(mut self, bytes: u64) -> Self {
        self.max_image_bytes = bytes;
        self
    }

    /// Whether creates carry `user`, a salted hash of the request's scope (see
    /// [`scope_salt`](Self::scope_salt)), so that a caching proxy in front of the server keeps
    /// players and playthroughs apart (default `true`). Turn it off for a server that refuses
    /// the field.
    pub fn scope_tag(mut self, enabled: bool) -> Self {
        self.scope_tag = enabled;
        self
    }

    /// The salt of the `user` [scope tag](Self::scope_tag): the tag is a SHA-256 of the salt
    /// and the player or playthrough id, so one player looks different to every game that salts
    /// differently. Set it to something of your game's own (its name, or better a random
    /// string kept with the game); keep it, or a caching proxy keyed on `user` stops matching.
    /// Default: the game's executable name and the server's base URL, which differs between
    /// games unless their executables share a name (`game`, `main`).
    pub fn scope_salt(mut self, salt: impl Into<String>) -> Self {
        self.salt = Some(salt.into());
        self
    }

    /// The identity the disk tier records with what this source makes (default
    /// `openai-images(<base URL>, <model>, <size>)`).
    pub fn source_id(mut self, id: impl Into<String>) -> Self {
        self.source_id = Some(id.into());
        self
    }

    /// Checks the settings and builds the source.
    pub fn build(self) -> Result<OpenAiImages, AssetError> {
        let token = match &self.token {
            Token::None => None,
            Token::Value(token) => Some(token.clone()),
            Token::Env(name) => Some(Secret::from_env(name)?),
        };
        if self.model.trim().is_empty() {
            return Err(AssetError::invalid_data("the images model is empty"));
        }
        if !valid_size(&self.size) {
            return Err(AssetError::invalid_data(format!(
                "image size {:?} is not WIDTHxHEIGHT (like 1024x1024)",
                self.size
            )));
        }
        let mut policy = self.policy.clone().final_answer_when(refused_prompt);
        if let Some(token) = token {
            policy = policy.bearer(token.expose());
        }
        let client = PolicyClient::new(&api_root(&self.base_url), policy)?;
        let name = self.source_id.clone().unwrap_or_else(|| {
            format!(
                "openai-images({}, {}, {})",
                scrub_url(client.base()).trim_end_matches('/'),
                self.model,
                self.size
            )
        });
        let salt = self.salt.clone().unwrap_or_else(|| {
            let game = std::env::current_exe()
                .ok()
                .and_then(|path| {
                    path.file_stem()
                        .map(|stem| stem.to_string_lossy().into_owned())
                })
                .unwrap_or_default();
            format!("{game}\n{}", client.base())
        });
        Ok(OpenAiImages::from_inner(Inner {
            name,
            salt,
            client,
            model: self.model,
            size: self.size,
            format: self.format,
            poll_start: self.poll_start,
            poll_max: self.poll_max,
            job_timeout: self.job_timeout,
            max_image_bytes: self.max_image_bytes,
            scope_tag: self.scope_tag,
        }))
    }
}

/// The base under which `v1/images/generations` is joined: a base already ending in `/v1` (as
/// OpenAI's own SDKs take it) loses that segment, so both spellings work.
fn api_root(base: &str) -> String {
    let trimmed = base.trim().trim_end_matches('/');
    trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_owned()
}

fn valid_size(size: &str) -> bool {
    size == "auto"
        || size.split_once('x').is_some_and(|(w, h)| {
            w.parse::<u32>().is_ok_and(|w| w > 0) && h.parse::<u32>().is_ok_and(|h| h > 0)
        })
}

/// The policy's final-answer rule: a 400 naming a refused prompt.
fn refused_prompt(status: StatusCode, body: &[u8]) -> Option<AssetErrorKind> {
    let text = String::from_utf8_lossy(body);
    (status == StatusCode::BAD_REQUEST && REFUSED_CODES.iter().any(|code| text.contains(code)))
        .then_some(AssetErrorKind::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_secrets_hidden() {
        assert_eq!(
            api_root("https://api.example.com/v1/"),
            "https://api.example.com"
        );
        assert_eq!(api_root("http://h/proxy"), "http://h/proxy");
        assert!(valid_size("512x768") && valid_size("auto"));
        assert!(!valid_size("big") && !valid_size("0x5"));
        let builder = OpenAiImagesBuilder::new("http://127.0.0.1:1".into()).token("sk-secret-1");
        assert!(!format!("{builder:?}").contains("sk-secret-1"));
        let source = builder.clone().build().unwrap();
        assert!(!format!("{source:?}").contains("sk-secret-1"));
        assert!(builder.clone().size("huge").build().is_err());
        let error = builder
            .token_from_env("BAP_TEST_SURELY_UNSET_TOKEN")
            .build()
            .unwrap_err();
        assert!(
            error.message().contains("BAP_TEST_SURELY_UNSET_TOKEN"),
            "{error}"
        );
        assert_eq!(
            refused_prompt(
                StatusCode::BAD_REQUEST,
                br#"{"error":{"code":"content_policy_violation"}}"#
            ),
            Some(AssetErrorKind::Rejected)
        );
        assert_eq!(refused_prompt(StatusCode::BAD_REQUEST, b"{}"), None);
    }
}
