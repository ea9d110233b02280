//! A Containerfile written the way the popular articles write it
//! (tests/fixtures/published-bind: heredocs, `ARG CGO_ENABLED="0"`, the
//! sources bind-mounted into `go build`, a builder with no `--platform`),
//! built through the tool on real podman 4.3.1 and docker 20.10, for amd64
//! and arm64, with the Go source changed between builds: every image must
//! run the new code.

mod support;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// A copy of the fixture the test may edit.
fn published_app(dir: &Path) -> PathBuf {
    let app = dir.join("hello");
    std::fs::create_dir_all(&app).unwrap();
    for f in ["Containerfile", "go.mod", "main.go"] {
        std::fs::copy(
            root().join("tests/fixtures/published-bind").join(f),
            app.join(f),
        )
        .unwrap();
    }
    app
}

fn set_greeting(app: &Path, greeting: &str) {
    let p = app.join("main.go");
    let src = std::fs::read_to_string(&p).unwrap();
    let start = src.find("const greeting = ").unwrap();
    let end = start + src[start..].find('\n').unwrap();
    let new = format!(
        "{}const greeting = \"{greeting}\"{}",
        &src[..start],
        &src[end..]
    );
    std::fs::write(&p, new).unwrap();
}

/// `image` through the tool; panics with its output on failure.
fn build(
    app: &Path,
    cache: &Path,
    engine: &str,
    arches: &str,
    tag: &str,
    extra: &[&str],
) -> (String, String) {
    let mut c = xtask(app, cache);
    c.args(["image", "--engine", engine, "--arch", arches, "--tag", tag])
        .args(extra);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "build failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// [`build`] of an image that holds data only (no program to start).
fn build_data(
    app: &Path,
    cache: &Path,
    engine: &str,
    arches: &str,
    tag: &str,
    extra: &[&str],
) -> (String, String) {
    let mut all = vec!["--allow-unstartable"];
    all.extend_from_slice(extra);
    build(app, cache, engine, arches, tag, &all)
}

fn log(cache: &Path, arch: &str) -> String {
    std::fs::read_to_string(cache.join(format!("logs/hello-{arch}.log"))).unwrap()
}

/// The lines of a build log from the step running `needle` to the next step.
fn step<'a>(log: &'a str, needle: &str) -> &'a str {
    let start = log
        .find(needle)
        .unwrap_or_else(|| panic!("no step with `{needle}` in:\n{log}"));
    let rest = &log[start..];
    let end = rest[1..].find("STEP ").map(|i| i + 1).unwrap_or(rest.len());
    &rest[..end]
}

/// Builds, changes the greeting, builds again; each image must print what
/// the source says, and only the steps that mount the changed file rerun.
/// Returns the logs of the second build, by architecture.
fn new_code_every_time(
    engine_flag: &str,
    program: &'static str,
    arches: &[&str],
    extra: &[&str],
) -> Vec<String> {
    require_engine(program);
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique(&format!("pub-{engine_flag}-")));
    let images: Vec<String> = arches.iter().map(|a| format!("{tag}-{a}")).collect();
    let _guard = ImageGuard {
        program,
        images: images.clone(),
    };
    let list = arches.join(",");
    // Content-keyed: a greeting built before (by any test run) is reused, so
    // the second one is new, and its `go build` really runs.
    let fresh = unique("bonjour-");
    for greeting in ["hello", fresh.as_str()] {
        set_greeting(&app, greeting);
        let (stdout, stderr) = build(&app, &cache, engine_flag, &list, &tag, extra);
        for (image, arch) in images.iter().zip(arches) {
            assert!(stdout.contains(&format!("{image}  built in")), "{stdout}");
            let printed = engine(program, &["run", "--rm", image]);
            assert_eq!(
                printed.trim(),
                format!("{greeting} from linux/{arch}"),
                "{image}\n{stderr}"
            );
        }
        if engine_flag == "podman" {
            assert!(stderr.contains("Containerfile:14: note: shim: `ARG GOAPP_BIND_14` declared before this RUN and set to the digest of the build context"), "{stderr}");
        } else {
            assert!(
                !stderr.contains("GOAPP_BIND"),
                "BuildKit keys bind mounts itself:\n{stderr}"
            );
        }
    }
    let logs: Vec<String> = arches.iter().map(|a| log(&cache, a)).collect();
    if engine_flag == "podman" {
        // The second build (new content) reran the step mounting the sources,
        // and reused the one mounting only go.mod, which did not change.
        assert!(
            step(&logs[0], "go mod download").contains("Using cache"),
            "{}",
            logs[0]
        );
        assert!(
            !step(&logs[0], "go build").contains("Using cache"),
            "{}",
            logs[0]
        );
    }
    // Nothing changed: nothing built; the shim's build args are inputs of
    // the label but appear in no image setting.
    let (stdout, _) = build(&app, &cache, engine_flag, &list, &tag, extra);
    for image in &images {
        assert!(stdout.contains(&format!("{image}  up to date")), "{stdout}");
        let config = engine(
            program,
            &["image", "inspect", "--format", "{{json .Config}}", image],
        );
        assert!(!config.contains("GOAPP_BIND"), "{config}");
    }
    logs
}

