//! A request in words, for logs and errors: the one place that says which fields name it.

use super::AssetRequest;

/// Prompt characters a log line shows.
const SHORT_PROMPT: usize = 48;

/// Prompt characters an error that names the request in full shows.
const LONG_PROMPT: usize = 80;

/// A request's context in a few words, for a log line: `scene "boat" choice "row_out" "a small
/// wooden rowboat…"`.
pub(crate) fn describe(request: &AssetRequest) -> String {
    let parts = context(request, "", SHORT_PROMPT);
    if parts.is_empty() {
        "a request without context".to_owned()
    } else {
        parts.join(" ")
    }
}

/// A request in full, for an error that must name it among others: its kind, context, prompt
/// and strategy, `image request scene "boat" prompt "a small wooden rowboat" (once)`.
pub(crate) fn describe_in_full(request: &AssetRequest) -> String {
    let mut text = format!("{} request", request.kind.as_str());
    for part in context(request, "prompt ", LONG_PROMPT) {
        text.push(' ');
        text.push_str(&part);
    }
    text.push_str(&format!(" ({})", request.strategy.as_str()));
    text
}

/// The fields that name a request, each as `name "value"`, and its prompt shortened to
/// `prompt_chars` after `prompt_label`.
fn context(request: &AssetRequest, prompt_label: &str, prompt_chars: usize) -> Vec<String> {
    let fields = [
        ("scene", &request.scene_id),
        ("choice", &request.choice_id),
        ("to", &request.to_scene_id),
        ("character", &request.character_id),
        ("location", &request.location_id),
        ("asset", &request.asset_id),
    ];
    let mut parts: Vec<String> = fields
        .into_iter()
        .filter_map(|(name, value)| value.as_ref().map(|value| format!("{name} {value:?}")))
        .collect();
    if let Some(prompt) = &request.prompt {
        let short: String = prompt.chars().take(prompt_chars).collect();
        let cut = if prompt.chars().count() > prompt_chars {
            "…"
        } else {
            ""
        };
        parts.push(format!("{prompt_label}{short:?}{cut}"));
    }
    parts
}
