//! Target architectures: names as Go and the engines spell them, and the
//! host's, read from `uname -m` exactly as build.sh did.

use anyhow::{bail, Result};
use std::fmt;
use std::str::FromStr;

/// A CPU architecture an image is built for, named as Go's `GOARCH`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// 64-bit ARM (Raspberry Pi 3/4/5 on a 64-bit OS, Graviton, Apple silicon VMs).
    Arm64,
    /// Big-endian 64-bit ARM; build.sh maps `aarch64_be` to it. No Go port builds it.
    Arm64be,
    /// 32-bit ARMv7 (Raspberry Pi OS 32-bit), platform `linux/arm/v7`.
    Arm,
    /// 32-bit x86.
    I386,
    /// Little-endian POWER.
    Ppc64le,
    /// IBM Z.
    S390x,
    /// 64-bit RISC-V.
    Riscv64,
}

/// Every architecture, in the order they are listed in messages.
pub(crate) const ALL: [Arch; 8] = [
    Arch::Amd64,
    Arch::Arm64,
    Arch::Arm,
    Arch::I386,
    Arch::Ppc64le,
    Arch::S390x,
    Arch::Riscv64,
    Arch::Arm64be,
];

impl Arch {
    /// The name used in `GOARCH`, in image tags (`joke:0.0.3-arm64`) and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Arm64be => "arm64be",
            Arch::Arm => "arm",
            Arch::I386 => "386",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The OCI platform string the engines take with `--platform`.
    pub fn platform(self) -> String {
        match self.variant() {
            Some(v) => format!("linux/{}/{v}", self.name()),
            None => format!("linux/{}", self.name()),
        }
    }

    /// The OCI platform's variant: `v7` for 32-bit arm (what `GOARM=7` builds).
    pub fn variant(self) -> Option<&'static str> {
        (self == Arch::Arm).then_some("v7")
    }

    /// Maps `uname -m` output the way build.sh did, plus the machines it
    /// missed (armv7l, i686, …). `None` for anything unknown.
    pub fn from_uname(machine: &str) -> Option<Arch> {
        Some(match machine.trim() {
            "x86_64" | "x86_64-AT386" | "amd64" => Arch::Amd64,
            "aarch64" | "armv8b" | "armv8l" | "arm64" => Arch::Arm64,
            "aarch64_be" => Arch::Arm64be,
            "armv7l" | "armv7" | "armhf" => Arch::Arm,
            "i386" | "i486" | "i586" | "i686" => Arch::I386,
            "ppc64le" => Arch::Ppc64le,
            "s390x" => Arch::S390x,
            "riscv64" => Arch::Riscv64,
            _ => return None,
        })
    }

    /// The name binfmt_misc gives this architecture's emulator
    /// (`/proc/sys/fs/binfmt_misc/qemu-<name>`).
    pub fn qemu_name(self) -> &'static str {
        match self {
            Arch::Amd64 => "x86_64",
            Arch::Arm64 => "aarch64",
            Arch::Arm64be => "aarch64_be",
            Arch::Arm => "arm",
            Arch::I386 => "i386",
            Arch::Ppc64le => "ppc64le",
            Arch::S390x => "s390x",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// Whether an image of this architecture runs on a machine `uname -m`
    /// calls `machine`: the same, or its 32-bit sibling (a Raspberry Pi OS
    /// 32-bit userland on a 64-bit kernel says aarch64; x86-64 runs 386).
    pub fn runs_on(self, machine: Arch) -> bool {
        self == machine
            || matches!(
                (self, machine),
                (Arch::Arm, Arch::Arm64) | (Arch::I386, Arch::Amd64)
            )
    }

    /// The architecture an image config records (`"arm64"`, or `"arm"` + `"v7"`).
    pub fn from_image_arch(arch: &str) -> Option<Arch> {
        ALL.iter().copied().find(|a| a.name() == arch)
    }
}

/// "amd64, arm64, …" for messages: the architectures a build can target
/// (not `arm64be`, which only names a probed machine).
pub(crate) fn list_names() -> String {
    ALL.iter()
        .filter(|a| **a != Arch::Arm64be)
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Arch> {
        let s = s.trim();
        let s = s.strip_prefix("linux/").unwrap_or(s);
        if let Some(a) = ALL
            .iter()
            .copied()
            .find(|a| a.name() == s && *a != Arch::Arm64be)
        {
            return Ok(a);
        }
        if s == "arm/v7" {
            return Ok(Arch::Arm);
        }
        let named = (s == Arch::Arm64be.name()).then_some(Arch::Arm64be);
        match named.or_else(|| Arch::from_uname(s)) {
            // A node may be one (its probe says so), but nothing builds for it.
            Some(Arch::Arm64be) => bail!(
                "architecture '{s}' (big-endian 64-bit ARM) cannot be built: Go has no port for it; use arm64 for 64-bit ARM"
            ),
            Some(a) => Ok(a),
            None => bail!("unknown architecture '{s}': use one of {}", list_names()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Arch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Arch, D::Error> {
        crate::core::de::parse_str(d, "an architecture name such as arm64")
    }
}

/// Parses a comma-separated list (`amd64,arm64`), keeping order, dropping repeats.
pub fn parse_list(list: &str) -> Result<Vec<Arch>> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let a: Arch = part.parse()?;
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        bail!("empty architecture list '{list}': use e.g. amd64,arm64");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uname_mapping_matches_build_sh() {
        for (m, a) in [
            ("x86_64", "amd64"),
            ("x86_64-AT386", "amd64"),
            ("aarch64", "arm64"),
            ("aarch64_be", "arm64be"),
            ("armv8b", "arm64"),
            ("armv8l", "arm64"),
        ] {
            assert_eq!(Arch::from_uname(m).unwrap().name(), a, "{m}");
        }
        assert_eq!(Arch::from_uname("mips"), None);
    }

    #[test]
    fn parses_names_aliases_and_platforms() {
        assert_eq!(
            parse_list("amd64, arm64,amd64").unwrap(),
            vec![Arch::Amd64, Arch::Arm64]
        );
        assert_eq!("linux/arm/v7".parse::<Arch>().unwrap(), Arch::Arm);
        assert_eq!("aarch64".parse::<Arch>().unwrap(), Arch::Arm64);
        assert_eq!(Arch::Arm.platform(), "linux/arm/v7");
        let err = "sparc".parse::<Arch>().unwrap_err().to_string();
        assert!(
            err.starts_with("unknown architecture 'sparc': use one of amd64, arm64"),
            "{err}"
        );
        assert!(parse_list(" , ").is_err());
        assert!(!err.contains("arm64be"), "{err}");
        for be in ["arm64be", "aarch64_be", "linux/arm64be"] {
            let err = be.parse::<Arch>().unwrap_err().to_string();
            assert!(err.contains("Go has no port for it; use arm64"), "{err}");
        }
    }
}
