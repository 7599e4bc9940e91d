//! [`PixSimConfig`]: the backend's settings from a TOML file and the environment.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::backend::builder::{PixSimSourceBuilder, shown_url};
use crate::backend::client::PixSimSource;
use crate::error::AssetError;
use crate::net::Secret;

/// The environment variable naming a settings file.
pub const CONFIG_ENV: &str = "PIXSIM_CONFIG";

/// Settings of the generation backend, as a game ships them in a file or sets them in the
/// environment. Every field but `url` is optional; unset ones keep the builder's defaults.
///
/// ```toml
/// url = "https://pixsim.example.com"
/// token = "…"                 # or email + password, to log in
/// provider_id = "pixverse"
/// request_timeout_secs = 60
/// poll_start_ms = 2000
/// poll_max_ms = 30000
/// max_concurrent_creates = 4
/// max_creates_per_minute = 20 # the service's limit per user
/// retry_grace_secs = 60        # how long a failure the server retries itself is waited out
/// websocket = true
/// ```
///
/// Environment variables override the file: `PIXSIM_URL`, `PIXSIM_TOKEN`, `PIXSIM_EMAIL`,
/// `PIXSIM_PASSWORD`, `PIXSIM_PROVIDER`; `PIXSIM_CONFIG` names the file.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixSimConfig {
    /// The backend's base URL.
    pub url: Option<String>,
    /// A bearer token.
    token: Option<Secret>,
    /// A login e-mail or user name, with `password`.
    pub email: Option<String>,
    /// The login password.
    password: Option<Secret>,
    /// The provider sent with creates.
    pub provider_id: Option<String>,
    /// The generation type for audio requests.
    pub audio_operation: Option<String>,
    /// How long one HTTP request may take.
    pub request_timeout_secs: Option<f64>,
    /// How long connecting may take.
    pub connect_timeout_secs: Option<f64>,
    /// The first polling interval without the socket.
    pub poll_start_ms: Option<u64>,
    /// The longest polling interval.
    pub poll_max_ms: Option<u64>,
    /// How many creates may be in flight.
    pub max_concurrent_creates: Option<usize>,
    /// How many downloads may run at once.
    pub max_concurrent_downloads: Option<usize>,
    /// The largest download, in bytes.
    pub max_download_bytes: Option<u64>,
    /// Tries per call, the first included.
    pub retry_attempts: Option<u32>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// Whether to follow jobs over the WebSocket.
    pub websocket: Option<bool>,
    /// Whether to try the game endpoint.
    pub game_endpoint: Option<bool>,
    /// How many search pages to read per request.
    pub search_pages: Option<usize>,
    /// How many creates may go out in any minute (0: no limit).
    pub max_creates_per_minute: Option<u32>,
    /// How long a failure the server retries by itself is watched for that retry.
    pub retry_grace_secs: Option<f64>,
    /// The identity the disk tier records with this backend's media.
    pub source_id: Option<String>,
}

impl fmt::Debug for PixSimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PixSimConfig")
            .field("url", &self.url.as_deref().map(shown_url))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("provider_id", &self.provider_id)
            .finish_non_exhaustive()
    }
}

/// `message` without the input it quotes. Serde's type and value errors quote the value they
/// refused (``invalid type: integer `12345678`, expected a string``), and that value may be a
/// password given the wrong type: its kind and what was expected stay.
fn without_quoted_input(message: &str) -> String {
    const QUOTING: &[&str] = &["invalid type", "invalid value", "unknown variant"];
    if !QUOTING.iter().any(|start| message.starts_with(start)) {
        // Syntax errors quote only the TOML they expected; key errors, only keys.
        return message.to_owned();
    }
    // The input is the first quoted part: `integer `5``, `string "x"` (escaped as Rust does).
    let Some(open) = message.find(['`', '"']) else {
        return message.to_owned();
    };
    let quote = message[open..].chars().next().unwrap_or('`');
    let mut escaped = false;
    let close = message[open + 1..].char_indices().find_map(|(at, c)| {
        let end = !escaped && c == quote;
        escaped = !escaped && quote == '"' && c == '\\';
        end.then_some(open + 1 + at)
    });
    match close {
        Some(close) => format!(
            "{}{}",
            message[..open].trim_end(),
            &message[close + quote.len_utf8()..]
        ),
        // Unclosed: nothing after the quote can be told from the value.
        None => message[..open].trim_end().to_owned(),
    }
}

