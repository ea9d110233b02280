//! Naming an app's images: the tag template (`--tag`, else the config's)
//! rendered from the facts it names — the commit and whether the context
//! has changes (`{git}`), the hash of the app's sources (`{inputs}`) — and
//! the build args (`--build-arg` over the config's), checked as the config
//! checks them.

use crate::build::inputs::EngineView;
use crate::config::check::check_build_arg;
use crate::config::App;
use crate::containerfile::ignore::IgnoreRules;
use crate::core::names::{ImageRef, ImageTemplate, TagFacts, TagTemplate};
use crate::engine::caps::IgnoreFiles;
use crate::go::version::GoVersion;
use crate::process::command::Cmd;
use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// An app's image name as written: `--tag`, else the config's repository and tag.
pub(crate) fn template(tag: Option<&ImageTemplate>, app: &App) -> Result<ImageTemplate> {
    match (tag, &app.tag) {
        (Some(t), _) => Ok(t.clone()),
        (None, Some(tag)) => ImageTemplate::from_parts(&app.repository, tag.clone())
            .with_context(|| format!("the `tag:` of app '{}'", app.name)),
        (None, None) => bail!("no tag for app '{}': pass --tag REPO:TAG (e.g. --tag {}:0.0.3) or set `tag:` for it in the config", app.name, app.repository),
    }
}

