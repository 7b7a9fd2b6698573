use std::process::ExitCode;

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let result = tcpgoon::cli::parse(args).and_then(tcpgoon::execute);
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            let message = tcpgoon::error::one_line(&error.to_string());
            tcpgoon::error::say(format_args!("{message}"));
            ExitCode::from(tcpgoon::judge::exit::of_error(&error))
        }
    }
}
