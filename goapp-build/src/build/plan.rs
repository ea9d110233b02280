//! Planning a build: from everything we know (app, versions, engine,
//! environment facts) to the exact commands, with no side effects.

use crate::build::proxy::ProxyEnv;
use crate::build::secrets::{private_of, AgentSocket, SecretFile, SshKey};
use crate::containerfile::mounts::Uses;
use crate::core::arch::Arch;
use crate::core::env::PROXY_VARS;
use crate::core::names::ImageRef;
use crate::engine::caps::Capabilities;
use crate::engine::Engine;
use crate::go::version::GoVersion;
use crate::process::command::{quote_path, Cmd};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything a build plan depends on, gathered beforehand.
#[derive(Clone, Debug)]
pub(crate) struct BuildInputs {
    /// The build context.
    pub context: PathBuf,
    /// The ignore file to name with `--ignorefile` (podman): the one whose
    /// rules the context digest applied.
    pub ignore_file: Option<PathBuf>,
    /// The Containerfile to use (already chosen for proxy or not).
    pub containerfile: PathBuf,
    /// The image; each architecture's is `repository:tag-<arch>`.
    pub image: ImageRef,
    /// `MAIN_PKG_PATH`.
    pub main_package: String,
    /// `GOPRIVATE`.
    pub goprivate: String,
    /// The Go version (`TAG_GOVER`).
    pub go_version: GoVersion,
    /// Architectures to build.
    pub arches: Vec<Arch>,
    /// The machine building.
    pub host_arch: Arch,
    /// The engine.
    pub engine: Engine,
    /// What the engine can do (its version and store).
    pub caps: Capabilities,
    /// What marks the build as this run's ([`Engine::build_mark`]).
    pub mark: Vec<String>,
    /// Proxy settings, when a proxy is set.
    pub proxy: Option<ProxyEnv>,
    /// The goenv secret (always), netrc and certs (with a proxy).
    pub secrets: Vec<SecretFile>,
    /// The ssh agent.
    pub agent: AgentSocket,
    /// The key to check in the agent.
    pub ssh_key: SshKey,
    /// Further build args from the config.
    pub build_args: BTreeMap<String, String>,
    /// The digest of the Containerfile to build (the shimmed copy when there
    /// is one) and the context as the engine sees it.
    pub context_digest: String,
    /// Build args a shim declared (bind-mount content keys).
    pub shim_args: Vec<ShimArg>,
    /// The images the Containerfile builds on (bases, `from=` sources):
    /// their local ids join the inputs.
    pub bases: Vec<String>,
    /// The local id of each base the store was asked about (read before
    /// planning: a base rebuilt under the same name rebuilds the app).
    pub base_ids: BTreeMap<String, Option<String>>,
    /// Have the engine rebuild every step (not an input of the image).
    pub no_cache: bool,
    /// Check that each built image can start before calling it built
    /// (off with `--allow-unstartable` or `allow_unstartable: true`).
    pub check_start: bool,
    /// Changed files that kept their size and mtime (see
    /// [`crate::build::inputs::ContextDigests::kept_stat`]).
    pub kept_stat: Vec<PathBuf>,
    /// What the Containerfile mounts: only those secrets and the agent are
    /// worth a warning when missing, and only the agent needs unlocking.
    pub uses: Uses,
    /// The app's go.mod requires modules (or there is no go.mod to tell):
    /// only then are a missing goenv/netrc or ssh agent worth a warning,
    /// since a stdlib-only build fetches nothing.
    pub requires_modules: bool,
    /// What preflight has to say (shims applied, lints), for when a build runs.
    pub notes: Vec<String>,
}

/// A build arg a shim declared in the shimmed Containerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShimArg {
    /// Its name (`GOAPP_BIND_14`).
    pub name: String,
    /// Its value.
    pub value: ShimValue,
}

/// The value of a [`ShimArg`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ShimValue {
    /// Known before planning (the digest of mounted context content).
    Fixed(String),
    /// The image's inputs hash: the step reruns whenever anything the image
    /// is built from changes. It is derived from the inputs, so it adds
    /// nothing to them.
    Inputs,
}

