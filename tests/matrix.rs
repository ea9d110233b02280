//! Every engine users run, end to end: this machine's podman 4.3.1 and
//! docker 20.10, and from the matrix (`scripts/matrix.sh`: Debian trixie
//! and sid roots) podman 5.4 and 5.8, docker 26 (classic store) and docker
//! 28 (containerd image store). For each:
//! - the published-style fixture (bind-mounted `go build`, heredocs, a
//!   mount without `type=`) built for amd64 and arm64, the Go source
//!   changed, built again: both images run the new code;
//! - an app built with `COPY` for both architectures, shipped to
//!   containerd 1.6 (this machine), 1.7 and 2.1 nodes, podman 5.4 and 5.8
//!   nodes, and docker 26 and 28 nodes: first ship, a changed image (the
//!   blobs a containerd node holds left out), nothing to do, damaged bytes
//!   caught before the import; one name and pins; `keep_pinned`; `push`
//!   and `pull_from`;
//! - the no-op rebuild against one `image inspect`, measured.
//!
//! The compatibility table in the README is rendered from what this test
//! saw; the test fails when the README says something else (it writes the
//! table it saw to target/matrix/compat.md; `GOAPP_UPDATE_README=1` puts it
//! in the README).

mod support;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;
use support::matrix::{self, Engine};
use support::registry::Registry;
use support::*;

/// One engine's row of the table.
#[derive(Clone, Debug)]
struct Row {
    engine: String,
    store: String,
    build: String,
    shims: String,
    one_name: String,
    ship: String,
    push: String,
    noop: String,
}

/// Runs every engine at once; fails with each engine's own failure.
#[test]
fn every_engine_builds_ships_and_pushes_the_new_code() {
    // Every engine is started (the docker ones are also the docker nodes).
    let mut engines = vec![matrix::host_engine("podman"), matrix::host_engine("docker")];
    for want in ["podman-trixie", "podman-sid", "docker-trixie", "docker-sid"] {
        engines.push(matrix::engine(want));
    }
    let only = std::env::var("GOAPP_MATRIX_ONLY").ok();
    let results: Vec<(String, std::thread::Result<Row>)> = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .iter()
            .filter(|e| {
                only.as_deref()
                    .is_none_or(|o| o.split(',').any(|w| w == e.name))
            })
            .map(|e| (e.name.clone(), s.spawn(move || row(e))))
            .collect();
        handles.into_iter().map(|(n, h)| (n, h.join())).collect()
    });
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (name, r) in results {
        match r {
            Ok(row) => rows.push(row),
            Err(e) => failed.push(format!(
                "{name}: {}",
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }
    assert!(
        failed.is_empty(),
        "engines failed:\n{}",
        failed.join("\n\n")
    );
    if only.is_some() {
        return;
    }
    let table = render(&rows);
    let out = root().join("target/matrix");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("compat.md"), &table).unwrap();
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let (begin, end) = ("<!-- compat:begin -->\n", "<!-- compat:end -->");
    let (Some(b), Some(e)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md has no {begin:?}…{end:?} section for the table:\n{table}");
    };
    let current = &readme[b + begin.len()..e];
    if std::env::var_os("GOAPP_UPDATE_README").is_some() {
        let new = format!("{}{table}{}", &readme[..b + begin.len()], &readme[e..]);
        std::fs::write(&readme_path, new).unwrap();
    } else {
        assert_eq!(
            current, table,
            "README.md's compatibility table is not what this run saw (target/matrix/compat.md); GOAPP_UPDATE_README=1 writes it"
        );
    }
}

fn render(rows: &[Row]) -> String {
    let mut t = String::from(
        "| engine | image store | build (amd64 + arm64, new code after a change) | shims applied | one name (`REPO:TAG`) | ship (7 node kinds) | push, pull_from | no-op |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        t += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.engine, r.store, r.build, r.shims, r.one_name, r.ship, r.push, r.noop
        );
    }
    t
}

