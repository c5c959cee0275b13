//! The test harness: runs the real `plugboard` binary in a temporary data directory on a port
//! chosen by the OS, and kills and reaps it on drop.

pub mod cli;
pub mod mcp_clients;
pub mod packages;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plugboard::store::postgres::{PostgresOptions, PostgresStore};
use plugboard::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use plugboard::store::{Job, JobId, JobStatus, NewJob, Store};

pub const BINARY: &str = env!("CARGO_BIN_EXE_plugboard");

/// Flags that make leases, heartbeats and rescue fast enough for a test.
pub const FAST_LEASES: &[&str] = &[
    "--lease-ms",
    "1500",
    "--heartbeat-ms",
    "300",
    "--rescue-interval-ms",
    "100",
    "--poll-interval-ms",
    "200",
    "--retry-base-ms",
    "20",
];

/// A running `plugboard serve`.
pub struct TestHost {
    child: Child,
    pub address: String,
    /// The admin token the server made in its data directory (`admin-token`).
    pub admin_token: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl TestHost {
    /// Starts `plugboard serve --data-dir DIR --listen 127.0.0.1:0 EXTRA…` and waits until it says
    /// it is running.
    pub fn start(data_dir: &Path, extra: &[&str]) -> TestHost {
        TestHost::start_with_env(data_dir, extra, &[])
    }

    /// [`TestHost::start`] with these environment variables set for the server.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> TestHost {
        TestHost::start_from(Command::new(BINARY), data_dir, extra, env)
    }

    /// [`TestHost::start_with_env`] from `command` (another copy of the binary, another user):
    /// its arguments, environment and pipes are set here.
    pub fn start_from(
        mut command: Command,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> TestHost {
        die_with_the_test(&mut command);
        let mut child = command
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("PLUGBOARD_LOG", "info")
            .env_remove("PLUGBOARD_DATABASE_URL")
            .env_remove("PLUGBOARD_ADMIN_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the plugboard binary starts");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let pipe = child.stderr.take().expect("stderr is piped");
        let lines = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = loop {
            let found = stderr.lock().unwrap().iter().find_map(|line| {
                line.contains("plugboard is running")
                    .then(|| {
                        line.split("address=")
                            .nth(1)?
                            .split_whitespace()
                            .next()
                            .map(str::to_owned)
                    })
                    .flatten()
            });
            if let Some(address) = found {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "plugboard serve exited with {status} before it was running:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "plugboard serve did not start within 30 s:\n{}",
                stderr.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let admin_token = match env
            .iter()
            .find(|(name, _)| *name == "PLUGBOARD_ADMIN_TOKEN")
        {
            Some((_, token)) => (*token).to_owned(),
            None => std::fs::read_to_string(data_dir.join("admin-token"))
                .expect("serve keeps its admin token in the data directory")
                .trim()
                .to_owned(),
        };
        TestHost {
            child,
            address,
            admin_token,
            stderr,
        }
    }

    /// The lease owner name the server reported at start.
    pub fn worker_id(&self) -> String {
        let log = self.log();
        let line = log
            .lines()
            .find(|line| line.contains("plugboard is running"))
            .expect("the start line");
        line.split("worker=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("a worker id")
            .to_owned()
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// `kill -9`, then reap.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the killed server is reaped");
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> ExitStatus {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for the server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "plugboard serve did not stop within 30 s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// GET over real HTTP; returns (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(&self.address).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            self.address,
            self.admin_token
        )
        .unwrap();
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes the child die when the test process dies, even by `kill -9`, so that an interrupted
/// test run leaves no server behind.
pub fn die_with_the_test(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the child being started.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Runs `plugboard ARGS…` to completion, on the store: nothing names a server (no profile file
/// is found where `XDG_CONFIG_HOME` points).
pub fn plugboard(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .env_remove("PLUGBOARD_DATABASE_URL")
        .env_remove("PLUGBOARD_URL")
        .env_remove("PLUGBOARD_TOKEN")
        .env_remove("PLUGBOARD_PROFILE")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("PLUGBOARD_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("the plugboard binary runs")
}

/// The store of a data directory, opened from the test process (a second process on the file).
pub async fn sqlite_store(data_dir: &Path) -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::open(SqliteOptions {
            path: data_dir.join("plugboard.db"),
            synchronous: Synchronous::Normal,
        })
        .await
        .expect("the test opens the server's SQLite file"),
    )
}

/// A fresh PostgreSQL schema for one test, or `None` (said loudly) without a test database.
pub struct PostgresSchema {
    pub url: String,
    pub schema: String,
}

impl PostgresSchema {
    pub fn new(test: &str) -> Option<PostgresSchema> {
        let Ok(url) = std::env::var("PLUGBOARD_TEST_DATABASE_URL") else {
            eprintln!("SKIPPED {test} on PostgreSQL: set PLUGBOARD_TEST_DATABASE_URL to run it");
            return None;
        };
        Some(PostgresSchema {
            url,
            schema: format!("pb_it_{}_{}", std::process::id(), rand::random::<u32>()),
        })
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        Arc::new(
            PostgresStore::connect(PostgresOptions {
                url: self.url.clone(),
                schema: Some(self.schema.clone()),
                pool_size: 4,
            })
            .await
            .expect("PLUGBOARD_TEST_DATABASE_URL is set but PostgreSQL cannot be used"),
        )
    }

    pub fn flags(&self) -> Vec<String> {
        vec![
            "--database-url".into(),
            self.url.clone(),
            "--database-schema".into(),
            self.schema.clone(),
        ]
    }

    pub async fn drop(self) {
        PostgresStore::drop_schema(&self.url, &self.schema)
            .await
            .expect("dropping the test schema");
    }
}

/// Waits until every job in `ids` has `status`, or fails with what they are.
pub async fn wait_all(
    store: &Arc<dyn Store>,
    ids: &[JobId],
    status: JobStatus,
    within: Duration,
) -> Vec<Job> {
    let deadline = Instant::now() + within;
    loop {
        let mut jobs = Vec::with_capacity(ids.len());
        for id in ids {
            jobs.push(store.job_get(*id).await.unwrap().expect("the job exists"));
        }
        if jobs.iter().all(|job| job.status == status) {
            return jobs;
        }
        if Instant::now() > deadline {
            let stuck: Vec<_> = jobs
                .iter()
                .filter(|job| job.status != status)
                .map(|job| (job.id, job.status, job.error.clone()))
                .collect();
            panic!("{} jobs never became {status}: {stuck:?}", stuck.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A temporary directory that the test keeps for its whole run.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// Enqueues `jobs` in one call and returns their ids, in order.
pub async fn enqueue_all(store: &Arc<dyn Store>, jobs: Vec<NewJob>) -> Vec<JobId> {
    store
        .job_enqueue_many(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|enqueued| enqueued.id)
        .collect()
}

/// How many jobs, over all queues, have `status`.
pub async fn count_with(store: &Arc<dyn Store>, status: JobStatus) -> i64 {
    store
        .job_counts()
        .await
        .unwrap()
        .iter()
        .filter(|count| count.status == status)
        .map(|count| count.count)
        .sum()
}