/// The toolchain the fixture's `go version` reports in a build log.
fn toolchain(log: &str) -> &str {
    let line = log
        .lines()
        .find(|l| l.contains("go version go"))
        .unwrap_or_else(|| panic!("no `go version` output in:\n{log}"));
    line.rsplit(' ').next().unwrap()
}

#[test]
fn published_style_runs_the_new_code_on_podman_natively() {
    let logs = new_code_every_time("podman", "podman", &["amd64", "arm64"], &[]);
    assert_eq!(
        toolchain(&logs[1]),
        "linux/amd64",
        "arm64 cross-compiled on the build machine"
    );
}

#[test]
fn published_style_runs_the_new_code_on_docker_natively() {
    let logs = new_code_every_time("docker", DOCKER, &["amd64", "arm64"], &[]);
    assert_eq!(
        toolchain(&logs[1]),
        "linux/amd64",
        "arm64 cross-compiled on the build machine"
    );
}

/// Turned off, the same file builds arm64 as written: under QEMU.
#[test]
fn without_cross_compiling_arm64_builds_under_emulation() {
    let logs = new_code_every_time("podman", "podman", &["arm64"], &["--no-cross-compile"]);
    assert_eq!(
        toolchain(&logs[0]),
        "linux/arm64",
        "the arm64 toolchain under emulation"
    );
}