fn major(v: &str) -> u32 {
    v.split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `major.minor` of a version (`28.5.2+dfsg4` → `28.5`): the table does
/// not change with a suite's patch releases.
fn minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn row(e: &Engine) -> Row {
    let started = Instant::now();
    let store = store_of(e);
    let (build, shims) = published(e);
    let (one_name, ship, push, noop) = shipped(e, &store);
    eprintln!(
        "matrix: {} {} done in {:.0} s",
        e.kind,
        e.version,
        started.elapsed().as_secs_f64()
    );
    Row {
        engine: format!("{} {}", e.kind, minor(&e.version)),
        store,
        build,
        shims,
        one_name,
        ship,
        push,
        noop,
    }
}

/// What `doctor` says of the engine: its version and store.
fn store_of(e: &Engine) -> String {
    let cache = tempfile::tempdir().unwrap();
    let mut c = e.xtask(cache.path(), cache.path());
    c.arg("doctor");
    let (_, stdout, stderr) = run(c);
    let line = stdout
        .lines()
        .find(|l| l.contains("  engine: "))
        .unwrap_or_else(|| panic!("no engine line in doctor's output:\n{stdout}\n{stderr}"));
    assert!(
        line.starts_with("ok") && line.contains(&format!("{} {}", e.kind, e.version)),
        "doctor's version is the engine's ({}):\n{line}",
        e.version
    );
    let store = line
        .split(" with its ")
        .nth(1)
        .and_then(|s| s.split(" (").next())
        .unwrap_or_else(|| panic!("doctor names no store: {line}"));
    store.to_string()
}

// --- the published-style fixture ------------------------------------------------

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

fn set_greeting(file: &Path, greeting: &str) {
    let src = std::fs::read_to_string(file).unwrap();
    let start = src.find("const greeting = ").unwrap();
    let end = start + src[start..].find('\n').unwrap();
    let new = format!(
        "{}const greeting = \"{greeting}\"{}",
        &src[..start],
        &src[end..]
    );
    std::fs::write(file, new).unwrap();
}

/// Builds, changes the source, builds again: both architectures run the
/// new code each time. Returns the build cell and the shims applied.
fn published(e: &Engine) -> (String, String) {
    let t = tempfile::tempdir().unwrap();
    let app = published_app(t.path());
    let cache = t.path().join("cache");
    let tag = format!("goapp-it/{}:1", unique(&format!("mx-pub-{}-", e.name)));
    let guard = e.guard(vec![format!("{tag}-amd64"), format!("{tag}-arm64")]);
    let mut shims = BTreeSet::new();
    for greeting in ["hello", &unique("bonjour-")] {
        set_greeting(&app.join("main.go"), greeting);
        let mut c = e.xtask(&app, &cache);
        c.args(["image", "--arch", "amd64,arm64", "--tag", &tag]);
        let (ok, stdout, stderr) = run(c);
        assert!(ok, "{}: build failed:\n{stdout}\n{stderr}", e.name);
        for (image, arch) in guard.images.iter().zip(["amd64", "arm64"]) {
            assert!(
                stdout.contains(&format!("{image}  built in")),
                "{stdout}\n{stderr}"
            );
            let printed = e.run_image(image, arch);
            assert_eq!(
                printed.trim(),
                format!("{greeting} from linux/{arch}"),
                "{}: {image} runs old code\n{stderr}",
                e.name
            );
        }
        shims.extend(shim_kinds(&stderr));
    }
    let caps = goapp_build::capabilities(
        kind(e),
        front(e),
        &e.version,
        goapp_build::ImageStore::DockerClassic,
    );
    if e.kind == "podman" {
        // Where podman keys an explicit context bind by its content (5.4+:
        // buildah PR #5691), nothing is declared for it; a mount without
        // `type=` (keyed by no release) is written out as `type=bind`.
        assert_eq!(
            shims.contains("bind keyed by an ARG"),
            !caps.bind_keying.context,
            "{}: {shims:?}",
            e.name
        );
    } else {
        assert!(!shims.contains("bind keyed by an ARG"), "{shims:?}");
    }
    let shims = if shims.is_empty() {
        "none".to_string()
    } else {
        shims.into_iter().collect::<Vec<_>>().join(", ")
    };
    ("tested".to_string(), shims)
}

fn kind(e: &Engine) -> goapp_build::EngineKind {
    if e.kind == "podman" {
        goapp_build::EngineKind::Podman
    } else {
        goapp_build::EngineKind::Docker
    }
}

fn front(e: &Engine) -> goapp_build::BuildFront {
    match (e.kind.as_str(), e.is_host()) {
        ("podman", _) => goapp_build::BuildFront::Podman,
        ("docker", true) => goapp_build::BuildFront::DockerBuildKit,
        _ => goapp_build::BuildFront::DockerBuildx,
    }
}

/// The shims a build's notes report, by kind.
fn shim_kinds(stderr: &str) -> Vec<&'static str> {
    let kinds = [
        (
            "builder stage moved to the build platform",
            "builder on the build platform",
        ),
        (
            "--platform=$TARGETPLATFORM` written out",
            "later bases pinned to the target",
        ),
        ("heredoc RUN rewritten", "heredocs rewritten"),
        ("# syntax=", "`# syntax=` dropped"),
        ("--build-arg BUILDPLATFORM", "BUILDPLATFORM passed"),
        (
            "declared before this RUN and set to the digest",
            "bind keyed by an ARG",
        ),
        ("`type=bind` written out", "`type=bind` written out"),
        ("written as `/", "mount targets made absolute"),
    ];
    stderr
        .lines()
        .filter(|l| l.contains("shim: "))
        .filter_map(|l| kinds.iter().find(|(k, _)| l.contains(k)).map(|(_, v)| *v))
        .collect()
}

