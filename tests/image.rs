//! `cargo xtask image` against real podman and real docker: the example app
//! for amd64 and arm64, run afterwards (arm64 through qemu-user-static).

mod support;
use support::*;

fn build_and_run_example(engine_flag: &str, program: &'static str) {
    let (guard, stdout, _) =
        build_both_arches(engine_flag, program, &root().join("example/joke"), "joke");
    if program == DOCKER {
        assert!(
            stdout.contains("no local manifest list (docker's classic store)")
                && stdout
                    .contains("note: docker's classic image store cannot hold a manifest list"),
            "{stdout}"
        );
    }
    for (image, arch) in [(&guard.images[0], "amd64"), (&guard.images[1], "arm64")] {
        let recorded = engine(
            program,
            &["image", "inspect", "--format", "{{.Architecture}}", image],
        );
        assert_eq!(recorded.trim(), arch, "{image}");
        let printed = engine(program, &["run", "--rm", image]);
        assert_eq!(
            printed.trim(),
            format!("Why do Go programmers like containers? Because they ship statically. (linux/{arch})"),
            "{image}"
        );
    }
}

#[test]
fn podman_builds_and_runs_amd64_and_arm64() {
    build_and_run_example("podman", "podman");
}

#[test]
fn docker_builds_and_runs_amd64_and_arm64() {
    build_and_run_example("docker", DOCKER);
}

/// Proxy variables, secrets and the ssh agent reach the build, and the proxy
/// password appears nowhere: not in our output, the log, or the image.
#[test]
fn proxy_secrets_and_agent_are_wired_without_leaking() {
    require_engine("podman");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let gover = go_version();
    std::fs::write(dir.path().join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(
        dir.path().join("Containerfile"),
        format!(
            "FROM docker.io/library/golang:{gover}-bookworm\n\
             ARG TAG_GOVER\n\
             RUN --mount=type=secret,id=goenv,target=/goenv --mount=type=secret,id=netrc,target=/netrc --mount=type=ssh \\\n\
             \x20   echo \"gover=$TAG_GOVER https=${{HTTPS_PROXY:+set}} no=$no_proxy goenv=$(cat /goenv) netrc=$(wc -c < /netrc) agent=$(test -S \"$SSH_AUTH_SOCK\" && echo yes)\"\n"
        ),
    )
    .unwrap();
    let goenv = dir.path().join("goenv");
    std::fs::write(&goenv, "GOPRIVATE=corp.example\n").unwrap();
    let netrc = dir.path().join("netrc");
    std::fs::write(
        &netrc,
        "machine corp.example login bot password n3trcpass\n",
    )
    .unwrap();
    let agent = support::agent::Agent::start(dir.path());
    let tag = format!("goapp-it/{}:1", unique("wired-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64")],
    };
    let mut c = xtask(dir.path(), cache.path());
    // --no-cache: the step must run (the store is shared, and the same step
    // of another run of this test would otherwise come from the cache).
    // No program in it (--allow-unstartable): it is about the wiring.
    c.args([
        "image",
        "--arch",
        "amd64",
        "--tag",
        &tag,
        "--engine",
        "podman",
        "--no-cache",
        "--allow-unstartable",
    ])
    .env("HOME", dir.path())
    .env("HTTP_PROXY", "http://bob:Sup3rS3cret@proxy.invalid:3128")
    .env("no_proxy", "localhost,.corp")
    .env("GOENV", &goenv)
    .env("NETRC", &netrc)
    .env("SSH_AUTH_SOCK", &agent.sock);
    let (ok, stdout, stderr) = run(c);
    drop(agent);
    assert!(ok, "{stdout}\n{stderr}");
    // No key in the fake HOME: a warning, and the build still gets the agent.
    assert!(stderr.contains("no ssh key found"), "{stderr}");
    let log = std::fs::read_to_string(cache.path().join(format!(
            "logs/{}-amd64.log",
            dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_lowercase()
        )))
    .unwrap();
    let netrc_len = std::fs::metadata(&netrc).unwrap().len();
    let expected = format!("gover={gover} https=set no=localhost,.corp goenv=GOPRIVATE=corp.example netrc={netrc_len} agent=yes");
    assert!(log.contains(&expected), "{expected} not in the log:\n{log}");
    let history = engine("podman", &["image", "inspect", &format!("{tag}-amd64")]);
    for text in [&stdout, &stderr, &log, &history] {
        assert!(
            !text.contains("Sup3rS3cret"),
            "the proxy password leaked:\n{text}"
        );
        assert!(
            !text.contains("n3trcpass"),
            "the netrc password leaked:\n{text}"
        );
    }
    assert!(
        log.contains("http://***@proxy.invalid:3128"),
        "the command line in the log should show the redacted proxy:\n{log}"
    );
}

