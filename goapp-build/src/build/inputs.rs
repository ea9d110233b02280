//! The content hash of everything that decides an image: the build context
//! as the engine sees it (ignore file honoured), the Containerfile, the build
//! arguments (Go version included), platform and engine. Recorded as a label
//! on the image, so "is it up to date?" is one `image inspect`, and no
//! engine call at all is made to rebuild what has not changed.

use crate::containerfile::ignore::IgnoreRules;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The image label holding the inputs hash.
pub(crate) const LABEL: &str = "dev.goapp.inputs";

/// Remembered file digests, keyed by path and stat facts, so that a warm run
/// reads no file contents: it walks the tree and compares `stat`s.
#[derive(Debug, Default)]
pub(crate) struct StatCache {
    file: Option<PathBuf>,
    /// When the loaded cache was written (ns since the epoch).
    written: u128,
    entries: HashMap<String, (String, String)>,
    fresh: HashMap<String, (String, String)>,
    /// Files whose content changed while size and mtime stayed.
    kept: Vec<PathBuf>,
    /// Files this walk read because the cache could not vouch for them.
    read: usize,
}

impl StatCache {
    /// A cache for `context`, kept under `dir` (no file: nothing is kept).
    pub(crate) fn load(dir: Option<&Path>, context: &Path) -> StatCache {
        let Some(dir) = dir else {
            return StatCache::default();
        };
        let key = hex(&Sha256::digest(context.as_os_str().as_encoded_bytes()));
        let file = dir.join("contexts").join(format!("{}.tsv", &key[..16]));
        let mut c = StatCache {
            file: Some(file.clone()),
            ..StatCache::default()
        };
        if let Ok(Some(text)) = crate::core::fs::read_text_if_exists(&file, "the stat cache") {
            // The file proves itself: a truncated or edited one (a digest
            // cut short would key a wrong inputs hash) is read again.
            match crate::core::fs::unseal(&text) {
                Ok(body) => c.read_entries(body),
                Err(why) => crate::core::ui::detail(&format!(
                    "{} is not used ({why}): the context is read again",
                    file.display()
                )),
            }
        }
        c
    }

    /// The entries of a sealed file's body: `written <ns>`, then
    /// `path\tstat\tdigest` lines with a whole sha256 digest.
    fn read_entries(&mut self, body: &str) {
        let mut lines = body.lines();
        self.written = lines
            .next()
            .and_then(|l| l.strip_prefix("written "))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for l in lines {
            let mut f = l.rsplitn(3, '\t');
            if let (Some(digest), Some(stat), Some(path)) = (f.next(), f.next(), f.next()) {
                // As written: lowercase hex (an uppercase one would key
                // another inputs hash).
                if digest.len() == 64
                    && digest
                        .bytes()
                        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    self.entries
                        .insert(path.to_string(), (stat.to_string(), digest.to_string()));
                }
            }
        }
    }

    /// Notes a file whose content changed while its size and mtime stayed
    /// (an in-place rewrite, `touch -r`): see [`ContextDigests::kept_stat`].
    fn stat_kept(&mut self, rel: &str, stat: &str, digest: &str, path: &Path) {
        let Some((old_stat, old_digest)) = self.entries.get(rel) else {
            return;
        };
        fn size_mtime(s: &str) -> Vec<&str> {
            s.split(' ').take(2).collect()
        }
        if old_digest != digest && size_mtime(old_stat) == size_mtime(stat) {
            self.kept.push(path.to_path_buf());
        }
    }

    fn lookup(&self, rel: &str, stat: &str, changed_ns: u128) -> Option<String> {
        // A file changed within the same clock tick as the cache write could
        // keep its stat: such entries are never trusted (git's "racy" rule).
        if changed_ns + 2_000_000_000 >= self.written {
            return None;
        }
        self.entries
            .get(rel)
            .filter(|(s, _)| s == stat)
            .map(|(_, d)| d.clone())
    }

    /// Saves what this walk saw (atomically; a failure only costs speed).
    /// A walk the cache vouched for entirely changes nothing: the file stays
    /// as it is (no write, no fsync on a no-op), and its time still says
    /// every entry is older than it.
    pub(crate) fn save(&self) {
        let Some(file) = &self.file else { return };
        if self.read == 0 && self.fresh == self.entries {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut text = format!("written {now}\n");
        for (path, (stat, digest)) in &self.fresh {
            text.push_str(&format!("{path}\t{stat}\t{digest}\n"));
        }
        let _ = crate::core::fs::write_atomic(file, crate::core::fs::seal(&text).as_bytes());
    }
}

