//! `cargo xtask go-version` against a real git repository whose tags mimic
//! Go's, through real `git ls-remote`, with the cache and offline behaviour.

mod support;
use std::path::Path;
use std::process::Command;
use support::*;

fn tags_repo(dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let dest = dir.join("go.git");
    let status = Command::new(root().join("scripts/make-go-tags-repo.sh"))
        .arg(&dest)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    dest
}

fn app(dir: &Path, gomod: &str) -> std::path::PathBuf {
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("go.mod"), gomod).unwrap();
    app
}

fn go_version_cmd(app: &Path, cache: &Path, repo: &Path) -> Command {
    let mut c = xtask(app, cache);
    c.arg("go-version").env("GOAPP_GO_REPO", repo);
    c
}

#[test]
fn go_1_21_resolves_to_newest_stable_patch() {
    let t = tempfile::tempdir().unwrap();
    let repo = tags_repo(t.path(), &[]);
    let app = app(t.path(), "module x\n\ngo 1.21\n");
    let (ok, stdout, stderr) = run(go_version_cmd(&app, &t.path().join("cache"), &repo));
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "1.21.13\n");
    // `--go-repo` beats the environment, and prereleases only when asked.
    let app2 = self::app(
        &t.path().join("b"),
        "module x\ngo 1.21.3\ntoolchain go1.22rc1\n",
    );
    let mut c = go_version_cmd(&app2, &t.path().join("cache"), Path::new("/nonexistent"));
    c.args(["--go-repo", repo.to_str().unwrap()]);
    let (ok, stdout, stderr) = run(c);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("Go 1.22 has no stable release yet (newest: 1.22rc1): pass --prerelease"),
        "{stderr}"
    );
    let mut c = go_version_cmd(&app2, &t.path().join("cache"), &repo);
    c.arg("--prerelease");
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "1.22rc1\n");
}

#[test]
fn ver_file_and_flag_take_precedence() {
    let t = tempfile::tempdir().unwrap();
    let repo = tags_repo(t.path(), &[]);
    let app = app(t.path(), "module x\n\ngo 1.21\n");
    std::fs::write(app.join("ver"), "1.25.4\n").unwrap();
    let (ok, stdout, _) = run(go_version_cmd(&app, &t.path().join("cache"), &repo));
    assert!(ok);
    assert_eq!(stdout, "1.25.4\n");
    let mut c = go_version_cmd(&app, &t.path().join("cache"), &repo);
    c.args(["--go-version", "1.21"]);
    let (ok, stdout, _) = run(c);
    assert!(ok);
    assert_eq!(stdout, "1.21.13\n");
    // Older than the module needs: refused before anything, at go.mod's line.
    let mut c = go_version_cmd(&app, &t.path().join("cache"), &repo);
    c.args(["--go-version", "1.20"]);
    let (ok, _, stderr) = run(c);
    assert!(!ok);
    assert!(
        stderr.contains(&format!(
            "{}:3: the module needs Go 1.21 or newer (`go 1.21`), but --go-version asks for Go 1.20.14, which cannot build it",
            app.join("go.mod").display()
        )),
        "{stderr}"
    );
    std::fs::write(app.join("ver"), "1.19.8\n").unwrap();
    let (ok, _, stderr) = run(go_version_cmd(&app, &t.path().join("cache"), &repo));
    assert!(!ok && stderr.contains("but the `ver` file"), "{stderr}");
}

#[test]
fn cached_answers_need_no_network_and_offline_uses_stale_cache() {
    let t = tempfile::tempdir().unwrap();
    let repo = tags_repo(t.path(), &[]);
    let cache = t.path().join("cache");
    let app = app(t.path(), "module x\n\ngo 1.21\n");
    let (ok, stdout, _) = run(go_version_cmd(&app, &cache, &repo));
    assert!(ok && stdout == "1.21.13\n");
    // The repository disappears: a fresh cache answers without asking.
    std::fs::rename(&repo, t.path().join("moved.git")).unwrap();
    let (ok, stdout, stderr) = run(go_version_cmd(&app, &cache, &repo));
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "1.21.13\n");
    assert!(!stderr.contains("warning"), "{stderr}");
    // Expired and unreachable: the stale answer, with a warning.
    let mut c = go_version_cmd(&app, &cache, &repo);
    c.env("GOAPP_GO_CACHE_TTL", "0");
    let (ok, stdout, stderr) = run(c);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "1.21.13\n");
    assert!(
        stderr.contains("warning: could not reach") && stderr.contains("using Go tags cached"),
        "{stderr}"
    );
    // Nothing cached and unreachable: say exactly what to do.
    let (ok, _, stderr) = run(go_version_cmd(&app, &t.path().join("empty-cache"), &repo));
    assert!(!ok);
    assert!(
        stderr.contains("cannot list Go releases from")
            && stderr.contains("pass --go-version X.Y.Z"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_new_patch_is_seen_once_the_cache_expires() {
    let t = tempfile::tempdir().unwrap();
    let repo = tags_repo(t.path(), &[]);
    let cache = t.path().join("cache");
    let app = app(t.path(), "module x\n\ngo 1.21\n");
    assert_eq!(run(go_version_cmd(&app, &cache, &repo)).1, "1.21.13\n");
    let status = Command::new("git")
        .args([
            "--git-dir",
            repo.to_str().unwrap(),
            "tag",
            "go1.21.14",
            "go1.21.13",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(
        run(go_version_cmd(&app, &cache, &repo)).1,
        "1.21.13\n",
        "a fresh cache is trusted"
    );
    let mut c = go_version_cmd(&app, &cache, &repo);
    c.env("GOAPP_GO_CACHE_TTL", "0");
    assert_eq!(run(c).1, "1.21.14\n");
}

/// A cache that does not prove itself (truncated) is never answered from:
/// online it is fetched again, offline the error names it and the fix.
#[test]
fn a_truncated_cache_is_refetched_or_refused() {
    let t = tempfile::tempdir().unwrap();
    let repo = tags_repo(t.path(), &[]);
    let cache = t.path().join("cache");
    let app = app(t.path(), "module x\n\ngo 1.21\n");
    assert_eq!(run(go_version_cmd(&app, &cache, &repo)).1, "1.21.13\n");
    let dir = cache.join("go-tags");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(&file).unwrap();
    // Cut right after an older patch: it would answer 1.21.5 for a day.
    let cut = text.find("1.21.5\n").unwrap() + "1.21.5\n".len();
    std::fs::write(&file, &text[..cut]).unwrap();
    let (ok, stdout, stderr) = run(go_version_cmd(&app, &cache, &repo));
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "1.21.13\n", "fetched again");
    std::fs::write(&file, &text[..cut]).unwrap();
    std::fs::rename(&repo, t.path().join("gone.git")).unwrap();
    let (ok, _, stderr) = run(go_version_cmd(&app, &cache, &repo));
    assert!(!ok);
    assert!(stderr.contains(&format!("the cached list {} is not usable (it is truncated or from an older version): delete it", file.display())), "{stderr}");
}
