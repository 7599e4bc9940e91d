//! Whether what the server answered a create is what was asked: the server's existing work taken
//! only when it provably is, and this client's own generations told apart by a tag in their name.

use serde_json::{Map, Value};

use crate::backend::wire::{BackendId, CreateGeneration, GenerationResponse, GenerationStatus};

/// A generation id tag for the create's `name`, so the client can tell its own generations from
/// the server's existing work and find a create whose answer was lost.
pub(super) fn new_nonce() -> String {
    format!("bap-{:016x}", fastrand::u64(..))
}

pub(super) fn tagged_name(name: Option<&str>, nonce: &str) -> String {
    match name {
        Some(name) if !name.is_empty() => format!("{name} [{nonce}]"),
        _ => format!("[{nonce}]"),
    }
}

/// Whether `got`, the server's answer to the create `sent`, provably is what `sent` asks for:
/// the same operation, prompt, seed, duration, style scalars and scenes, and, when `sent` names
/// a player or playthrough, the same ones. `Err` says what differs.
pub(super) fn reuse_check(sent: &CreateGeneration, got: &GenerationResponse) -> Result<(), String> {
    if matches!(
        got.status,
        GenerationStatus::Failed | GenerationStatus::Cancelled
    ) {
        return Err(format!("it is {}", got.status.as_str()));
    }
    if let Some(operation) = &got.operation_type
        && operation != &sent.config.generation_type
    {
        return Err(format!("it is a {operation}"));
    }
    let Some(params) = got.canonical_params.as_ref().and_then(Value::as_object) else {
        return Err("the server does not say what it was made from".to_owned());
    };
    let theirs_prompt = params
        .get("prompt")
        .and_then(Value::as_str)
        .or(got.final_prompt.as_deref());
    if theirs_prompt != sent.config.prompt.as_deref() {
        return Err(format!(
            "its prompt is {theirs_prompt:?}, not {:?}",
            sent.config.prompt
        ));
    }
    same_making(sent, params)?;
    same_context(sent, params)
}

/// Whether `params` (an answer's `canonical_params`) were made with the seed, duration and
/// style `sent` asks for.
fn same_making(sent: &CreateGeneration, params: &Map<String, Value>) -> Result<(), String> {
    let ours_seed = sent.config.seed(&sent.provider_id);
    let theirs_seed = params.get("seed").and_then(Value::as_u64);
    if ours_seed != theirs_seed {
        return Err(format!("its seed is {theirs_seed:?}, not {ours_seed:?}"));
    }
    let ours_duration = sent.config.duration.get("target").and_then(Value::as_f64);
    let theirs_duration = params.get("duration").and_then(Value::as_f64);
    let same_duration = match (ours_duration, theirs_duration) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        (None, None) => true,
        _ => false,
    };
    if !same_duration {
        return Err(format!(
            "its duration is {theirs_duration:?}, not {ours_duration:?}"
        ));
    }
    // The server flattens the style's scalars (and its provider section's) into the params; it
    // may drop keys it does not use, but one it kept must agree.
    for (key, ours) in style_scalars(&sent.config.style, &sent.provider_id) {
        if let Some(theirs) = params.get(key)
            && !same_scalar(theirs, ours)
        {
            return Err(format!("its {key} is {theirs}, not {ours}"));
        }
    }
    Ok(())
}

/// Whether `params` (an answer's `canonical_params`) name the scenes `sent` leads from and to,
/// and its player and playthrough where `sent` has them.
fn same_context(sent: &CreateGeneration, params: &Map<String, Value>) -> Result<(), String> {
    let scene_id = |name: &str| {
        params
            .get("scene_context")
            .and_then(|context| context.get(name))
            .and_then(|scene| scene.get("id"))
            .and_then(BackendId::from_value)
            .map(|id| id.0)
    };
    for (name, ours) in [
        ("from_scene", sent.from_scene.as_ref().map(|s| s.id.clone())),
        ("to_scene", sent.to_scene.as_ref().map(|s| s.id.clone())),
    ] {
        let theirs = scene_id(name);
        if theirs != ours {
            return Err(format!("its {name} is {theirs:?}, not {ours:?}"));
        }
    }
    if let Some(player) = &sent.player_context {
        let context = params.get("player_context");
        let field = |name: &str| {
            context
                .and_then(|context| context.get(name))
                .and_then(BackendId::from_value)
                .map(|id| id.0)
        };
        for (name, ours) in [
            ("playthroughId", &player.playthrough_id),
            ("playerId", &player.player_id),
        ] {
            if ours.is_some() && &field(name) != ours {
                return Err(format!("it was made for another {name}"));
            }
        }
    }
    Ok(())
}