/// Not provably safe (cgo on, in the file or by `--build-arg`; a machine
/// probe in the `go build` step): the builder stage is left where it is,
/// and the lint says why.
#[test]
fn a_cgo_build_is_not_cross_compiled() {
    require_engine("podman");
    let cases: [(&str, &str, &[&str], &str); 3] = [
        (
            "ARG CGO_ENABLED=\"0\"",
            "ARG CGO_ENABLED=\"1\"",
            &[],
            "cgo is not provably off for the `go build` at line 14",
        ),
        (
            "",
            "",
            &["--build-arg", "CGO_ENABLED=1"],
            "cgo is not provably off for the `go build` at line 14 (--build-arg CGO_ENABLED=1)",
        ),
        (
            "go build -trimpath",
            "go build -ldflags \"-X main.machine=$(uname -m)\" -trimpath",
            &[],
            "line 14 depends on the machine's architecture",
        ),
    ];
    for (from, to, extra, why) in cases {
        let t = tempfile::tempdir().unwrap();
        let app = published_app(t.path());
        let cf = app.join("Containerfile");
        let text = std::fs::read_to_string(&cf).unwrap();
        std::fs::write(&cf, text.replace(from, to)).unwrap();
        let mut c = xtask(&app, &t.path().join("cache"));
        c.args([
            "image",
            "--dry-run",
            "--arch",
            "amd64,arm64",
            "--tag",
            "x:1",
        ])
        .args(extra);
        let (ok, stdout, stderr) = run(c);
        assert!(ok, "{stderr}");
        assert!(!stderr.contains("builder stage moved"), "{stderr}");
        assert!(
            stderr.contains(
                "Containerfile:8: warning: this builder stage is not on `--platform=$BUILDPLATFORM`"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("(not cross-compiled automatically: {why}")),
            "{stderr}"
        );
        let shim = stdout
            .split(" -f ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let shimmed = std::fs::read_to_string(shim).unwrap();
        assert!(
            shimmed.contains("\nFROM docker.io/library/golang:1.19-bookworm AS build\n"),
            "{shimmed}"
        );
        assert!(!shimmed.contains("GOARCH"), "{shimmed}");
    }
}

/// The engine fact the bind-mount shim rests on, checked on the real engine:
/// podman before 5.4 answers `Using cache` for a bind-mounted step whose
/// source changed, and a declared build arg set to the content's digest
/// reruns exactly that step and the ones after it.
#[test]
fn podman_keys_bind_mounts_by_text_and_declared_args_by_value() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::write(dir.join(".containerignore"), "Containerfile\n").unwrap();
    let gover = go_version();
    std::fs::write(
        dir.join("Containerfile"),
        format!("FROM docker.io/library/golang:{gover}-bookworm\nRUN echo before-$RANDOM > /before\nARG KEY\nRUN --mount=type=bind,target=/src cat /src/msg > /out\nRUN echo after-$RANDOM > /after\n"),
    )
    .unwrap();
    let tag = format!("goapp-it/{}:1", unique("bindkey-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![tag.clone()],
    };
    let build = |key: &str| -> Vec<String> {
        let out = Command::new("podman")
            .args(["build", "--build-arg", &format!("KEY={key}"), "-t", &tag])
            .arg(dir)
            .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let printed = engine(
            "podman",
            &["run", "--rm", &tag, "cat", "/before", "/out", "/after"],
        );
        printed.lines().map(str::to_string).collect()
    };
    std::fs::write(dir.join("msg"), "one\n").unwrap();
    let first = build("k1");
    std::fs::write(dir.join("msg"), "two\n").unwrap();
    let same_key = build("k1");
    let version = engine("podman", &["--version"]);
    let keyed = goapp_build::capabilities(
        goapp_build::EngineKind::Podman,
        goapp_build::BuildFront::Podman,
        version.split_whitespace().last().unwrap(),
        goapp_build::ImageStore::Podman,
    )
    .bind_keying
    .context;
    if keyed {
        assert_eq!(same_key[1], "two", "{version}: keyed by content");
    } else {
        assert_eq!(
            same_key, first,
            "{version}: expected the stale result the shim exists for"
        );
    }
    let new_key = build("k2");
    assert_eq!(new_key[0], first[0], "the step before the ARG is reused");
    assert_eq!(new_key[1], "two", "the mounted step reran");
    assert_ne!(new_key[2], first[2], "the step after it reran");
}

/// An app whose Containerfile has its own ignore file
/// (`Containerfile.dockerignore`: a secret and a note), copies the whole
/// context into the image, and reads the note through a bind mount of the
/// context. Both engines build it through a shimmed copy (heredoc).
fn ignore_app(dir: &Path) -> PathBuf {
    let app = published_app(dir);
    let gover = go_version();
    std::fs::write(
        app.join("Containerfile"),
        format!(
            "FROM docker.io/library/golang:{gover}-bookworm AS build
ENV CGO_ENABLED=0
WORKDIR /src
RUN --mount=target=/m (cat /m/note.txt 2>/dev/null || echo none) > /note
RUN --mount=type=cache,target=/root/.cache/go-build --mount=target=. <<EOF
go build -o /out/hello .
EOF
FROM docker.io/library/golang:{gover}-bookworm
COPY . /ctx
COPY --from=build /note /note
COPY --from=build /out/hello /hello
ENTRYPOINT [\"/hello\"]
"
        ),
    )
    .unwrap();
    std::fs::write(
        app.join("Containerfile.dockerignore"),
        "secret.env\nnote.txt\n",
    )
    .unwrap();
    app
}

/// The ignore file the engine uses is the one the tool hashed, also for the
/// shimmed copy: the secret it lists is never in the image. What a bind
/// mount shows is keyed as the engine shows it: podman (every release)
/// shows ignored files in a bind of the context, so a changed note rebuilds
/// with the new note; BuildKit does not, so the same change is no change.
fn per_file_ignore_is_honoured(engine_flag: &str, program: &'static str) {
    require_engine(program);
    let t = tempfile::tempdir().unwrap();
    let app = ignore_app(t.path());
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique(&format!("ign-{engine_flag}-")));
    let image = format!("{tag}-amd64");
    let _guard = ImageGuard {
        program,
        images: vec![image.clone()],
    };
    let in_image = |what: &[&str]| {
        let mut args = vec!["run", "--rm", "--entrypoint", what[0], &image];
        args.extend(&what[1..]);
        engine(program, &args)
    };
    let podman = engine_flag == "podman";
    for (round, note) in ["n1".to_string(), unique("n2-")].iter().enumerate() {
        std::fs::write(app.join("note.txt"), format!("{note}\n")).unwrap();
        std::fs::write(app.join("secret.env"), format!("TOKEN={note}\n")).unwrap();
        let (stdout, stderr) = build_data(&app, &cache, engine_flag, "amd64", &tag, &[]);
        let built = stdout.contains(&format!("{image}  built in"));
        assert!(
            !built || stderr.contains("through its shimmed copy"),
            "{stdout}\n{stderr}"
        );
        let listed = in_image(&["ls", "-a", "/ctx"]);
        assert!(listed.contains("main.go"), "{listed}");
        assert!(
            !listed.contains("secret.env"),
            "the secret leaked:\n{listed}"
        );
        assert!(!listed.contains("note.txt"), "{listed}");
        let seen = in_image(&["cat", "/note"]);
        match (podman, round) {
            (true, _) => {
                assert!(built, "{stdout}");
                assert_eq!(seen.trim(), note, "podman's bind shows the note");
            }
            (false, 0) => assert!(built && seen.trim() == "none", "{stdout}{seen}"),
            (false, _) => {
                assert!(stdout.contains(&format!("{image}  up to date")), "{stdout}");
                assert_eq!(seen.trim(), "none", "BuildKit's bind hides the note");
            }
        }
    }
}

#[test]
fn per_file_ignore_is_honoured_on_podman() {
    per_file_ignore_is_honoured("podman", "podman");
}

#[test]
fn per_file_ignore_is_honoured_on_docker() {
    per_file_ignore_is_honoured("docker", DOCKER);
}

/// podman 4.3 mounts a stale copy of a cached stage (`from=<stage>`): the
/// tool stops and names two fixes; the one it can carry out (`--no-cache`)
/// builds, and each build shows the stage's current content.
#[test]
fn a_stage_bind_stops_with_a_fix_that_works() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let gover = go_version();
    std::fs::write(
        app.join("Containerfile"),
        format!(
            "FROM docker.io/library/golang:{gover}-bookworm AS gen\nCOPY msg /msg\nFROM docker.io/library/golang:{gover}-bookworm\nRUN --mount=type=bind,from=gen,target=/g cp /g/msg /out\n"
        ),
    )
    .unwrap();
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique("stagebind-"));
    let image = format!("{tag}-amd64");
    let _guard = ImageGuard {
        program: "podman",
        images: vec![image.clone()],
    };
    std::fs::write(app.join("msg"), "one\n").unwrap();
    let mut c = xtask(&app, &cache);
    c.args([
        "image", "--engine", "podman", "--arch", "amd64", "--tag", &tag,
    ]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    assert!(
        stderr.contains(
            "Containerfile:4: error: `--mount=…,from=gen` on podman 4.3.1 mounts a stale copy"
        ) && stderr.contains("or pass --no-cache"),
        "{stderr}"
    );
    for msg in ["one", &unique("two-")] {
        std::fs::write(app.join("msg"), format!("{msg}\n")).unwrap();
        build_data(&app, &cache, "podman", "amd64", &tag, &["--no-cache"]);
        let out = engine("podman", &["run", "--rm", &image, "cat", "/out"]);
        assert_eq!(out.trim(), msg);
    }
}