/// The config's build args with `--build-arg`s over them; every one checked.
pub(crate) fn build_args(
    app: &App,
    cli: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    for (k, v) in cli {
        if let Some((_, why)) = check_build_arg(k, v) {
            bail!("--build-arg {k}: {why}");
        }
    }
    let mut all = app.build_args.clone();
    all.extend(cli.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(all)
}

/// The commit of the repository holding `dir`, and whether anything under
/// `dir` differs from it (changed, staged or untracked files).
pub(crate) fn git_facts(dir: &Path) -> Result<(String, bool)> {
    let limit = Some(Duration::from_secs(30));
    let git = |args: &[&str]| {
        Cmd::new("git")
            .arg("-C")
            .arg(dir.display().to_string())
            .args(args.iter().copied())
    };
    let head = git(&["rev-parse", "--verify", "HEAD"]).run_timeout(limit).map_err(|e| {
        anyhow::anyhow!("the tag uses {{git}}, but {} has no commit to name ({}): commit first, or drop {{git}} from the tag", dir.display(), e.last_line().unwrap_or("not a git repository"))
    })?;
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let status = git(&[
        "status",
        "--porcelain",
        "--untracked-files=normal",
        "--",
        ".",
    ])
    .run_timeout(limit)
    .context("asking git whether the app's sources have changes (for {git} in the tag)")?;
    Ok((commit, !status.stdout.is_empty()))
}

/// The hash of what the user controls about an app's image, the same for
/// every architecture (and engine, unless they read different ignore
/// files): the context as the engine's `COPY` sees it, the Containerfile as
/// written, the Go version and every build argument.
pub(crate) fn sources_hash(
    app: &App,
    containerfile: &Path,
    go: &GoVersion,
    args: &BTreeMap<String, String>,
    cache_dir: Option<&Path>,
    files: IgnoreFiles,
) -> Result<String> {
    let text = crate::core::fs::read_bytes(containerfile, "the Containerfile")?;
    let (rules, _) = IgnoreRules::for_build(&app.context, containerfile, files)?;
    let view = EngineView {
        rules,
        bind_host_dir: false,
    };
    let d = crate::build::inputs::digest_context(&app.context, &text, &[], cache_dir, &view)?;
    let mut h = Sha256::new();
    h.update(d.inputs.as_bytes());
    let facts = [
        format!("TAG_GOVER={go}"),
        format!("MAIN_PKG_PATH={}", app.main_package),
    ];
    let args = args.iter().map(|(k, v)| format!("{k}={v}"));
    for f in facts.into_iter().chain(args) {
        h.update([0]);
        h.update(f.as_bytes());
    }
    Ok(crate::core::hex(&h.finalize()))
}

/// Renders `t` with the facts it names; `inputs` computes the sources hash
/// (only called when the tag uses it).
pub(crate) fn render(
    t: &ImageTemplate,
    app: &App,
    inputs: impl FnOnce() -> Result<String>,
) -> Result<ImageRef> {
    let tag: &TagTemplate = &t.tag;
    let facts = TagFacts {
        git: tag
            .uses_git()
            .then(|| git_facts(&app.context))
            .transpose()?,
        inputs: tag.uses_inputs().then(inputs).transpose()?,
    };
    t.render(&facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(dir: &Path) -> App {
        crate::config::adhoc_app(dir, &Default::default())
    }

    fn git(dir: &Path, args: &[&str]) {
        let out = Cmd::new("git")
            .arg("-C")
            .arg(dir.display().to_string())
            .args(args.iter().copied())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .run();
        assert!(out.is_ok(), "{out:?}");
    }

    #[test]
    fn git_tags_follow_commits_and_changes() {
        let d = tempfile::tempdir().unwrap();
        let svc = d.path().join("svc");
        std::fs::create_dir(&svc).unwrap();
        std::fs::write(svc.join("main.go"), "package main\n").unwrap();
        let t: ImageTemplate = "joke:1-{git:8}".parse().unwrap();
        let err = render(&t, &app(&svc), || unreachable!()).unwrap_err();
        assert!(err.to_string().contains("has no commit to name"), "{err}");
        git(d.path(), &["init", "-q"]);
        git(d.path(), &["add", "."]);
        git(d.path(), &["commit", "-qm", "one"]);
        let (commit, dirty) = git_facts(&svc).unwrap();
        assert!(!dirty);
        let clean = render(&t, &app(&svc), || unreachable!()).unwrap();
        assert_eq!(clean.tag(), format!("1-{}", &commit[..8]));
        // A change outside the app's context does not make it dirty.
        std::fs::write(d.path().join("README"), "x").unwrap();
        assert!(!git_facts(&svc).unwrap().1);
        std::fs::write(svc.join("main.go"), "package main // changed\n").unwrap();
        let changed = render(&t, &app(&svc), || unreachable!()).unwrap();
        assert_eq!(changed.tag(), format!("1-{}-dirty", &commit[..8]));
        std::fs::write(svc.join("new.go"), "package main\n").unwrap();
        git(d.path(), &["checkout", "-q", "--", "."]);
        assert!(git_facts(&svc).unwrap().1, "an untracked file is a change");
    }

    #[test]
    fn build_args_from_the_command_line_win_and_are_checked() {
        let d = tempfile::tempdir().unwrap();
        let mut a = app(d.path());
        a.build_args.insert("A".into(), "config".into());
        a.build_args.insert("B".into(), "config".into());
        let cli: BTreeMap<String, String> = [("B".to_string(), "cli".to_string())].into();
        let all = build_args(&a, &cli).unwrap();
        assert_eq!(all["A"], "config");
        assert_eq!(all["B"], "cli");
        let bad: BTreeMap<String, String> = [("TARGETARCH".to_string(), "x".to_string())].into();
        assert_eq!(
            build_args(&a, &bad).unwrap_err().to_string(),
            "--build-arg TARGETARCH: build arg TARGETARCH is set by goapp-build: the engine sets it from --arch"
        );
        let proxy: BTreeMap<String, String> =
            [("HTTP_PROXY".to_string(), "http://u:p@x".to_string())].into();
        assert!(build_args(&a, &proxy).is_err());
    }

    #[test]
    fn the_sources_hash_follows_sources_and_args_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("Containerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.path().join("main.go"), "package main\n").unwrap();
        let a = app(d.path());
        let go = GoVersion::parse("1.25.4").unwrap();
        let cf = d.path().join("Containerfile");
        let none = BTreeMap::new();
        let h = |args: &BTreeMap<String, String>| {
            sources_hash(&a, &cf, &go, args, None, IgnoreFiles::BuildKit).unwrap()
        };
        let first = h(&none);
        assert_eq!(first, h(&none));
        let with: BTreeMap<String, String> = [("X".to_string(), "1".to_string())].into();
        assert_ne!(first, h(&with));
        std::fs::write(d.path().join("main.go"), "package main // 2\n").unwrap();
        assert_ne!(first, h(&none));
    }
}