/// Whether `got`, the answer to the create `sent` tagged `nonce`, is that create's own
/// generation. Asked of every answer taken as this client's (a create for new work, or one
/// whose name carries the tag): a faulty server could otherwise hand one player another's
/// `per_player` media, or a still for a video.
///
/// What the server says must agree: its name carries the tag, its operation is the create's,
/// and the player context it was made from (`canonical_params.player_context`) is the one
/// sent, or none when none was sent. What the server leaves out cannot be checked. `Err` says
/// what differs.
pub(super) fn created_check(
    sent: &CreateGeneration,
    nonce: &str,
    got: &GenerationResponse,
) -> Result<(), String> {
    if let Some(name) = &got.name
        && !name.contains(nonce)
    {
        let name: String = name.chars().take(80).collect();
        return Err(format!(
            "it is named {name:?}, without this create's tag {nonce}"
        ));
    }
    if let Some(operation) = &got.operation_type
        && operation != &sent.config.generation_type
    {
        return Err(format!(
            "it is a {operation}, not a {}",
            sent.config.generation_type
        ));
    }
    let theirs = got
        .canonical_params
        .as_ref()
        .and_then(|params| params.get("player_context"));
    if let Some(theirs) = theirs {
        let field = |name: &str| {
            theirs
                .get(name)
                .and_then(BackendId::from_value)
                .map(|id| id.0)
        };
        let ours = sent.player_context.clone().unwrap_or_default();
        for (name, what, ours) in [
            ("playerId", "player", ours.player_id),
            ("playthroughId", "playthrough", ours.playthrough_id),
        ] {
            if field(name) != ours {
                return Err(format!(
                    "it was made for another {what} (its {name} is not this request's)"
                ));
            }
        }
    }
    Ok(())
}

/// The scalars of a create's style as the server flattens them: top-level ones and those of the
/// provider's own section, its seed aside.
fn style_scalars<'a>(style: &'a Value, provider: &str) -> Vec<(&'a str, &'a Value)> {
    let scalars = |map: &'a Map<String, Value>| {
        map.iter()
            .filter(|(key, value)| {
                key.as_str() != "seed" && !value.is_object() && !value.is_array()
            })
            .map(|(key, value)| (key.as_str(), value))
            .collect::<Vec<_>>()
    };
    let Some(map) = style.as_object() else {
        return Vec::new();
    };
    let mut all = scalars(map);
    if let Some(section) = map.get(provider).and_then(Value::as_object) {
        all.extend(scalars(section));
    }
    all
}

fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::wire::{GenerationType, PlayerContext, SceneRef};
    use crate::request::PlaySession;
    use crate::request::{AssetRequest, CachingStrategy};
    use serde_json::json;

    fn body(request: &AssetRequest, session: &PlaySession) -> CreateGeneration {
        let key = request.fingerprint(session);
        CreateGeneration::from_request(
            request,
            &key,
            session,
            "pixverse",
            GenerationType::TextToImage,
            1,
        )
    }

    fn answer(params: Value) -> GenerationResponse {
        serde_json::from_value(json!({
            "id": 7, "status": "completed", "operation_type": "text_to_image",
            "asset": {"type": "asset", "id": 3}, "canonical_params": params,
        }))
        .unwrap()
    }

    #[test]
    fn the_servers_work_is_taken_only_when_it_is_what_was_asked() {
        let session = PlaySession::new("pt-1", "alice");
        let request = AssetRequest::image()
            .scene("5")
            .to_scene("6")
            .prompt("a lighthouse")
            .style(json!({"pacing": "slow", "pixverse": {"aspect_ratio": "16:9"}}))
            .duration_secs(3.0)
            .seed(42);
        let sent = body(&request, &session);
        let same = json!({"prompt": "a lighthouse", "seed": 42, "duration": 3.0,
            "pacing": "slow", "aspect_ratio": "16:9", "model": "v5",
            "scene_context": {"from_scene": {"id": "5", "mood": null}, "to_scene": {"id": 6}},
            "player_context": null});
        assert_eq!(reuse_check(&sent, &answer(same.clone())), Ok(()));

        let mut other = same.clone();
        other["prompt"] = json!("a harbour");
        assert!(
            reuse_check(&sent, &answer(other))
                .unwrap_err()
                .contains("prompt")
        );
        let mut other = same.clone();
        other["seed"] = json!(7);
        assert!(
            reuse_check(&sent, &answer(other))
                .unwrap_err()
                .contains("seed")
        );
        let mut other = same.clone();
        other["aspect_ratio"] = json!("1:1");
        assert!(reuse_check(&sent, &answer(other)).is_err());
        let mut other = same.clone();
        other["scene_context"]["to_scene"]["id"] = json!("7");
        assert!(
            reuse_check(&sent, &answer(other))
                .unwrap_err()
                .contains("to_scene")
        );
        let mut other = same.clone();
        other.as_object_mut().unwrap().remove("duration");
        assert!(reuse_check(&sent, &answer(other)).is_err());
        // Nothing to compare with: not provably the same.
        let mut bare = answer(same.clone());
        bare.canonical_params = None;
        assert!(reuse_check(&sent, &bare).is_err());
        let mut cancelled = answer(same);
        cancelled.status = GenerationStatus::Cancelled;
        assert!(reuse_check(&sent, &cancelled).is_err());
    }

    #[test]
    fn a_scoped_create_matches_only_its_own_player() {
        let mut sent = body(
            &AssetRequest::image()
                .prompt("a room")
                .seed(1)
                .strategy(CachingStrategy::PerPlayer),
            &PlaySession::new("pt-1", "alice"),
        );
        assert_eq!(
            sent.player_context,
            Some(PlayerContext {
                playthrough_id: Some("pt-1".into()),
                player_id: Some("alice".into())
            })
        );
        let params = |player: &str| {
            json!({"prompt": "a room", "seed": 1,
                "scene_context": {"from_scene": null, "to_scene": null},
                "player_context": {"playthroughId": "pt-1", "playerId": player}})
        };
        assert_eq!(reuse_check(&sent, &answer(params("alice"))), Ok(()));
        assert!(reuse_check(&sent, &answer(params("bob"))).is_err());
        sent.from_scene = Some(SceneRef::new("x"));
        assert!(reuse_check(&sent, &answer(params("alice"))).is_err());
    }

    #[test]
    fn a_created_generation_must_be_the_creates_own() {
        let session = PlaySession::new("pt-1", "alice");
        let scoped = body(
            &AssetRequest::image()
                .prompt("a room")
                .strategy(CachingStrategy::PerPlayer),
            &session,
        );
        let nonce = "bap-0000000000000001";
        let got = |name: Value, operation: &str, player: Value| -> GenerationResponse {
            serde_json::from_value(json!({"id": 9, "status": "pending", "name": name,
                "operation_type": operation,
                "canonical_params": {"prompt": "a room", "player_context": player}}))
            .unwrap()
        };
        let alice = json!({"playthroughId": "pt-1", "playerId": "alice", "flags": null});
        let mine = json!(format!("room [{nonce}]"));
        let check =
            |sent: &CreateGeneration, got: &GenerationResponse| created_check(sent, nonce, got);
        assert_eq!(
            check(&scoped, &got(mine.clone(), "text_to_image", alice.clone())),
            Ok(())
        );
        // Nothing said, nothing to contradict.
        let bare: GenerationResponse =
            serde_json::from_value(json!({"id": 9, "status": "pending"})).unwrap();
        assert_eq!(check(&scoped, &bare), Ok(()));

        let error = check(
            &scoped,
            &got(
                json!("room [bap-00000000000000ff]"),
                "text_to_image",
                alice.clone(),
            ),
        )
        .unwrap_err();
        assert!(
            error.contains(nonce) && error.contains("bap-00000000000000ff"),
            "{error}"
        );
        let error = check(&scoped, &got(mine.clone(), "text_to_video", alice.clone()));
        assert!(error.unwrap_err().contains("text_to_video"));
        let bob = json!({"playthroughId": "pt-1", "playerId": "bob"});
        let error = check(&scoped, &got(mine.clone(), "text_to_image", bob.clone()));
        assert!(error.unwrap_err().contains("another player"));
        let other_run = json!({"playthroughId": "pt-2", "playerId": "alice"});
        let error = check(&scoped, &got(mine.clone(), "text_to_image", other_run));
        assert!(error.unwrap_err().contains("another playthrough"));
        assert!(check(&scoped, &got(mine.clone(), "text_to_image", Value::Null)).is_err());

        // A shared create names no player: an answer made for one is not its own.
        let shared = body(
            &AssetRequest::image().prompt("a room").prefer_cached(false),
            &session,
        );
        assert!(shared.force_new && shared.player_context.is_none());
        assert_eq!(
            check(&shared, &got(mine.clone(), "text_to_image", Value::Null)),
            Ok(())
        );
        assert!(check(&shared, &got(mine, "text_to_image", alice)).is_err());
    }

    #[test]
    fn names_carry_a_tag_per_create() {
        let a = new_nonce();
        assert_ne!(a, new_nonce());
        assert_eq!(tagged_name(Some("5/7"), &a), format!("5/7 [{a}]"));
        assert_eq!(tagged_name(None, &a), format!("[{a}]"));
    }
}
