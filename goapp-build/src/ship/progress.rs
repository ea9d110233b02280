//! What a person sees while `ship` runs, on a terminal: one line per node
//! with the bytes it has received of the (estimated) total, the percentage,
//! the rate and the time left; then its phase (verifying, importing); and
//! when the node is done, its summary line in place. Nothing is drawn when
//! stderr is no terminal (or with `-q`): the summary says it all.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a lane has read from `save` and written towards the nodes: their
/// ratio turns the image's size into the size of the stream (compressed,
/// blobs left out) while it is still being made. Once `save` has ended the
/// archive's true size replaces the image's (an OCI archive's layers are
/// gzip, much smaller than the store says), and once the stream has ended
/// its true size is the total.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    read: AtomicU64,
    written: AtomicU64,
    read_all: AtomicBool,
    written_all: AtomicBool,
    /// Bytes a compressor holds before its first output: until this much
    /// has come out, the ratio says nothing yet.
    warmup: u64,
}

/// What a compressor may hold before it writes (zstd's and gzip's blocks,
/// a pipe's buffer).
const COMPRESSOR_WARMUP: u64 = 256 * 1024;

impl Meter {
    /// A meter for a lane that compresses (`true`) or sends as read.
    pub(crate) fn new(compressed: bool) -> Meter {
        Meter {
            warmup: if compressed { COMPRESSOR_WARMUP } else { 0 },
            ..Meter::default()
        }
    }

    /// `n` bytes of the archive were read.
    pub(crate) fn read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` bytes of the stream were made.
    pub(crate) fn wrote(&self, n: usize) {
        self.written.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `save` has ended: what was read is the archive's size.
    pub(crate) fn read_all(&self) {
        self.read_all.store(true, Ordering::Relaxed);
    }

    /// The stream has ended: what was written is its size.
    pub(crate) fn written_all(&self) {
        self.written_all.store(true, Ordering::Relaxed);
    }

    /// The stream's size as far as it can be told now, from `archive`,
    /// the image's size in the store.
    fn estimate(&self, archive: u64) -> u64 {
        let (read, written) = (
            self.read.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
        );
        if self.written_all.load(Ordering::Relaxed) {
            return written;
        }
        let archive = if self.read_all.load(Ordering::Relaxed) {
            read
        } else {
            archive.max(read)
        };
        if read == 0 || (self.warmup > 0 && written < self.warmup) {
            return archive.max(written);
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

    /// The whole stream, `n` bytes, went to the node: the total is exact now.
    pub(crate) fn received_all(&self, n: u64) {
        let Some(b) = &self.bar else { return };
        b.set_length(n);
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

    #[test]
    fn the_archive_true_size_then_the_stream_true_size_replace_the_guess() {
        // An OCI archive: the store says 4 MiB, the archive (gzip layers) is 1.8.
        let m = Meter::new(false);
        m.read(1_800_000);
        m.wrote(1_800_000);
        assert_eq!(m.estimate(4_000_000), 4_000_000, "save still running");
        m.read_all();
        assert_eq!(m.estimate(4_000_000), 1_800_000, "the archive, read whole");
        m.written_all();
        assert_eq!(m.estimate(4_000_000), 1_800_000);
    }

    #[test]
    fn a_compressor_that_has_not_written_yet_says_nothing_of_the_ratio() {
        let m = Meter::new(true);
        m.read(1_000_000);
        m.wrote(64 * 1024);
        assert_eq!(
            m.estimate(4_000_000),
            4_000_000,
            "64 KiB out of a compressor is its first block, not a ratio"
        );
        m.wrote(COMPRESSOR_WARMUP as usize);
        assert!(m.estimate(4_000_000) < 4_000_000);
        m.read_all();
        m.written_all();
        assert_eq!(m.estimate(4_000_000), 64 * 1024 + COMPRESSOR_WARMUP);
    }
}
