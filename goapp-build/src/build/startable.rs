//! Whether a built image can start, read from the image itself (saved by
//! the engine, never run): its ENTRYPOINT/CMD names a file that exists and
//! is executable, an ELF binary for the image's architecture, and, when it
//! is dynamically linked, its loader and libraries are in the image. A
//! failure is one sentence with the fix (`CGO_ENABLED=0`, the path the COPY
//! really wrote, …); `--allow-unstartable` or `allow_unstartable: true`
//! accepts images that are not meant to start.

use crate::core::arch::Arch;
use crate::core::elf;
use crate::engine::archive::{Kind, SavedImage};
use crate::engine::store::ArchiveFormat;
use crate::engine::Engine;
use std::path::Path;
use std::time::Duration;

/// The PATH the engines use when the image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where a dynamic loader looks when the binary names no run path.
const LIB_DIRS: [&str; 8] = [
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib/{triplet}",
    "/usr/lib/{triplet}",
    "/usr/local/lib/{triplet}",
];

/// Why an image cannot start, or `Ok` (also when the check itself could
/// not run: said as a warning, never a failure of the build).
/// `name` is the image as the user named it, `reference` as the engine
/// stores it; the archive is written in `dir` and removed.
pub(crate) fn check(
    engine: &Engine,
    name: &str,
    reference: &str,
    arch: Arch,
    dir: &Path,
) -> Result<(), String> {
    let file = dir.join(format!("startable-{}.tar", arch.name()));
    let saved = engine
        .save_cmd(reference, ArchiveFormat::Docker, Some(&file))
        .run_timeout(Some(Duration::from_secs(600)));
    let verdict = saved
        .map_err(|e| e.to_string())
        .and_then(|_| SavedImage::read(&file))
        .map(|image| judge(&image, name, arch));
    let _ = std::fs::remove_file(&file);
    verdict.unwrap_or_else(|e| {
        crate::core::ui::warn(&format!(
            "could not check whether {name} can start ({e}); it is reported as built"
        ));
        Ok(())
    })
}

/// The verdict on a saved image.
pub(crate) fn judge(image: &SavedImage, name: &str, arch: Arch) -> Result<(), String> {
    let c = &image.config;
    let (what, argv) = match (c.entrypoint.is_empty(), c.cmd.is_empty()) {
        (false, _) => ("ENTRYPOINT", c.entrypoint.clone()),
        (true, false) => ("CMD", c.cmd.clone()),
        (true, true) => return Err(format!("{name} cannot start: it has no ENTRYPOINT or CMD; add `ENTRYPOINT [\"/path/to/binary\"]` to its last stage (or pass --allow-unstartable / set `allow_unstartable: true` for an image not meant to run)")),
    };
    let program = &argv[0];
    let path = locate(image, program, &c.env, &c.workdir)
        .ok_or_else(|| missing(image, name, what, program, arch))?;
    startable_file(image, name, what, program, &path, arch, 0)
}

/// The path `program` runs: as written (relative to WorkingDir), or found
/// on the image's PATH.
fn locate(image: &SavedImage, program: &str, env: &[String], workdir: &str) -> Option<String> {
    if program.contains('/') {
        let p =
            crate::engine::archive::join(if workdir.is_empty() { "/" } else { workdir }, program);
        return image.resolve(&p);
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| !d.is_empty())
        .find_map(|d| image.resolve(&format!("{}/{program}", d.trim_end_matches('/'))))
}

