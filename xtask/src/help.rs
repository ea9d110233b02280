//! The text `--help` adds after the options: examples, and the environment
//! variables the tool reads (the README relies on them; so should `--help`).

macro_rules! EXAMPLES_TEXT {
    () => {
        "Examples:
  cargo xtask image                    the app of this directory; at a monorepo's root, every app
  cargo xtask image api --arch arm64   one app, one architecture
  cargo xtask image --all --json       every app; results as JSON on stdout
  cargo xtask ship --host pis api      build if needed, then put the image on each node of `pis`
  cargo xtask push --registry site     every architecture's image and the shared name, to a registry
  cargo xtask go-version               the Go version each build uses
  cargo xtask lint api                 one app's Containerfile against the engine and good practice
  cargo xtask doctor                   check engines, emulation, ssh, proxy, hosts"
    };
}
macro_rules! ENVIRONMENT {
    () => {
        "Environment:
  GOAPP_CONFIG        the config file (else goapp.yaml or config/goapp.yaml, nearest walking up)
  GOAPP_ENGINE        podman or docker (else the config's `engine:`, else podman, else docker)
  GOAPP_CACHE_DIR     caches and build logs (default ~/.cache/goapp-build)
  GOAPP_GO_REPO       where Go's release tags are listed (default https://go.googlesource.com/go)
  GOAPP_GO_CACHE_TTL  seconds a Go tag list is trusted (default 86400)
  GOAPP_PROG          the program's name in usage lines and hints (launchers set it)
  TARGET_ARCH         architectures when --arch is not given (amd64,arm64)
  MAIN_PKG_PATH       the main package passed to the build (default ./)
  GOPRIVATE           passed to the build (else the config's `goprivate:`)
  HTTP_PROXY, HTTPS_PROXY, NO_PROXY (any case)
                      passed to the build by name, never in argv
  GOENV, NETRC, SSL_CERT_FILE
                      secret files mounted when the Containerfile asks for them
  SSH_AUTH_SOCK       the ssh agent given to builds that mount it (--mount=type=ssh)"
    };
}

/// After `-h`: the examples.
pub const SHORT: &str = concat!(
    EXAMPLES_TEXT!(),
    "\n\n(--help also lists the environment variables)"
);
/// After `--help`: the examples and the environment.
pub const LONG: &str = concat!(EXAMPLES_TEXT!(), "\n\n", ENVIRONMENT!());
