//! Launching a server command: start `CMD {port}` in its own process group on a free port, wait until it
//! listens (read from the kernel's tables), and kill the whole group when done, on panic (the guard's `Drop`) and
//! on Ctrl-C ([`kill_all_managed`]). Both the black-box properties and the real-socket runner start servers
//! through this; it knows nothing of properties or scenarios.
//!
//! A SIGKILL of the harness runs none of that, so every command runs under a watchdog ([`WATCHDOG`]): a shell in
//! the server's process group that waits for the harness's end of a pipe to close and then kills the group, so no
//! server outlives the harness, whatever the command's shape (`cd DIR && ...`, a pipeline, a list). The server's
//! standard error goes to a file that is unlinked as soon as it is opened: the harness reads the tail through its
//! own handle, and nothing is left in the temp directory however the harness ends.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::kernel::{any_socket_on_port, sockets_on_port, TcpState};

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

/// The shell every server command runs under (`sh -c WATCHDOG echo-harness-watchdog COMMAND`), leader of a new
/// process group, with the read end of a pipe as its standard input; only the harness holds the write end (it is
/// close-on-exec, so no other child inherits it). It moves the pipe to fd 3 and starts, in the same process group, a
/// watcher (a subshell that blocks reading fd 3 and, at end of file, SIGKILLs the whole group, itself included)
/// and then the command (`sh -c "$1"`, with stdin from /dev/null and without fd 3), and exits with the command's
/// status, so that a server that cannot start is still seen exiting. The pipe reaches end of file when the
/// harness closes its end: in [`Managed::kill`], or when the harness dies in any way, SIGKILL included (the
/// kernel closes a dead process's descriptors). The watcher also keeps the group id in use (a group lives while a
/// member does), so the group cannot be confused with a later one while the harness may still signal it.
pub const WATCHDOG: &str = "exec 3<&0 </dev/null\n\
                            { read -r _ <&3; kill -KILL 0; } &\n\
                            sh -c \"$1\" 3<&- &\n\
                            wait $!\n";

/// How much of a server's standard error [`Managed::stderr_tail`] reads: the end of it.
const STDERR_TAIL_BYTES: u64 = 64 * 1024;

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
    /// The child (the [`WATCHDOG`] shell running the command, leader of its process group).
    child: Child,
    /// The harness's end of the watchdog's pipe: closing it (or the harness dying) kills the group.
    watchdog: Option<io::PipeWriter>,
    /// A handle on its standard error (a file already unlinked).
    stderr: File,
    /// Whether it was killed (and reaped) already.
    killed: bool,
}

