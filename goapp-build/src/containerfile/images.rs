//! The images a Containerfile takes from outside itself: each stage's base
//! (`FROM`), `COPY --from=<image>` and `RUN --mount=…,from=<image>`. Their
//! local image ids are inputs of the image built on them: a base rebuilt
//! under the same name makes the app rebuild.

use crate::containerfile::{Containerfile, Stage};
use std::collections::BTreeMap;

/// The external images `file` names, sorted and once each, with global
/// `ARG`s substituted (`args`, the build args passed, over their defaults).
/// Stage references, `scratch` and names still holding a variable are left
/// out.
pub(crate) fn external(file: &Containerfile, args: &BTreeMap<String, String>) -> Vec<String> {
    let stages = file.stages();
    let mut out = Vec::new();
    for (k, st) in stages.iter().enumerate() {
        let mut add = |name: &str| {
            let name = substitute(file, name, args);
            if !is_stage(&name, &stages[..k]) && name != "scratch" && !name.contains('$') {
                out.push(name);
            }
        };
        add(&st.base);
        for ins in &file.instructions[st.from + 1..st.end] {
            if matches!(ins.keyword.as_str(), "COPY" | "ADD") {
                if let Some(from) = ins.flag("from") {
                    add(from);
                }
            }
            for from in ins.typed_mounts().into_iter().filter_map(|m| m.from) {
                add(&from);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// An earlier stage, by name (case-insensitive) or index.
fn is_stage(name: &str, earlier: &[Stage]) -> bool {
    let lower = name.to_lowercase();
    earlier
        .iter()
        .enumerate()
        .any(|(i, s)| s.name.as_deref() == Some(lower.as_str()) || lower == i.to_string())
}

/// `name` with global `ARG`s substituted, as the engine resolves `FROM`.
fn substitute(file: &Containerfile, name: &str, args: &BTreeMap<String, String>) -> String {
    let mut name = name.to_string();
    for (arg, default) in file.global_args() {
        if let Some(v) = args.get(&arg).cloned().or(default) {
            name = name
                .replace(&format!("${{{arg}}}"), &v)
                .replace(&format!("${arg}"), &v);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_copies_and_mounts_from_images_not_stages() {
        let text =
            "ARG GO=1.19\nARG TAG\nFROM --platform=$BUILDPLATFORM golang:${GO}-bookworm AS Build\n\
RUN --mount=type=bind,from=tools:1,target=/t --mount=type=cache,target=/c true\n\
FROM build AS test\nCOPY --from=0 /a /a\nCOPY --from=alpine:3 /etc/ssl /etc/ssl\n\
RUN --mount=from=build,target=/b true\nFROM app:$TAG\nFROM scratch\nCOPY --from=test /x /x\n";
        let file = Containerfile::parse(text).unwrap();
        let none = BTreeMap::new();
        assert_eq!(
            external(&file, &none),
            ["alpine:3", "golang:1.19-bookworm", "tools:1"]
        );
        let args: BTreeMap<String, String> = [("GO", "1.20"), ("TAG", "7")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        assert_eq!(
            external(&file, &args),
            ["alpine:3", "app:7", "golang:1.20-bookworm", "tools:1"],
            "the build args passed win over the defaults"
        );
    }
}
