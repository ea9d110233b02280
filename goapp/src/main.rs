//! `goapp`: the same command line as `cargo xtask`, installed on PATH
//! (`cargo install --path tools/goapp-build/goapp`), so that it runs from
//! any directory without cargo. It uses the config nearest the directory it
//! runs in.
fn main() -> std::process::ExitCode {
    xtask::main()
}