/// The file at `path` (resolved) can be executed for `arch`.
fn startable_file(
    image: &SavedImage,
    name: &str,
    what: &str,
    program: &str,
    path: &str,
    arch: Arch,
    depth: usize,
) -> Result<(), String> {
    let node = &image.files[path];
    if node.kind != Kind::File {
        return Err(format!("{name} cannot start: its {what} runs `{program}`, which is {} in the image, not a program", describe(&node.kind)));
    }
    if node.mode & 0o111 == 0 {
        return Err(format!("{name} cannot start: its {what} runs `{program}`, which is not executable (mode {:o}): make it so where it is made (`COPY --chmod=755`, or `RUN chmod +x {path}`)", node.mode & 0o7777));
    }
    let bytes = match image.read_file(path) {
        Ok(b) => b,
        Err(_) => return Ok(()), // not readable here: no verdict
    };
    if let Some(script) = bytes.strip_prefix(b"#!") {
        return interpreter(image, name, what, program, script, arch, depth);
    }
    let Some(e) = elf::parse(&bytes) else {
        return Ok(()); // not ELF: the kernel's other formats are not judged
    };
    if !e.runs_on(arch) {
        return Err(format!("{name} cannot start: its {what} runs `{program}`, which is an {} binary in an image for {arch}: build it for the target (`GOARCH=$TARGETARCH`, no GOARCH of its own)", e.machine_name()));
    }
    if let Some(interp) = &e.interp {
        if image.resolve(interp).is_none() {
            return Err(format!("{name} cannot start: `{program}` is dynamically linked (cgo on) and needs the loader {interp}, which the image does not have: build it with `CGO_ENABLED=0` (e.g. `ENV CGO_ENABLED=0` in the builder stage), or base the image on one with that C library"));
        }
    }
    let lost: Vec<&String> = e
        .needed
        .iter()
        .filter(|lib| !has_library(image, lib, &e.runpath, path, arch))
        .collect();
    if !lost.is_empty() {
        let libs: Vec<String> = lost.iter().map(|l| format!("`{l}`")).collect();
        return Err(format!("{name} cannot start: `{program}` is dynamically linked and needs {}, which the image does not have: build it with `CGO_ENABLED=0`, or add the library to the image", libs.join(", ")));
    }
    Ok(())
}

/// A `#!` script's interpreter, checked like the program itself.
fn interpreter(
    image: &SavedImage,
    name: &str,
    what: &str,
    program: &str,
    line: &[u8],
    arch: Arch,
    depth: usize,
) -> Result<(), String> {
    let line = String::from_utf8_lossy(line);
    let first = line.lines().next().unwrap_or_default();
    let Some(interp) = first.split_whitespace().next() else {
        return Ok(());
    };
    match image.resolve(interp) {
        Some(p) if depth < 4 => startable_file(image, name, what, interp, &p, arch, depth + 1),
        Some(_) => Ok(()),
        None => Err(format!("{name} cannot start: its {what} runs the script `{program}`, whose interpreter `{interp}` is not in the image: base the image on one that has it, or run a binary directly")),
    }
}

/// Whether a needed library is where the loader looks, or anywhere in the
/// image (a directory of `ld.so.conf` is not read, so a library that exists
/// elsewhere is not called missing).
fn has_library(
    image: &SavedImage,
    lib: &str,
    runpath: &[String],
    binary: &str,
    arch: Arch,
) -> bool {
    if lib.contains('/') {
        return image.resolve(lib).is_some();
    }
    let origin = crate::engine::archive::join(binary, "..");
    let triplet = triplet(arch);
    let dirs = runpath
        .iter()
        .map(|d| d.replace("$ORIGIN", &origin).replace("${ORIGIN}", &origin))
        .chain(LIB_DIRS.iter().map(|d| d.replace("{triplet}", triplet)));
    for d in dirs {
        if image
            .resolve(&format!("{}/{lib}", d.trim_end_matches('/')))
            .is_some()
        {
            return true;
        }
    }
    let suffix = format!("/{lib}");
    image.files.keys().any(|p| p.ends_with(&suffix))
}

fn triplet(arch: Arch) -> &'static str {
    match arch {
        Arch::Amd64 => "x86_64-linux-gnu",
        Arch::Arm64 => "aarch64-linux-gnu",
        Arch::Arm => "arm-linux-gnueabihf",
        Arch::I386 => "i386-linux-gnu",
        Arch::Ppc64le => "powerpc64le-linux-gnu",
        Arch::S390x => "s390x-linux-gnu",
        Arch::Riscv64 => "riscv64-linux-gnu",
        Arch::Arm64be => "aarch64_be-linux-gnu",
    }
}

fn describe(kind: &Kind) -> &'static str {
    match kind {
        Kind::Dir => "a directory",
        Kind::Other => "a device or pipe",
        _ => "a link",
    }
}

