//! The WebSocket of job events: a greeting, then every event, and `pong` to `ping`.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::json;
use tokio::sync::broadcast;

use crate::state::Shared;
use crate::stats::bump;

pub(crate) async fn socket(
    State(state): State<Arc<Shared>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    bump(&state.counters.socket_connections);
    upgrade.on_upgrade(move |socket| serve_socket(state, socket))
}

async fn serve_socket(state: Arc<Shared>, mut socket: WebSocket) {
    let mut events = state.events.subscribe();
    let greeting = if state.config.real.real_event_shapes {
        json!({"type": "connected", "payload": null, "data": null, "error": null,
            "message": "Connected to generation updates", "user_id": null})
    } else {
        json!({"type": "connected", "message": "Connected to generation updates"})
    };
    if socket
        .send(Message::Text(greeting.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let limit = state.data().faults.drop_sockets_after;
    let mut sent = 0usize;
    loop {
        if limit.is_some_and(|limit| sent >= limit) {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        tokio::select! {
            event = events.recv() => match event {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.as_str() == "ping" => {
                    if socket.send(Message::Text("pong".into())).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
