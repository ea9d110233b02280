//! Why a node cannot be reached, in one sentence with the fix: the words
//! `ship` and `doctor` both use. A failure of ssh itself names the
//! destination as ssh resolved it (`ssh -G`), what ssh said and the fix for
//! that cause (an unknown host key: the exact `ssh-keyscan`); a failure of
//! the probe's script keeps the failed process.

use crate::process::command::quote;
use crate::process::error::{Failure, ProcessError};
use crate::ship::target::ShipTarget;
use crate::ship::HostResult;
use std::path::Path;
use std::time::Duration;

/// The reason for a host whose probe failed, before (or instead of) the
/// sentence about ssh: what `plan::nodes` records, and what stays when the
/// script, not ssh, failed.
pub(super) fn probe_failed(name: &str, e: &ProcessError) -> String {
    format!("cannot reach {name} over ssh: {e}")
}

/// The one sentence for a node whose probe failed with `e`: for a failure
/// of ssh, where (user, host, port as ssh resolves them, read with
/// `ssh -G`), what failed and the fix; otherwise [`probe_failed`]'s.
/// `home` shortens the known_hosts file to `~/…`.
pub(crate) fn why_unreachable(t: &ShipTarget, e: &ProcessError, home: Option<&Path>) -> String {
    if !ssh_failed(e) {
        return probe_failed(&t.name, e);
    }
    let resolved = t
        .resolve()
        .run_timeout(Some(Duration::from_secs(10)))
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if host_key_refused(e) {
        host_key_fix(&t.name, &resolved, home)
    } else {
        let by_hand = t.by_hand().to_string();
        unreachable_reason(&t.name, e, &resolved, &by_hand)
    }
}

/// Replaces the reason of each host that ssh could not reach with
/// [`why_unreachable`]'s sentence. The full ssh command line follows only
/// with `-v`: it would bury the sentence.
pub(super) fn explain_unreachable(
    failed: Vec<(&ShipTarget, HostResult)>,
    home: Option<&Path>,
) -> Vec<(String, HostResult)> {
    failed
        .into_iter()
        .map(|(t, r)| {
            let r = match &r {
                HostResult::Failed {
                    process: Some(e), ..
                } if ssh_failed(e) => {
                    let mut reason = why_unreachable(t, e, home);
                    if crate::core::ui::verbose() {
                        reason = format!("{reason}\n{e}");
                    }
                    HostResult::failed(reason)
                }
                _ => r,
            };
            (t.name.clone(), r)
        })
        .collect()
}

/// Whether ssh refused the node because its host key is unknown (or changed).
fn host_key_refused(e: &ProcessError) -> bool {
    e.stderr_tail.contains("Host key verification failed")
}

/// Whether the probe failed in ssh itself (it exits 255, or never
/// answered), not in the script it ran.
fn ssh_failed(e: &ProcessError) -> bool {
    matches!(e.failure, Failure::Timeout(_) | Failure::Spawn(_)) || e.code() == Some(255)
}

/// The value of `key` in `ssh -G`'s output (`hostname`, `port`, …).
fn ssh_g_value<'a>(resolved: &'a str, key: &str) -> Option<&'a str> {
    resolved
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::trim))
}

/// The one sentence for a node whose host key ssh does not know: the exact
/// `ssh-keyscan` that adds it (port and file included), or the config key.
/// `resolved` is `ssh -G`'s output (`hostname`, `port`, `userknownhostsfile`).
fn host_key_fix(name: &str, resolved: &str, home: Option<&Path>) -> String {
    let get = |key: &str| ssh_g_value(resolved, key);
    let host = get("hostname").unwrap_or(name);
    let port = get("port").unwrap_or("22");
    let file = get("userknownhostsfile")
        .and_then(|f| f.split_whitespace().next())
        .unwrap_or("~/.ssh/known_hosts");
    let file = match home.and_then(|h| file.strip_prefix(&*h.to_string_lossy())) {
        Some(rest) if rest.starts_with('/') => format!("~{rest}"),
        _ => file.to_string(),
    };
    let file = if file.starts_with("~/") {
        file
    } else {
        quote(&file)
    };
    format!(
        "ssh does not know the host key of {host} port {port} (a first contact, or the key changed), so it refuses to connect: check the key's fingerprint with the node's owner, then run `ssh-keyscan -p {port} {} >> {file}` — or set `known_hosts:` for {name} in the config to a file that holds it",
        quote(host)
    )
}

/// The short reason for a node ssh could not reach: which destination
/// (user, host, port as ssh resolved them from `resolved`, `ssh -G`'s
/// output), what failed in ssh's own words, and the fix for that cause;
/// `by_hand` is the command that shows it all. The full command line is
/// for `-v` (the caller adds it).
fn unreachable_reason(name: &str, e: &ProcessError, resolved: &str, by_hand: &str) -> String {
    let get = |key: &str| ssh_g_value(resolved, key);
    let host = get("hostname").unwrap_or(name);
    let port = get("port").unwrap_or("22");
    let dest = match get("user") {
        Some(u) => format!("{u}@{host} port {port}"),
        None => format!("{host} port {port}"),
    };
    let said = ssh_said(e);
    let fix = fix_for(&said, name, host, port, get("user"), by_hand);
    format!("cannot reach {name} over ssh ({dest}): {said} — fix: {fix}")
}

