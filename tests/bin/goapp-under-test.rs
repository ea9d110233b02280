//! The same entry point as `cargo xtask`, for the integration tests.
fn main() -> std::process::ExitCode {
    xtask::main()
}
