//! The mapping between a request described as text (a `gen://` path or a settings file) and an
//! [`AssetRequest`]: one set of fields, checked the same way for both.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde_json::Value;

use crate::error::{AssetError, AssetErrorKind};
use crate::json::parse_strict;
use crate::request::{AssetRequest, CachingStrategy, GenerationPurpose, LONGEST_WAIT, MediaKind};

/// The fields a description may set, in the order [`gen_path`] writes them: `tag` (repeated)
/// in `gen://` paths, `tags` (an array) in settings files, the others in both.
pub const FIELDS: &[&str] = &[
    "prompt",
    "scene",
    "choice",
    "to_scene",
    "character",
    "location",
    "asset_id",
    "tag",
    "tags",
    "strategy",
    "purpose",
    "seed",
    "duration",
    "priority",
    "max_wait",
    "allow_generation",
    "prefer_cached",
    "style",
];

/// What `gen_path` escapes: everything but letters, digits, `-`, `_` and `~`.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// The longest value quoted in an error; the rest is cut.
const QUOTED: usize = 60;

/// The kinds a description can name, by the name's extension (`.image`, `.audio`).
pub(crate) fn kind_named(extension: &str) -> Option<MediaKind> {
    match extension {
        "image" => Some(MediaKind::Image),
        "audio" => Some(MediaKind::Audio),
        _ => None,
    }
}

/// Reads the text of a `gen://` path (what follows `gen://`, without a `#label`):
/// `[folders/]name.kind[?field=value&field=value...]`. See the [module](super) for the fields.
/// `mira.image?character=mira&prompt=Mira%20at%20the%20lamp` is
/// `AssetRequest::image().character("mira").prompt("Mira at the lamp")`.
pub(crate) fn parse_gen_path(path: &str) -> Result<AssetRequest, AssetError> {
    let (head, query) = match path.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (path, None),
    };
    let name = head.rsplit(['/', '\\']).next().unwrap_or(head);
    let Some((_, extension)) = name.rsplit_once('.') else {
        return Err(invalid(format!(
            "the name `{}` has no kind: end it in `.image` or `.audio`",
            quoted(name)
        )));
    };
    let kind = kind_named(extension).ok_or_else(|| {
        invalid(format!(
            "`.{}` is not a kind of generated media: end the name in `.image` or `.audio`",
            quoted(extension)
        ))
    })?;
    let mut fields = Fields::new(kind);
    for pair in query.into_iter().flat_map(|query| query.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let Some((field, value)) = pair.split_once('=') else {
            return Err(invalid(format!(
                "`{}` has no value: write `field=value`",
                quoted(pair)
            )));
        };
        if let Some(separator) = value.chars().find(|c| matches!(c, '/' | '\\')) {
            return Err(invalid(format!(
                "field `{field}`: an unescaped `{separator}` (write {})",
                if separator == '/' { "%2F" } else { "%5C" }
            )));
        }
        let value = percent_decode_str(value).decode_utf8().map_err(|_| {
            invalid(format!(
                "field `{field}`: its escapes do not decode to UTF-8 text"
            ))
        })?;
        fields.set(field, &Value::String(value.into_owned()))?;
    }
    Ok(fields.finish())
}

/// Reads a settings file: a JSON object of the same fields as a `gen://` path's (`tags` as an
/// array of strings in place of repeated `tag`s; numbers and booleans as JSON numbers and
/// booleans, or as text), for media of `kind`.
/// `{"prompt": "a soft harbour bell", "duration": 1.5, "tags": ["sfx"]}` for audio is
/// `AssetRequest::audio().prompt("a soft harbour bell").duration_secs(1.5).tag("sfx")`.
pub(crate) fn parse_settings(bytes: &[u8], kind: MediaKind) -> Result<AssetRequest, AssetError> {
    let value: Value = parse_strict(bytes).map_err(|error| {
        let error = error.into_inner();
        invalid(format!("not JSON: {error}")).with_source(error)
    })?;
    let Value::Object(object) = value else {
        return Err(invalid("not a JSON object of request fields"));
    };
    let mut fields = Fields::new(kind);
    for (field, value) in &object {
        if field == "tags" {
            let Value::Array(tags) = value else {
                return Err(invalid("field `tags`: not an array of strings"));
            };
            for tag in tags {
                fields.set("tag", tag)?;
            }
        } else if field == "tag" {
            return Err(invalid(
                "field `tag`: settings files list tags as `\"tags\": [...]`",
            ));
        } else {
            fields.set(field, value)?;
        }
    }
    Ok(fields.finish())
}

