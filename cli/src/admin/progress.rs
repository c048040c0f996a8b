//! The progress bar for batched key uploads, on stderr: hidden with `--json` or when stderr is
//! not a terminal, so pipes and logs get no control characters.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const TEMPLATE: &str = "{msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta} left)";

/// A bar counting to `total`, labelled `what` (e.g. `generating keys`).
#[must_use]
pub fn bar(total: u64, what: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}