impl PixSimConfig {
    /// Reads a TOML settings file. Errors name the file, the line and the setting.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AssetError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            AssetError::io(format!(
                "cannot read backend settings {}: {error}",
                path.display()
            ))
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses TOML settings; `origin` names them in errors. Errors name the line, the column,
    /// the setting and what was wrong, but never quote the file or a value in it: its lines
    /// hold the token and password.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, AssetError> {
        toml::from_str(text).map_err(|error| {
            let place = error
                .span()
                .map(|span| {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
                    // The setting's name, never its value.
                    let key = text
                        .lines()
                        .nth(line - 1)
                        .and_then(|line| line.split_once('='))
                        .map(|(key, _)| key.trim())
                        .filter(|key| {
                            !key.is_empty()
                                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                        .map(|key| format!(" ({key})"))
                        .unwrap_or_default();
                    format!(" line {line}, column {column}{key}:")
                })
                .unwrap_or_else(|| ":".to_owned());
            AssetError::invalid_data(format!(
                "backend settings {origin}{place} {}",
                without_quoted_input(error.message().trim_end())
            ))
        })
    }

    /// The settings file named by `PIXSIM_CONFIG` (if any) with the `PIXSIM_*` variables over
    /// it.
    pub fn from_env() -> Result<Self, AssetError> {
        let file = match std::env::var_os(CONFIG_ENV) {
            Some(path) => Self::from_file(path)?,
            None => Self::default(),
        };
        Ok(file.with_overrides(Self::from_variables(|name| std::env::var(name).ok())))
    }

    /// The `PIXSIM_*` variables `lookup` knows.
    fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            url: lookup("PIXSIM_URL"),
            token: lookup("PIXSIM_TOKEN").map(Secret::new),
            email: lookup("PIXSIM_EMAIL"),
            password: lookup("PIXSIM_PASSWORD").map(Secret::new),
            provider_id: lookup("PIXSIM_PROVIDER"),
            ..Self::default()
        }
    }

    /// These settings with every field `over` sets replaced.
    #[must_use]
    pub fn with_overrides(self, over: Self) -> Self {
        Self {
            url: over.url.or(self.url),
            token: over.token.or(self.token),
            email: over.email.or(self.email),
            password: over.password.or(self.password),
            provider_id: over.provider_id.or(self.provider_id),
            audio_operation: over.audio_operation.or(self.audio_operation),
            request_timeout_secs: over.request_timeout_secs.or(self.request_timeout_secs),
            connect_timeout_secs: over.connect_timeout_secs.or(self.connect_timeout_secs),
            poll_start_ms: over.poll_start_ms.or(self.poll_start_ms),
            poll_max_ms: over.poll_max_ms.or(self.poll_max_ms),
            max_concurrent_creates: over.max_concurrent_creates.or(self.max_concurrent_creates),
            max_concurrent_downloads: over
                .max_concurrent_downloads
                .or(self.max_concurrent_downloads),
            max_download_bytes: over.max_download_bytes.or(self.max_download_bytes),
            retry_attempts: over.retry_attempts.or(self.retry_attempts),
            user_agent: over.user_agent.or(self.user_agent),
            websocket: over.websocket.or(self.websocket),
            game_endpoint: over.game_endpoint.or(self.game_endpoint),
            search_pages: over.search_pages.or(self.search_pages),
            max_creates_per_minute: over.max_creates_per_minute.or(self.max_creates_per_minute),
            retry_grace_secs: over.retry_grace_secs.or(self.retry_grace_secs),
            source_id: over.source_id.or(self.source_id),
        }
    }

    /// Sets the bearer token.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret::new(token));
        self
    }

    /// A builder with these settings; fails when no URL is set or a duration is negative.
    pub fn builder(self) -> Result<PixSimSourceBuilder, AssetError> {
        let url = self.url.clone().ok_or_else(|| {
            AssetError::invalid_data("no backend URL: set `url` in the settings file or PIXSIM_URL")
        })?;
        let mut builder = PixSimSource::builder(url);
        if let Some(token) = self.token.as_ref() {
            builder = builder.token(token.expose());
        }
        match (&self.email, &self.password) {
            (Some(email), Some(password)) => {
                builder = builder.login(email.clone(), password.expose());
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(AssetError::invalid_data(
                    "backend settings: a login needs both email and password",
                ));
            }
            (None, None) => {}
        }
        if let Some(provider) = &self.provider_id {
            builder = builder.provider_id(provider.clone());
        }
        if let Some(operation) = &self.audio_operation {
            builder = builder.audio_operation(operation.clone());
        }
        let builder = self.timing(builder)?;
        Ok(self.limits(builder))
    }

    /// `builder` with the timeouts, polling intervals and retry grace these settings give.
    fn timing(&self, mut builder: PixSimSourceBuilder) -> Result<PixSimSourceBuilder, AssetError> {
        let seconds = |name: &str, value: f64| {
            Duration::try_from_secs_f64(value).map_err(|_| {
                AssetError::invalid_data(format!(
                    "backend settings: {name} = {value} is not a duration in seconds"
                ))
            })
        };
        if let Some(value) = self.request_timeout_secs {
            builder = builder.request_timeout(seconds("request_timeout_secs", value)?);
        }
        if let Some(value) = self.connect_timeout_secs {
            builder = builder.connect_timeout(seconds("connect_timeout_secs", value)?);
        }
        if self.poll_start_ms.is_some() || self.poll_max_ms.is_some() {
            builder = builder.poll_interval(
                Duration::from_millis(self.poll_start_ms.unwrap_or(2_000)),
                Duration::from_millis(self.poll_max_ms.unwrap_or(30_000)),
            );
        }
        if let Some(value) = self.retry_grace_secs {
            builder = builder.retry_grace(seconds("retry_grace_secs", value)?);
        }
        Ok(builder)
    }

    /// `builder` with the limits, switches and names these settings give.
    fn limits(self, mut builder: PixSimSourceBuilder) -> PixSimSourceBuilder {
        if let Some(limit) = self.max_concurrent_creates {
            builder = builder.max_concurrent_creates(limit);
        }
        if let Some(limit) = self.max_concurrent_downloads {
            builder = builder.max_concurrent_downloads(limit);
        }
        if let Some(bytes) = self.max_download_bytes {
            builder = builder.max_download_bytes(bytes);
        }
        if let Some(attempts) = self.retry_attempts {
            builder = builder.retry_attempts(attempts);
        }
        if let Some(agent) = self.user_agent {
            builder = builder.user_agent(agent);
        }
        if let Some(enabled) = self.websocket {
            builder = builder.websocket(enabled);
        }
        if let Some(enabled) = self.game_endpoint {
            builder = builder.game_endpoint(enabled);
        }
        if let Some(pages) = self.search_pages {
            builder = builder.search_pages(pages);
        }
        if let Some(creates) = self.max_creates_per_minute {
            builder = builder.max_creates_per_minute(creates);
        }
        if let Some(id) = self.source_id {
            builder = builder.source_id(id);
        }
        builder
    }
}

