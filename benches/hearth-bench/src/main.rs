//! `hearth-bench`: see the library documentation and `hearth-bench --help`.

fn main() -> std::process::ExitCode {
    hearth_bench::cli::main()
}
