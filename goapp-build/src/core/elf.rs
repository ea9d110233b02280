//! What an ELF file says about where it can run: its machine, and for a
//! dynamically linked one, its interpreter (`PT_INTERP`) and the libraries
//! it needs (`DT_NEEDED`, with `DT_RUNPATH`/`DT_RPATH`). Enough to tell,
//! without running it, that a binary will not start in an image.

use crate::core::arch::Arch;

/// What an ELF file needs to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Elf {
    /// `e_machine`.
    pub machine: u16,
    /// 64-bit.
    pub class64: bool,
    /// The dynamic loader it asks for (`/lib/ld-linux-aarch64.so.1`).
    pub interp: Option<String>,
    /// Libraries it needs by name.
    pub needed: Vec<String>,
    /// Directories it searches first (`$ORIGIN` as written).
    pub runpath: Vec<String>,
}

const EM_386: u16 = 3;
const EM_ARM: u16 = 40;
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_PPC64: u16 = 21;
const EM_S390: u16 = 22;
const EM_RISCV: u16 = 243;

impl Elf {
    /// The machine as people name it (`x86-64`, `arm64`).
    pub(crate) fn machine_name(&self) -> String {
        match self.machine {
            EM_386 => "x86 (32-bit)".into(),
            EM_ARM => "arm (32-bit)".into(),
            EM_X86_64 => "x86-64 (amd64)".into(),
            EM_AARCH64 => "arm64".into(),
            EM_PPC64 => "ppc64".into(),
            EM_S390 => "s390x".into(),
            EM_RISCV => "riscv".into(),
            m => format!("machine {m}"),
        }
    }

    /// Whether it runs on `arch`.
    pub(crate) fn runs_on(&self, arch: Arch) -> bool {
        let want = match arch {
            Arch::Amd64 => (EM_X86_64, true),
            Arch::Arm64 => (EM_AARCH64, true),
            Arch::Arm => (EM_ARM, false),
            other => return self.machine_name() == other.name(),
        };
        (self.machine, self.class64) == want
    }
}

/// Reads an ELF file's header, program headers and dynamic section; `None`
/// when `bytes` is not an ELF file (or is cut short).
pub(crate) fn parse(bytes: &[u8]) -> Option<Elf> {
    if bytes.get(..4)? != b"\x7fELF" {
        return None;
    }
    let r = Reader {
        b: bytes,
        class64: *bytes.get(4)? == 2,
        little: *bytes.get(5)? == 1,
    };
    let machine = r.u16(18)?;
    let (phoff, phentsize, phnum) = if r.class64 {
        (r.u64(32)?, r.u16(54)?, r.u16(56)?)
    } else {
        (r.u32(28)? as u64, r.u16(42)?, r.u16(44)?)
    };
    let mut segments = Vec::new();
    for i in 0..phnum as u64 {
        segments.push(r.segment(phoff + i * phentsize as u64)?);
    }
    let interp = segments.iter().find(|s| s.kind == PT_INTERP).and_then(|s| {
        let raw = bytes.get(s.offset as usize..(s.offset + s.filesz) as usize)?;
        Some(cstr(raw))
    });
    let (needed, runpath) = match segments.iter().find(|s| s.kind == PT_DYNAMIC) {
        Some(d) => r.dynamic(d, &segments).unwrap_or_default(),
        None => Default::default(),
    };
    Some(Elf {
        machine,
        class64: r.class64,
        interp,
        needed,
        runpath,
    })
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

struct Reader<'a> {
    b: &'a [u8],
    class64: bool,
    little: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        let at = usize::try_from(at).ok()?;
        self.b.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, at: u64) -> Option<u16> {
        let b = self.bytes::<2>(at)?;
        Some(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, at: u64) -> Option<u32> {
        let b = self.bytes::<4>(at)?;
        Some(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn u64(&self, at: u64) -> Option<u64> {
        let b = self.bytes::<8>(at)?;
        Some(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// A word of the file's class.
    fn word(&self, at: u64) -> Option<u64> {
        if self.class64 {
            self.u64(at)
        } else {
            self.u32(at).map(u64::from)
        }
    }

    fn segment(&self, at: u64) -> Option<Segment> {
        Some(if self.class64 {
            Segment {
                kind: self.u32(at)?,
                offset: self.u64(at + 8)?,
                vaddr: self.u64(at + 16)?,
                filesz: self.u64(at + 32)?,
            }
        } else {
            Segment {
                kind: self.u32(at)?,
                offset: self.u32(at + 4)? as u64,
                vaddr: self.u32(at + 8)? as u64,
                filesz: self.u32(at + 16)? as u64,
            }
        })
    }

    /// `DT_NEEDED` names and run paths, through the string table (an
    /// address, found in the file through the `PT_LOAD` that maps it).
    fn dynamic(&self, d: &Segment, segments: &[Segment]) -> Option<(Vec<String>, Vec<String>)> {
        let size = if self.class64 { 16 } else { 8 };
        let mut entries = Vec::new();
        let mut at = d.offset;
        while at + size <= d.offset + d.filesz {
            let tag = self.word(at)?;
            let val = self.word(at + size / 2)?;
            if tag == 0 {
                break;
            }
            entries.push((tag, val));
            at += size;
        }
        let strtab = entries.iter().find(|(t, _)| *t == DT_STRTAB)?.1;
        let strtab = segments
            .iter()
            .filter(|s| s.kind == PT_LOAD)
            .find(|s| (s.vaddr..s.vaddr + s.filesz).contains(&strtab))
            .map(|s| strtab - s.vaddr + s.offset)?;
        let string = |off: u64| {
            let start = usize::try_from(strtab + off).ok()?;
            Some(cstr(self.b.get(start..)?))
        };
        let mut needed = Vec::new();
        let mut runpath = Vec::new();
        for (tag, val) in entries {
            match tag {
                DT_NEEDED => needed.extend(string(val)),
                DT_RPATH | DT_RUNPATH => {
                    runpath.extend(
                        string(val)
                            .into_iter()
                            .flat_map(|p| p.split(':').map(str::to_string).collect::<Vec<_>>()),
                    );
                }
                _ => {}
            }
        }
        Some((needed, runpath))
    }
}

fn cstr(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamically_linked_binary_names_its_loader_and_libc() {
        // This test's own binary: linked against the host's C library.
        let me = std::fs::read("/proc/self/exe").unwrap();
        let e = parse(&me).unwrap();
        assert!(e.class64);
        assert!(
            e.interp.as_deref().is_some_and(|i| i.contains("ld-")),
            "{e:?}"
        );
        assert!(e.needed.iter().any(|n| n.starts_with("libc.so")), "{e:?}");
        if cfg!(target_arch = "x86_64") {
            assert!(e.runs_on(Arch::Amd64) && !e.runs_on(Arch::Arm64));
            assert_eq!(e.machine_name(), "x86-64 (amd64)");
        }
    }

    #[test]
    fn not_elf_or_cut_short() {
        assert_eq!(parse(b"#!/bin/sh\n"), None);
        assert_eq!(parse(b"\x7fELF\x02\x01"), None);
        let me = std::fs::read("/proc/self/exe").unwrap();
        // The header alone: machine known, the rest not readable.
        let head = parse(&me[..64]);
        assert!(head.is_none() || head.is_some_and(|e| e.interp.is_none()));
    }
}
