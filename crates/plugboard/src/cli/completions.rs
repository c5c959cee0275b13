//! `plugboard completions SHELL`: the completion script of a shell, on standard output.

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: Shell,
}

/// Prints the script. Install it, for example:
/// bash `plugboard completions bash > ~/.local/share/bash-completion/completions/plugboard`,
/// zsh `plugboard completions zsh > ~/.zfunc/_plugboard` (with `~/.zfunc` in `fpath`),
/// fish `plugboard completions fish > ~/.config/fish/completions/plugboard.fish`.
pub fn run(args: CompletionsArgs) -> anyhow::Result<i32> {
    let mut command = super::Cli::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "plugboard",
        &mut std::io::stdout(),
    );
    Ok(0)
}