// --- an app shipped everywhere ------------------------------------------------

/// A `COPY` app: a data layer that stays, and the program.
fn ship_app(dir: &Path) -> PathBuf {
    let app = dir.join("shipme");
    write_files(
        &app,
        &[
            ("go.mod", "module example.com/shipme\n\ngo 1.19\n"),
            (
                "main.go",
                "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nconst greeting = \"one\"\n\nfunc main() {\n\tfmt.Printf(\"%s from %s/%s\\n\", greeting, runtime.GOOS, runtime.GOARCH)\n}\n",
            ),
            (
                "Containerfile",
                "FROM docker.io/library/golang:1.19-bookworm AS build\nWORKDIR /src\nCOPY go.mod main.go ./\nRUN CGO_ENABLED=0 go build -o /out/app .\n\nFROM scratch\nCOPY data /data\nCOPY --from=build /out/app /app\nENTRYPOINT [\"/app\"]\n",
            ),
        ],
    );
    // 256 KiB that never change: a layer every node keeps.
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    std::fs::write(app.join("data"), data).unwrap();
    app
}

/// The nodes of one row, and which host entry is which kind.
struct Nodes {
    base: tempfile::TempDir,
    _host: support::node::Node,
    matrix: Vec<matrix::Node>,
    hosts: Vec<(&'static str, &'static str)>,
}

/// `c16` (this machine's containerd 1.6, arm64), `c17` (trixie: containerd
/// 1.7, amd64), `c21` (sid: containerd 2.1, arm64, `keep_pinned: 1`),
/// `p54`/`p58` (the roots' podman, amd64/arm64), `d26`/`d28` (the suites'
/// dockerds, arm64/amd64; not the row's own engine).
fn nodes(e: &Engine) -> Nodes {
    // Under /tmp: the roots see it at the same path.
    let base = tempfile::Builder::new()
        .prefix("goapp-mx-")
        .tempdir_in("/tmp")
        .unwrap();
    let b = base.path();
    let host = support::node::Node::start(b, "c16");
    let matrix = vec![
        matrix::Node::start(b, "c17", "trixie"),
        matrix::Node::start(b, "c21", "sid"),
    ];
    let mut hosts = vec![
        ("c16", "containerd 1.6"),
        ("c17", "containerd 1.7"),
        ("c21", "containerd 2.1"),
        ("p54", "podman 5.4"),
        ("p58", "podman 5.8"),
    ];
    if e.name != "docker-trixie" {
        hosts.push(("d26", "docker 26"));
    }
    if e.name != "docker-sid" {
        hosts.push(("d28", "docker 28"));
    }
    Nodes {
        base,
        _host: host,
        matrix,
        hosts,
    }
}

