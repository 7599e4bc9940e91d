//! Live updates: one WebSocket (`/api/v1/ws/generations`) shared by every job of a client.
//!
//! The socket task broadcasts each event it reads; jobs filter the ones about their generation.
//! Its state (connected or not, and a counter bumped on every connect and drop) lets a job know
//! whether it may rely on events or must poll: events sent while the socket was down are lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bevy::log::debug;
use futures_util::{SinkExt, StreamExt};
use reqwest::Url;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::backend::wire::SocketEvent;
use crate::error::without_url_secrets;

/// The socket's state as jobs see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SocketState {
    /// Whether the socket is up.
    pub connected: bool,
    /// Bumped on every connect and every drop.
    pub epoch: u64,
}

/// Events stay buffered this deep per job; a job that falls behind polls instead.
const EVENT_BUFFER: usize = 1024;
/// A connection that lived this long resets the reconnect backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(5);
const RECONNECT_START: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared socket of one client.
pub(crate) struct SocketHub {
    url: Option<Url>,
    /// A `ping` goes out this long after the last message; a socket that stays silent as long
    /// again is dead (half-open), even if TCP has not noticed.
    keep_alive: Duration,
    events: broadcast::Sender<SocketEvent>,
    state: watch::Sender<SocketState>,
    started: AtomicBool,
}

impl SocketHub {
    /// A hub for the backend at `base` (`ws://` for `http`, `wss://` for `https`);
    /// `enabled: false` leaves jobs to polling.
    pub(crate) fn new(base: &Url, enabled: bool, keep_alive: Duration) -> Arc<Self> {
        Arc::new(Self {
            url: enabled.then(|| socket_url(base)).flatten(),
            keep_alive: keep_alive.max(Duration::from_millis(10)),
            events: broadcast::channel(EVENT_BUFFER).0,
            state: watch::channel(SocketState::default()).0,
            started: AtomicBool::new(false),
        })
    }

    /// Starts the socket task on the current runtime, once.
    pub(crate) fn ensure_started(self: &Arc<Self>) {
        let Some(url) = self.url.clone() else { return };
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(run(Arc::downgrade(self), url, self.keep_alive));
    }

    /// A job's view: the events from now on, and the socket's state.
    pub(crate) fn subscribe(
        &self,
    ) -> (
        broadcast::Receiver<SocketEvent>,
        watch::Receiver<SocketState>,
    ) {
        (self.events.subscribe(), self.state.subscribe())
    }
}

/// The socket's URL under the backend's base.
fn socket_url(base: &Url) -> Option<Url> {
    let scheme = match base.scheme() {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    let mut url = base.join("api/v1/ws/generations").ok()?;
    url.set_scheme(scheme).ok()?;
    Some(url)
}

fn set_state(hub: &Weak<SocketHub>, connected: bool) -> bool {
    let Some(hub) = hub.upgrade() else {
        return false;
    };
    hub.state.send_modify(|state| {
        state.connected = connected;
        state.epoch += 1;
    });
    true
}

/// Connects, reads, reconnects with backoff; ends when the client is gone.
async fn run(hub: Weak<SocketHub>, url: Url, keep_alive: Duration) {
    let mut backoff = RECONNECT_START;
    loop {
        if hub.strong_count() == 0 {
            return;
        }
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(
                url.as_str(),
                Some(socket_config()),
                false,
            ),
        )
        .await;
        match connected {
            Ok(Ok((socket, _))) => {
                if !set_state(&hub, true) {
                    return;
                }
                let since = Instant::now();
                let alive = read(&hub, socket, keep_alive).await;
                if !set_state(&hub, false) || !alive {
                    return;
                }
                debug!("generation socket dropped after {:?}", since.elapsed());
                if since.elapsed() >= STABLE_CONNECTION {
                    backoff = RECONNECT_START;
                }
            }
            Ok(Err(error)) => debug!(
                "generation socket {} did not open: {}",
                without_url_secrets(url.as_str()),
                without_url_secrets(&error.to_string())
            ),
            Err(_) => debug!(
                "generation socket {} did not open within {CONNECT_TIMEOUT:?}",
                without_url_secrets(url.as_str())
            ),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// The largest message read; a bigger one is not an event of this API and ends the socket.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The socket's limits: the reader refuses a frame or message over [`MAX_MESSAGE_BYTES`] as
/// soon as its header says so, before buffering it (tungstenite's defaults allow 64 MiB).
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES))
}

/// Reads until the socket drops or goes silent; `false` when the client is gone.
async fn read<S>(hub: &Weak<SocketHub>, socket: S, keep_alive: Duration) -> bool
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
        + futures_util::Sink<Message>
        + Unpin,
{
    let (mut sink, mut stream) = socket.split();
    let mut pinged = false;
    loop {
        // Quiet for `keep_alive`: ping; quiet as long again after the ping: it is dead.
        let message = match tokio::time::timeout(keep_alive, stream.next()).await {
            Ok(message) => message,
            Err(_) if pinged => {
                debug!("generation socket silent after a ping; reconnecting");
                return true;
            }
            Err(_) => {
                pinged = true;
                let sent = tokio::time::timeout(keep_alive, sink.send(Message::text("ping"))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return true;
                }
                continue;
            }
        };
        pinged = false;
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Err(error)) => {
                // An oversize message ends up here, refused on its header.
                debug!("generation socket: {error}; reconnecting");
                return true;
            }
            Some(Ok(Message::Close(_))) | None => return true,
            Some(Ok(_)) => continue,
        };
        if text.as_str() == "pong" {
            continue;
        }
        // Other users' events and unknown messages are fine to see; unreadable ones are skipped
        // rather than dropping the socket.
        let Ok(event) = serde_json::from_str::<SocketEvent>(text.as_str()) else {
            continue;
        };
        let Some(hub) = hub.upgrade() else {
            return false;
        };
        let _ = hub.events.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_follows_the_base_scheme_and_path() {
        let url = |base: &str| socket_url(&Url::parse(base).unwrap()).map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:8787/").as_deref(),
            Some("ws://127.0.0.1:8787/api/v1/ws/generations")
        );
        assert_eq!(
            url("https://example.com/pixsim/").as_deref(),
            Some("wss://example.com/pixsim/api/v1/ws/generations")
        );
        assert_eq!(url("ftp://example.com/"), None);
    }
}