/// A failing build stops with its command line, exit status, the tail of its
/// output and the log's path; the other architecture still finishes.
#[test]
fn a_failed_build_shows_command_status_tail_and_log() {
    require_engine("podman");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module x\n\ngo 1.19\n").unwrap();
    std::fs::write(
        dir.path().join("Containerfile"),
        format!(
            "FROM --platform=$BUILDPLATFORM docker.io/library/golang:{}-bookworm\nARG TARGETARCH\nRUN echo building-$TARGETARCH && test \"$TARGETARCH\" != arm64 || (echo broken-on-arm64 >&2; exit 7)\n",
            go_version()
        ),
    )
    .unwrap();
    let tag = format!("goapp-it/{}:1", unique("fail-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64"), format!("{tag}-arm64")],
    };
    let mut c = xtask(dir.path(), cache.path());
    // No program in it: an image of data, for this test.
    c.args([
        "image",
        "--allow-unstartable",
        "--arch",
        "amd64,arm64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{tag}-amd64  built in")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{tag}-arm64  FAILED after")),
        "{stdout}"
    );
    // The failing step, named once, with what it printed; then the summary.
    let app = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    let step = format!("error: {app}/arm64: failed at STEP ");
    let at = stderr
        .find(&step)
        .unwrap_or_else(|| panic!("{step} not in {stderr}"));
    assert!(
        stderr[at..].lines().next().unwrap().ends_with(": RUN echo building-$TARGETARCH && test \"$TARGETARCH\" != arm64 || (echo broken-on-arm64 >&2; exit 7)"),
        "{stderr}"
    );
    assert!(stderr.contains("\n  broken-on-arm64\n"), "{stderr}");
    assert!(
        stderr.contains("process didn't exit successfully: `podman build --platform linux/arm64"),
        "{stderr}"
    );
    assert!(stderr.contains("(exit status: "), "{stderr}");
    assert!(!stderr.contains("Using cache"), "{stderr}");
    assert!(
        stderr
            .trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("error: 1 of 2 builds failed"),
        "{stderr}"
    );
    // The error names this run's own log, which holds the engine's output.
    let log = stderr
        .lines()
        .find_map(|l| l.strip_prefix("  log: "))
        .unwrap_or_else(|| panic!("no log named in {stderr}"));
    let name = std::path::Path::new(log)
        .file_name()
        .unwrap()
        .to_string_lossy();
    assert!(name.contains("-arm64-") && name.ends_with(".log"), "{log}");
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.contains("broken-on-arm64"), "{text}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `--dry-run` prints pasteable commands and builds nothing.
#[test]
fn dry_run_prints_and_changes_nothing() {
    require_engine("podman");
    let cache = tempfile::tempdir().unwrap();
    let tag = format!("goapp-it/{}:1", unique("dry-"));
    let mut c = xtask(&root(), cache.path());
    c.args([
        "image",
        "joke",
        "--dry-run",
        "--arch",
        "arm64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("podman build --platform linux/arm64 --build-arg TAG_GOVER="),
        "{stdout}"
    );
    assert!(
        lines[0].ends_with(&format!(
            "-t {tag}-arm64 -f {}/example/joke/Containerfile {}/example/joke",
            root().display(),
            root().display()
        )),
        "{stdout}"
    );
    let exists = std::process::Command::new("podman")
        .args(["image", "exists", &format!("{tag}-arm64")])
        .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
        .status()
        .unwrap();
    assert!(!exists.success(), "--dry-run built an image");
    assert!(!cache.path().join("logs").exists(), "--dry-run wrote logs");

    // With --json the plan is data: the same lines, in the document.
    let mut c = xtask(&root(), cache.path());
    c.args([
        "image",
        "joke",
        "--dry-run",
        "--json",
        "--arch",
        "arm64",
        "--tag",
        &tag,
    ]);
    let (ok, doc, stderr) = run(c);
    assert!(ok, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let plan: Vec<&str> = doc["plan"]
        .as_array()
        .unwrap_or_else(|| panic!("no plan in {doc}"))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let mark = |l: &str| {
        l.split_whitespace()
            .filter(|w| !w.starts_with("goapp-run-"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        plan.iter().map(|l| mark(l)).collect::<Vec<_>>(),
        lines.iter().map(|l| mark(l)).collect::<Vec<_>>()
    );

    // What it printed is what runs: the same lines, but for the mark that
    // names this run (`--add-host goapp-run-<pid>-…`).
    let guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-arm64")],
    };
    let mut c = xtask(&root(), cache.path());
    c.args(["image", "joke", "-v", "--arch", "arm64", "--tag", &tag]);
    let (ok, out, err) = run(c);
    assert!(ok, "{out}\n{err}");
    let ran: Vec<String> = err
        .lines()
        .filter_map(|l| l.strip_prefix("+ "))
        .filter(|l| l.starts_with("podman build "))
        .map(without_run_mark)
        .collect();
    let planned: Vec<String> = lines.iter().map(|l| without_run_mark(l)).collect();
    assert_eq!(
        ran, planned,
        "--dry-run printed:\n{stdout}\nthe build ran:\n{err}"
    );
    drop(guard);
}

/// A command line with this run's mark made the same for every run.
fn without_run_mark(line: &str) -> String {
    line.split(' ')
        .map(|w| match w.find("goapp-run-") {
            Some(_) => "<run-mark>",
            None => w,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tags follow the code (`{git:8}`, `-dirty` after an uncommitted change),
/// and with two architectures `REPO:TAG` is a manifest list of both images
/// that podman runs per architecture.
#[test]
fn tags_follow_the_code_and_one_name_lists_every_arch() {
    require_engine("podman");
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    let example = root().join("example/joke");
    for f in ["go.mod", "main.go", ".containerignore", ".dockerignore"] {
        std::fs::copy(example.join(f), app.join(f)).unwrap();
    }
    // A build arg the image records, to see --build-arg reach the build.
    let cf = std::fs::read_to_string(example.join("Containerfile")).unwrap();
    std::fs::write(
        app.join("Containerfile"),
        cf.replace(
            "FROM scratch\n",
            "FROM scratch\nARG GREETING=none\nLABEL greeting=$GREETING\n",
        ),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir.path())
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    let head = std::process::Command::new("git")
        .arg("-C")
        .arg(dir.path())
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    let commit = String::from_utf8_lossy(&head.stdout)[..8].to_string();
    let repo = format!("goapp-it/{}", unique("tags-"));
    let clean = format!("{repo}:{commit}");
    let dirty = format!("{repo}:{commit}-dirty");
    let _guard = ImageGuard {
        program: "podman",
        images: [&clean, &dirty]
            .iter()
            .flat_map(|t| [format!("{t}-amd64"), format!("{t}-arm64")])
            .collect(),
    };
    let build = || {
        let mut c = xtask(&app, cache.path());
        c.args([
            "image",
            "--arch",
            "amd64,arm64",
            "--tag",
            &format!("{repo}:{{git:8}}"),
        ]);
        c.args(["--build-arg", "GREETING=hello from the command line"]);
        run(c)
    };
    let (ok, stdout, stderr) = build();
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("{clean}-amd64  built in")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{clean}  manifest list of amd64, arm64\n")),
        "{stdout}"
    );
    let label = engine(
        "podman",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Labels.greeting}}",
            &format!("{clean}-arm64"),
        ],
    );
    assert_eq!(label.trim(), "hello from the command line");
    let listed = engine("podman", &["manifest", "inspect", &clean]);
    for arch in ["amd64", "arm64"] {
        let digest = engine(
            "podman",
            &[
                "image",
                "inspect",
                "--format",
                "{{.Digest}}",
                &format!("{clean}-{arch}"),
            ],
        );
        assert!(
            listed.contains(digest.trim()),
            "{arch} not in the list:\n{listed}"
        );
        let printed = engine("podman", &["run", "--rm", "--arch", arch, &clean]);
        assert!(
            printed.trim().ends_with(&format!("(linux/{arch})")),
            "{printed}"
        );
    }
    // Nothing changed: neither the images nor the list are made again.
    let (ok, stdout, stderr) = build();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "{clean}  manifest list of amd64, arm64 up to date"
        )),
        "{stdout}"
    );
    // An uncommitted change names new images.
    let main = app.join("main.go");
    let src = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, src.replace("ship statically.", "ship statically!")).unwrap();
    let (ok, stdout, stderr) = build();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!("{dirty}-arm64  built in")),
        "{stdout}"
    );
    let printed = engine("podman", &["run", "--rm", &format!("{dirty}-amd64")]);
    assert!(
        printed.contains("ship statically! (linux/amd64)"),
        "{printed}"
    );
}