/// One architecture's build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ArchBuild {
    /// The architecture.
    pub arch: Arch,
    /// The image it produces, `repository:tag-<arch>`.
    pub image: ImageRef,
    /// The name every architecture's image shares, `repository:tag`.
    pub index_image: ImageRef,
    /// The engine command.
    pub cmd: Cmd,
    /// The hash of everything that decides this image, also put on it as
    /// the label [`crate::build::inputs::LABEL`].
    pub inputs: String,
}

/// The check that the ssh key is unlocked before the build starts: buildah
/// gives the agent about 2 s, so a passphrase prompt during the build fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnlockStep {
    /// `ssh-add -T KEY.pub`: succeeds when the agent can use the key.
    pub check: Cmd,
    /// `ssh-add KEY`: asks for the passphrase on a terminal.
    pub unlock: Cmd,
    /// The private key, for messages.
    pub private_key: PathBuf,
}

impl UnlockStep {
    /// The check and unlock commands for `public`'s key in the agent at `sock`.
    pub(crate) fn new(sock: &std::path::Path, public: &std::path::Path) -> UnlockStep {
        let private_key = private_of(public);
        let sock = sock.display().to_string();
        UnlockStep {
            check: Cmd::new("ssh-add")
                .env("SSH_AUTH_SOCK", &sock)
                .arg("-T")
                .arg(public.display().to_string()),
            unlock: Cmd::new("ssh-add")
                .env("SSH_AUTH_SOCK", &sock)
                .arg(private_key.display().to_string()),
            private_key,
        }
    }
}

/// What `image` will do for one app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BuildPlan {
    /// Things the user should know when a build runs (a secret or the agent
    /// the Containerfile mounts is missing).
    pub warnings: Vec<String>,
    /// Preflight's notes and lints, also for when a build runs.
    pub notes: Vec<String>,
    /// A hard problem found while planning (a configured key that is missing).
    pub errors: Vec<String>,
    /// The ssh unlock check, if there is an agent and a key.
    pub unlock: Option<UnlockStep>,
    /// One build per architecture; they run concurrently.
    pub builds: Vec<ArchBuild>,
    /// The images the Containerfile builds on (see [`BuildInputs::bases`]).
    pub bases: Vec<String>,
    /// Files to touch before the build runs: docker's context transfer
    /// would send their old content (see [`BuildInputs::kept_stat`]).
    pub touch: Vec<PathBuf>,
    /// Whether built images are checked to start ([`BuildInputs::check_start`]).
    pub check_start: bool,
}

/// Plans the builds.
pub(crate) fn plan_build(i: &BuildInputs) -> BuildPlan {
    let mut plan = BuildPlan {
        warnings: Vec::new(),
        notes: i.notes.clone(),
        errors: Vec::new(),
        unlock: None,
        builds: Vec::new(),
        bases: i.bases.clone(),
        touch: if i.caps.context_by_stat {
            i.kept_stat.clone()
        } else {
            Vec::new()
        },
        check_start: i.check_start,
    };
    let mut common = build_args(i);
    common.extend(proxy_args(i, &mut plan.warnings));
    common.extend(secret_args(i, &mut plan.warnings));
    common.extend(ssh_args(i, &mut plan));
    plan.builds = i
        .arches
        .iter()
        .map(|&arch| arch_build(i, arch, &common))
        .collect();
    plan
}

/// `--build-arg`s every architecture gets: the Go version, the main
/// package, GOPRIVATE, the config's, and the build platform.
fn build_args(i: &BuildInputs) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut build_arg = |k: &str, v: &str| {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    };
    build_arg("TAG_GOVER", &i.go_version.to_string());
    build_arg("MAIN_PKG_PATH", &i.main_package);
    build_arg("GOPRIVATE", &i.goprivate);
    for (k, v) in &i.build_args {
        build_arg(k, v);
    }
    if !i.caps.buildplatform_in_from {
        // podman 4.x leaves $BUILDPLATFORM empty in `FROM --platform=`, so a
        // cross-compiling builder stage would be pulled for the target arch.
        // The build platform is always this machine: say so.
        build_arg("BUILDPLATFORM", &i.host_arch.platform());
    }
    args
}

