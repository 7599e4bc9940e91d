//! A progress bar per phase of the bake, with `indicatif`.

use std::sync::Mutex;

use bevy_asset_provider::bake::BakeProgress;
use indicatif::{ProgressBar, ProgressStyle};

/// The bar of the phase under way.
pub struct Bars(Mutex<Option<ProgressBar>>);

impl Bars {
    pub fn new() -> Self {
        Self(Mutex::new(None))
    }

    pub fn show(&self, event: BakeProgress<'_>) {
        let Ok(mut bar) = self.0.lock() else {
            return;
        };
        match event {
            BakeProgress::Started { phase, total } => {
                let new = ProgressBar::new(total as u64).with_style(
                    ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                new.set_prefix(phase.as_str());
                *bar = Some(new);
            }
            BakeProgress::Advanced { slot, .. } => {
                if let Some(bar) = bar.as_ref() {
                    bar.set_message(slot.to_owned());
                    bar.inc(1);
                }
            }
            BakeProgress::Finished { .. } => {
                if let Some(bar) = bar.take() {
                    bar.finish_with_message("done");
                }
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut bar) = self.0.lock()
            && let Some(bar) = bar.take()
        {
            bar.finish_and_clear();
        }
    }
}
