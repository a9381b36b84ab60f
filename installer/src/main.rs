//! `seal-install` (being built; see issue 4).
fn main() -> std::process::ExitCode {
    eprintln!("seal-install: not implemented yet");
    std::process::ExitCode::from(1)
}