/// What failed, in ssh's own words (its last line), or how it never answered.
fn ssh_said(e: &ProcessError) -> String {
    match &e.failure {
        Failure::Timeout(limit) => format!("no answer within {}s", limit.as_secs()),
        Failure::Spawn(why) => format!("ssh could not start: {why}"),
        _ => e
            .stderr_tail
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("ssh exited with status 255 and said nothing")
            .to_string(),
    }
}

/// The fix for what ssh `said`.
fn fix_for(
    said: &str,
    name: &str,
    host: &str,
    port: &str,
    user: Option<&str>,
    by_hand: &str,
) -> String {
    if said.contains("Connection refused") {
        format!("start sshd on {host}, or set `port:` for {name} to the port it listens on")
    } else if said.contains("Permission denied") {
        format!(
            "let your key in (`ssh-copy-id -p {port} {}`), or set `user:`/`identity:` for {name}",
            quote(&format!("{}@{host}", user.unwrap_or("USER")))
        )
    } else if said.contains("Could not resolve hostname") {
        format!("check the name, or set `host:` for {name} to its address")
    } else if said.contains("timed out")
        || said.contains("No route")
        || said.starts_with("no answer")
    {
        format!("check that {host} is up and port {port} is open to you (a slow link: raise `connect_timeout:` for {name})")
    } else if said.starts_with("ssh could not start") {
        "install OpenSSH's client (`apt-get install openssh-client`)".to_string()
    } else {
        format!("run `{by_hand}` to see what ssh says")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_node_is_one_short_sentence_with_the_fix() {
        let long = format!("sh -c '{}'", "x".repeat(900));
        let mut e = ProcessError::new(
            format!("ssh -p 1 -- 127.0.0.1 {long}"),
            Failure::Io("exit status: 255".into()),
        );
        e.stderr_tail = "ssh: connect to host 127.0.0.1 port 1: Connection refused\n".into();
        let resolved = "user ops\nhostname 127.0.0.1\nport 1\n";
        let r = unreachable_reason("dead", &e, resolved, "ssh -p 1 dead true");
        assert_eq!(r, "cannot reach dead over ssh (ops@127.0.0.1 port 1): ssh: connect to host 127.0.0.1 port 1: Connection refused — fix: start sshd on 127.0.0.1, or set `port:` for dead to the port it listens on");
        e.stderr_tail = "ops@pi.lan: Permission denied (publickey).".into();
        let r = unreachable_reason(
            "pi",
            &e,
            "user ops\nhostname pi.lan\nport 22\n",
            "ssh pi true",
        );
        assert!(r.ends_with("fix: let your key in (`ssh-copy-id -p 22 ops@pi.lan`), or set `user:`/`identity:` for pi"), "{r}");
        let t = ProcessError::new("ssh x", Failure::Timeout(std::time::Duration::from_secs(5)));
        let r = unreachable_reason("pi", &t, "", "ssh pi true");
        assert_eq!(r, "cannot reach pi over ssh (pi port 22): no answer within 5s — fix: check that pi is up and port 22 is open to you (a slow link: raise `connect_timeout:` for pi)");
        e.stderr_tail = "kex_exchange_identification: read: Connection reset by peer".into();
        let r = unreachable_reason("pi", &e, "", "ssh pi true");
        assert!(
            r.ends_with("fix: run `ssh pi true` to see what ssh says"),
            "{r}"
        );
        assert!(r.len() < 200, "{r}");
    }

    #[test]
    fn an_unknown_host_key_gets_the_exact_keyscan() {
        let resolved = "user root\nhostname 127.0.0.1\nport 2222\nuserknownhostsfile /home/u/.ssh/known_hosts /home/u/.ssh/known_hosts2\n";
        let fix = host_key_fix("pi", resolved, Some(std::path::Path::new("/home/u")));
        assert!(
            fix.contains("run `ssh-keyscan -p 2222 127.0.0.1 >> ~/.ssh/known_hosts`"),
            "{fix}"
        );
        assert!(
            fix.contains("set `known_hosts:` for pi in the config"),
            "{fix}"
        );
        let fix = host_key_fix(
            "pi",
            "hostname pi.lan\nport 22\nuserknownhostsfile /etc/kh\n",
            None,
        );
        assert!(
            fix.contains("`ssh-keyscan -p 22 pi.lan >> /etc/kh`"),
            "{fix}"
        );
    }

    /// A failure of the probe's script, not of ssh: the failed process
    /// stays in the sentence, and ssh is not asked again.
    #[test]
    fn a_failed_script_keeps_the_process() {
        let t = crate::ship::target::target("{host: 127.0.0.1, port: 1}");
        let e = ProcessError::new("ssh pi true", Failure::Io("exit status: 2".into()));
        let why = why_unreachable(&t, &e, None);
        assert_eq!(why, format!("cannot reach pi over ssh: {e}"));
    }
}