/// podman before 4.8 cannot list its store once it holds a manifest list
/// and an image without layers. A `FROM scratch` stage whose first step is
/// a `LABEL` leaves such an intermediate image; two architectures make a
/// list. After the tool, `podman images` still works, and `doctor` says so.
#[test]
fn a_layerless_step_and_a_list_leave_podman_images_working() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let app = t.path().join("labelled");
    let marker = unique("label-");
    write_files(
        &app,
        &[
            ("go.mod", "module labelled\n\ngo 1.19\n"),
            ("f", "data\n"),
            (
                "Containerfile",
                &format!(
                    "FROM scratch\nLABEL org.opencontainers.image.title={marker}\nCOPY f /f\n"
                ),
            ),
        ],
    );
    let tag = format!("goapp-it/{}:1", unique("layerless-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64"), format!("{tag}-arm64")],
    };
    let cache = t.path().join("cache");
    let mut c = xtask(&app, &cache);
    c.args([
        "image",
        "--engine",
        "podman",
        "--arch",
        "amd64,arm64",
        "--tag",
        &tag,
        "--allow-unstartable",
    ]);
    let (ok, out, err) = run(c);
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("manifest list of amd64, arm64"), "{out}");
    assert_store_listable();
    let mut c = xtask(&app, &cache);
    c.args(["doctor"]);
    let (_, out, _) = run(c);
    assert!(
        out.contains("ok    podman's image store: `podman images` lists it"),
        "{out}"
    );
}