/// The proxy variables, by name only: the engine reads the values from its
/// environment, so credentials never sit in argv (visible in `ps` and
/// error text).
fn proxy_args(i: &BuildInputs, warnings: &mut Vec<String>) -> Vec<String> {
    let Some(p) = &i.proxy else {
        return Vec::new();
    };
    let mut args = Vec::new();
    for name in PROXY_VARS {
        args.push("--build-arg".into());
        args.push(name.to_string());
    }
    if i.caps.secret_from_env {
        // As build.sh's docker copy did: BuildKit can also mount them as secrets.
        for name in PROXY_VARS {
            args.push("--secret".into());
            args.push(format!("id={name},env={name}"));
        }
    }
    if p.has_credentials() {
        warnings.push("the proxy URL carries credentials: they reach the build as predefined proxy args (kept out of image history), and are shown here as ***".into());
    }
    args
}

/// `--secret` for each secret file that exists; a warning for each missing
/// one the Containerfile mounts.
fn secret_args(i: &BuildInputs, warnings: &mut Vec<String>) -> Vec<String> {
    let mut args = Vec::new();
    for s in &i.secrets {
        if s.exists {
            args.push("--secret".into());
            args.push(format!("id={},src={}", s.id, s.path.display()));
        } else if i.uses.secret(&s.id) && i.requires_modules {
            warnings.push(format!(
                "secret '{}' not wired: {}; the Containerfile mounts it",
                s.id,
                s.why_missing()
            ));
        }
    }
    args
}

/// `--ssh` with the agent, and when the Containerfile mounts it, the check
/// that its key is unlocked (and warnings when there is none).
fn ssh_args(i: &BuildInputs, plan: &mut BuildPlan) -> Vec<String> {
    let sock = match &i.agent {
        AgentSocket::Present(sock) => sock,
        _ if !i.uses.ssh || !i.requires_modules => return Vec::new(),
        AgentSocket::Unset => {
            plan.warnings.push("no ssh agent (SSH_AUTH_SOCK is not set), and the Containerfile mounts one (--mount=type=ssh): private modules over ssh cannot be fetched; start one with `eval $(ssh-agent) && ssh-add`".into());
            return Vec::new();
        }
        AgentSocket::Missing(p) => {
            plan.warnings.push(format!(
                "SSH_AUTH_SOCK names {}, which does not exist (a stale shell?): the build gets no --ssh; start an agent with `eval $(ssh-agent)`",
                p.display()
            ));
            return Vec::new();
        }
    };
    let key = match &i.ssh_key {
        // The agent is passed along; its key matters only to a build that mounts it.
        _ if !i.uses.ssh => None,
        SshKey::Configured {
            public,
            exists: false,
        } => {
            plan.errors.push(format!("the configured ssh key {} does not exist: fix ssh_key in the config or create the key", public.display()));
            None
        }
        SshKey::Configured { public, .. } | SshKey::Found(public) => Some(public),
        SshKey::NoneFound => {
            plan.warnings.push("no ssh key found (~/.ssh/id_ecdsa.pub, id_ed25519.pub, id_rsa.pub): private modules over ssh only work with keys already in the agent".into());
            None
        }
    };
    plan.unlock = key.map(|public| UnlockStep::new(sock, public));
    vec!["--ssh".into(), format!("default={}", sock.display())]
}

