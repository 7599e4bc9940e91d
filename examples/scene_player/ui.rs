//! The windowed player's screen.
use std::time::{Duration, Instant};

use bevy::prelude::*;
use bevy_asset_provider::observe::AssetProviderDiagnostics;
use bevy_asset_provider::prediction::{PredictionDiagnostics, PredictionState};
use bevy_asset_provider::prelude::*;
use bevy_asset_provider::scene::{MakeChoice, SceneGraph, SceneMedia};
use bevy_asset_provider::{AssetRequested, RequestKey};

use crate::cli::Options;
use crate::clips::{Clips, show_on_stage, stage_playing};
use crate::story::{Story, take_choice};

const BADGE_PENDING: Color = Color::srgb(0.55, 0.57, 0.62);
const BADGE_PROCESSING: Color = Color::srgb(0.95, 0.72, 0.25);
const BADGE_COMPLETED: Color = Color::srgb(0.35, 0.78, 0.45);
const BADGE_FAILED: Color = Color::srgb(0.9, 0.32, 0.3);
const MAX_ROWS: usize = 7;

#[derive(Component)]
pub struct Stage;

#[derive(Component)]
pub struct Caption;

#[derive(Component)]
pub struct ChoiceList;

#[derive(Component)]
pub struct ChoiceButton {
    edge: String,
    to: String,
}

/// Under a choice: whether its media is prefetched already.
#[derive(Component)]
pub struct ChoiceStatus {
    edge: String,
    to: String,
}

/// The diagnostics overlay.
#[derive(Component)]
pub struct Overlay;

#[derive(Component)]
pub struct RequestList;

/// One row of the request panel, following the task on `task`.
#[derive(Component)]
pub struct RequestRow {
    task: Entity,
    created: Instant,
}

#[derive(Component)]
pub struct Badge;

#[derive(Component)]
pub struct Bar;

#[derive(Component)]
pub struct Elapsed;

pub fn setup(mut commands: Commands) {
    commands.spawn(Camera2d);
    commands
        .spawn((
            Node {
                width: percent(100),
                height: percent(100),
                flex_direction: FlexDirection::Column,
                padding: UiRect::all(px(20)),
                row_gap: px(12),
                ..default()
            },
            BackgroundColor(Color::srgb(0.07, 0.08, 0.1)),
        ))
        .with_children(|root| {
            root.spawn((
                Text::new("The Lighthouse Keeper"),
                TextFont::from_font_size(28.0),
                TextColor(Color::srgb(0.93, 0.9, 0.82)),
            ));
            root.spawn(Node {
                flex_direction: FlexDirection::Row,
                column_gap: px(20),
                ..default()
            })
            .with_children(|row| {
                row.spawn((
                    Stage,
                    ImageNode::default(),
                    Node {
                        width: px(800),
                        height: px(450),
                        ..default()
                    },
                    BorderColor::all(Color::srgb(0.25, 0.27, 0.32)),
                ));
                row.spawn(Node {
                    flex_direction: FlexDirection::Column,
                    row_gap: px(10),
                    width: px(400),
                    ..default()
                })
                .with_children(|column| {
                    column.spawn((
                        Caption,
                        Text::new(""),
                        TextFont::from_font_size(22.0),
                        TextColor(Color::srgb(0.85, 0.86, 0.9)),
                    ));
                    column.spawn((
                        ChoiceList,
                        Node {
                            flex_direction: FlexDirection::Column,
                            row_gap: px(8),
                            ..default()
                        },
                    ));
                });
            });
            // Bottom right: clear of the caption and the choices.
            root.spawn((
                Overlay,
                Text::new(""),
                TextFont::from_font_size(13.0),
                TextColor(Color::srgb(0.7, 0.74, 0.8)),
                Node {
                    position_type: PositionType::Absolute,
                    bottom: px(20),
                    right: px(20),
                    ..default()
                },
            ));
            root.spawn((
                RequestList,
                Node {
                    flex_direction: FlexDirection::Column,
                    row_gap: px(4),
                    ..default()
                },
            ));
        });
}