fn hash_entry(h: &mut Sha256, rel: &str, record: &[u8]) {
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(record);
    h.update([0]);
}

/// How the engine shows the context to a build.
#[derive(Clone, Debug, Default)]
pub(crate) struct EngineView {
    /// What `COPY` sees: the rules of the ignore file the engine reads.
    pub rules: IgnoreRules,
    /// A bind mount shows the host directory itself: ignored files too, and
    /// a symlinked `source=` resolved by the host (see
    /// [`crate::engine::caps::Capabilities::bind_host_dir`]).
    pub bind_host_dir: bool,
}

/// What the walk hands on for each entry: its path, its record (type,
/// mode, length, digest) and whether the ignore rules exclude it.
type Sink<'s> = dyn FnMut(&str, &[u8], bool) + 's;

/// One walk of a tree, in sorted order. Excluded entries are skipped unless
/// a `raw` path (a bind source that shows them) is at, above or under them.
struct Walker<'a> {
    rules: &'a IgnoreRules,
    raw: &'a [String],
    buf: Vec<u8>,
    cache: &'a mut StatCache,
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, rel: &str, sink: &mut Sink) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("reading {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let path_rel = if rel.is_empty() {
                name.to_string_lossy().to_string()
            } else {
                format!("{rel}/{}", name.to_string_lossy())
            };
            let meta = e
                .metadata()
                .with_context(|| format!("reading {}", e.path().display()))?;
            let excluded = self.rules.excluded(&path_rel);
            let needed = self
                .raw
                .iter()
                .any(|p| under(&path_rel, p).is_some() || under(p, &path_rel).is_some());
            // An excluded directory can only contribute if a `!` pattern re-includes inside it.
            let descend = meta.is_dir() && self.rules.has_negations();
            if excluded && !needed && !descend {
                continue;
            }
            self.visit(&e.path(), &meta, &path_rel, excluded, sink)?;
        }
        Ok(())
    }

    /// Records one entry, then what is under it.
    fn visit(
        &mut self,
        path: &Path,
        meta: &std::fs::Metadata,
        rel: &str,
        excluded: bool,
        sink: &mut Sink,
    ) -> Result<()> {
        let record = self.record(path, meta, rel)?;
        sink(rel, &record, excluded);
        if meta.is_dir() {
            self.walk(path, rel, sink)?;
        }
        Ok(())
    }

    /// What `COPY` reproduces of an entry: its type and mode bits, a
    /// symlink's target, a file's length and content digest (from the stat
    /// cache when the file's stat, ctime included, is unchanged).
    fn record(&mut self, path: &Path, meta: &std::fs::Metadata, rel: &str) -> Result<Vec<u8>> {
        let ty = meta.file_type();
        let mut r = Vec::new();
        if ty.is_symlink() {
            let target = std::fs::read_link(path)?;
            r.push(b'L');
            r.extend_from_slice(target.to_string_lossy().as_bytes());
            return Ok(r);
        }
        r.push(match () {
            _ if ty.is_dir() => b'D',
            _ if ty.is_file() => b'F',
            _ => b'O',
        });
        r.extend_from_slice(&meta.mode().to_le_bytes());
        if !ty.is_file() {
            return Ok(r);
        }
        r.extend_from_slice(&meta.len().to_le_bytes());
        let ns = |s: i64, n: i64| (s as i128 * 1_000_000_000 + n as i128).max(0) as u128;
        let mtime_ns = ns(meta.mtime(), meta.mtime_nsec());
        let ctime_ns = ns(meta.ctime(), meta.ctime_nsec());
        let stat = format!(
            "{} {mtime_ns} {} {} {ctime_ns}",
            meta.len(),
            meta.ino(),
            meta.mode()
        );
        let digest = match self.cache.lookup(rel, &stat, mtime_ns.max(ctime_ns)) {
            Some(d) => d,
            None => {
                let d = file_digest(path, &mut self.buf)?;
                self.cache.read += 1;
                self.cache.stat_kept(rel, &stat, &d, path);
                d
            }
        };
        r.extend_from_slice(digest.as_bytes());
        self.cache.fresh.insert(rel.to_string(), (stat, digest));
        Ok(r)
    }
}