fn config(n: &Nodes, app: &Path, repo: &str, reg: &Registry) {
    let b = n.base.path().display();
    let yaml = format!(
        "defaults:\n  ssh_config: ssh_config\n\
         apps:\n  shipme:\n    context: {app}\n    repository: {repo}\n    tag: 'v-{{inputs:12}}'\n    arch: [amd64, arm64]\n\
         registries:\n  reg: {{address: '{reg}', insecure: true}}\n\
         hosts:\n\
         \x20 c16: {{ssh: c16, arch: arm64, import: containerd, tmp_dir: {b}/c16/tmp, connect_timeout: 5}}\n\
         \x20 c17: {{ssh: c17, arch: amd64, import: containerd, tmp_dir: {b}/c17/tmp, connect_timeout: 5}}\n\
         \x20 c21: {{ssh: c21, arch: arm64, import: containerd, tmp_dir: {b}/c21/tmp, connect_timeout: 5, keep_pinned: 1}}\n\
         \x20 p54: {{ssh: c17, arch: amd64, import: podman, tmp_dir: {b}/c17/tmp, connect_timeout: 5}}\n\
         \x20 p58: {{ssh: c21, arch: arm64, import: podman, tmp_dir: {b}/c21/tmp, connect_timeout: 5}}\n\
         \x20 d26: {{ssh: c17, arch: arm64, import: docker, tmp_dir: {b}/c17/tmp, connect_timeout: 5}}\n\
         \x20 d28: {{ssh: c21, arch: amd64, import: docker, tmp_dir: {b}/c21/tmp, connect_timeout: 5}}\n\
         \x20 pull17: {{ssh: c17, arch: arm64, import: containerd, pull_from: reg, connect_timeout: 5}}\n\
         \x20 pull58: {{ssh: c21, arch: amd64, import: podman, pull_from: reg, connect_timeout: 5}}\n",
        app = app.display(),
        reg = reg.address,
    );
    std::fs::write(n.base.path().join("goapp.yaml"), yaml).unwrap();
}

fn ship_json(
    e: &Engine,
    n: &Nodes,
    hosts: &[&str],
    extra: &[&str],
) -> (bool, serde_json::Value, String) {
    let b = n.base.path();
    let mut c = e.xtask(b, &b.join("cache"));
    c.args(["ship", "--json", "--host", &hosts.join(",")])
        .args(extra)
        .stdin(Stdio::null());
    let (ok, stdout, stderr) = run(c);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!(
            "{}: ship --json printed no JSON ({err}):\n{stdout}\n{stderr}",
            e.name
        )
    });
    (ok, doc, stderr)
}

fn host_of<'d>(doc: &'d serde_json::Value, host: &str) -> &'d serde_json::Value {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .unwrap_or_else(|| panic!("no {host} in {doc}"))
}

/// What a node prints when it runs the image's `REPO:TAG` (podman and
/// docker nodes) — the one name, the right architecture, the new code.
fn run_on_node(n: &Nodes, host: &str, image: &str) -> String {
    let (node, cli) = match host {
        "p54" => ("c17", "podman"),
        "d26" => ("c17", "docker"),
        "p58" => ("c21", "podman"),
        _ => ("c21", "docker"),
    };
    let m = n.matrix.iter().find(|m| m.alias == node).unwrap();
    let (ok, out) = m.ssh(
        n.base.path(),
        &format!("{cli} run --rm {image} 2>/dev/null"),
    );
    assert!(ok, "{host}: {cli} run {image}: {out}");
    out
}