impl PixSimSource {
    /// A builder from the settings file named by `PIXSIM_CONFIG` (if set) and the
    /// environment over it: `PIXSIM_URL` (required unless the file has `url`), `PIXSIM_TOKEN`
    /// or `PIXSIM_EMAIL` and `PIXSIM_PASSWORD`, and `PIXSIM_PROVIDER`. See [`PixSimConfig`].
    pub fn builder_from_env() -> Result<PixSimSourceBuilder, AssetError> {
        PixSimConfig::from_env()?.builder()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_with_the_environment_over_it() {
        let file = PixSimConfig::from_toml(
            r#"
            url = "https://pixsim.example.com"
            token = "file-token"
            provider_id = "sora"
            poll_start_ms = 500
            websocket = false
            "#,
            "game.toml",
        )
        .unwrap();
        let env = PixSimConfig::from_variables(|name| {
            (name == "PIXSIM_TOKEN").then(|| "env-token".to_owned())
        });
        let config = file.with_overrides(env);
        assert_eq!(config.url.as_deref(), Some("https://pixsim.example.com"));
        assert_eq!(config.token.as_ref().map(Secret::expose), Some("env-token"));
        assert_eq!(config.provider_id.as_deref(), Some("sora"));
        assert_eq!(config.websocket, Some(false));
        let text = format!("{config:?} {:?}", config.clone().builder().unwrap());
        assert!(
            !text.contains("env-token") && !text.contains("file-token"),
            "{text}"
        );
    }

    #[test]
    fn errors_name_the_file_and_the_setting() {
        let error = PixSimConfig::from_toml("url = \"http://x\"\npoll_strat_ms = 5\n", "game.toml")
            .unwrap_err();
        assert!(error.message().contains("game.toml"), "{error}");
        assert!(error.message().contains("poll_strat_ms"), "{error}");
        let error = PixSimConfig::from_toml("url = 7\n", "game.toml").unwrap_err();
        assert!(error.message().contains("line 1"), "{error}");
        assert!(error.message().contains("(url)"), "{error}");
        // A malformed line holding a secret is named, never quoted.
        let error =
            PixSimConfig::from_toml("url = \"http://x\"\ntoken = \"tok-secret-9\n", "g.toml")
                .unwrap_err();
        assert!(error.message().contains("line 2"), "{error}");
        assert!(!error.message().contains("tok-secret-9"), "{error}");
        let error = PixSimConfig::default().builder().unwrap_err();
        assert!(error.message().contains("PIXSIM_URL"), "{error}");
        let error = PixSimConfig::from_toml("url = \"http://x\"\nemail = \"a@b\"\n", "g.toml")
            .unwrap()
            .builder()
            .unwrap_err();
        assert!(error.message().contains("password"), "{error}");
    }

    #[test]
    fn debug_shows_the_url_scrubbed() {
        let config =
            PixSimConfig::from_toml("url = \"https://user:pw@host/?token=abc\"\n", "g.toml")
                .unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("pw") && !text.contains("abc"), "{text}");
        assert!(text.contains("https://host/"), "{text}");
        let text = format!("{:?}", config.token("tok").builder().unwrap());
        assert!(!text.contains("pw") && !text.contains("abc"), "{text}");
    }

