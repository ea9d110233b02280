//! Enough of the POSIX shell to see what a `RUN` step, a Makefile recipe
//! or a build script runs: the simple commands in order, each with its
//! leading `VAR=value` assignments and its words, quotes removed. Control
//! operators (`&&`, `||`, `;`, `|`, `&`, newlines) separate commands;
//! compound-command keywords (`if`, `then`, `do`, …) are stepped over, so
//! `if [ -f x ]; then go build …; fi` shows the `go build`. Command
//! substitutions stay inside their word (`$(uname -m)`), where the probe
//! checks still see them in the raw text.

/// One simple command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SimpleCmd {
    /// Leading `NAME=value` words (for this command only, or, alone, shell
    /// variables for the rest of the script).
    pub assigns: Vec<(String, String)>,
    /// The program and its arguments, quotes removed.
    pub words: Vec<String>,
    /// The text as written, for messages.
    pub raw: String,
}

impl SimpleCmd {
    /// The program's name without its directory (`/usr/local/go/bin/go` → `go`).
    pub(crate) fn program(&self) -> Option<&str> {
        let w = self.words.first()?;
        Some(w.rsplit('/').next().unwrap_or(w))
    }
}

/// Words that open or close a compound command: stepped over.
const KEYWORDS: [&str; 12] = [
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}",
];

/// Wrappers that run the rest of their words as the command.
const WRAPPERS: [&str; 4] = ["exec", "time", "command", "nohup"];

/// The simple commands of a script, in order.
pub(crate) fn commands(script: &str) -> Vec<SimpleCmd> {
    let script = script.replace("\\\r\n", "").replace("\\\n", "");
    let mut out = Vec::new();
    for piece in split_commands(&script) {
        let raw = piece.trim().to_string();
        let mut words = split_words(&raw);
        while words
            .first()
            .is_some_and(|w| KEYWORDS.contains(&w.as_str()) || w == "(" || w == ")")
        {
            words.remove(0);
        }
        if words.first().is_some_and(|w| w == "for" || w == "case") {
            continue;
        }
        let mut cmd = SimpleCmd {
            raw,
            ..SimpleCmd::default()
        };
        let mut rest = words.into_iter().peekable();
        while let Some(w) = rest.peek() {
            match assignment(w) {
                Some(a) => {
                    cmd.assigns.push(a);
                    rest.next();
                }
                None => break,
            }
        }
        cmd.words = rest.map(|w| unquote(&w)).collect();
        unwrap_wrappers(&mut cmd);
        if !cmd.words.is_empty() || !cmd.assigns.is_empty() {
            out.push(cmd);
        }
    }
    out
}

/// `exec go build`, `env CGO_ENABLED=0 go build`: the command they run,
/// with `env`'s assignments added.
fn unwrap_wrappers(cmd: &mut SimpleCmd) {
    loop {
        match cmd.words.first().map(String::as_str) {
            Some(w) if WRAPPERS.contains(&w) => {
                cmd.words.remove(0);
            }
            Some("env") => {
                cmd.words.remove(0);
                while let Some(w) = cmd.words.first() {
                    if let Some(a) = assignment(w) {
                        cmd.assigns.push(a);
                        cmd.words.remove(0);
                    } else if w.starts_with('-') {
                        cmd.words.remove(0);
                    } else {
                        break;
                    }
                }
            }
            _ => return,
        }
    }
}

/// `NAME=value` with a shell name before the `=`, value unquoted.
fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let mut chars = name.chars();
    let first = chars.next()?;
    let is_name = (first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_name.then(|| (name.to_string(), unquote(value)))
}

/// Splits at unquoted control operators, outside `$(…)` and backquotes.
fn split_commands(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut sc = Scanner::default();
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if sc.plain() {
            if c == '#' && (cur.is_empty() || cur.ends_with(char::is_whitespace)) {
                // A comment runs to the end of the line.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            if matches!(c, ';' | '&' | '|' | '\n') {
                out.push(std::mem::take(&mut cur));
                i += 1;
                while i < chars.len() && matches!(chars[i], '&' | '|') {
                    i += 1;
                }
                continue;
            }
        }
        sc.feed(c, chars.get(i + 1).copied());
        cur.push(c);
        i += 1;
    }
    out.push(cur);
    out.retain(|c| !c.trim().is_empty());
    out
}