/// The `gen://` path of `request`, named `name` (the name is for people: it is not part of the
/// request). Every field the request sets is written, escaped, so loading the path reads back
/// the same request (`max_wait` goes through seconds as an `f64`, so a wait finer than a
/// microsecond may come back a nanosecond off). Fails for video requests (no `gen://` kind loads
/// them) and an empty name.
///
/// ```
/// use bevy_asset_provider::asset_server::gen_path;
/// use bevy_asset_provider::prelude::*;
///
/// let request = AssetRequest::image().scene("park").prompt("a park. At dusk/night");
/// assert_eq!(
///     gen_path("park", &request)?,
///     "gen://park.image?prompt=a%20park%2E%20At%20dusk%2Fnight&scene=park"
/// );
/// # Ok::<(), AssetError>(())
/// ```
pub fn gen_path(name: &str, request: &AssetRequest) -> Result<String, AssetError> {
    if request.kind == MediaKind::Video {
        return Err(AssetError::new(
            AssetErrorKind::Unsupported,
            "video requests have no gen:// path: play them through AssetProvider",
        ));
    }
    if name.is_empty() {
        return Err(invalid("a gen:// path needs a name"));
    }
    let escape = |text: &str| utf8_percent_encode(text, ESCAPED).to_string();
    let pairs = query_pairs(request);
    let mut path = format!("gen://{}.{}", escape(name), request.kind.as_str());
    for (index, (field, value)) in pairs.iter().enumerate() {
        path.push(if index == 0 { '?' } else { '&' });
        path.push_str(field);
        path.push('=');
        path.push_str(value);
    }
    Ok(path)
}

/// The `field=value` pairs of `request`'s query, values escaped, in [`FIELDS`] order: the
/// fields it sets, and those it gives a value other than the default.
fn query_pairs(request: &AssetRequest) -> Vec<(&'static str, String)> {
    let escape = |text: &str| utf8_percent_encode(text, ESCAPED).to_string();
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    let texts = [
        ("prompt", &request.prompt),
        ("scene", &request.scene_id),
        ("choice", &request.choice_id),
        ("to_scene", &request.to_scene_id),
        ("character", &request.character_id),
        ("location", &request.location_id),
        ("asset_id", &request.asset_id),
    ];
    for (field, value) in texts {
        if let Some(value) = value {
            pairs.push((field, escape(value)));
        }
    }
    pairs.extend(request.tags.iter().map(|tag| ("tag", escape(tag))));
    let defaults = AssetRequest::new(request.kind);
    if request.strategy != defaults.strategy {
        pairs.push(("strategy", request.strategy.as_str().to_owned()));
    }
    if request.purpose != defaults.purpose {
        pairs.push(("purpose", request.purpose.as_str().to_owned()));
    }
    if let Some(seed) = request.seed {
        pairs.push(("seed", seed.to_string()));
    }
    if let Some(duration) = request.duration_secs {
        pairs.push(("duration", escape(&duration.to_string())));
    }
    if request.priority != defaults.priority {
        pairs.push(("priority", request.priority.to_string()));
    }
    if let Some(wait) = request.max_wait {
        pairs.push(("max_wait", escape(&wait.as_secs_f64().to_string())));
    }
    if request.allow_generation != defaults.allow_generation {
        pairs.push(("allow_generation", request.allow_generation.to_string()));
    }
    if request.prefer_cached != defaults.prefer_cached {
        pairs.push(("prefer_cached", request.prefer_cached.to_string()));
    }
    if let Some(style) = &request.style {
        pairs.push(("style", escape(&style.to_string())));
    }
    pairs
}

/// A request being filled in from fields, each checked once.
struct Fields {
    request: AssetRequest,
    seen: Vec<&'static str>,
}

impl Fields {
    fn new(kind: MediaKind) -> Self {
        Self {
            request: AssetRequest::new(kind),
            seen: Vec::new(),
        }
    }

    fn finish(self) -> AssetRequest {
        self.request
    }