/// Images the test made on nodes' docker daemons (shared): removed on drop.
struct DockerNodeImages<'n> {
    nodes: &'n Nodes,
    repo: String,
}

impl Drop for DockerNodeImages<'_> {
    fn drop(&mut self) {
        for node in ["c17", "c21"] {
            if let Some(m) = self.nodes.matrix.iter().find(|m| m.alias == node) {
                let _ = m.ssh(
                    self.nodes.base.path(),
                    &format!(
                        "docker images --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep -F '{}:' | xargs -r docker rmi -f >/dev/null 2>&1; true",
                        self.repo
                    ),
                );
            }
        }
    }
}

/// One name, ship everywhere, push and pull, and the no-op.
fn shipped(e: &Engine, store: &str) -> (String, String, String, String) {
    let n = nodes(e);
    let b = n.base.path().to_path_buf();
    let app = ship_app(&b);
    let repo = format!("goapp-it/{}", unique(&format!("mx-{}-", e.name)));
    let reg = Registry::start();
    let port: u16 = reg.address.rsplit(':').next().unwrap().parse().unwrap();
    // The registry, reached from the engine's root and the nodes' roots
    // (one forward per root).
    let _reach: Vec<_> = ["podman-trixie", "podman-sid"]
        .iter()
        .map(|r| matrix::engine(r).reach(port))
        .collect();
    config(&n, &app, &repo, &reg);
    let _docker_nodes = DockerNodeImages {
        nodes: &n,
        repo: repo.clone(),
    };
    let hosts: Vec<&str> = n.hosts.iter().map(|(h, _)| *h).collect();
    let mut made: Vec<String> = Vec::new();

    // The build, and the one name where the store can hold it.
    let mut c = e.xtask(&b, &b.join("cache"));
    c.args(["image", "--json"]);
    let (ok, stdout, stderr) = run(c);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!(
            "{}: image --json printed no JSON ({err}):\n{stdout}\n{stderr}",
            e.name
        )
    });
    assert!(ok, "{}: build failed:\n{doc}\n{stderr}", e.name);
    remember_images(&doc, &mut made);
    let _guard = e.guard(made.clone());
    let one_name = one_name(e, store, &doc, &stderr);

    // First ship: every node gets its architecture's image, named twice.
    let (ok, doc, stderr) = ship_json(e, &n, &hosts, &[]);
    assert!(ok, "{}: first ship failed:\n{doc}\n{stderr}", e.name);
    for h in &hosts {
        let got = host_of(&doc, h);
        assert_eq!(got["status"], "sent", "{}: {h}: {got}", e.name);
        assert_eq!(got["names"].as_array().unwrap().len(), 2, "{h}: {got}");
        assert_eq!(got["pinned"], h.starts_with('c'), "{h}: {got}");
    }
    let tag_of = |doc: &serde_json::Value| -> String {
        let r = doc["images"][0]["reference"].as_str().unwrap().to_string();
        r.rsplit_once('-').unwrap().0.to_string()
    };
    let first_name = tag_of(&doc);
    for h in ["p54", "p58", "d26", "d28"]
        .iter()
        .filter(|h| hosts.contains(h))
    {
        let arch = if ["p54", "d28"].contains(h) {
            "amd64"
        } else {
            "arm64"
        };
        assert_eq!(
            run_on_node(&n, h, &first_name).trim(),
            format!("one from linux/{arch}"),
            "{}: {h}",
            e.name
        );
    }

    // A change: the new code everywhere; containerd nodes get only what
    // they lack (the data layer stays).
    set_greeting(&app.join("main.go"), "two");
    let (ok, doc, stderr) = ship_json(e, &n, &hosts, &[]);
    assert!(ok, "{}: second ship failed:\n{doc}\n{stderr}", e.name);
    remember_images(&doc, &mut made);
    let _guard2 = e.guard(made.clone());
    let second_name = tag_of(&doc);
    assert_ne!(first_name, second_name, "the tag follows the inputs");
    // docker before 25 saves a docker-archive (layers by path, not by
    // digest): sent whole.
    let by_digest = e.kind == "podman" || major(&e.version) >= 25;
    for h in &hosts {
        let got = host_of(&doc, h);
        assert_eq!(got["status"], "sent", "{}: {h}: {got}", e.name);
        if h.starts_with('c') && by_digest {
            assert!(
                got["reused_blobs"].as_u64().unwrap_or(0) >= 1,
                "{}: {h} got the data layer again: {got}",
                e.name
            );
        }
    }
    for h in ["p54", "p58", "d26", "d28"]
        .iter()
        .filter(|h| hosts.contains(h))
    {
        let arch = if ["p54", "d28"].contains(h) {
            "amd64"
        } else {
            "arm64"
        };
        assert_eq!(
            run_on_node(&n, h, &second_name).trim(),
            format!("two from linux/{arch}"),
            "{}: {h}",
            e.name
        );
    }
    // keep_pinned: 1 on c21: the first image is no longer pinned.
    let c21 = n.matrix.iter().find(|m| m.alias == "c21").unwrap();
    let listed = c21.containerd_images(&b);
    let pinned = |name: &str| {
        listed
            .iter()
            .find(|(n, _, _)| n.ends_with(name))
            .map(|(_, _, l)| l.contains("io.cri-containerd.pinned=pinned"))
    };
    assert_eq!(
        pinned(&format!("{first_name}-arm64")),
        Some(false),
        "{listed:?}"
    );
    assert_eq!(
        pinned(&format!("{second_name}-arm64")),
        Some(true),
        "{listed:?}"
    );

    // Nothing changed: nothing sent anywhere.
    let (ok, doc, stderr) = ship_json(e, &n, &hosts, &[]);
    assert!(ok, "{}: third ship failed:\n{doc}\n{stderr}", e.name);
    for h in &hosts {
        let got = host_of(&doc, h);
        assert_eq!(
            got["status"], "skipped",
            "{}: {h} was not skipped: {got}",
            e.name
        );
    }

    // Damaged bytes: caught before the import, the node keeps what it had.
    c21.fault("corrupt");
    let (ok, doc, _) = ship_json(e, &n, &["c21"], &["--force"]);
    c21.fault("");
    assert!(!ok, "{}: a damaged upload was imported: {doc}", e.name);
    let reason = host_of(&doc, "c21")["reason"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(reason.contains("checksum mismatch"), "{}: {reason}", e.name);
    assert_eq!(
        c21.containerd_images(&b).len(),
        listed.len(),
        "the node's images are as they were"
    );
    let ship = format!(
        "tested: {}{}",
        n.hosts
            .iter()
            .map(|(_, k)| *k)
            .collect::<Vec<_>>()
            .join(", "),
        if by_digest {
            ""
        } else {
            " (archives whole: docker < 25 saves no OCI layout)"
        }
    );

    let push = push_and_pull(e, &n, &reg, &second_name);
    let noop = noop(e, &b);
    (one_name, ship, push, noop)
}

