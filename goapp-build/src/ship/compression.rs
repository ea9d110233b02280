//! How an archive is compressed on the wire ([`Compression`]), chosen per
//! node from its `compression:` setting, the archive's format, zstd on
//! both ends and the node's CPU; the compressor that runs here and the
//! decompressor that runs there.

use crate::core::arch::Arch;
use crate::engine::store::ArchiveFormat;
use crate::process::command::Cmd;
use crate::ship::target::ShipTarget;

/// How the archive is compressed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Compression {
    /// As it is: for archives whose layers are compressed already, or links
    /// faster than the compressor.
    None,
    /// gzip at a level: everywhere.
    Gzip(u8),
    /// zstd at a level: fast on both ends, when both ends have it.
    Zstd(u8),
}

impl Compression {
    /// The local compressor, reading stdin, writing stdout (`None`: no process).
    pub(super) fn compress(self) -> Option<Cmd> {
        match self {
            Compression::None => None,
            Compression::Gzip(l) => {
                Some(Cmd::new("gzip").args(["-c".to_string(), format!("-{l}")]))
            }
            Compression::Zstd(l) => Some(Cmd::new("zstd").args([
                "-c".to_string(),
                "-q".into(),
                format!("-{l}"),
                "-T0".into(),
            ])),
        }
    }

    /// The remote decompressor's words.
    pub(super) fn decompress(self) -> &'static str {
        match self {
            Compression::None => "cat",
            Compression::Gzip(_) => "gzip -dc",
            Compression::Zstd(_) => "zstd -dcq",
        }
    }

    /// The file suffix.
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Compression::None => "tar",
            Compression::Gzip(_) => "tar.gz",
            Compression::Zstd(_) => "tar.zst",
        }
    }

    /// For messages.
    pub(super) fn describe(self) -> String {
        match self {
            Compression::None => "uncompressed".into(),
            Compression::Gzip(l) => format!("gzip -{l}"),
            Compression::Zstd(l) => format!("zstd -{l}"),
        }
    }
}

impl ShipTarget {
    /// The compression for this node: the host's `compression:` setting, or
    /// by default none for OCI archives (their layers are gzip already: a
    /// second pass costs CPU on both ends and saves nothing), zstd -3 when
    /// both ends have zstd (cheap to decompress, even on a Raspberry Pi),
    /// else gzip -6 (gzip -1 for ARM nodes, whose CPU is the bottleneck).
    pub(super) fn compression(
        &self,
        format: ArchiveFormat,
        node_zstd: bool,
        local_zstd: bool,
        arch: Arch,
    ) -> Compression {
        match self.host.compression.as_deref() {
            Some("none") => Compression::None,
            Some(c) if c.starts_with("gzip") => Compression::Gzip(level(c, 6)),
            Some(c) if c.starts_with("zstd") && node_zstd && local_zstd => {
                Compression::Zstd(level(c, 3))
            }
            Some(c) if c.starts_with("zstd") => Compression::Gzip(6),
            _ if format == ArchiveFormat::Oci => Compression::None,
            _ if node_zstd && local_zstd => Compression::Zstd(3),
            _ if matches!(arch, Arch::Arm | Arch::Arm64) => Compression::Gzip(1),
            _ => Compression::Gzip(6),
        }
    }
}

/// The level of a `gzip-N`/`zstd-N` setting, else `default`.
fn level(setting: &str, default: u8) -> u8 {
    setting
        .rsplit('-')
        .next()
        .and_then(|l| l.parse().ok())
        .filter(|l| (1..=19).contains(l))
        .unwrap_or(default)
}
