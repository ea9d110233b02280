//! What a person sees while `ship` runs, on a terminal: one line per node
//! with the bytes it has received of the (estimated) total, the percentage,
//! the rate and the time left; then its phase (verifying, importing); and
//! when the node is done, its summary line in place. Nothing is drawn when
//! stderr is no terminal (or with `-q`): the summary says it all.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a lane has read from `save` and written towards the nodes: their
/// ratio turns the image's size into the size of the stream (compressed,
/// blobs left out) while it is still being made.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    read: AtomicU64,
    written: AtomicU64,
}

impl Meter {
    /// `n` bytes of the archive were read.
    pub(crate) fn read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` bytes of the stream were made.
    pub(crate) fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The stream's size as far as it can be told now: the archive's
    /// estimated size scaled by what came out of what went in.
    fn estimate(&self, archive: u64) -> u64 {
        let (read, written) = (
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
        );
        if read == 0 {
            return archive;
        }
        let scaled = (archive as f64 * written as f64 / read as f64) as u64;
        scaled.max(written)
    }
}

/// One node's line.
pub(crate) struct NodeLine {
    bar: Option<ProgressBar>,
    meter: Arc<Meter>,
    archive: Option<u64>,
}

impl NodeLine {
    /// A line for `host` receiving `reference`; `archive` is the image's
    /// size when known (the percentage and time left need it).
    pub(crate) fn new(
        multi: Option<&MultiProgress>,
        host: &str,
        what: String,
        archive: Option<u64>,
        meter: Arc<Meter>,
    ) -> NodeLine {
        let bar = multi.map(|mp| {
            let b = mp.add(ProgressBar::new(archive.unwrap_or(0)));
            b.set_style(bytes_style(archive.is_some()));
            b.set_prefix(host.to_string());
            b.set_message(what);
            b
        });
        NodeLine {
            bar,
            meter,
            archive,
        }
    }

    /// The node has received `n` bytes.
    pub(crate) fn received(&self, n: u64) {
        let Some(b) = &self.bar else { return };
        if let Some(a) = self.archive {
            b.set_length(self.meter.estimate(a).max(n));
        }
        b.set_position(n);
    }

    /// Uploading is over: a spinner and the phase (`verifying`, `importing`).
    pub(crate) fn phase(&self, what: &str) {
        let Some(b) = &self.bar else { return };
        b.set_style(phase_style());
        b.set_message(what.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
    }

    /// The node is done: its line becomes its summary and stays.
    pub(crate) fn done(&self, summary: &str) {
        let Some(b) = &self.bar else { return };
        b.set_style(done_style());
        b.finish_with_message(summary.to_string());
    }
}

fn bytes_style(known: bool) -> ProgressStyle {
    let template = if known {
        "{prefix:.bold} {bytes:>10}/~{total_bytes:<10} {percent:>3}% {binary_bytes_per_sec:>12} ETA {eta:<4} {wide_msg}"
    } else {
        "{prefix:.bold} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed:>4} {wide_msg}"
    };
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn phase_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:.bold} {spinner} {msg} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

fn done_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_total_follows_what_compression_and_left_out_blobs_make_of_the_archive() {
        let m = Meter::default();
        assert_eq!(
            m.estimate(1000),
            1000,
            "nothing read yet: the archive's size"
        );
        m.read(400);
        m.wrote(100);
        assert_eq!(m.estimate(1000), 250, "a quarter comes out");
        m.wrote(500);
        assert_eq!(
            m.estimate(1000),
            1500,
            "more came out than went in: scaled up"
        );
    }
}