/// Images that cannot start are not called built: the articles' cgo
/// binary in `scratch` (dynamically linked, no loader), and a distroless
/// file whose CMD names a path its COPY did not write. The fix is said,
/// the name is taken off, and `--allow-unstartable` accepts them.
#[test]
fn images_that_cannot_start_are_refused_with_the_fix() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let cases = [
        (
            "cgo",
            "FROM localhost/goapp-corpus/golang-full:1.19 AS build\nWORKDIR /src\nCOPY . .\nRUN go build -o /out/myapp .\nFROM scratch\nCOPY --from=build /out/myapp /usr/bin/myapp\nENTRYPOINT [\"/usr/bin/myapp\"]\n",
            "is dynamically linked (cgo on) and needs the loader",
        ),
        (
            "wrongpath",
            "FROM docker.io/library/golang:1.19-bookworm AS build\nWORKDIR /app\nCOPY . .\nRUN CGO_ENABLED=0 go build -o /app/bin .\nFROM scratch\nCOPY --from=build /app/bin /\nCMD [\"/app\"]\n",
            "its CMD runs `/app`, which is not in the image: the image has `/bin` from its last stage",
        ),
    ];
    for (name, file, why) in cases {
        let app = t.path().join(name);
        write_files(
            &app,
            &[
                ("go.mod", "module app\n\ngo 1.19\n"),
                ("main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"net\"\n)\n\nfunc main() { fmt.Println(net.ParseIP(\"127.0.0.1\")) }\n"),
                ("Dockerfile", file),
            ],
        );
        let tag = format!("goapp-it/{}:1", unique(&format!("{name}-")));
        let images = vec![format!("{tag}-amd64"), format!("{tag}-arm64")];
        let _guard = ImageGuard {
            program: "podman",
            images: images.clone(),
        };
        let cache = t.path().join(format!("cache-{name}"));
        let mut c = xtask(&app, &cache);
        c.args([
            "image",
            "--engine",
            "podman",
            "--arch",
            "amd64,arm64",
            "--tag",
            &tag,
        ]);
        let (ok, out, err) = run(c);
        assert!(!ok, "{name}: called built:\n{out}\n{err}");
        for image in &images {
            assert!(
                out.contains(&format!("{image}  CANNOT START")),
                "{name}: {out}"
            );
            assert!(
                err.contains(&format!("error: {image} cannot start: ")),
                "{name}: {err}"
            );
            let exists = std::process::Command::new("podman")
                .args(["image", "exists", image])
                .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
                .status()
                .unwrap();
            assert!(!exists.success(), "{name}: {image} kept its name");
        }
        assert!(err.contains(why), "{name}: {err}");
        assert!(err.contains("cannot start ("), "{name}: the summary: {err}");
        // What it said is true: the engine cannot start it either.
        let mut c = xtask(&app, &cache);
        c.args([
            "image",
            "--engine",
            "podman",
            "--arch",
            "amd64",
            "--tag",
            &tag,
            "--allow-unstartable",
        ]);
        let (ok, out, err) = run(c);
        assert!(ok, "{name}: {out}\n{err}");
        let started = std::process::Command::new("podman")
            .args(["run", "--rm", &images[0]])
            .env("CONTAINERS_CONF", root().join("scripts/containers.conf"))
            .output()
            .unwrap();
        assert!(!started.status.success(), "{name}: it started");
    }
    assert_store_listable();
}

