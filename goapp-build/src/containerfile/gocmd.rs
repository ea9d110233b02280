//! A `go` command line read the way the go command reads it: the verb, its
//! flags (which take a value, which do not), `-C`, `-o` and the packages,
//! and the name `go build` gives a binary when no `-o` says
//! (`cmd/go/internal/load`'s default executable name).

/// What the command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    /// `go build`.
    Build,
    /// `go install`.
    Install,
    /// `go run`: builds and runs a program here.
    Run,
    /// `go test`: builds and runs test binaries here.
    Test,
    /// `go generate`: runs the commands of `//go:generate` lines here.
    Generate,
    /// `go env`.
    Env,
    /// Anything else (`go mod download`, `go vet`, …).
    Other,
}

impl Verb {
    /// Runs a program it builds on the machine the step runs on.
    pub(crate) fn runs_here(self) -> bool {
        matches!(self, Verb::Run | Verb::Test | Verb::Generate)
    }

    /// Writes binaries.
    pub(crate) fn builds(self) -> bool {
        matches!(self, Verb::Build | Verb::Install)
    }

    /// Compiles Go for GOOS/GOARCH (and may run what it compiled).
    pub(crate) fn compiles(self) -> bool {
        self.builds() || self.runs_here()
    }

    /// As written.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verb::Build => "go build",
            Verb::Install => "go install",
            Verb::Run => "go run",
            Verb::Test => "go test",
            Verb::Generate => "go generate",
            Verb::Env => "go env",
            Verb::Other => "go",
        }
    }
}

/// One `go …` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoCmd {
    /// The verb.
    pub verb: Verb,
    /// `-C dir`: where it runs.
    pub chdir: Option<String>,
    /// `-o path`.
    pub output: Option<String>,
    /// The packages, files or (for `go env`) names, after the flags.
    pub args: Vec<String>,
}

/// Build flags that take a value (`go help build`, `go help testflag`);
/// every other flag is a boolean.
const VALUE_FLAGS: [&str; 37] = [
    "C",
    "o",
    "p",
    "asmflags",
    "buildmode",
    "compiler",
    "gccgoflags",
    "gcflags",
    "installsuffix",
    "ldflags",
    "mod",
    "modfile",
    "overlay",
    "pgo",
    "pkgdir",
    "tags",
    "toolexec",
    "exec",
    "covermode",
    "coverpkg",
    "coverprofile",
    "run",
    "skip",
    "bench",
    "benchtime",
    "count",
    "cpu",
    "timeout",
    "parallel",
    "shuffle",
    "fuzz",
    "fuzztime",
    "list",
    "outputdir",
    "cpuprofile",
    "memprofile",
    "vet",
];

/// Reads `go <verb> …` from a command's words (`words[0]` is the program).
pub(crate) fn parse(words: &[String]) -> Option<GoCmd> {
    let program = words.first()?;
    if program.rsplit('/').next() != Some("go") {
        return None;
    }
    let verb = match words.get(1).map(String::as_str) {
        Some("build") => Verb::Build,
        Some("install") => Verb::Install,
        Some("run") => Verb::Run,
        Some("test") => Verb::Test,
        Some("generate") => Verb::Generate,
        Some("env") => Verb::Env,
        Some(_) => Verb::Other,
        None => return None,
    };
    let mut cmd = GoCmd {
        verb,
        chdir: None,
        output: None,
        args: Vec::new(),
    };
    let mut rest = words[2..].iter();
    while let Some(w) = rest.next() {
        if !cmd.args.is_empty() || !w.starts_with('-') || w == "-" {
            cmd.args.push(w.clone());
            if verb == Verb::Run && !w.ends_with(".go") {
                break; // the program's own arguments follow
            }
            continue;
        }
        if w == "--" {
            cmd.args.extend(rest.by_ref().cloned());
            break;
        }
        let flag = w.trim_start_matches('-');
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None if VALUE_FLAGS.contains(&flag) => (flag, rest.next().cloned()),
            None => (flag, None),
        };
        match name {
            "o" => cmd.output = value,
            "C" => cmd.chdir = value,
            _ => {}
        }
    }
    Some(cmd)
}

/// The name `go build` gives the binary of the package with import path
/// `import_path` when no `-o` says: its last element, or the one before a
/// major-version suffix (`example.com/tool/v2` → `tool`).
pub(crate) fn exec_name(import_path: &str) -> String {
    let import_path = import_path.trim_end_matches('/');
    let mut parts = import_path.rsplit('/');
    let last = parts.next().unwrap_or(import_path);
    if last != import_path && is_version_element(last) {
        if let Some(prev) = parts.next() {
            return prev.to_string();
        }
    }
    last.to_string()
}

/// `v2`, `v3`, … (not `v0`, `v1`): a module's major-version suffix.
fn is_version_element(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('v') else {
        return false;
    };
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && digits != "1"
}

/// The module path a go.mod declares.
pub(crate) fn module_path(gomod: &str) -> Option<String> {
    gomod.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("module")?;
        rest.starts_with(char::is_whitespace)
            .then(|| rest.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(line: &str) -> GoCmd {
        let w: Vec<String> = shlex::split(line).unwrap();
        parse(&w).unwrap()
    }

    #[test]
    fn flags_with_and_without_values() {
        let c = go(
            "go build -v -trimpath -ldflags '-s -w -X main.v=1' -tags netgo -o ../bin ./cmd/api",
        );
        assert_eq!(c.verb, Verb::Build);
        assert_eq!(c.output.as_deref(), Some("../bin"));
        assert_eq!(c.args, ["./cmd/api"]);
        let c = go("go build -o=/out/ -mod=vendor -a ./cmd/... ./tools/x");
        assert_eq!(c.output.as_deref(), Some("/out/"));
        assert_eq!(c.args, ["./cmd/...", "./tools/x"]);
        let c = go("/usr/local/go/bin/go install -C src --ldflags=-s ./cmd/x");
        assert_eq!((c.verb, c.chdir.as_deref()), (Verb::Install, Some("src")));
        assert_eq!(c.args, ["./cmd/x"]);
        let c = go("go run ./tools/gen -o x.go");
        assert_eq!((c.verb, c.output), (Verb::Run, None));
        assert_eq!(c.args, ["./tools/gen"]);
        assert_eq!(go("go env GOARCH").args, ["GOARCH"]);
        assert_eq!(go("go mod download").verb, Verb::Other);
        assert!(parse(&["gofmt".into(), "-l".into()]).is_none());
    }

    #[test]
    fn default_names_as_the_go_command_gives_them() {
        assert_eq!(exec_name("github.com/acme/api"), "api");
        assert_eq!(exec_name("github.com/acme/api/v2"), "api");
        assert_eq!(exec_name("github.com/acme/api/v1"), "v1");
        assert_eq!(exec_name("github.com/acme/v2"), "acme");
        assert_eq!(exec_name("v2"), "v2");
        assert_eq!(exec_name("example.com/cmd/server/"), "server");
        assert_eq!(
            module_path("// x\nmodule  \"github.com/a/b/v3\"\n\ngo 1.22\n").as_deref(),
            Some("github.com/a/b/v3")
        );
        assert_eq!(module_path("modules x\n"), None);
    }
}
