//! Receiving an archive on a node: the upload script writes the stream to
//! a private temporary file and keeps it only when it arrived whole (the
//! sender's end marker is there); the clean-up script removes what a broken
//! or interrupted upload left and stops a writer still at work.

use crate::process::command::quote;
use crate::ship::target::ShipTarget;

impl ShipTarget {
    /// Receives the compressed archive into `tmp`, private to the user,
    /// and keeps it only when it ends with `marker` (which the sender writes
    /// after the last byte, and which is then cut off): an upload whose
    /// sender died (Ctrl-C, a hard kill, a dropped link) removes its own
    /// partial file as soon as its input ends. Also sweeps `goapp-*.part`
    /// older than an hour.
    pub(super) fn upload_script(&self, tmp: &str, marker: &str) -> String {
        // `cat` runs in the background with its pid in `$f.pid`, so that a
        // clean-up can stop it (an interrupt, over a connection of its own);
        // the shell gives a background job /dev/null unless told otherwise.
        format!(
            "umask 077; find {dir} -maxdepth 1 -name 'goapp-*.part*' -mmin +60 -exec rm -f {{}} + 2>/dev/null; \
             f={tmp}; m={marker}; exec 3<&0; cat <&3 > \"$f\" & w=$!; echo $w > \"$f.pid\"; wait $w; s=$?; rm -f \"$f.pid\"; \
             [ $s = 0 ] || {{ rm -f \"$f\"; exit 1; }}; n=$(wc -c < \"$f\" 2>/dev/null || echo 0); \
             if [ -e \"$f\" ] && [ \"$n\" -ge ${{#m}} ] && [ \"$(tail -c ${{#m}} \"$f\")\" = \"$m\" ]; then dd if=/dev/null of=\"$f\" bs=1 seek=$((n - ${{#m}})) 2>/dev/null; \
             else rm -f \"$f\"; printf '%s\\n' \"goapp: the archive did not arrive whole on $(uname -n): nothing was kept\" >&2; exit 1; fi",
            dir = quote(self.tmp_dir()),
            tmp = quote(tmp),
            marker = quote(marker),
        )
    }

    /// Removes a partial upload after a failed or interrupted transfer;
    /// prints `removed` when there was one.
    pub(super) fn cleanup_script(tmp: &str) -> String {
        let f = quote(tmp);
        let pid = quote(&format!("{tmp}.pid"));
        // Said before the writer is stopped: stopped, it removes the file itself.
        format!("if [ -e {f} ]; then printf 'removed\\n'; fi; if [ -e {pid} ]; then kill \"$(cat {pid})\" 2>/dev/null; fi; rm -f {f} {pid}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ship::target::target;

    /// The upload script, run by a real shell: the archive is kept (its
    /// marker cut off) only when it arrives whole; otherwise it removes
    /// itself; a clean-up stops a writer still at work.
    #[test]
    fn an_upload_keeps_only_a_whole_archive() {
        let d = tempfile::tempdir().unwrap();
        let t = target(&format!("{{host: n, tmp_dir: {}}}", d.path().display()));
        let f = d.path().join("goapp-1-x-0.tar.part");
        let script = t.upload_script(&f.display().to_string(), "goapp-end-of-archive-1-x");
        let run = |input: &[u8]| {
            use std::io::Write;
            let mut c = std::process::Command::new("sh")
                .args(["-c", &script])
                .stdin(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(input).unwrap();
            c.wait().unwrap().success()
        };
        assert!(run(b"archive bytes goapp-end-of-archive-1-x"));
        assert_eq!(std::fs::read(&f).unwrap(), b"archive bytes ");
        assert!(!run(b"archive by"), "cut short");
        assert!(!f.exists(), "a partial archive removes itself");
        assert!(!d.path().join("goapp-1-x-0.tar.part.pid").exists());
        // A writer still receiving is stopped by the clean-up, and its file goes.
        let mut c = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, b"some").unwrap();
        let pid = d.path().join("goapp-1-x-0.tar.part.pid");
        while !pid.exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let out = std::process::Command::new("sh")
            .args(["-c", &ShipTarget::cleanup_script(&f.display().to_string())])
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"removed\n");
        assert!(!c.wait().unwrap().success());
        assert!(!f.exists() && !pid.exists());
    }
}
