#![forbid(unsafe_code)]

fn main() {
    std::process::exit(procura::cli::run(std::env::args_os()));
}