/// Splits a command at unquoted blanks; quotes are kept (removed later).
fn split_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut sc = Scanner::default();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if sc.plain() && c.is_whitespace() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if sc.plain() && (c == '(' || c == ')') && cur.is_empty() {
            out.push(c.to_string());
            continue;
        }
        sc.feed(c, chars.get(i + 1).copied());
        cur.push(c);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Removes quotes and backslash escapes the way the shell does (variables
/// and substitutions are left as written).
pub(crate) fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    let (mut single, mut double) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '\\' if !single => {
                if let Some(n) = chars.next() {
                    if double && !matches!(n, '"' | '\\' | '$' | '`') {
                        out.push('\\');
                    }
                    out.push(n);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Quote and substitution state while scanning.
#[derive(Default)]
struct Scanner {
    single: bool,
    double: bool,
    escaped: bool,
    backquote: bool,
    /// Depth of `$(` … `)`.
    subst: usize,
}

impl Scanner {
    /// Outside quotes and substitutions.
    fn plain(&self) -> bool {
        !self.single && !self.double && !self.escaped && !self.backquote && self.subst == 0
    }

    fn feed(&mut self, c: char, next: Option<char>) {
        if self.escaped {
            self.escaped = false;
            return;
        }
        match c {
            '\\' if !self.single => self.escaped = true,
            '\'' if !self.double && self.subst == 0 && !self.backquote => {
                self.single = !self.single
            }
            '"' if !self.single && self.subst == 0 && !self.backquote => self.double = !self.double,
            '`' if !self.single => self.backquote = !self.backquote,
            '$' if !self.single && next == Some('(') => self.subst += 1,
            ')' if !self.single && self.subst > 0 => self.subst -= 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        commands(script).into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn operators_keywords_and_quotes() {
        let s = "set -eux; if [ -n \"$X\" ]; then CGO_ENABLED=0 go build -ldflags \"-s -w\" -o ../bin ./cmd/a; fi && cp /a /b || true\n# go build -o /no\necho 'a;b' | tr a b";
        let cmds = commands(s);
        let w: Vec<Vec<String>> = cmds.iter().map(|c| c.words.clone()).collect();
        assert_eq!(w[0], ["set", "-eux"]);
        assert_eq!(w[1], ["[", "-n", "$X", "]"]);
        assert_eq!(
            w[2],
            ["go", "build", "-ldflags", "-s -w", "-o", "../bin", "./cmd/a"]
        );
        assert_eq!(cmds[2].assigns, [("CGO_ENABLED".into(), "0".into())]);
        assert_eq!(w[3], ["cp", "/a", "/b"]);
        assert_eq!(w[4], ["true"]);
        assert_eq!(w[5], ["echo", "a;b"]);
        assert_eq!(w[6], ["tr", "a", "b"]);
        assert_eq!(w.len(), 7, "{w:?}");
    }

    #[test]
    fn substitutions_stay_in_their_word_and_wrappers_unwrap() {
        assert_eq!(
            words("go build -ldflags \"-X main.v=$(git describe --tags; echo x)\" -o /o .")[0],
            [
                "go",
                "build",
                "-ldflags",
                "-X main.v=$(git describe --tags; echo x)",
                "-o",
                "/o",
                "."
            ]
        );
        let c = &commands("env -i CGO_ENABLED=0 GOOS=linux exec go build .")[0];
        assert_eq!(c.words, ["go", "build", "."]);
        assert_eq!(c.assigns.len(), 2);
        assert_eq!(words("a \\\n  b")[0], ["a", "b"]);
        assert_eq!(commands("X=1")[0].assigns, [("X".into(), "1".into())]);
        assert_eq!(
            commands("/usr/local/go/bin/go build")[0].program(),
            Some("go")
        );
    }
}