/// One architecture's build: its inputs hash (also its label) and command.
fn arch_build(i: &BuildInputs, arch: Arch, common: &[String]) -> ArchBuild {
    let image = i.image.for_arch(arch);
    // What decides the image besides the context: every argument (proxy and
    // secret *names* only, never values; not the agent's socket path), the
    // engine and the platform.
    let mut h = Sha256::new();
    h.update(i.context_digest.as_bytes());
    let (engine, platform) = (format!("engine={}", i.engine.kind), arch.platform());
    let facts = std::iter::once(&engine)
        .chain(common.iter().filter(|a| !a.starts_with("default=")))
        .chain(std::iter::once(&platform));
    for f in facts {
        h.update([0]);
        h.update(f.as_bytes());
    }
    let inputs = crate::build::inputs::hex(&h.finalize());
    let used = i
        .bases
        .iter()
        .filter_map(|b| Some((b.as_str(), i.base_ids.get(b)?.as_deref())));
    let inputs = crate::build::inputs::with_bases(&inputs, used);
    let mut cmd = i.engine.build_cmd();
    if i.no_cache {
        cmd = cmd.arg("--no-cache");
    }
    let mut cmd = cmd
        .arg("--platform")
        .arg(arch.platform())
        .args(common.iter().cloned())
        .args(shim_build_args(&i.shim_args, &inputs));
    if let Some(p) = &i.proxy {
        // Their credentials were parsed once, when the settings were read.
        let vars = p.values().iter().map(|(k, v)| (*k, v.as_str()));
        cmd = cmd.envs_known(vars, p.redactor());
    }
    if let Some(f) = &i.ignore_file {
        cmd = cmd.arg("--ignorefile").arg(f.display().to_string());
    }
    let cmd = cmd
        .args(i.mark.iter().cloned())
        .arg("--label")
        .arg(format!("{}={inputs}", crate::build::inputs::LABEL))
        .args(["-t", &image.to_string(), "-f"])
        .arg(i.containerfile.display().to_string())
        .arg(i.context.display().to_string());
    ArchBuild {
        arch,
        image,
        index_image: i.image.clone(),
        cmd,
        inputs,
    }
}

/// `--build-arg NAME=value` for each shim arg. The context digest already
/// covers their values (see [`crate::build::shimfile::digest_with_keys`]).
fn shim_build_args(args: &[ShimArg], inputs: &str) -> Vec<String> {
    args.iter()
        .flat_map(|a| {
            let value = match &a.value {
                ShimValue::Fixed(v) => v.as_str(),
                ShimValue::Inputs => inputs,
            };
            ["--build-arg".to_string(), format!("{}={value}", a.name)]
        })
        .collect()
}

impl BuildPlan {
    /// Every command, one per line (the goldens below read this).
    #[cfg(test)]
    pub(crate) fn dry_run_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(u) = &self.unlock {
            lines.push(format!(
                "{}  # if that fails: {} (needs a terminal)",
                u.check, u.unlock
            ));
        }
        lines.extend(self.builds.iter().map(|b| b.cmd.to_string()));
        lines
    }
}