impl Managed {
    /// Starts `template` with `{port}` replaced by `port`, in a new process group, under the [`WATCHDOG`].
    pub fn spawn(template: &str, port: u16) -> Result<Managed, LaunchError> {
        use std::os::unix::process::CommandExt;
        if !template.contains("{port}") {
            return Err(LaunchError::NoPort(template.into()));
        }
        let command = template.replace("{port}", &port.to_string());
        let (stderr, capture) = stderr_capture(port)?;
        // Both ends are close-on-exec here; the read end becomes the watchdog's stdin (a dup without the flag).
        let (watched, watchdog) = io::pipe()?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("echo-harness-watchdog")
            .arg(&command)
            .stdin(watched)
            .stdout(Stdio::null())
            .stderr(capture)
            .process_group(0)
            .spawn()
            .map_err(|source| LaunchError::Spawn { command: command.clone(), source })?;
        if let Ok(mut live) = LIVE.lock() {
            live.push(child.id() as i32);
        }
        Ok(Managed { command, port, child, watchdog: Some(watchdog), stderr, killed: false })
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
            // Often at first (an interpreter listens within tens of milliseconds, and exploration starts a server
            // for every run), then every 20 ms.
            let pause = if started.elapsed() < Duration::from_millis(300) { 2 } else { 20 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }

    /// The last line or so of its standard error, on one line.
    pub fn stderr_tail(&self) -> String {
        let len = self.stderr.metadata().map_or(0, |m| m.len());
        let from = len.saturating_sub(STDERR_TAIL_BYTES);
        let mut bytes = vec![0u8; (len - from) as usize];
        // Positioned reads: the server writes through its own descriptor, and no offset is shared with it.
        let read = self.stderr.read_at(&mut bytes, from).unwrap_or(0);
        bytes.truncate(read);
        let text = String::from_utf8_lossy(&bytes);
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
        // Closing the pipe makes the watcher kill whatever is left of the group (processes a command that
        // exited on its own left behind); after the kill above, there is nothing left and nobody to read it.
        drop(self.watchdog.take());
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
    }
}

/// A file for a server's standard error that has no name (O_TMPFILE) or is unlinked at once: returns a handle to
/// read it and one to give the server. Nothing stays in the temp directory, whether the harness ends normally, by
/// Ctrl-C or by SIGKILL, even at the instant between creating a named file and unlinking it.
fn stderr_capture(port: u16) -> io::Result<(File, File)> {
    use std::os::unix::fs::OpenOptionsExt;
    let anonymous =
        File::options().read(true).write(true).mode(0o600).custom_flags(libc::O_TMPFILE).open(std::env::temp_dir());
    if let Ok(file) = anonymous {
        let write = file.try_clone()?;
        return Ok((file, write));
    }
    // A file system without O_TMPFILE: a named file, unlinked at once.
    static SPAWNED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("echo-harness-{}-{n}-{port}.stderr", std::process::id()));
    let write = File::options().write(true).create_new(true).open(&path)?;
    let read = File::open(&path);
    std::fs::remove_file(&path)?;
    Ok((read?, write))
}

/// Checks that `template` names a server that starts (on a free port, within `within`), then stops it: a server
/// that cannot even start is an input error, not a failed property.
pub async fn ensure_starts(template: &str, within: Duration) -> Result<(), LaunchError> {
    Managed::start(template, free_port()?, within).await.map(drop)
}

/// A free port on 127.0.0.1 for a server to listen on: drawn below the kernel's ephemeral range (so no client
/// socket of this or any other process is handed it meanwhile, as a port from `bind(0)` can be: then the server
/// cannot bind, and a probe may even connect to itself), with no socket on it in any state (a TIME_WAIT left by an
/// earlier server would fail a server that rightly does not set SO_REUSEADDR on its first start), and not handed
/// out by this process in its last [`RECENT_PORTS`] draws (tests and jobs in one process start servers side by
/// side). Where the range leaves too little room below it, the kernel picks (`bind(0)`).
pub fn free_port() -> io::Result<u16> {
    use rand::Rng;
    let (low, _) = ephemeral_range().unwrap_or((32768, 60999));
    let floor = 10_000u16;
    if low > floor + 1000 {
        let mut rng = rand::rng();
        for _ in 0..200 {
            let port = rng.random_range(floor..low);
            if recently_handed(port) {
                continue;
            }
            let bound = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(); // released at once
            let quiet = || any_socket_on_port(port).is_none_or(|n| n == 0);
            if bound && quiet() {
                remember(port);
                return Ok(port);
            }
        }
    }
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
    remember(port);
    Ok(port)
}

/// How many of its last draws [`free_port`] never hands out again.
pub const RECENT_PORTS: usize = 4096;

/// The ports [`free_port`] handed out lately, oldest first.
static HANDED: Mutex<std::collections::VecDeque<u16>> = Mutex::new(std::collections::VecDeque::new());

fn recently_handed(port: u16) -> bool {
    HANDED.lock().is_ok_and(|h| h.contains(&port))
}

fn remember(port: u16) {
    if let Ok(mut handed) = HANDED.lock() {
        if handed.len() == RECENT_PORTS {
            handed.pop_front();
        }
        handed.push_back(port);
    }
}

/// The kernel's range of ephemeral ports (`net.ipv4.ip_local_port_range`), where it can be read.
fn ephemeral_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    Some((parts.next()??, parts.next()??))
}
