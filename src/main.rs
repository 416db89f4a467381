fn main() -> std::process::ExitCode {
    keystation::cli::main()
}
