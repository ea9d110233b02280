//! `cargo xtask`: see the `xtask` library.
fn main() -> std::process::ExitCode {
    xtask::main()
}