fn remember_images(doc: &serde_json::Value, made: &mut Vec<String>) {
    for i in doc["images"].as_array().unwrap() {
        let r = i["reference"].as_str().unwrap().to_string();
        if !made.contains(&r) {
            made.push(r);
        }
    }
}

/// `REPO:TAG` locally: a list/index of both images (run for each platform)
/// where the store holds one; else the note, said once.
fn one_name(e: &Engine, store: &str, doc: &serde_json::Value, stderr: &str) -> String {
    let _ = stderr;
    let reference = doc["images"][0]["reference"].as_str().unwrap();
    let name = reference.rsplit_once('-').unwrap().0;
    let index = &doc["manifest_lists"][0];
    if store.contains("classic") {
        assert_eq!(index["status"], "unsupported", "{}: {doc}", e.name);
        return "not possible: the classic store holds no index (the run says so)".into();
    }
    assert_eq!(index["status"], "made", "{}: {doc}\n{stderr}", e.name);
    for arch in ["amd64", "arm64"] {
        assert_eq!(
            e.run_image(name, arch).trim(),
            format!("one from linux/{arch}"),
            "{}: {name} for {arch}",
            e.name
        );
    }
    "tested".into()
}

/// `push` to a registry, then nodes that `pull_from:` it.
fn push_and_pull(e: &Engine, n: &Nodes, reg: &Registry, name: &str) -> String {
    let b = n.base.path();
    let mut c = e.xtask(b, &b.join("cache"));
    c.args(["push", "--registry", "reg"]).stdin(Stdio::null());
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{}: push failed:\n{stdout}\n{stderr}", e.name);
    let repo_tag = name.split_once('/').map_or(name, |(d, rest)| {
        if d.contains('.') || d == "localhost" {
            rest
        } else {
            name
        }
    });
    let index = reg.raw(repo_tag).replace([' ', '\n'], "");
    for arch in ["amd64", "arm64"] {
        assert!(
            index.contains(&format!("\"architecture\":\"{arch}\"")),
            "{}: the registry's {repo_tag} lacks {arch}: {index}",
            e.name
        );
    }
    // The registry's names are not left in the engine's store.
    let (_, listed, _) = e.try_run(&["images", "--format", "{{.Repository}}"]);
    assert!(
        !listed.contains(&reg.address),
        "{}: push left registry names:\n{listed}",
        e.name
    );
    let (ok, doc, stderr) = ship_json(e, n, &["pull17", "pull58"], &[]);
    assert!(ok, "{}: pull_from failed:\n{doc}\n{stderr}", e.name);
    for h in ["pull17", "pull58"] {
        assert_eq!(host_of(&doc, h)["status"], "pulled", "{}: {doc}", e.name);
    }
    "tested".into()
}