    fn set(&mut self, field: &str, value: &Value) -> Result<(), AssetError> {
        let Some(&known) = FIELDS.iter().find(|known| **known == field) else {
            return Err(invalid(format!(
                "unknown field `{}` (the fields are {})",
                quoted(field),
                FIELDS.join(", ")
            )));
        };
        if known != "tag" {
            if self.seen.contains(&known) {
                return Err(invalid(format!("field `{known}` is given twice")));
            }
            self.seen.push(known);
        }
        let request = &mut self.request;
        match known {
            "prompt" => request.prompt = Some(text(known, value)?),
            "scene" => request.scene_id = Some(text(known, value)?),
            "choice" => request.choice_id = Some(text(known, value)?),
            "to_scene" => request.to_scene_id = Some(text(known, value)?),
            "character" => request.character_id = Some(text(known, value)?),
            "location" => request.location_id = Some(text(known, value)?),
            "asset_id" => request.asset_id = Some(text(known, value)?),
            "tag" => request.tags.push(text(known, value)?),
            "tags" => {
                return Err(invalid(
                    "field `tags`: a gen:// path gives each tag as `tag=...`",
                ));
            }
            "strategy" => request.strategy = strategy(known, value)?,
            "purpose" => request.purpose = purpose(known, value)?,
            "seed" => {
                request.seed = Some(number(known, value, "a whole number from 0 to 2^64 - 1")?)
            }
            "duration" => request.duration_secs = Some(duration(known, value)?),
            "priority" => request.priority = priority(known, value)?,
            "max_wait" => {
                let secs = seconds(known, value)?;
                request.max_wait = Some(
                    Duration::try_from_secs_f64(secs)
                        .unwrap_or(LONGEST_WAIT)
                        .min(LONGEST_WAIT),
                );
            }
            "allow_generation" => request.allow_generation = boolean(known, value)?,
            "prefer_cached" => request.prefer_cached = boolean(known, value)?,
            "style" => request.style = Some(style(value)?),
            _ => unreachable!("every field in FIELDS is handled"),
        }
        Ok(())
    }
}

fn invalid(message: impl Into<String>) -> AssetError {
    AssetError::invalid_data(message)
}

/// `text` cut to [`QUOTED`] characters, for an error message.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// `value` of `field` is not `expected` (`"a whole number"`, `"one of a, b"`).
fn not_valid(field: &str, value: &str, expected: &str) -> AssetError {
    invalid(format!(
        "field `{field}`: `{}` is not {expected}",
        quoted(value)
    ))
}

/// A non-empty string.
fn text(field: &str, value: &Value) -> Result<String, AssetError> {
    match value {
        Value::String(text) if text.is_empty() => Err(invalid(format!("field `{field}` is empty"))),
        Value::String(text) => Ok(text.clone()),
        other => Err(invalid(format!(
            "field `{field}`: `{}` is not a string",
            quoted(&other.to_string())
        ))),
    }
}

/// The value as text: a string's contents, or a number or boolean written out.
fn scalar(field: &str, value: &Value) -> Result<String, AssetError> {
    match value {
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => text(field, value),
    }
}

fn number<T: std::str::FromStr>(
    field: &str,
    value: &Value,
    expected: &str,
) -> Result<T, AssetError> {
    let text = scalar(field, value)?;
    text.parse().map_err(|_| not_valid(field, &text, expected))
}

/// Seconds: a finite number above zero.
fn seconds(field: &str, value: &Value) -> Result<f64, AssetError> {
    let secs: f64 = number(field, value, "a number of seconds above 0")?;
    if secs.is_finite() && secs > 0.0 {
        Ok(secs)
    } else {
        Err(not_valid(
            field,
            &secs.to_string(),
            "a number of seconds above 0",
        ))
    }
}

fn boolean(field: &str, value: &Value) -> Result<bool, AssetError> {
    match scalar(field, value)?.as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(not_valid(field, other, "true or false")),
    }
}

/// A caching strategy by its snake_case name.
fn strategy(field: &str, value: &Value) -> Result<CachingStrategy, AssetError> {
    Ok(match text(field, value)?.as_str() {
        "once" => CachingStrategy::Once,
        "per_playthrough" => CachingStrategy::PerPlaythrough,
        "per_player" => CachingStrategy::PerPlayer,
        "always" => CachingStrategy::Always,
        other => {
            return Err(not_valid(
                field,
                other,
                "one of once, per_playthrough, per_player, always",
            ));
        }
    })
}

/// A generation purpose by its snake_case name.
fn purpose(field: &str, value: &Value) -> Result<GenerationPurpose, AssetError> {
    Ok(match text(field, value)?.as_str() {
        "gap_fill" => GenerationPurpose::GapFill,
        "variation" => GenerationPurpose::Variation,
        "adaptive" => GenerationPurpose::Adaptive,
        "ambient" => GenerationPurpose::Ambient,
        other => {
            return Err(not_valid(
                field,
                other,
                "one of gap_fill, variation, adaptive, ambient",
            ));
        }
    })
}

/// A sound's length: seconds above 0.
fn duration(field: &str, value: &Value) -> Result<f32, AssetError> {
    let secs: f32 = number(field, value, "a number of seconds above 0")?;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(not_valid(
            field,
            &secs.to_string(),
            "a number of seconds above 0",
        ));
    }
    Ok(secs)
}

