//! Launching a server command: start `CMD {port}` in its own process group on a free port, wait until it
//! listens (read from the kernel's tables), and kill the whole group when done, on panic (the guard's `Drop`) and
//! on Ctrl-C ([`kill_all_managed`]). Both the black-box properties and the real-socket runner start servers
//! through this; it knows nothing of properties or scenarios.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::kernel::{sockets_on_port, TcpState};

/// How long a started server may take to listen on its port, unless told otherwise.
pub const DEFAULT_STARTUP: Duration = Duration::from_secs(10);

/// The server under test.
#[derive(Debug, Clone, PartialEq)]
pub enum Server {
    /// A command line the harness runs; `{port}` is replaced by the port to listen on.
    Command(String),
    /// A server already listening there (restart properties are skipped).
    Addr(SocketAddr),
}

impl Server {
    /// How the report names it.
    pub fn name(&self) -> String {
        match self {
            Server::Command(c) => c.clone(),
            Server::Addr(a) => a.to_string(),
        }
    }
}

/// Why a black-box run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The command line is empty or has no `{port}`.
    #[error("--target command `{0}` must contain `{{port}}`, where the harness puts the port to listen on")]
    NoPort(String),
    /// The command could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: io::Error,
    },
    /// The server never answered on its port.
    #[error("`{command}` did not answer on port {port} within {} ms{exited}; its stderr: {stderr}", waited.as_millis())]
    NotReady {
        /// The command line.
        command: String,
        /// The port it was given.
        port: u16,
        /// How long the harness waited.
        waited: Duration,
        /// ", it exited with ..." when it did.
        exited: String,
        /// The tail of its standard error.
        stderr: String,
    },
    /// A socket operation of the harness itself failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Process groups of the servers running now, killed by [`kill_all_managed`].
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Kills every managed server still running (for a Ctrl-C handler).
pub fn kill_all_managed() {
    for pgid in LIVE.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default() {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// A server process the harness started; killed (with its whole process group) when dropped.
pub struct Managed {
    /// The command line, with the port filled in.
    command: String,
    /// The port it listens on.
    port: u16,
    /// The child (the shell running the command, leader of its process group).
    child: Child,
    /// Where its standard error goes.
    stderr: PathBuf,
    /// Whether it was killed (and reaped) already.
    killed: bool,
}

impl Managed {
    /// Starts `template` with `{port}` replaced by `port`, in a new process group.
    pub fn spawn(template: &str, port: u16) -> Result<Managed, LaunchError> {
        use std::os::unix::process::CommandExt;
        if !template.contains("{port}") {
            return Err(LaunchError::NoPort(template.into()));
        }
        let command = template.replace("{port}", &port.to_string());
        static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let stderr = std::env::temp_dir().join(format!("echo-harness-{}-{n}-{port}.stderr", std::process::id()));
        let file = std::fs::File::create(&stderr)?;
        // A simple command replaces the shell (`exec`), so the server itself is the child: it then gets the
        // parent-death signal below, and no shell sits between it and the kill.
        let simple = !command.contains(['&', '|', ';', '(', ')', '<', '>', '`', '$', '\n']);
        let script = if simple { format!("exec {command}") } else { command.clone() };
        let mut command_line = Command::new("sh");
        command_line.arg("-c").arg(&script).stdin(Stdio::null()).stdout(Stdio::null()).stderr(file).process_group(0);
        // SAFETY: prctl(2) in the child between fork and exec, touching no memory: if the harness dies (even by
        // SIGKILL), the kernel kills the child too (a server a compound command forks is reached by the group
        // kill only, which SIGKILL of the harness leaves undone).
        unsafe {
            command_line.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command_line.spawn().map_err(|source| LaunchError::Spawn { command: command.clone(), source })?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(child.id() as i32);
        }
        Ok(Managed { command, port, child, stderr, killed: false })
    }

    /// Starts `template` on `port` and waits (at most `within`) until it listens.
    pub async fn start(template: &str, port: u16, within: Duration) -> Result<Managed, LaunchError> {
        let mut managed = Managed::spawn(template, port)?;
        managed.wait_ready(within).await?;
        Ok(managed)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until a connect to its port succeeds.
    pub async fn wait_ready(&mut self, within: Duration) -> Result<(), LaunchError> {
        let started = Instant::now();
        loop {
            // Ready once a socket listens on the port: read from the kernel's tables rather than probed with a
            // connect, which a server that serves a single client would spend on the probe. Where there are no
            // such tables, a connect it is.
            match sockets_on_port(self.port, &[TcpState::Listen]) {
                Some(n) if n > 0 => return Ok(()),
                Some(_) => {}
                None => {
                    let probe = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(self.addr()));
                    if let Ok(Ok(stream)) = probe.await {
                        drop(stream);
                        return Ok(());
                    }
                }
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() >= within {
                return Err(LaunchError::NotReady {
                    command: self.command.clone(),
                    port: self.port,
                    waited: started.elapsed(),
                    exited: exited.map_or(String::new(), |s| format!(", it exited ({s})")),
                    stderr: self.stderr_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The last line or so of its standard error, on one line.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(2)..].join(" / ");
        if tail.is_empty() {
            "(empty)".into()
        } else {
            tail.chars().take(300).collect()
        }
    }

    /// Kills the process group (SIGKILL) and reaps the child.
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        let pgid = self.child.id() as i32;
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|&p| p != pgid);
        }
        // While the shell is not reaped its pid (and so the group id) cannot be reused: signal only then.
        if matches!(self.child.try_wait(), Ok(None)) {
            // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.wait();
        // The shell is reaped, but the server it started may still be dying with its listener open: wait (at most
        // 2 s) until nothing listens on the port, so that a restart cannot meet the old listener.
        let deadline = Instant::now() + Duration::from_secs(2);
        let listening = |port| sockets_on_port(port, &[TcpState::Listen]).unwrap_or(0);
        while listening(self.port) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

/// Checks that `template` names a server that starts (on a free port, within `within`), then stops it: a server
/// that cannot even start is an input error, not a failed property.
pub async fn ensure_starts(template: &str, within: Duration) -> Result<(), LaunchError> {
    Managed::start(template, free_port()?, within).await.map(drop)
}

/// A free port on 127.0.0.1 (bound and released).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
