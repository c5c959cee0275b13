//! The profile file (`$XDG_CONFIG_HOME/plugboard/config.toml`): flags before the environment
//! before a profile; a file holding a token that others may read is refused; `plugboard login`
//! writes it readable by its owner only. And the shell completion scripts.

use std::os::unix::fs::PermissionsExt;

use crate::harness::cli::{run_in, Cli};
use crate::harness::{temp_dir, TestHost, FAST_LEASES};

/// An address nothing listens on: a port the OS gave and took back.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

fn write_profiles(cli: &Cli, text: &str, mode: u32) {
    let path = cli.profile_file();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn flags_come_before_the_environment_before_a_profile() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    let closed = closed_url();
    write_profiles(
        &cli,
        &format!(
            "default = \"good\"\n\n[profiles.good]\nurl = \"{}\"\ntoken = \"{}\"\n\n[profiles.closed]\nurl = \"{closed}\"\ntoken = \"{}\"\n",
            cli.url, cli.token, cli.token
        ),
        0o600,
    );
    let unreachable = "cannot reach plugboard";
    // Nothing else named: the default profile.
    cli.run_env(&["tenant", "list"], &[])
        .expect_ok("the default profile");
    // PLUGBOARD_PROFILE picks another profile; --profile comes before it.
    cli.run_env(&["tenant", "list"], &[("PLUGBOARD_PROFILE", "closed")])
        .expect_refused(unreachable);
    cli.run_env(
        &["tenant", "list", "--profile", "good"],
        &[("PLUGBOARD_PROFILE", "closed")],
    )
    .expect_ok("--profile before PLUGBOARD_PROFILE");
    // PLUGBOARD_URL comes before the profile's URL; the profile's token goes to its own server
    // only, so another URL needs its token from the environment or a flag.
    cli.run_env(
        &["tenant", "list", "--profile", "closed"],
        &[("PLUGBOARD_URL", &cli.url)],
    )
    .expect_refused("needs a token");
    cli.run_env(
        &["tenant", "list", "--profile", "closed"],
        &[("PLUGBOARD_URL", &cli.url), ("PLUGBOARD_TOKEN", &cli.token)],
    )
    .expect_ok("PLUGBOARD_URL before the profile");
    // --url comes before PLUGBOARD_URL, and --token before PLUGBOARD_TOKEN.
    cli.run_env(
        &["tenant", "list", "--url", &closed],
        &[("PLUGBOARD_URL", &cli.url), ("PLUGBOARD_TOKEN", &cli.token)],
    )
    .expect_refused(unreachable);
    cli.run_env(
        &[
            "tenant",
            "list",
            "--token",
            "pb_wrong-token-that-is-long-enough-0000",
        ],
        &[("PLUGBOARD_TOKEN", &cli.token)],
    )
    .expect_refused("HTTP 401");
    // A profile the file does not have is named in the error.
    cli.run_env(&["tenant", "list", "--profile", "nope"], &[])
        .expect_refused("there is no profile `nope`");
    assert!(host.terminate().success());
}

#[test]
fn a_profile_file_with_a_token_that_others_may_read_is_refused() {
    let cli_home = temp_dir();
    let path = cli_home.path().join("plugboard/config.toml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        &path,
        "[profiles.default]\nurl = \"http://127.0.0.1:9\"\ntoken = \"pb_secret\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_in(
        cli_home.path(),
        &["tenant", "list", "--profile", "default"],
        &[],
    );
    out.expect_refused("others may read it");
    out.expect_refused(&format!("chmod 600 {}", path.display()));
    // Without a token, the file may be readable: a URL is no secret.
    std::fs::write(
        &path,
        "default = \"open\"\n[profiles.open]\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    run_in(cli_home.path(), &["tenant", "list"], &[]).expect_refused("needs a token");
}

#[test]
fn login_checks_the_token_and_saves_a_profile_only_its_owner_may_read() {
    let data = temp_dir();
    let host = TestHost::start(data.path(), FAST_LEASES);
    let cli = Cli::new(&host);
    cli.run_env(
        &[
            "login",
            "--url",
            &cli.url,
            "--token",
            "pb_wrong-token-that-is-long-enough-0000",
        ],
        &[],
    )
    .expect_refused("HTTP 401");
    assert!(
        !cli.profile_file().exists(),
        "nothing saved for a wrong token"
    );
    let out = cli.run_env(
        &["login", "--url", &cli.url, "--profile", "local"],
        &[("PLUGBOARD_TOKEN", &cli.token)],
    );
    assert!(out.expect_ok("login").contains("(the default)"), "{out:?}");
    let mode = std::fs::metadata(cli.profile_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = std::fs::read_to_string(cli.profile_file()).unwrap();
    assert!(saved.contains("[profiles.local]"), "{saved}");
    // Every command now reaches the server with nothing else given.
    cli.run_env(&["tenant", "create", "acme"], &[])
        .expect_ok("a command with the saved profile");
    let jobs = cli.run_env(&["job", "list", "--json"], &[]);
    jobs.expect_ok("job list with the saved profile");
    assert!(host.terminate().success());
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let home = temp_dir();
    for (shell, mark) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef plugboard"),
        ("fish", "complete -c plugboard"),
    ] {
        let out = run_in(home.path(), &["completions", shell], &[]);
        let script = out.expect_ok(shell);
        assert!(script.contains(mark), "{shell}: {script}");
        assert!(
            script.contains("token"),
            "{shell} completes the subcommands"
        );
    }
    run_in(home.path(), &["completions", "tcsh"], &[]).expect_usage_error("invalid value 'tcsh'");
}