/// A priority from 0 to 10.
fn priority(field: &str, value: &Value) -> Result<u8, AssetError> {
    let priority: u8 = number(field, value, "a whole number from 0 to 10")?;
    if priority > 10 {
        return Err(not_valid(
            field,
            &priority.to_string(),
            "a whole number from 0 to 10",
        ));
    }
    Ok(priority)
}

/// A JSON object, given as one (settings files) or as JSON text (paths).
fn style(value: &Value) -> Result<Value, AssetError> {
    let object = match value {
        Value::String(text) => parse_strict::<Value>(text.as_bytes()).map_err(|error| {
            let error = error.into_inner();
            invalid(format!("field `style`: not JSON: {error}")).with_source(error)
        })?,
        other => other.clone(),
    };
    match object {
        Value::Object(_) => Ok(object),
        _ => Err(invalid("field `style`: not a JSON object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_examples_read_as_documented() {
        let request =
            parse_gen_path("mira.image?character=mira&prompt=Mira%20at%20the%20lamp").unwrap();
        assert_eq!(
            request,
            AssetRequest::image()
                .character("mira")
                .prompt("Mira at the lamp")
        );
        let text = br#"{"prompt": "a soft harbour bell", "duration": 1.5, "tags": ["sfx"]}"#;
        assert_eq!(
            parse_settings(text, MediaKind::Audio).unwrap(),
            AssetRequest::audio()
                .prompt("a soft harbour bell")
                .duration_secs(1.5)
                .tag("sfx")
        );
    }

    #[test]
    fn a_path_written_by_gen_path_reads_back_the_same_request() {
        let request = AssetRequest::audio()
            .scene("harbor & docks")
            .choice("row=out")
            .to_scene("rocks#2")
            .character("npc:anne")
            .location("loc:harbor")
            .asset_id("bell?")
            .prompt("a bell. 100% brass / bronze \\ \u{e9}t\u{e9} +")
            .tags(["sfx", "role:cue"])
            .strategy(CachingStrategy::PerPlayer)
            .purpose(GenerationPurpose::Ambient)
            .seed(u64::MAX)
            .duration_secs(1.25)
            .priority(9)
            .max_wait(Duration::from_millis(2500))
            .allow_generation(false)
            .prefer_cached(false)
            .style(serde_json::json!({"palette": "dusk", "steps": 20}));
        let path = gen_path("harbour bell", &request).unwrap();
        let text = path.strip_prefix("gen://").unwrap();
        assert!(!text.contains(['/', '#', '\\', ' ']), "{path}");
        assert_eq!(parse_gen_path(text).unwrap(), request);
    }

    #[test]
    fn bad_fields_are_named() {
        let error = |path: &str| parse_gen_path(path).unwrap_err().to_string();
        assert!(error("a.image?seed=-1").contains("`seed`"));
        assert!(error("a.image?priority=11").contains("`priority`"));
        assert!(error("a.image?duration=0").contains("`duration`"));
        assert!(error("a.image?max_wait=inf").contains("`max_wait`"));
        assert!(error("a.image?prompt=").contains("`prompt` is empty"));
        assert!(error("a.image?prompt=a&prompt=b").contains("given twice"));
        assert!(error("a.image?prompt").contains("no value"));
        assert!(error("a.image?style=[1]").contains("`style`"));
        assert!(error("a.image?prompt=%FF").contains("UTF-8"));
        assert!(error("a.video?prompt=x").contains("`.video`"));
        assert!(error("noext?prompt=x").contains("no kind"));
        assert!(error("a.image?prompt=a/b").contains("%2F"));
    }

    #[test]
    fn settings_name_bad_fields_and_take_typed_values() {
        let request = parse_settings(
            br#"{"seed": 7, "prefer_cached": false, "style": {"a": 1}, "max_wait": "2"}"#,
            MediaKind::Image,
        )
        .unwrap();
        assert_eq!(request.seed, Some(7));
        assert!(!request.prefer_cached);
        assert_eq!(request.max_wait, Some(Duration::from_secs(2)));
        let error = |text: &[u8]| {
            parse_settings(text, MediaKind::Image)
                .unwrap_err()
                .to_string()
        };
        assert!(error(br#"{"seed": "x"}"#).contains("`seed`"));
        assert!(error(br#"{"tags": "a"}"#).contains("`tags`"));
        assert!(error(br#"{"prompt": 3}"#).contains("`prompt`"));
        assert!(error(br#"["prompt"]"#).contains("object"));
        assert!(error(b"{").contains("not JSON"));
    }
}