/// The no-op rebuild of one architecture against one `image inspect` of
/// its image, each the median of five, in the same run. Printed; a slow
/// machine fails nothing.
fn noop(e: &Engine, b: &Path) -> String {
    let image = || {
        let mut c = e.xtask(b, &b.join("cache"));
        c.args(["image", "--arch", "amd64", "shipme"]);
        c
    };
    let (ok, stdout, stderr) = run(image());
    assert!(ok && stdout.contains("up to date"), "{stdout}\n{stderr}");
    let reference = stdout.split_whitespace().next().unwrap().to_string();
    let median = |f: &dyn Fn()| {
        let mut v: Vec<f64> = (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v[2]
    };
    let tool = median(&|| {
        let (ok, _, _) = run(image());
        assert!(ok);
    });
    let inspect = median(&|| {
        e.run(&["image", "inspect", &reference]);
    });
    let ratio = tool / inspect;
    eprintln!(
        "matrix: {} {}: no-op {:.0} ms, image inspect {:.0} ms: {ratio:.2} ×",
        e.kind,
        e.version,
        tool * 1000.0,
        inspect * 1000.0
    );
    "tested".into()
}

// --- modern Go ------------------------------------------------------------------

/// A module that says `go 1.24` (or sid's newest line) with a `toolchain`
/// line, using what older Go cannot compile (range over an int, `min`):
/// the version comes from go.mod, the builder image is the one a real
/// Containerfile names (`golang:<version>-bookworm`), both architectures
/// run the new code, and the image ships to a containerd 2.1 node. A Go
/// older than the module asks for is refused at go.mod's line, before any
/// build.
#[test]
fn modern_go_modules_build_and_ship() {
    let only = std::env::var("GOAPP_MATRIX_ONLY").ok();
    let cases = [
        ("podman-trixie", "1.24"),
        ("podman-sid", "1.27"),
        ("docker-sid", "1.24"),
    ];
    std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .filter(|(e, _)| {
                only.as_deref()
                    .is_none_or(|o| o.split(',').any(|w| w == *e))
            })
            .map(|(e, line)| s.spawn(move || modern_go(&matrix::engine(e), line)))
            .collect();
        for h in handles {
            if let Err(e) = h.join() {
                std::panic::resume_unwind(e);
            }
        }
    });
}