/// How a user can rerun an unlock by hand.
pub(crate) fn unlock_hint(u: &UnlockStep) -> String {
    format!("ssh-add {}", quote_path(&u.private_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::env::HostEnv;
    use crate::engine::EngineKind;

    fn inputs() -> BuildInputs {
        BuildInputs {
            context: "/src/joke".into(),
            requires_modules: true,
            containerfile: "/src/joke/Containerfile".into(),
            image: ImageRef::new("joke", "0.0.3").unwrap(),
            main_package: "./".into(),
            goprivate: "".into(),
            go_version: GoVersion::parse("1.25.4").unwrap(),
            arches: vec![Arch::Amd64],
            host_arch: Arch::Amd64,
            caps: crate::engine::caps::oldest(EngineKind::Podman),
            mark: Vec::new(),
            base_ids: BTreeMap::new(),
            engine: Engine::fixture(EngineKind::Podman),
            proxy: None,
            secrets: vec![SecretFile {
                id: "goenv".into(),
                path: "/home/u/.config/go/env".into(),
                exists: true,
                other: false,
                origin: "go env GOENV".into(),
            }],
            agent: AgentSocket::Present("/run/user/1000/agent.sock".into()),
            ssh_key: SshKey::Found("/home/u/.ssh/id_ecdsa.pub".into()),
            build_args: BTreeMap::new(),
            context_digest: "ctx".into(),
            kept_stat: Vec::new(),
            ignore_file: None,
            shim_args: Vec::new(),
            bases: Vec::new(),
            no_cache: false,
            check_start: true,
            uses: Uses {
                secrets: vec!["goenv".into(), "netrc".into()],
                ssh: true,
            },
            notes: Vec::new(),
        }
    }

    /// The label's hash is checked separately; golden lines show `LABEL`.
    fn without_label(lines: Vec<String>) -> Vec<String> {
        lines
            .into_iter()
            .map(|l| match l.find("dev.goapp.inputs=") {
                Some(i) => format!("{}dev.goapp.inputs=LABEL{}", &l[..i], &l[i + 17 + 64..]),
                None => l,
            })
            .collect()
    }

    #[test]
    fn inputs_hash_differs_per_arch_and_go_version_but_not_proxy_values() {
        let mut i = inputs();
        i.arches = vec![Arch::Amd64, Arch::Arm64];
        let a = plan_build(&i);
        assert_ne!(a.builds[0].inputs, a.builds[1].inputs);
        let mut j = i.clone();
        j.go_version = GoVersion::parse("1.25.5").unwrap();
        assert_ne!(plan_build(&j).builds[0].inputs, a.builds[0].inputs);
        let mut k = i.clone();
        k.agent = AgentSocket::Present("/other/agent.sock".into());
        assert_eq!(
            plan_build(&k).builds[0].inputs,
            a.builds[0].inputs,
            "the agent's socket path does not change the image"
        );
        let mut p1 = i.clone();
        p1.proxy = ProxyEnv::from_env(&HostEnv::from_vars([("HTTP_PROXY", "http://a:1@p:1")]));
        let mut p2 = i.clone();
        p2.proxy = ProxyEnv::from_env(&HostEnv::from_vars([("HTTP_PROXY", "http://b:2@q:2")]));
        assert_eq!(
            plan_build(&p1).builds[0].inputs,
            plan_build(&p2).builds[0].inputs,
            "proxy values are not inputs"
        );
    }

    #[test]
    fn podman_build_matches_build_sh_plus_buildplatform() {
        let plan = plan_build(&inputs());
        assert_eq!(plan.warnings, Vec::<String>::new());
        expect_test::expect![[r#"
            SSH_AUTH_SOCK=/run/user/1000/agent.sock ssh-add -T /home/u/.ssh/id_ecdsa.pub  # if that fails: SSH_AUTH_SOCK=/run/user/1000/agent.sock ssh-add /home/u/.ssh/id_ecdsa (needs a terminal)
            podman build --platform linux/amd64 --build-arg TAG_GOVER=1.25.4 --build-arg MAIN_PKG_PATH=./ --build-arg GOPRIVATE= --build-arg BUILDPLATFORM=linux/amd64 --secret id=goenv,src=/home/u/.config/go/env --ssh default=/run/user/1000/agent.sock --label dev.goapp.inputs=LABEL -t joke:0.0.3-amd64 -f /src/joke/Containerfile /src/joke"#]].assert_eq(&without_label(plan.dry_run_lines()).join("\n"));
    }

    #[test]
    fn docker_behind_a_proxy_gets_six_args_secrets_and_redaction() {
        let mut i = inputs();
        i.engine = Engine::fixture(EngineKind::Docker);
        i.caps = crate::engine::caps::oldest(EngineKind::Docker);
        i.arches = vec![Arch::Amd64, Arch::Arm64];
        i.proxy = ProxyEnv::from_env(&HostEnv::from_vars([
            ("HTTP_PROXY", "http://al:pw99@proxy:3128"),
            ("NO_PROXY", "localhost"),
        ]));
        i.secrets.push(SecretFile {
            id: "netrc".into(),
            path: "/home/u/.netrc".into(),
            exists: false,
            other: false,
            origin: "~/.netrc".into(),
        });
        i.agent = AgentSocket::Unset;
        let plan = plan_build(&i);
        assert_eq!(plan.builds.len(), 2);
        assert_eq!(plan.builds[1].image.to_string(), "joke:0.0.3-arm64");
        let line = without_label(vec![plan.builds[1].cmd.to_string()]).remove(0);
        expect_test::expect!["DOCKER_BUILDKIT=1 HTTP_PROXY='http://***@proxy:3128' HTTPS_PROXY='http://***@proxy:3128' NO_PROXY=localhost http_proxy='http://***@proxy:3128' https_proxy='http://***@proxy:3128' no_proxy=localhost docker build --progress=plain --platform linux/arm64 --build-arg TAG_GOVER=1.25.4 --build-arg MAIN_PKG_PATH=./ --build-arg GOPRIVATE= --build-arg HTTP_PROXY --build-arg HTTPS_PROXY --build-arg NO_PROXY --build-arg http_proxy --build-arg https_proxy --build-arg no_proxy --secret id=HTTP_PROXY,env=HTTP_PROXY --secret id=HTTPS_PROXY,env=HTTPS_PROXY --secret id=NO_PROXY,env=NO_PROXY --secret id=http_proxy,env=http_proxy --secret id=https_proxy,env=https_proxy --secret id=no_proxy,env=no_proxy --secret id=goenv,src=/home/u/.config/go/env --label dev.goapp.inputs=LABEL -t joke:0.0.3-arm64 -f /src/joke/Containerfile /src/joke"].assert_eq(&line);
        assert!(!line.contains("pw99"));
        // The child still gets the real value.
        assert!(plan.builds[1]
            .cmd
            .get_env()
            .iter()
            .any(|(k, v)| k == "HTTP_PROXY" && v.contains("pw99")));
        assert!(plan.warnings.iter().any(
            |w| w.starts_with("secret 'netrc' not wired: /home/u/.netrc (~/.netrc) does not exist")
        ));
        assert!(plan.warnings.iter().any(|w| w.starts_with("no ssh agent")));
        assert!(plan
            .warnings
            .iter()
            .any(|w| w.starts_with("the proxy URL carries credentials")));
        assert_eq!(plan.unlock, None);
    }

    #[test]
    fn a_stdlib_only_app_gets_no_module_fetching_warnings() {
        let mut i = inputs();
        i.secrets.push(SecretFile {
            id: "netrc".into(),
            path: "/home/u/.netrc".into(),
            exists: false,
            other: false,
            origin: "~/.netrc".into(),
        });
        i.agent = AgentSocket::Unset;
        assert_eq!(
            plan_build(&i).warnings.len(),
            2,
            "{:?}",
            plan_build(&i).warnings
        );
        i.requires_modules = false;
        let plan = plan_build(&i);
        assert_eq!(plan.warnings, Vec::<String>::new());
        assert!(!plan.builds[0].cmd.to_string().contains("--ssh"));
    }

    #[test]
    fn no_cache_is_planned_and_not_an_input() {
        let mut i = inputs();
        let cached = plan_build(&i);
        i.no_cache = true;
        let plan = plan_build(&i);
        assert!(plan.builds[0]
            .cmd
            .to_string()
            .starts_with("podman build --no-cache --platform linux/amd64 "));
        assert_eq!(plan.builds[0].inputs, cached.builds[0].inputs);
    }

    #[test]
    fn configured_missing_key_is_an_error_and_stale_socket_a_warning() {
        let mut i = inputs();
        i.ssh_key = SshKey::Configured {
            public: "/k/id.pub".into(),
            exists: false,
        };
        let plan = plan_build(&i);
        assert_eq!(plan.errors, ["the configured ssh key /k/id.pub does not exist: fix ssh_key in the config or create the key"]);
        i.agent = AgentSocket::Missing("/tmp/gone".into());
        let plan = plan_build(&i);
        assert!(plan.builds[0].cmd.to_string().find("--ssh").is_none());
        assert!(plan.warnings[0].contains("/tmp/gone, which does not exist"));
    }

    #[test]
    fn shim_args_follow_the_common_args_and_are_not_extra_inputs() {
        let mut i = inputs();
        let plain = plan_build(&i);
        i.shim_args = vec![
            ShimArg {
                name: "GOAPP_BIND_9".into(),
                value: ShimValue::Fixed("sha256:abc".into()),
            },
            ShimArg {
                name: "GOAPP_BIND_12".into(),
                value: ShimValue::Inputs,
            },
        ];
        let plan = plan_build(&i);
        let b = &plan.builds[0];
        assert_eq!(b.inputs, plain.builds[0].inputs);
        let line = b.cmd.to_string();
        assert!(
            line.contains(&format!("--ssh default=/run/user/1000/agent.sock --build-arg GOAPP_BIND_9=sha256:abc --build-arg GOAPP_BIND_12={} --label", b.inputs)),
            "{line}"
        );
    }

    #[test]
    fn the_ignore_file_hashed_is_the_one_named_to_podman() {
        let mut i = inputs();
        assert!(!plan_build(&i).builds[0]
            .cmd
            .to_string()
            .contains("--ignorefile"));
        i.ignore_file = Some("/src/joke/Containerfile.dockerignore".into());
        let line = plan_build(&i).builds[0].cmd.to_string();
        assert!(
            line.contains(" --ignorefile /src/joke/Containerfile.dockerignore --label "),
            "{line}"
        );
    }
}