/// What one walk of a build context gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContextDigests {
    /// The hash of the Containerfile text and the whole context.
    pub inputs: String,
    /// `sha256:<hex>` of each requested path under the context (what a
    /// `RUN --mount=type=bind,source=<path>` shows), by path as written;
    /// `""` is all of it.
    pub parts: BTreeMap<String, String>,
    /// Files whose content changed since the last walk while their size
    /// and mtime stayed: docker's context transfer (BuildKit's fsutil)
    /// compares only those and would build with the old content (measured
    /// on docker 20.10), so a docker build touches them first
    /// ([`crate::build::run::touch_kept`]).
    pub kept_stat: Vec<PathBuf>,
}

/// Where a bind mount's `source=` lands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Located {
    /// A path under the context (`""`: the context).
    Inside(String),
    /// Out of the context, through a symlink the host follows.
    Outside(PathBuf),
}

/// One bind source to digest.
struct Part {
    written: String,
    at: Located,
    /// Digested without the ignore rules (the engine shows every file).
    raw: bool,
}

/// Hashes the Containerfile `text` and the context (as `view` says the
/// engine shows it; stat cache in `cache_dir`) in one walk, with a digest
/// of each bind source in `parts` (`""`: the whole context) on the way.
/// A source that names an excluded path, or any source on an engine whose
/// binds show the host directory, is digested with every file.
pub(crate) fn digest_context(
    context: &Path,
    text: &[u8],
    parts: &[String],
    cache_dir: Option<&Path>,
    view: &EngineView,
) -> Result<ContextDigests> {
    let rules = &view.rules;
    let mut cache = StatCache::load(cache_dir, context);
    let mut whole = Sha256::new();
    whole.update(b"goapp-inputs-v2\0");
    whole.update((text.len() as u64).to_le_bytes());
    whole.update(text);
    let parts = bind_parts(context, parts, view);
    let raw = raw_inside(&parts);
    let mut subs: Vec<Sha256> = parts.iter().map(|_| Sha256::new()).collect();
    let mut walker = Walker {
        rules,
        raw: &raw,
        buf: vec![0u8; 256 * 1024],
        cache: &mut cache,
    };
    walker.walk(context, "", &mut |rel, record, excluded| {
        if !excluded {
            hash_entry(&mut whole, rel, record);
        }
        hash_into_parts(&parts, &mut subs, rel, record, excluded);
    })?;
    for (p, h) in parts.iter().zip(subs.iter_mut()) {
        if let Located::Outside(path) = &p.at {
            walker.outside(path, h)?;
        }
    }
    cache.save();
    let out = parts
        .iter()
        .zip(subs)
        .map(|(p, h)| (p.written.clone(), format!("sha256:{}", hex(&h.finalize()))))
        .collect();
    Ok(ContextDigests {
        inputs: hex(&whole.finalize()),
        parts: out,
        kept_stat: std::mem::take(&mut cache.kept),
    })
}

