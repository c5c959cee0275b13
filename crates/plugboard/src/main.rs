//! The `plugboard` binary: parses the command line, sets up logging, runs the command, and turns
//! errors into a message with its causes and a non-zero exit code.

use clap::Parser;
use plugboard::cli::{self, Cli};

fn main() {
    // A plugin instance's init (a PID namespace of its own) runs this binary before anything
    // else; see `plugins::init`.
    plugboard::plugins::init::run_if_asked();
    plugboard::plugins::init::InitBinary::register();
    quiet_when_the_reader_leaves();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLUGBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        // The reader left (see `quiet_when_the_reader_leaves`), seen by a command that writes
        // with `writeln!` and says so.
        Err(error)
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            0
        }
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            1
        }
    };
    // A blocking task still at work (an install packing a large folder) must not keep the
    // process alive after the server said it stopped.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    std::process::exit(code);
}

/// A reader that stops reading (`plugboard job list | head -1`) ends the command quietly with
/// exit code 0, as it does for `ls` or `grep`: the standard library's print macros panic when
/// stdout is a closed pipe, and that panic is not an error of the command.
fn quiet_when_the_reader_leaves() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // The message ends with the OS's words for EPIPE: "Broken pipe (os error 32)".
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