/// The cross-compile shim is the same whatever the architectures: adding
/// arm64 to a list rebuilds nothing for amd64, and both images run.
#[test]
fn adding_an_architecture_rebuilds_no_other() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique("addarch-"));
    let images = [format!("{tag}-amd64"), format!("{tag}-arm64")];
    let _guard = ImageGuard {
        program: "podman",
        images: images.to_vec(),
    };
    let greeting = unique("hi-");
    set_greeting(&app, &greeting);
    let (stdout, stderr) = build_data(&app, &cache, "podman", "amd64", &tag, &[]);
    assert!(
        stdout.contains(&format!("{}  built in", images[0])),
        "{stdout}"
    );
    assert!(
        stderr.contains("builds natively with GOOS/GOARCH"),
        "{stderr}"
    );
    let (stdout, _) = build_data(&app, &cache, "podman", "amd64,arm64", &tag, &[]);
    assert!(
        stdout.contains(&format!("{}  up to date", images[0])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}  built in", images[1])),
        "{stdout}"
    );
    for (image, arch) in images.iter().zip(["amd64", "arm64"]) {
        let printed = engine("podman", &["run", "--rm", image]);
        assert_eq!(printed.trim(), format!("{greeting} from linux/{arch}"));
    }
    let (stdout, _) = build_data(&app, &cache, "podman", "arm64", &tag, &[]);
    assert!(
        stdout.contains(&format!("{}  up to date", images[1])),
        "{stdout}"
    );
}