/// Where each bind source in `written` lands, and whether it is digested
/// with every file: always where binds show the host directory, else when
/// it names a path the ignore rules exclude.
fn bind_parts(context: &Path, written: &[String], view: &EngineView) -> Vec<Part> {
    written
        .iter()
        .map(|p| {
            let at = locate(context, p, view.bind_host_dir);
            let raw = view.bind_host_dir
                || matches!(&at, Located::Inside(r) if !r.is_empty() && view.rules.excluded(r));
            Part {
                written: p.clone(),
                at,
                raw,
            }
        })
        .collect()
}

/// The context paths the walk must enter despite the ignore rules: those
/// of the raw parts inside the context.
fn raw_inside(parts: &[Part]) -> Vec<String> {
    parts
        .iter()
        .filter(|p| p.raw)
        .filter_map(|p| match &p.at {
            Located::Inside(r) => Some(r.clone()),
            Located::Outside(_) => None,
        })
        .collect()
}

/// Adds one entry of the walk (at `rel` in the context) to the digest of
/// each part inside the context that holds it; an excluded entry only to
/// the raw ones.
fn hash_into_parts(parts: &[Part], subs: &mut [Sha256], rel: &str, record: &[u8], excluded: bool) {
    for (p, h) in parts.iter().zip(subs.iter_mut()) {
        match &p.at {
            Located::Inside(at) if p.raw || !excluded => {
                if let Some(inner) = under(rel, at) {
                    hash_entry(h, inner, record);
                }
            }
            _ => {}
        }
    }
}

impl Walker<'_> {
    /// Digests a bind source out of the context, with every file.
    fn outside(&mut self, path: &Path, h: &mut Sha256) -> Result<()> {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return Ok(());
        };
        let none = IgnoreRules::default();
        let mut w = Walker {
            rules: &none,
            raw: &[],
            buf: std::mem::take(&mut self.buf),
            cache: self.cache,
        };
        let top = path.to_string_lossy().to_string();
        w.visit(path, &meta, &top, false, &mut |rel, record, _| {
            hash_entry(h, under(rel, &top).unwrap_or(rel), record)
        })?;
        self.buf = w.buf;
        Ok(())
    }
}

/// Where the bind source `sub` lands. buildah bind-mounts
/// `<context>/<sub>` from the host, whose kernel follows every symlink
/// (even out of the context); BuildKit resolves symlinks inside the context.
fn locate(context: &Path, sub: &str, host: bool) -> Located {
    let lexical = clean(sub);
    if !host {
        return Located::Inside(resolve_inside(context, &lexical));
    }
    let real = std::fs::canonicalize(context.join(&lexical));
    let root = std::fs::canonicalize(context);
    match (real, root) {
        (Ok(real), Ok(root)) => match real.strip_prefix(&root) {
            Ok(rel) => Located::Inside(rel.to_string_lossy().to_string()),
            Err(_) => Located::Outside(real),
        },
        _ => Located::Inside(lexical),
    }
}

/// `sub` as a plain relative path: `.` and empty segments dropped, `..`
/// resolved without leaving the root (as the engines clean `source=`).
fn clean(sub: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in sub.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

/// `sub` with its symlinks followed, every one resolved inside `root` (an
/// absolute target starts again at the root, `..` stops there), as
/// BuildKit resolves a mount source in the context it was sent.
fn resolve_inside(root: &Path, sub: &str) -> String {
    let mut done: Vec<String> = Vec::new();
    let mut todo: std::collections::VecDeque<String> = sub
        .split('/')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let mut hops = 0;
    while let Some(seg) = todo.pop_front() {
        if seg == "." {
            continue;
        }
        if seg == ".." {
            done.pop();
            continue;
        }
        let here = root.join(done.join("/")).join(&seg);
        let link = std::fs::symlink_metadata(&here)
            .ok()
            .filter(|m| m.file_type().is_symlink())
            .and_then(|_| std::fs::read_link(&here).ok());
        match link {
            Some(target) if hops < 40 => {
                hops += 1;
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    done.clear();
                }
                for s in target.split('/').rev().filter(|s| !s.is_empty()) {
                    todo.push_front(s.to_string());
                }
            }
            _ => done.push(seg),
        }
    }
    done.join("/")
}