/// When the player moves: the node's picture on the stage (a video node's clip plays there),
/// its label, its choices.
pub fn show_node(
    mut commands: Commands,
    mut story: ResMut<Story>,
    (options, graphs): (Res<Options>, Res<Assets<SceneGraph>>),
    tasks: Query<(&SceneMedia, &GenerationTask)>,
    mut stage: Single<(Entity, &mut ImageNode), With<Stage>>,
    mut caption: Single<&mut Text, With<Caption>>,
    list: Single<Entity, With<ChoiceList>>,
) {
    let (Some(graph), Some((node_id, via))) = (graphs.get(&story.graph), story.at.clone()) else {
        return;
    };
    // The node's picture request is spawned a frame after the move; wait for it.
    let Some((image, kind)) = tasks.iter().find_map(|(media, task)| {
        (media.node == node_id && media.edge == via && media.kind != MediaKind::Audio)
            .then(|| {
                task.handle()
                    .image()
                    .cloned()
                    .map(|image| (image, media.kind))
            })
            .flatten()
    }) else {
        return;
    };
    if !story.moved {
        return;
    }
    story.moved = false;
    let (stage_entity, stage_image) = &mut *stage;
    stage_image.image = image.clone();
    // A clip loops while the player reads, and plays once when the story plays itself.
    show_on_stage(&mut commands, *stage_entity, image, kind, !options.autoplay);
    let node = graph
        .node(&node_id)
        .expect("validated graphs name their nodes");
    caption.0 = node.label.clone();
    commands.entity(*list).despawn_related::<Children>();
    let choices: Vec<_> = graph.choices(&node_id).collect();
    commands.entity(*list).with_children(|list| {
        for (i, edge) in choices.iter().enumerate() {
            list.spawn((
                Button,
                ChoiceButton {
                    edge: edge.id.clone(),
                    to: edge.to.clone(),
                },
                Node {
                    padding: UiRect::axes(px(14), px(10)),
                    flex_direction: FlexDirection::Column,
                    row_gap: px(2),
                    ..default()
                },
                BackgroundColor(Color::srgb(0.16, 0.18, 0.23)),
            ))
            .with_children(|button| {
                button.spawn((
                    Text::new(format!("{}. {}", i + 1, edge.label)),
                    TextFont::from_font_size(18.0),
                    TextColor(Color::srgb(0.92, 0.92, 0.95)),
                ));
                button.spawn((
                    ChoiceStatus {
                        edge: edge.id.clone(),
                        to: edge.to.clone(),
                    },
                    Text::new(""),
                    TextFont::from_font_size(12.0),
                    TextColor(BADGE_PENDING),
                ));
            });
        }
        if choices.is_empty() {
            list.spawn((
                Text::new("The end. Press R to start again."),
                TextFont::from_font_size(18.0),
                TextColor(Color::srgb(0.7, 0.7, 0.75)),
            ));
        }
    });
}

/// Marks the choices whose media is prefetched: ready, or on its way and when it is expected.
pub fn mark_choices(
    story: Res<Story>,
    graphs: Res<Assets<SceneGraph>>,
    provider: Res<AssetProvider>,
    prediction: Option<Res<PredictionState>>,
    mut marks: Query<(&ChoiceStatus, &mut Text, &mut TextColor)>,
) {
    let Some(graph) = graphs.get(&story.graph) else {
        return;
    };
    for (status, mut text, mut color) in &mut marks {
        let Some(edge) = graph.edge(&status.edge) else {
            continue;
        };
        let keys: Vec<RequestKey> = graph
            .node_media(&status.to, Some(edge))
            .iter()
            .map(|request| provider.key_for(request))
            .collect();
        let expected = prediction
            .as_ref()
            .and_then(|prediction| prediction.expected_in(&status.to, &status.edge));
        let ready = keys
            .iter()
            .filter(|key| provider.get(key).is_some())
            .count();
        let on_its_way = keys
            .iter()
            .any(|key| provider.status(key) == Some(TaskStatus::Pending));
        let (label, tint) = if ready == keys.len() {
            ("prefetched: ready".to_owned(), BADGE_COMPLETED)
        } else if !on_its_way && ready > 0 {
            (
                format!("prefetched: {ready} of {}", keys.len()),
                BADGE_PROCESSING,
            )
        } else if on_its_way {
            let when = match expected {
                Some(due) if due.is_zero() => ": due now".to_owned(),
                Some(due) => format!(": expected in {:.1} s", due.as_secs_f32()),
                None => String::new(),
            };
            (format!("prefetching{when}"), BADGE_PROCESSING)
        } else {
            (String::new(), BADGE_PENDING)
        };
        if text.0 != label {
            text.0 = label;
            color.0 = tint;
        }
    }
}

