//! The story and where the player is in it, shared by the window and the script.

use bevy::prelude::*;
use bevy_asset_provider::scene::{EnterNode, MakeChoice, SceneGraph};

use crate::sources::FetchedScene;

/// The bundled story.
pub const STORY: &str = "story/lighthouse.scene.json";

/// The story and where the player is in it.
#[derive(Resource)]
pub struct Story {
    pub graph: Handle<SceneGraph>,
    /// The node the player is at and the edge that led there.
    pub at: Option<(String, Option<String>)>,
    /// Set when the node changed and the screen has not caught up.
    pub moved: bool,
}

pub fn load_story(
    mut commands: Commands,
    server: Res<AssetServer>,
    fetched: Option<Res<FetchedScene>>,
    mut graphs: ResMut<Assets<SceneGraph>>,
) {
    let graph = match fetched {
        Some(fetched) => graphs.add(fetched.0.clone()),
        None => server.load(STORY),
    };
    commands.insert_resource(Story {
        graph,
        at: None,
        moved: false,
    });
}

/// Enters the start node once the story has loaded.
pub fn start_story(
    mut story: ResMut<Story>,
    graphs: Res<Assets<SceneGraph>>,
    server: Res<AssetServer>,
    mut enter: MessageWriter<EnterNode>,
    mut exit: MessageWriter<AppExit>,
) {
    if story.at.is_some() {
        return;
    }
    if let Some(graph) = graphs.get(&story.graph) {
        let start = graph.start_node_id.clone();
        enter.write(EnterNode {
            graph: story.graph.clone(),
            node: start.clone(),
        });
        story.at = Some((start, None));
        story.moved = true;
    } else if let Some(bevy::asset::LoadState::Failed(error)) = server.get_load_state(&story.graph)
    {
        eprintln!("the story {STORY} did not load: {error}");
        exit.write(AppExit::from_code(1));
    }
}

/// Takes the choice `edge` out of the current node.
pub fn take_choice(
    story: &mut Story,
    edge: &str,
    choice: &mut MessageWriter<MakeChoice>,
    to: &str,
) {
    let Some((from, _)) = story.at.clone() else {
        return;
    };
    choice.write(MakeChoice {
        graph: story.graph.clone(),
        from,
        edge: edge.to_owned(),
    });
    story.at = Some((to.to_owned(), Some(edge.to_owned())));
    story.moved = true;
}