/// `rel` relative to `prefix` when it is at or under it (`""` is everything).
fn under<'a>(rel: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(rel);
    }
    match rel.strip_prefix(prefix) {
        Some("") => Some(""),
        Some(rest) => rest.strip_prefix('/'),
        None => None,
    }
}

fn file_digest(path: &Path, buf: &mut [u8]) -> Result<String> {
    let mut f = crate::core::fs::open_regular(path, "the context file")?;
    let mut h = Sha256::new();
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// The hash of one architecture's build: context, Containerfile, and the
/// `facts` (build args, platform, engine) in order. Secrets are named by id
/// only; their contents never enter the hash, so never a label. (Builds
/// hash through `shimfile::digest_with_keys`; the tests pin this one.)
/// `inputs` joined with the ids of the images the build starts from
/// (`(name, id)`, `None` when not in the store). Without any id, `inputs`.
pub(crate) fn with_bases<'a>(
    inputs: &str,
    bases: impl Iterator<Item = (&'a str, Option<&'a str>)>,
) -> String {
    let mut h = Sha256::new();
    h.update(inputs.as_bytes());
    let mut any = false;
    for (name, id) in bases {
        if let Some(id) = id {
            any = true;
            h.update([0]);
            h.update(name.as_bytes());
            h.update(b"@");
            h.update(id.as_bytes());
        }
    }
    if any {
        hex(&h.finalize())
    } else {
        inputs.to_string()
    }
}