/// The provider's diagnostics, as `LogDiagnosticsPlugin` would print them.
pub fn show_diagnostics(
    diagnostics: Res<bevy::diagnostic::DiagnosticsStore>,
    mut overlay: Single<&mut Text, With<Overlay>>,
) {
    let value = |path| {
        diagnostics
            .get(path)
            .and_then(|diagnostic| diagnostic.value())
    };
    let percent = |path| value(path).map_or("-".to_owned(), |v| format!("{:.0}%", v * 100.0));
    let millis = |path| value(path).map_or("-".to_owned(), |v| format!("{v:.0} ms"));
    let count = |path| value(path).map_or("-".to_owned(), |v| format!("{v:.0}"));
    let text = format!(
        "in flight {} (prefetch {})\ncache hit rate {}\ntime to media p50 {} p95 {}\n\
         prefetch hit rate {}\nwasted generations {}\n\
         prefetches later than expected: p50 {} p95 {}",
        count(&AssetProviderDiagnostics::IN_FLIGHT),
        count(&AssetProviderDiagnostics::PREFETCHES_IN_FLIGHT),
        percent(&AssetProviderDiagnostics::CACHE_HIT_RATE),
        millis(&AssetProviderDiagnostics::TIME_TO_MEDIA_P50),
        millis(&AssetProviderDiagnostics::TIME_TO_MEDIA_P95),
        percent(&AssetProviderDiagnostics::PREFETCH_HIT_RATE),
        count(&AssetProviderDiagnostics::WASTED_GENERATIONS),
        millis(&PredictionDiagnostics::ARRIVAL_ERROR_P50),
        millis(&PredictionDiagnostics::ARRIVAL_ERROR_P95),
    );
    if overlay.0 != text {
        overlay.0 = text;
    }
}

/// Buttons and number keys take a choice; R restarts at an ending.
pub fn choose(
    mut story: ResMut<Story>,
    keys: Res<ButtonInput<KeyCode>>,
    pressed: Query<(&Interaction, &ChoiceButton), Changed<Interaction>>,
    buttons: Query<&ChoiceButton>,
    mut choice: MessageWriter<MakeChoice>,
    mut enter: MessageWriter<EnterNode>,
    graphs: Res<Assets<SceneGraph>>,
) {
    if story.moved {
        return;
    }
    let mut picked = pressed
        .iter()
        .find(|(interaction, _)| **interaction == Interaction::Pressed)
        .map(|(_, button)| (button.edge.clone(), button.to.clone()));
    const DIGITS: [KeyCode; 9] = [
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
        KeyCode::Digit6,
        KeyCode::Digit7,
        KeyCode::Digit8,
        KeyCode::Digit9,
    ];
    if let Some(n) = DIGITS.iter().position(|key| keys.just_pressed(*key)) {
        picked = buttons
            .iter()
            .nth(n)
            .map(|button| (button.edge.clone(), button.to.clone()));
    }
    if let Some((edge, to)) = picked {
        take_choice(&mut story, &edge, &mut choice, &to);
    } else if keys.just_pressed(KeyCode::KeyR)
        && buttons.is_empty()
        && let Some(graph) = graphs.get(&story.graph)
    {
        let start = graph.start_node_id.clone();
        enter.write(EnterNode {
            graph: story.graph.clone(),
            node: start.clone(),
        });
        story.at = Some((start, None));
        story.moved = true;
    }
}

/// A row per new request: badge, kind and node, progress bar, elapsed time.
pub fn add_request_rows(
    mut commands: Commands,
    mut requested: MessageReader<AssetRequested>,
    media: Query<&SceneMedia>,
    list: Single<Entity, With<RequestList>>,
    rows: Query<(Entity, &RequestRow)>,
) {
    let mut added = 0;
    for message in requested.read() {
        let Some(entity) = message.entity else {
            continue;
        };
        let label = media.get(entity).map_or_else(
            |_| message.kind.as_str().to_owned(),
            |m| format!("{} / {}", m.node, m.kind.as_str()),
        );
        added += 1;
        commands.entity(*list).with_children(|list| {
            list.spawn((
                RequestRow {
                    task: entity,
                    created: Instant::now(),
                },
                Node {
                    flex_direction: FlexDirection::Row,
                    column_gap: px(10),
                    align_items: AlignItems::Center,
                    ..default()
                },
            ))
            .with_children(|row| {
                row.spawn((
                    Badge,
                    Text::new("PENDING"),
                    TextFont::from_font_size(13.0),
                    TextColor(Color::srgb(0.08, 0.08, 0.1)),
                    Node {
                        width: px(110),
                        padding: UiRect::axes(px(6), px(2)),
                        ..default()
                    },
                    BackgroundColor(BADGE_PENDING),
                ));
                row.spawn((
                    Text::new(label),
                    TextFont::from_font_size(14.0),
                    TextColor(Color::srgb(0.8, 0.82, 0.86)),
                    TextLayout::linebreak(LineBreak::NoWrap),
                    Node {
                        width: px(260),
                        ..default()
                    },
                ));
                row.spawn((
                    Node {
                        width: px(300),
                        height: px(8),
                        ..default()
                    },
                    BackgroundColor(Color::srgb(0.18, 0.2, 0.24)),
                ))
                .with_child((
                    Bar,
                    Node {
                        width: percent(0),
                        height: percent(100),
                        ..default()
                    },
                    BackgroundColor(BADGE_PROCESSING),
                ));
                row.spawn((
                    Elapsed,
                    Text::new("0 ms"),
                    TextFont::from_font_size(13.0),
                    TextColor(Color::srgb(0.6, 0.62, 0.68)),
                ));
            });
        });
    }
    // Keep the newest rows only.
    let mut existing: Vec<_> = rows.iter().collect();
    let excess = (existing.len() + added).saturating_sub(MAX_ROWS);
    existing.sort_by_key(|(_, row)| row.created);
    for (entity, _) in existing.into_iter().take(excess) {
        commands.entity(entity).despawn();
    }
}