/// The images a build starts from are inputs: a base (`FROM`) or a
/// `from=<image>` bind source rebuilt under the same name rebuilds the app,
/// whose image then holds the new content; nothing changed, nothing built.
fn rebuilt_bases_rebuild(engine_flag: &str, program: &'static str) {
    require_engine(program);
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let id = unique(&format!("bases-{engine_flag}-"));
    let (base, tools) = (
        format!("goapp-it/{id}-base:1"),
        format!("goapp-it/{id}-tools:1"),
    );
    let tag = format!("goapp-it/{id}:1");
    let image = format!("{tag}-amd64");
    let _guard = ImageGuard {
        program,
        images: vec![image.clone(), base.clone(), tools.clone()],
    };
    let gover = go_version();
    let make = |name: &str, file: &str, value: &str| {
        let dir = t.path().join(name.replace(['/', ':'], "_"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Containerfile"),
            format!("FROM docker.io/library/golang:{gover}-bookworm\nRUN echo {value} > {file}\n"),
        )
        .unwrap();
        // Three times at most: the store is shared, and podman 4.3 can lose a
        // race with another run removing its layers ("layer not known").
        let ok = (0..3).any(|_| {
            Command::new(program)
                .args(["build", "-t", name, "-f"])
                .arg(dir.join("Containerfile"))
                .arg(&dir)
                .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
                .env("DOCKER_BUILDKIT", "1")
                .status()
                .unwrap()
                .success()
        });
        assert!(ok, "building {name} with {program} failed (output above)");
    };
    std::fs::write(
        app.join("Containerfile"),
        format!(
            "FROM {base}\nRUN --mount=type=bind,from={tools},source=/t,target=/mt cp /mt /tool\n"
        ),
    )
    .unwrap();
    let cache = t.path().join("cache");
    let (t2, b2) = (unique("t2-"), unique("b2-"));
    let rounds = [
        ("b1", "t1"),
        ("b1", t2.as_str()),
        (b2.as_str(), t2.as_str()),
    ];
    let mut last = ("", "");
    for (b, tl) in rounds {
        if b != last.0 {
            make(&base, "/b", b);
        }
        if tl != last.1 {
            make(&tools, "/t", tl);
        }
        last = (b, tl);
        let (stdout, _) = build_data(&app, &cache, engine_flag, "amd64", &tag, &[]);
        assert!(stdout.contains(&format!("{image}  built in")), "{stdout}");
        let seen = engine(program, &["run", "--rm", &image, "cat", "/b", "/tool"]);
        assert_eq!(seen.split_whitespace().collect::<Vec<_>>(), [b, tl]);
    }
    let (stdout, _) = build_data(&app, &cache, engine_flag, "amd64", &tag, &[]);
    assert!(stdout.contains(&format!("{image}  up to date")), "{stdout}");
}

#[test]
fn rebuilt_bases_rebuild_on_podman() {
    rebuilt_bases_rebuild("podman", "podman");
}

#[test]
fn rebuilt_bases_rebuild_on_docker() {
    rebuilt_bases_rebuild("docker", DOCKER);
}

/// What decides the image beyond file contents: a bind `source=` that is a
/// symlink (followed to what it names), an edit that keeps the size and the
/// mtime (seen by its ctime), a file's mode. Each change rebuilds, and the
/// image shows it.
fn stat_and_symlink_changes(engine_flag: &str, program: &'static str) {
    require_engine(program);
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let gover = go_version();
    std::fs::write(
        app.join("Containerfile"),
        format!(
            "FROM docker.io/library/golang:{gover}-bookworm AS build\n\
RUN --mount=type=bind,source=app,target=/a cat /a/msg > /msg\n\
FROM docker.io/library/golang:{gover}-bookworm\n\
COPY run.sh /run.sh\n\
COPY --from=build /msg /msg\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(app.join("services/app")).unwrap();
    std::os::unix::fs::symlink("services/app", app.join("app")).unwrap();
    let msg = app.join("services/app/msg");
    let run_sh = app.join("run.sh");
    std::fs::write(&run_sh, "echo hi\n").unwrap();
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique(&format!("stat-{engine_flag}-")));
    let image = format!("{tag}-amd64");
    let _guard = ImageGuard {
        program,
        images: vec![image.clone()],
    };
    let mode = |m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&run_sh, std::fs::Permissions::from_mode(m)).unwrap();
    };
    // Same length every time; the mtime put back after each edit.
    let base = unique("m-");
    let (m1, m2) = (format!("{base}a"), format!("{base}b"));
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    let write_msg = |text: &str| {
        let f = std::fs::File::options()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&msg)
            .unwrap();
        std::io::Write::write_all(&mut &f, text.as_bytes()).unwrap();
        f.set_modified(then).unwrap();
    };
    for (text, m) in [(&m1, 0o644), (&m2, 0o644), (&m2, 0o755)] {
        write_msg(text);
        mode(m);
        let (stdout, _) = build_data(&app, &cache, engine_flag, "amd64", &tag, &[]);
        assert!(stdout.contains(&format!("{image}  built in")), "{stdout}");
        let seen = engine(
            program,
            &[
                "run",
                "--rm",
                &image,
                "sh",
                "-c",
                "cat /msg; echo; stat -c %a /run.sh",
            ],
        );
        assert_eq!(
            seen.split_whitespace().collect::<Vec<_>>(),
            [text.as_str(), &format!("{m:o}")]
        );
    }
    let (stdout, _) = build_data(&app, &cache, engine_flag, "amd64", &tag, &[]);
    assert!(stdout.contains(&format!("{image}  up to date")), "{stdout}");
}

#[test]
fn stat_and_symlink_changes_rebuild_on_podman() {
    stat_and_symlink_changes("podman", "podman");
}

#[test]
fn stat_and_symlink_changes_rebuild_on_docker() {
    stat_and_symlink_changes("docker", DOCKER);
}

/// `--build-arg CGO_ENABLED=1` over the file's `ARG CGO_ENABLED="0"`: not
/// provably safe to cross-compile, so arm64 builds as written, under QEMU.
#[test]
fn a_cgo_build_arg_builds_under_emulation() {
    let logs = new_code_every_time(
        "podman",
        "podman",
        &["arm64"],
        &["--build-arg", "CGO_ENABLED=1"],
    );
    assert_eq!(
        toolchain(&logs[0]),
        "linux/arm64",
        "the arm64 toolchain under emulation"
    );
}