fn modern_go(e: &Engine, line: &str) {
    let version = e.go_version(line);
    let base = tempfile::Builder::new()
        .prefix("goapp-mx-go-")
        .tempdir_in("/tmp")
        .unwrap();
    let b = base.path();
    let app = b.join("modern");
    write_files(
        &app,
        &[
            (
                "go.mod",
                &format!("module example.com/modern\n\ngo {line}\n\ntoolchain go{version}\n"),
            ),
            (
                "main.go",
                "package main\n\nimport (\n\t\"fmt\"\n\t\"runtime\"\n)\n\nconst greeting = \"modern\"\n\nfunc main() {\n\tn := 0\n\tfor i := range 3 {\n\t\tn += i\n\t}\n\tfmt.Printf(\"%s %d %d from %s/%s on %s\\n\", greeting, n, min(4, 2), runtime.GOOS, runtime.GOARCH, runtime.Version())\n}\n",
            ),
        ],
    );
    std::fs::copy(
        root().join("example/joke/Containerfile"),
        app.join("Containerfile"),
    )
    .unwrap();
    let node = matrix::Node::start(b, "c21", "sid");
    let repo = format!("goapp-it/{}", unique(&format!("mx-go-{}-", e.name)));
    std::fs::write(
        b.join("goapp.yaml"),
        format!(
            "defaults:\n  ssh_config: ssh_config\napps:\n  modern:\n    context: {}\n    repository: {repo}\n    tag: '1'\n    arch: [amd64, arm64]\nhosts:\n  c21: {{ssh: c21, arch: arm64, import: containerd, tmp_dir: {b}/c21/tmp, connect_timeout: 5}}\n",
            app.display(),
            b = b.display()
        ),
    )
    .unwrap();
    let tool = |args: &[&str]| {
        let mut c = e.xtask(b, &b.join("cache"));
        c.args(args).stdin(Stdio::null());
        run(c)
    };
    // Resolved from go.mod.
    let (ok, stdout, stderr) = tool(&["go-version", "modern"]);
    assert!(
        ok && stdout.contains(&version),
        "{}: {stdout}\n{stderr}",
        e.name
    );
    // Too old for the module: refused at go.mod's line, nothing built.
    let (ok, stdout, stderr) = tool(&["image", "--go-version", "1.19.8", "modern"]);
    assert!(
        !ok,
        "{}: a Go 1.19 build of a go {line} module ran: {stdout}",
        e.name
    );
    assert!(
        stderr.contains("go.mod:3") && !stdout.contains("built"),
        "{}: {stdout}\n{stderr}",
        e.name
    );
    let guard = e.guard(vec![format!("{repo}:1-amd64"), format!("{repo}:1-arm64")]);
    for greeting in ["modern", "newer"] {
        set_greeting(&app.join("main.go"), greeting);
        let (ok, stdout, stderr) = tool(&["ship", "--host", "c21", "modern"]);
        assert!(ok, "{}: {stdout}\n{stderr}", e.name);
        assert!(stdout.contains("c21: sent "), "{}: {stdout}", e.name);
        for (image, arch) in guard.images.iter().zip(["amd64", "arm64"]) {
            let _ = tool(&["image", "--arch", arch, "modern"]);
            assert_eq!(
                e.run_image(image, arch).trim(),
                format!("{greeting} 3 2 from linux/{arch} on go{version}"),
                "{}: {image}",
                e.name
            );
        }
    }
    drop(node);
}