type BadgeCells<'w, 's> =
    Query<'w, 's, (&'static mut Text, &'static mut BackgroundColor), (With<Badge>, Without<Bar>)>;
type BarCells<'w, 's> =
    Query<'w, 's, (&'static mut Node, &'static mut BackgroundColor), (With<Bar>, Without<Badge>)>;

/// Badges, bars and timers follow their tasks.
pub fn update_request_rows(
    rows: Query<(&RequestRow, &Children)>,
    tasks: Query<&GenerationTask>,
    children: Query<&Children>,
    mut badges: BadgeCells,
    mut bars: BarCells,
    mut timers: Query<&mut Text, (With<Elapsed>, Without<Badge>)>,
) {
    for (row, cells) in &rows {
        let Ok(task) = tasks.get(row.task) else {
            continue;
        };
        let (label, color, fill) = match task.status() {
            TaskStatus::Pending => ("PENDING", BADGE_PENDING, 0.0),
            TaskStatus::Processing => ("PROCESSING", BADGE_PROCESSING, task.progress()),
            TaskStatus::Completed => ("COMPLETED", BADGE_COMPLETED, 1.0),
            TaskStatus::Failed => ("FAILED", BADGE_FAILED, 1.0),
            TaskStatus::TimedOut => ("TIMED OUT", BADGE_FAILED, 1.0),
            TaskStatus::Cancelled => ("CANCELLED", BADGE_PENDING, 0.0),
        };
        let elapsed = task
            .finished_after()
            .unwrap_or_else(|| row.created.elapsed());
        for cell in cells.iter() {
            if let Ok((mut text, mut background)) = badges.get_mut(cell) {
                if text.0 != label {
                    text.0 = label.to_owned();
                    background.0 = color;
                }
            } else if let Ok(mut timer) = timers.get_mut(cell) {
                let source = task.source().map_or("", |s| s.as_str());
                timer.0 = format!("{} ms {source}", elapsed.as_millis());
            } else if let Ok(bar_cells) = children.get(cell) {
                for bar in bar_cells.iter() {
                    if let Ok((mut node, mut background)) = bars.get_mut(bar) {
                        node.width = percent(fill * 100.0);
                        background.0 = color;
                    }
                }
            }
        }
    }
}

/// With `--choices` in a window: takes the next scripted choice a moment after the node's
/// media has arrived and its clip (if any) has played, so the story plays itself (for demos
/// and screenshots).
pub fn autoplay(
    mut story: ResMut<Story>,
    mut options: ResMut<Options>,
    graphs: Res<Assets<SceneGraph>>,
    tasks: Query<(&SceneMedia, &GenerationTask)>,
    (stage, clips): (Single<Entity, With<Stage>>, Clips),
    mut choice: MessageWriter<MakeChoice>,
    mut settled_since: Local<Option<Instant>>,
) {
    let (true, false, Some(graph), Some((node, via))) = (
        options.autoplay,
        story.moved,
        graphs.get(&story.graph),
        story.at.clone(),
    ) else {
        return;
    };
    let mut mine = tasks
        .iter()
        .filter(|(media, _)| media.node == node && media.edge == via)
        .peekable();
    // A clip that arrived plays to its end first; a still served for it has no end.
    let playing = stage_playing(&clips, *stage);
    if mine.peek().is_none() || mine.any(|(_, task)| !task.status().is_terminal()) || playing {
        *settled_since = None;
        return;
    }
    let since = *settled_since.get_or_insert_with(Instant::now);
    if since.elapsed() < Duration::from_millis(1500) {
        return;
    }
    *settled_since = None;
    let Some(n) = options.choices.pop_front() else {
        options.autoplay = false;
        return;
    };
    if let Some(edge) = graph.choices(&node).nth(n - 1) {
        let (edge, to) = (edge.id.clone(), edge.to.clone());
        take_choice(&mut story, &edge, &mut choice, &to);
    }
}

/// A node's sound cue plays when it arrives: the player holds the empty handle and starts
/// when the real sound is inserted behind it.
pub fn play_cues(
    mut commands: Commands,
    mut requested: MessageReader<AssetRequested>,
    media: Query<&SceneMedia>,
) {
    for message in requested.read() {
        if let (Some(MediaHandle::Audio(handle)), true) = (
            Some(&message.handle),
            message.entity.is_some_and(|e| media.contains(e)),
        ) {
            commands.spawn((AudioPlayer(handle.clone()), PlaybackSettings::DESPAWN));
        }
    }
}
