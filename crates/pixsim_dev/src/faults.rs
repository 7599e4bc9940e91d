//! The faults a test injects at the gate (429s, 500s at a rate or for the next calls) and into
//! downloads (cut off, a byte changed). Cut-off JSON is written with the answer
//! (`Shared::json`), stalled and refused jobs by the lifecycle, dropped sockets by the socket.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;

use crate::knobs::Endpoint;
use crate::reply::error;
use crate::state::Shared;
use crate::stats::bump;

impl Shared {
    /// The injected answer due at `endpoint`, if any: a 429 of `rate_limit_next`, else a 500
    /// of `fail_next` or `error_rate`.
    pub(crate) fn injected_fault(&self, endpoint: Endpoint) -> Result<(), Response> {
        let mut data = self.data();
        let data = &mut *data;
        if let Some((count, retry)) = data.faults.rate_limit_next.get_mut(&endpoint)
            && *count > 0
        {
            *count -= 1;
            bump(&self.counters.faults);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Rate limit exceeded: 20 creates a minute",
            );
            if let Some(seconds) = retry {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(*seconds));
            }
            return Err(response);
        }
        let injected = match data.faults.fail_next.get_mut(&endpoint) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => {
                let rate = data
                    .faults
                    .error_rate
                    .get(&endpoint)
                    .copied()
                    .unwrap_or(0.0);
                rate > 0.0 && data.rng.f32() < rate
            }
        };
        if injected {
            bump(&self.counters.faults);
            return Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Injected failure (dev backend fault knob)",
            ));
        }
        Ok(())
    }

    /// Whether the next download is cut off, and whether it has a byte changed (which uses up
    /// one of `corrupt_next_downloads`).
    pub(crate) fn download_faults(&self) -> (bool, bool) {
        let mut data = self.data();
        let faults = &mut data.faults;
        let once = faults.corrupt_next_downloads > 0;
        faults.corrupt_next_downloads = faults.corrupt_next_downloads.saturating_sub(1);
        (faults.truncate_downloads, faults.corrupt_downloads || once)
    }
}

/// `bytes` as a damaged transfer sends them: the first half if `truncate`, the middle byte
/// flipped if `corrupt`.
pub(crate) fn damage(bytes: &mut Vec<u8>, truncate: bool, corrupt: bool) {
    if truncate {
        bytes.truncate(bytes.len() / 2);
    }
    if corrupt && !bytes.is_empty() {
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
    }
}