/// The program is not in the image: say so, and where the image's own
/// programs are (the last layers', which the final stage wrote).
fn missing(image: &SavedImage, name: &str, what: &str, program: &str, arch: Arch) -> String {
    let last = image.files.values().map(|n| n.layer).max().unwrap_or(0);
    let mut found: Vec<String> = image
        .files
        .iter()
        .filter(|(_, n)| n.kind == Kind::File && n.mode & 0o111 != 0 && n.layer + 3 > last)
        .filter(|(p, _)| {
            image
                .read_file(p)
                .ok()
                .and_then(|b| elf::parse(&b))
                .is_some_and(|e| e.runs_on(arch))
        })
        .map(|(p, _)| format!("`{p}`"))
        .take(3)
        .collect();
    found.sort();
    let hint = match found.as_slice() {
        [] => "COPY the binary there (from the builder stage: `COPY --from=<stage> …`), or point it at the binary's path".to_string(),
        f => format!("the image has {} from its last stage: point {what} at it, or COPY the binary to `{program}` (a COPY into `/` keeps the file's own name)", f.join(", ")),
    };
    format!("{name} cannot start: its {what} runs `{program}`, which is not in the image: {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::archive::tests::archive;

    fn verdict(cfg: &str, layers: &[Vec<(&str, Kind, &[u8])>]) -> Result<(), String> {
        let d = tempfile::tempdir().unwrap();
        let image = SavedImage::read(&archive(d.path(), cfg, layers)).unwrap();
        judge(&image, "x:1-amd64", Arch::Amd64)
    }

    fn cfg(entry: &str) -> String {
        format!(
            r#"{{"architecture":"amd64","config":{{"Entrypoint":{entry},"Cmd":null,"Env":["PATH=/usr/bin:/bin"],"WorkingDir":"/"}}}}"#
        )
    }

    #[test]
    fn a_dynamic_binary_without_its_loader_cannot_start() {
        // This test's own binary: dynamically linked against the host's libc.
        let me = std::fs::read("/proc/self/exe").unwrap();
        let e = elf::parse(&me).unwrap();
        let err = verdict(&cfg(r#"["/app"]"#), &[vec![("app", Kind::File, &me)]]).unwrap_err();
        assert!(
            err.contains("is dynamically linked (cgo on) and needs the loader"),
            "{err}"
        );
        assert!(err.contains("CGO_ENABLED=0"), "{err}");
        // With its loader and libraries (anywhere in the image), it can.
        let interp = e.interp.clone().unwrap();
        let mut files: Vec<(String, Kind, &[u8])> = vec![
            ("app".into(), Kind::File, &me[..]),
            (interp.trim_start_matches('/').into(), Kind::File, b"ld"),
        ];
        for lib in &e.needed {
            files.push((format!("lib/x86_64-linux-gnu/{lib}"), Kind::File, b"so"));
        }
        let layer: Vec<(&str, Kind, &[u8])> = files
            .iter()
            .map(|(p, k, b)| (p.as_str(), k.clone(), *b))
            .collect();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(verdict(&cfg(r#"["/app"]"#), &[layer]), Ok(()));
        }
    }

    #[test]
    fn missing_wrong_place_and_not_executable() {
        let me = std::fs::read("/proc/self/exe").unwrap();
        let err = verdict(&cfg(r#"["/app"]"#), &[vec![("bin", Kind::File, &me)]]).unwrap_err();
        assert!(
            err.contains(
                "runs `/app`, which is not in the image: the image has `/bin` from its last stage"
            ),
            "{err}"
        );
        let err = verdict(&cfg("null"), &[vec![("bin", Kind::File, b"x")]]).unwrap_err();
        assert!(err.contains("no ENTRYPOINT or CMD"), "{err}");
        let err = verdict(&cfg(r#"["/a.txt"]"#), &[vec![("a.txt", Kind::File, b"x")]]).unwrap_err();
        assert!(err.contains("which is not executable (mode 644)"), "{err}");
        let err = verdict(
            &cfg(r#"["/s.sh"]"#),
            &[vec![("s.sh", Kind::File, b"#!/bin/bash\necho\n")]],
        )
        .unwrap_err();
        assert!(
            err.contains("whose interpreter `/bin/bash` is not in the image"),
            "{err}"
        );
        let ok = verdict(
            &cfg(r#"["sh", "-c", "x"]"#),
            &[vec![("bin/sh", Kind::File, b"#!/bin/sh\n")]],
        );
        assert_eq!(
            ok,
            Ok(()),
            "a script naming itself: no verdict past a few hops"
        );
        assert_eq!(
            verdict(
                &cfg(r#"["/bin/sh"]"#),
                &[vec![("bin/sh", Kind::File, b"\x7fELF")]]
            ),
            Ok(()),
            "not readable as ELF: no verdict"
        );
    }
}