#[cfg(test)]
pub(crate) fn inputs_hash(
    context: &Path,
    containerfile: &Path,
    facts: &[String],
    cache_dir: Option<&Path>,
) -> Result<String> {
    let cf = crate::core::fs::read_bytes(containerfile, "the Containerfile")?;
    let (rules, _) = IgnoreRules::for_build(
        context,
        containerfile,
        crate::engine::caps::IgnoreFiles::Buildah,
    )?;
    let view = EngineView {
        rules,
        bind_host_dir: false,
    };
    let d = digest_context(context, &cf, &[], cache_dir, &view)?;
    if facts.is_empty() {
        return Ok(d.inputs);
    }
    let mut h = Sha256::new();
    h.update(d.inputs.as_bytes());
    for f in facts {
        h.update([0]);
        h.update(f.as_bytes());
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of a digest (sha2 0.11 has no `{:x}`).
pub(crate) use crate::core::hex;

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `text` to `root/path`, making its directories.
    fn write(root: &Path, path: &str, text: &str) {
        let f = root.join(path);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    }

    /// The view of podman (`host`: binds show the host directory) or docker.
    fn view_of(context: &Path, host: bool) -> EngineView {
        let files = if host {
            crate::engine::caps::IgnoreFiles::Buildah
        } else {
            crate::engine::caps::IgnoreFiles::BuildKit
        };
        let cf = context.join("Containerfile");
        let (rules, _) = IgnoreRules::for_build(context, &cf, files).unwrap();
        EngineView {
            rules,
            bind_host_dir: host,
        }
    }

    fn old(path: &Path) -> std::time::SystemTime {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(t)
            .unwrap();
        t
    }

    #[test]
    fn base_ids_join_the_inputs() {
        let none = with_bases("abc", [("golang:1", None)].into_iter());
        assert_eq!(none, "abc", "nothing local: the inputs alone");
        let one = with_bases("abc", [("golang:1", Some("sha256:1"))].into_iter());
        let other = with_bases("abc", [("golang:1", Some("sha256:2"))].into_iter());
        assert_ne!(one, "abc");
        assert_ne!(one, other, "a rebuilt base is another input");
        assert_eq!(one.len(), 64);
    }

    #[test]
    fn an_edit_that_keeps_size_mtime_and_inode_is_seen_by_its_ctime() {
        let d = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        let src = d.path().join("main.go");
        std::fs::write(&src, "package main\n").unwrap();
        let then = old(&src);
        let hash = || inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap();
        let before = hash();
        assert_eq!(hash(), before, "warm, from the cache");
        // In place (same inode), same length, then the mtime put back (`touch -r`).
        let mut f = std::fs::File::options().write(true).open(&src).unwrap();
        std::io::Write::write_all(&mut f, b"package xxxx\n").unwrap();
        f.set_modified(then).unwrap();
        drop(f);
        let view = EngineView::default();
        let seen = digest_context(d.path(), b"", &[], Some(cache.path()), &view).unwrap();
        assert_eq!(
            seen.kept_stat,
            std::slice::from_ref(&src),
            "reported, not touched"
        );
        assert_eq!(std::fs::metadata(&src).unwrap().modified().unwrap(), then);
        assert_ne!(hash(), before);
        crate::build::run::touch_kept(&seen.kept_stat);
        let now = std::fs::metadata(&src).unwrap().modified().unwrap();
        assert!(now > then, "touched, for docker's context transfer");
    }

    #[test]
    fn modes_and_empty_directories_are_inputs() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        let f = d.path().join("run.sh");
        std::fs::write(&f, "echo\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let hash = || inputs_hash(d.path(), &cf, &[], None).unwrap();
        let mut seen = vec![hash()];
        let mut changed = |what: &str| {
            let h = hash();
            assert!(!seen.contains(&h), "{what} did not change the hash");
            seen.push(h);
        };
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        changed("chmod 600");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        changed("chmod 755");
        let empty = d.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        changed("mkdir of an empty directory");
        std::fs::set_permissions(&empty, std::fs::Permissions::from_mode(0o700)).unwrap();
        changed("chmod of a directory");
        std::os::unix::fs::symlink("run.sh", d.path().join("link")).unwrap();
        changed("a symlink");
    }

    #[test]
    fn a_symlinked_source_is_digested_where_it_leads() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| write(d.path(), p, t);
        w("services/app/main.go", "package main\n");
        std::os::unix::fs::symlink("services/app", d.path().join("app")).unwrap();
        std::os::unix::fs::symlink("/services/app", d.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../x/y", d.path().join("escape")).unwrap();
        let parts = vec!["app".to_string(), "./abs/".to_string()];
        for host in [true, false] {
            let view = view_of(d.path(), host);
            let digest = || digest_context(d.path(), b"", &parts, None, &view).unwrap();
            let a = digest();
            w("services/app/main.go", &format!("package main // {host}\n"));
            let b = digest();
            assert_ne!(a.parts["app"], b.parts["app"], "host={host}");
            if !host {
                // BuildKit resolves an absolute link inside the context.
                assert_ne!(a.parts["./abs/"], b.parts["./abs/"]);
                assert_eq!(b.parts["./abs/"], b.parts["app"]);
            }
        }
        assert_eq!(
            resolve_inside(d.path(), "escape/z"),
            "x/y/z",
            "`..` stops at the root"
        );
        assert_eq!(clean("./a/../../b/"), "b");
    }

    #[test]
    fn binds_that_show_ignored_files_are_digested_with_them() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| write(d.path(), p, t);
        w(".containerignore", "**/*~\n");
        w(".dockerignore", "**/*~\n");
        w("static/index.html~", "v1");
        w("static/home.html", "home");
        let parts = vec![String::new(), "static".to_string()];
        for host in [true, false] {
            let view = view_of(d.path(), host);
            let digest = || digest_context(d.path(), b"", &parts, None, &view).unwrap();
            let a = digest();
            w("static/index.html~", &format!("v2 {host}"));
            let b = digest();
            assert_eq!(a.inputs, b.inputs, "COPY does not see it (host={host})");
            for p in &parts {
                assert_eq!(a.parts[p] != b.parts[p], host, "{p:?}, host={host}");
            }
        }
    }

    #[test]
    fn ignored_files_do_not_change_the_hash_and_others_do() {
        let d = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        std::fs::write(d.path().join(".containerignore"), "*.log\n").unwrap();
        std::fs::write(d.path().join("main.go"), "package main\n").unwrap();
        let facts = vec!["TAG_GOVER=1.21.13".to_string()];
        let a = inputs_hash(d.path(), &cf, &facts, None).unwrap();
        std::fs::write(d.path().join("x.log"), "noise").unwrap();
        assert_eq!(a, inputs_hash(d.path(), &cf, &facts, None).unwrap());
        std::fs::write(d.path().join("main.go"), "package main // changed\n").unwrap();
        let b = inputs_hash(d.path(), &cf, &facts, None).unwrap();
        assert_ne!(a, b);
        assert_ne!(
            b,
            inputs_hash(d.path(), &cf, &["TAG_GOVER=1.21.14".to_string()], None).unwrap()
        );
        assert_eq!(b.len(), 64);
    }

    #[test]
    fn the_stat_cache_gives_the_same_answer_and_notices_changes() {
        let d = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let cf = d.path().join("Containerfile");
        std::fs::write(&cf, "FROM scratch\n").unwrap();
        let src = d.path().join("main.go");
        std::fs::write(&src, "package main\n").unwrap();
        // Old enough to be trusted from the cache.
        let then = old(&src);
        let cold = inputs_hash(d.path(), &cf, &[], None).unwrap();
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold,
            "warm, from the cache"
        );
        // Same size, same mtime, different bytes: caught because the inode changes with a rename.
        let tmp = d.path().join("x");
        std::fs::write(&tmp, "package xxxx\n").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&tmp)
            .unwrap()
            .set_modified(then)
            .unwrap();
        std::fs::rename(&tmp, &src).unwrap();
        assert_ne!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
        // A fresh edit (racy mtime) is always read.
        std::fs::write(&src, "package main\n").unwrap();
        assert_eq!(
            inputs_hash(d.path(), &cf, &[], Some(cache.path())).unwrap(),
            cold
        );
    }

    #[test]
    fn part_digests_change_exactly_with_their_content() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, t: &str| write(d.path(), p, t);
        w(".dockerignore", "*.log\nvendor\n");
        w("go.mod", "module x\n");
        w("cmd/app/main.go", "package main\n");
        w("docs/a.md", "a\n");
        w("vendor/v.go", "package v\n");
        let parts = vec![
            String::new(),
            "go.mod".to_string(),
            "cmd/app".to_string(),
            "vendor".to_string(),
        ];
        let view = view_of(d.path(), false);
        let digest = || digest_context(d.path(), b"FROM scratch\n", &parts, None, &view).unwrap();
        let a = digest();
        assert_eq!(a.parts.len(), 4);
        assert!(a
            .parts
            .values()
            .all(|v| v.starts_with("sha256:") && v.len() == 71));
        w("x.log", "noise");
        assert_eq!(digest(), a, "ignored files change nothing");
        w("docs/a.md", "b\n");
        let b = digest();
        assert_ne!(b.parts[""], a.parts[""]);
        assert_ne!(b.inputs, a.inputs);
        assert_eq!(
            b.parts["cmd/app"], a.parts["cmd/app"],
            "another path changed"
        );
        assert_eq!(b.parts["go.mod"], a.parts["go.mod"]);
        w("cmd/app/main.go", "package main // 2\n");
        let c = digest();
        assert_ne!(c.parts["cmd/app"], b.parts["cmd/app"]);
        assert_eq!(c.parts["go.mod"], b.parts["go.mod"]);
        // Mounted by name although the ignore file excludes it: digested in full.
        w("vendor/v.go", "package v // 2\n");
        let v = digest();
        assert_ne!(v.parts["vendor"], c.parts["vendor"]);
        assert_eq!(
            v.parts[""], c.parts[""],
            "the context as the engine sees it is unchanged"
        );
        let other = digest_context(d.path(), b"FROM scratch # 2\n", &parts, None, &view).unwrap();
        assert_ne!(other.inputs, v.inputs, "the Containerfile text is an input");
        assert_eq!(other.parts, v.parts);
    }
}
