fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(stigfix::run(std::env::args_os()))
}