/// Every cache proves itself: the engine-version cache, the stat cache of
/// the context and the Go tag cache, truncated or edited, are read again
/// from their source, never believed.
#[test]
fn every_cache_proves_itself() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let app = t.path().join("joke");
    std::fs::create_dir_all(&app).unwrap();
    for f in ["Containerfile", "go.mod", "main.go"] {
        std::fs::copy(root().join("example/joke").join(f), app.join(f)).unwrap();
    }
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique("caches-"));
    let _guard = ImageGuard {
        program: "podman",
        images: vec![format!("{tag}-amd64")],
    };
    let image = || {
        let mut c = xtask(&app, &cache);
        c.args([
            "image", "--engine", "podman", "--arch", "amd64", "--tag", &tag, "-v",
        ]);
        run(c)
    };
    let (ok, out, err) = image();
    assert!(ok && out.contains("built in"), "{out}\n{err}");
    // The engine version, edited to one with heredocs: not believed.
    let versions = cache.join("engine-versions.txt");
    let text = std::fs::read_to_string(&versions).unwrap();
    let real = engine("podman", &["version", "--format", "{{.Client.Version}}"]);
    std::fs::write(&versions, text.replace(real.trim(), "5.6.0")).unwrap();
    let mut c = xtask(&app, &cache);
    c.args(["doctor", "-v"]);
    let (_, out, err) = run(c);
    assert!(
        out.contains(&format!("engine: podman {}", real.trim())),
        "{out}"
    );
    assert!(
        err.contains("engine-versions.txt is not used (its checksum does not match"),
        "{err}"
    );
    // A digest in the stat cache cut short: the context is read again, the
    // inputs are the same, so the image is up to date (not rebuilt, not
    // labelled with a wrong hash).
    let contexts = cache.join("contexts");
    let tsv = std::fs::read_dir(&contexts)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&tsv).unwrap();
    let line = text.lines().find(|l| l.starts_with("go.mod\t")).unwrap();
    let cut = line[..line.len() - 57].to_string();
    std::fs::write(&tsv, text.replace(line, &cut)).unwrap();
    let (ok, out, err) = image();
    assert!(ok && out.contains("up to date"), "{out}\n{err}");
    assert!(err.contains("is not used (its checksum does not match: truncated or edited): the context is read again"), "{err}");
    // The Go tag cache cut short: listed again from the repository.
    let tags: Vec<std::path::PathBuf> = std::fs::read_dir(cache.join("go-tags"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(!tags.is_empty());
    for f in tags {
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, &text[..text.len() / 2]).unwrap();
    }
    let (ok, out, err) = image();
    assert!(ok && out.contains("up to date"), "{out}\n{err}");
}

/// A cache directory that takes no more files (a full disk): one sentence
/// naming it and the fix, exit 1, before any build starts; an up-to-date
/// image needs none (nothing is written for it).
#[test]
fn a_full_cache_directory_stops_before_the_build() {
    require_engine("podman");
    let t = tempfile::tempdir().unwrap();
    let full = t.path().join("full");
    std::fs::create_dir_all(&full).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "goapp-full"])
        .arg(&full)
        .status()
        .unwrap();
    assert!(st.success(), "mount a small tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(full.clone());
    // Filled to the last block.
    let _ = std::fs::write(full.join("filler"), vec![7u8; 128 * 1024]);
    let app = t.path().join("app");
    write_files(
        &app,
        &[
            ("Containerfile", "FROM scratch\nCOPY data /data\n"),
            ("data", "x\n"),
            ("ver", "1.19.8\n"),
        ],
    );
    let tag = format!("goapp-it/{}:1", unique("full-"));
    let mut c = xtask(&app, &full);
    c.args([
        "image",
        "--allow-unstartable",
        "--arch",
        "amd64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}\n{stderr}");
    let line = format!(
        "error: the cache directory {} is not usable (",
        full.display()
    );
    assert!(stderr.contains(&line), "{stderr}");
    assert!(
        stderr.contains("make it writable or free space there, or set GOAPP_CACHE_DIR"),
        "{stderr}"
    );
    assert!(!stdout.contains("built"), "{stdout}");
    let (exists, _, _) = {
        let mut c = std::process::Command::new("podman");
        c.args(["image", "exists", &format!("{tag}-amd64")]);
        run(c)
    };
    assert!(!exists, "nothing was built");
    // A cache directory under a regular file: that is said, not space.
    let file = t.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let mut c = xtask(&app, &file.join("cache"));
    c.args([
        "image",
        "--allow-unstartable",
        "--arch",
        "amd64",
        "--tag",
        &tag,
    ]);
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} is a file, not a directory: move it away",
            file.display()
        )),
        "{stderr}"
    );
}
