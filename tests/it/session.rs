//! One session: a system that switches playthroughs and asks for media in the same run gets
//! the new playthrough's media through every path (a direct call, an inserted request, a
//! message, scene media, a prefetch and prediction), never the old one's from memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use async_trait::async_trait;
use bevy::prelude::*;
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::source::SourceKind;
use bevy_asset_provider::source::{AssetSource, SourceRequest, SourcedMedia};
use bevy_asset_provider::{AssetRequested, RequestKey};
use serde_json::json;

/// Serves a PNG at once and notes the key and playthrough of every request it is asked.
#[derive(Default)]
struct SessionLog(Mutex<Vec<(RequestKey, String)>>);

impl SessionLog {
    fn asked(&self) -> Vec<(RequestKey, String)> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl AssetSource for SessionLog {
    fn name(&self) -> &str {
        "session_log"
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Generated
    }

    async fn resolve(&self, request: &SourceRequest) -> Result<Option<SourcedMedia>, AssetError> {
        let playthrough = request.session.playthrough_id.clone();
        self.0.lock().unwrap().push((request.key, playthrough));
        Ok(Some(SourcedMedia::new(
            png(2, 2, [90, 90, 200, 255]),
            "image/png",
            "session log",
        )))
    }
}

/// start → next → end, every node's media kept per playthrough.
fn story() -> SceneGraph {
    let node = |id: &str| {
        json!({"id": id, "type": "image", "label": id,
               "meta": {"prompt": format!("the {id}"), "strategy": "per_playthrough"}})
    };
    let edge = |id: &str, from: &str, to: &str| json!({"id": id, "from": from, "to": to, "label": id, "weight": 1.0});
    let nodes = ["start", "next", "end"].map(node);
    let graph = json!({
        "id": "session_story", "title": "Session story", "startNodeId": "start",
        "nodes": nodes,
        "edges": [edge("to_next", "start", "next"), edge("to_end", "next", "end")],
    });
    SceneGraph::from_json(graph.to_string().as_bytes(), "session.scene.json").unwrap()
}

fn scoped(prompt: &str) -> AssetRequest {
    AssetRequest::image()
        .prompt(prompt)
        .strategy(CachingStrategy::PerPlaythrough)
}

fn pt(id: &str) -> PlaySession {
    PlaySession::new(id, "player")
}

/// How a scene message reaches the new playthrough's media.
#[derive(Clone, Copy)]
enum SceneStep {
    /// Entering `start` again.
    Enter,
    /// Choosing `to_next`, whose media playthrough A prefetched.
    Choose,
}

/// What the switching system got back from the provider.
#[derive(Resource)]
struct Got {
    direct: Handle<Image>,
    prefetch: RequestKey,
}

fn app(log: Arc<SessionLog>) -> (App, Handle<SceneGraph>) {
    let plugin = AssetProviderPlugin::new()
        .without_disk_cache()
        .with_shared_source(log)
        .with_default_timeout(Duration::from_secs(10));
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Image>()
        .add_plugins(plugin.with_session(pt("pt-a")));
    app.finish();
    app.cleanup();
    let graph = app
        .world_mut()
        .resource_mut::<Assets<SceneGraph>>()
        .add(story());
    collect::<AssetRequested>(&mut app);
    app.update();
    (app, graph)
}

/// Playthrough A asks for everything the switch asks for again, and it all ends in memory.
fn play_a(app: &mut App, log: &SessionLog, graph: &Handle<SceneGraph>) {
    let entity = app.world_mut().spawn(scoped("inserted")).id();
    app.world_mut()
        .write_message(RequestAsset(scoped("message")));
    app.world_mut().write_message(EnterNode {
        graph: graph.clone(),
        node: "start".into(),
    });
    {
        let mut provider = app.world_mut().resource_mut::<AssetProvider>();
        let _ = provider.request_image(scoped("direct"));
        let _ = provider.prefetch(scoped("prefetch"));
    }
    until_status(app, entity, TaskStatus::Completed);
    // start's media, its prefetched next step, and the four above.
    update_until(app, "playthrough A's media", |app| {
        log.asked().len() >= 6 && app.world().resource::<AssetProvider>().in_flight() == 0
    });
    let provider = app.world().resource::<AssetProvider>();
    for request in ["inserted", "message", "direct", "prefetch"].map(scoped) {
        let key = request.fingerprint(&pt("pt-a"));
        assert!(provider.get(&key).is_some(), "A's {request:?} is in memory");
    }
}

/// The keys playthrough B's requests must have, the scene's and prediction's included.
fn keys_under(session: &PlaySession, step: SceneStep) -> Vec<(&'static str, RequestKey)> {
    let graph = story();
    let (scene, predicted) = match step {
        SceneStep::Enter => (
            graph.node_media("start", None),
            graph.node_media("next", graph.edge("to_next")),
        ),
        SceneStep::Choose => (
            graph.node_media("next", graph.edge("to_next")),
            graph.node_media("end", graph.edge("to_end")),
        ),
    };
    let mut keys: Vec<_> = ["direct", "inserted", "message", "prefetch"]
        .into_iter()
        .map(|name| (name, scoped(name).fingerprint(session)))
        .collect();
    keys.push(("scene media", scene[0].fingerprint(session)));
    keys.push(("prediction", predicted[0].fingerprint(session)));
    keys
}

fn switch_and_request_in_one_system(step: SceneStep) {
    let log = Arc::new(SessionLog::default());
    let (mut app, graph) = app(log.clone());
    play_a(&mut app, &log, &graph);
    app.world_mut()
        .resource_mut::<Collected<AssetRequested>>()
        .0
        .clear();

    let switch = move |mut provider: ResMut<AssetProvider>,
                       mut commands: Commands,
                       mut messages: MessageWriter<RequestAsset>,
                       mut enter: MessageWriter<EnterNode>,
                       mut choose: MessageWriter<MakeChoice>,
                       mut done: Local<bool>| {
        if std::mem::replace(&mut *done, true) {
            return;
        }
        provider.set_session(pt("pt-b"));
        let direct = provider.request_image(scoped("direct"));
        let prefetch = provider.prefetch(scoped("prefetch"));
        commands.spawn(scoped("inserted"));
        messages.write(RequestAsset(scoped("message")));
        match step {
            SceneStep::Enter => {
                enter.write(EnterNode {
                    graph: graph.clone(),
                    node: "start".into(),
                });
            }
            SceneStep::Choose => {
                choose.write(MakeChoice {
                    graph: graph.clone(),
                    from: "start".into(),
                    edge: "to_next".into(),
                });
            }
        }
        commands.insert_resource(Got { direct, prefetch });
    };
    app.add_systems(Update, switch.before(AssetProviderSystems::Request));
    app.update();

    let expected = keys_under(&pt("pt-b"), step);
    let old = keys_under(&pt("pt-a"), step);
    let got = app.world().resource::<Got>();
    assert_eq!(got.prefetch, expected[3].1, "the prefetch's key is B's");
    let a_direct = app
        .world()
        .resource::<AssetProvider>()
        .get(&old[0].1)
        .and_then(|handle| handle.image().cloned());
    assert_ne!(Some(got.direct.clone()), a_direct, "not A's direct media");
    let requested = collected::<AssetRequested>(&app);
    for (path, key) in &old {
        assert!(
            requested.iter().all(|message| message.key != *key),
            "{path}: requested under A's key after the switch"
        );
    }
    for (path, key) in &expected {
        assert!(
            requested
                .iter()
                .any(|message| message.key == *key && !message.joined),
            "{path}: no new request under B's key; requested: {:?}",
            requested.iter().map(|m| m.key).collect::<Vec<_>>()
        );
    }
    update_until(&mut app, "playthrough B's media from the source", |_| {
        let asked = log.asked();
        expected
            .iter()
            .all(|(_, key)| asked.contains(&(*key, "pt-b".to_owned())))
    });
}

#[test]
fn a_switch_and_requests_in_one_system_reach_the_new_playthrough_by_entering() {
    switch_and_request_in_one_system(SceneStep::Enter);
}

#[test]
fn a_switch_and_requests_in_one_system_reach_the_new_playthrough_by_choosing() {
    switch_and_request_in_one_system(SceneStep::Choose);
}
