//! The server process seen through /proc: which process listens on a TCP port (the socket's inode in
//! /proc/net/tcp, then the process holding a descriptor on it), its resident set and its open descriptors. Linux
//! only; anything unreadable (another user's process, no /proc) is `None`, never an error.

use std::fs;

/// The process that holds the socket listening on 127.0.0.1 (or any address) at `port`.
pub fn listener_pid(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|path| listening_inode(path, port))?;
    let target = format!("socket:[{inode}]");
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        if fds.flatten().any(|fd| fs::read_link(fd.path()).is_ok_and(|link| link.to_string_lossy() == target)) {
            return Some(pid);
        }
    }
    None
}

/// The inode of the socket listening at `port` in a /proc/net/tcp table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    let text = fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields.get(1)?.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())?;
        // State 0A is LISTEN.
        (local_port == port && *fields.get(3)? == "0A").then(|| fields.get(9)?.parse().ok()).flatten()
    })
}

/// The resident set of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:").map(|kib| kib * 1024)
}

/// The largest resident set `pid` has had since it started (VmHWM), in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:").map(|kib| kib * 1024)
}

/// A `kB` field of /proc/PID/status.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many descriptors `pid` has open.
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_listening_and_reads_its_memory_and_descriptors() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listener_pid(port), Some(std::process::id()));
        // Other tests open descriptors at the same time: only a floor can be checked here.
        assert!(open_fds(std::process::id()).unwrap() >= 4);
        drop(listener);
        let rss = rss_bytes(std::process::id()).unwrap();
        assert!(rss > 1024 * 1024);
        assert!(peak_rss_bytes(std::process::id()).unwrap() >= rss);
        assert_eq!(listener_pid(port), None, "nothing listens there any more");
    }
}
