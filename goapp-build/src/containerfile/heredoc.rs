//! The heredoc shim: `RUN <<EOF … EOF` rewritten as the exec form with the
//! stage's shell, for engines without heredocs (podman < 5, docker < 23).

use crate::containerfile::{json_string, parse_json_array, Containerfile, Instruction, Stage};

/// The shell a stage's shell-form RUN uses (`SHELL […]`, else `/bin/sh -c`).
pub(crate) fn stage_shell(file: &Containerfile, stages: &[Stage], at: usize) -> Vec<String> {
    let st = stages.iter().rev().find(|s| s.from <= at);
    let start = st.map(|s| s.from).unwrap_or(0);
    file.instructions[start..at]
        .iter()
        .rev()
        .find(|i| i.keyword == "SHELL")
        .and_then(|i| parse_json_array(&i.args))
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// `RUN [flags] <<EOF … EOF` as exec form with the same shell. A lone
/// heredoc is the script itself (a `#!` script is run by its interpreter);
/// a command with heredocs is handed to the shell, which does heredocs.
pub(crate) fn rewrite_heredoc_run(ins: &Instruction, shell: &[String]) -> String {
    let flags: String = ins
        .flags
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                format!("--{k} ")
            } else {
                format!("--{k}={v} ")
            }
        })
        .collect();
    let args = ins.args.trim();
    let lone = ins.heredocs.len() == 1 && {
        let h = &ins.heredocs[0];
        let marks = [
            format!("<<{}", h.delimiter),
            format!("<<-{}", h.delimiter),
            format!("<<\"{}\"", h.delimiter),
            format!("<<'{}'", h.delimiter),
            format!("<<-\"{}\"", h.delimiter),
            format!("<<-'{}'", h.delimiter),
        ];
        marks.iter().any(|m| m == args)
    };
    let mut argv: Vec<String> = shell.to_vec();
    if lone && ins.heredocs[0].body.starts_with("#!") {
        // Run the script by its own interpreter, from a file removed afterwards.
        argv = vec![
            "/bin/sh".into(),
            "-c".into(),
            "f=$(mktemp) && printf '%s' \"$1\" > \"$f\" && chmod +x \"$f\" && \"$f\"; rc=$?; rm -f \"$f\"; exit $rc".into(),
            "sh".into(),
            ins.heredocs[0].body.clone(),
        ];
    } else if lone {
        argv.push(ins.heredocs[0].body.clone());
    } else {
        let mut script = format!("{args}\n");
        for h in &ins.heredocs {
            script.push_str(&h.body);
            script.push_str(&h.delimiter);
            script.push('\n');
        }
        argv.push(script);
    }
    format!(
        "RUN {flags}[{}]",
        argv.iter()
            .map(|a| json_string(a))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