    #[test]
    fn wrongly_typed_values_are_named_never_quoted() {
        let cases = [
            ("password = 12345678", "12345678", "password"),
            ("token = 987654.25", "987654.25", "token"),
            ("password = true", "true", "password"),
            ("token = [\"sk-listed-1\"]", "sk-listed-1", "token"),
            (
                "password = { inner = \"pw-in-table-2\" }",
                "pw-in-table-2",
                "password",
            ),
            ("websocket = \"pw-as-bool-3\"", "pw-as-bool-3", "websocket"),
            (
                "poll_start_ms = \"pw-as-number-4\"",
                "pw-as-number-4",
                "poll_start_ms",
            ),
            ("email = 55554444", "55554444", "email"),
            (r#"websocket = "pw-\"esc-5""#, "esc-5", "websocket"),
            (
                "max_creates_per_minute = -77771",
                "77771",
                "max_creates_per_minute",
            ),
        ];
        for (line, secret, field) in cases {
            let text = format!("url = \"http://x\"\n{line}\n");
            let error = PixSimConfig::from_toml(&text, "g.toml").unwrap_err();
            let message = error.message();
            assert!(!message.contains(secret), "{line}: {error}");
            assert!(message.contains("line 2"), "{line}: {error}");
            assert!(message.contains(field), "{line}: {error}");
            assert!(message.contains("g.toml"), "{line}: {error}");
        }
        // What was expected is still said.
        let error = PixSimConfig::from_toml("password = 12345678\n", "g.toml").unwrap_err();
        assert!(error.message().contains("expected a string"), "{error}");
    }
}
