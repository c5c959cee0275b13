//! A PID namespace per plugin instance, with plugboard's own binary as its small init: when the
//! instance's process ends, or the host dies even by `kill -9`, the kernel kills every process
//! the plugin started, daemons that left its process group and session included.
//!
//! Owns: the `__plugin-init` mode of the `plugboard` binary and the descriptor of that binary the
//! host starts it from. Must not touch: anything of the host's state; the mode runs before the
//! command line is parsed, in a process that is already confined (`process.rs` applied every
//! protection between fork and exec, and asked for `CLONE_NEWPID`).
//!
//! Three processes per instance, all in the instance's cgroup and process group:
//! - the **launcher**, the host's child, outside the namespace: it forks the init and mirrors
//!   its end (exit code) to the host, forwarding the signals it gets;
//! - the **init**, pid 1 of the namespace: it forks the plugin, reaps every orphan of the
//!   namespace, forwards signals to the plugin, and exits with the plugin's status;
//! - the **plugin**, pid 2.
//!
//! Each dies with its parent (`PR_SET_PDEATHSIG`): the host's death kills the launcher, whose
//! death kills the init, whose death makes the kernel kill the namespace. The launcher and the
//! init close their stdin, stdout and stderr, so the host sees the plugin's stdout close when the
//! plugin closes it.
//!
//! Known limit: only the real `plugboard` binary has this mode (`main.rs` calls [`run_if_asked`]
//! and [`InitBinary::register`]); a host built into another program runs plugins without a PID
//! namespace, which `plugboard doctor` says.

use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::OnceLock;

/// The first argument that selects the init mode.
pub const INIT_ARGUMENT: &str = "__plugin-init";

/// The signals the launcher and the init pass on to the plugin.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// The `plugboard` binary, open, to start launchers from.
#[derive(Debug)]
pub struct InitBinary {
    fd: OwnedFd,
    path: std::path::PathBuf,
}

static BINARY: OnceLock<InitBinary> = OnceLock::new();

impl InitBinary {
    /// Opens the running binary so that launchers can be started from it, whatever its folder's
    /// permissions and even after the file is replaced. Called by `main.rs` before anything else.
    pub fn register() {
        let Ok(path) = std::env::current_exe() else {
            return;
        };
        let Ok(file) = std::fs::File::open(&path) else {
            return;
        };
        let _ = BINARY.set(InitBinary {
            fd: OwnedFd::from(file),
            path,
        });
    }

    /// The registered binary, if this process is the `plugboard` binary.
    pub fn get() -> Option<&'static InitBinary> {
        BINARY.get()
    }

    /// What to execute: the binary through this process's descriptor of it.
    pub fn program(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }

    /// The binary's path, for its Landlock rule.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Runs the init mode when the command line asks for it: never returns then. Otherwise returns
/// and `main` goes on.
pub fn run_if_asked() {
    let mut arguments = std::env::args_os();
    let _ = arguments.next();
    if arguments.next().as_deref() != Some(std::ffi::OsStr::new(INIT_ARGUMENT)) {
        return;
    }
    let command: Vec<OsString> = arguments.collect();
    let code = launch(&command);
    std::process::exit(code);
}

/// The launcher: forks the init (pid 1 of the namespace the host asked for) and mirrors it.
fn launch(command: &[OsString]) -> i32 {
    let Some(program) = command.first() else {
        eprintln!("plugboard: {INIT_ARGUMENT} needs the plugin's command");
        return 127;
    };
    let Ok(program) = CString::new(program.as_encoded_bytes()) else {
        eprintln!("plugboard: the plugin's program holds a NUL byte");
        return 127;
    };
    let mut arguments = Vec::new();
    for argument in command {
        match CString::new(argument.as_encoded_bytes()) {
            Ok(argument) => arguments.push(argument),
            Err(_) => {
                eprintln!("plugboard: an argument of the plugin holds a NUL byte");
                return 127;
            }
        }
    }
    let mut pointers: Vec<*const libc::c_char> = arguments.iter().map(|a| a.as_ptr()).collect();
    pointers.push(std::ptr::null());
    // SAFETY: signal masks and handlers of this single-threaded process; fork, then only
    // async-signal-safe calls in the children until they exec or exit.
    unsafe {
        let mask = block_signals();
        let init = libc::fork();
        if init < 0 {
            eprintln!(
                "plugboard: cannot start the plugin's init: {}",
                std::io::Error::last_os_error()
            );
            return 127;
        }
        if init == 0 {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            libc::_exit(be_init(&program, &pointers, &mask));
        }
        close_stdio();
        mirror(init, &mask)
    }
}

/// Pid 1: forks the plugin, reaps every process of the namespace, forwards signals to the
/// plugin, and ends with it. Async-signal-safe.
unsafe fn be_init(
    program: &CString,
    arguments: &[*const libc::c_char],
    mask: &libc::sigset_t,
) -> i32 {
    // Pid 1 receives a signal from outside its namespace only when it has a handler for it.
    for signal in FORWARDED.iter().copied() {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = ignore_signal as *const () as usize;
        libc::sigaction(signal, &action, std::ptr::null_mut());
    }
    let plugin = libc::fork();
    if plugin < 0 {
        return 127;
    }
    if plugin == 0 {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for signal in FORWARDED.iter().copied() {
            libc::signal(signal, libc::SIG_DFL);
        }
        libc::execvp(program.as_ptr(), arguments.as_ptr());
        let message = b"plugboard: cannot execute the plugin's program\n";
        libc::write(2, message.as_ptr().cast(), message.len());
        libc::_exit(127);
    }
    close_stdio();
    loop {
        let signal = libc::sigwaitinfo(mask, std::ptr::null_mut());
        if signal == libc::SIGCHLD {
            loop {
                let mut status = 0;
                let reaped = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if reaped <= 0 {
                    break;
                }
                if reaped == plugin {
                    return exit_code(status);
                }
            }
        } else if signal > 0 {
            libc::kill(plugin, signal);
        }
    }
}

/// The launcher's wait for the init: signals passed on, its end mirrored. Async-signal-safe.
unsafe fn mirror(init: libc::pid_t, mask: &libc::sigset_t) -> i32 {
    loop {
        let signal = libc::sigwaitinfo(mask, std::ptr::null_mut());
        if signal == libc::SIGCHLD {
            let mut status = 0;
            if libc::waitpid(init, &mut status, libc::WNOHANG) == init {
                return exit_code(status);
            }
        } else if signal > 0 {
            libc::kill(init, signal);
        }
    }
}

/// An exit status as a process's exit code: the code, or 128 + the signal that ended it.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// Blocks the forwarded signals and `SIGCHLD`, to take them with `sigwaitinfo`; the set.
unsafe fn block_signals() -> libc::sigset_t {
    let mut mask: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut mask);
    for signal in FORWARDED.iter().copied().chain([libc::SIGCHLD]) {
        libc::sigaddset(&mut mask, signal);
    }
    libc::sigprocmask(libc::SIG_BLOCK, &mask, std::ptr::null_mut());
    mask
}

/// Lets go of stdin, stdout and stderr: they are the plugin's, and the host sees the plugin's
/// stdout close only when no one else holds it.
unsafe fn close_stdio() {
    for fd in 0..3 {
        libc::close(fd);
    }
}
