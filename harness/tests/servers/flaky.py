"""Correct, except on one start in three: that process ends every reply with a newline it was not sent.

Usage: flaky.py COUNTER PORT. Every start counts itself in COUNTER (a file shared by all starts, locked while it is
read and written); the starts numbered 2, 5, 8, ... are the broken ones. An exploration on real sockets starts a
server of its own for every case and every re-run, so one case in three fails, and its three re-runs, started side
by side, meet a broken server once: a flaky failure, which must never be reported as a verdict on the server."""
import fcntl
import socket
import sys
import threading

counter, port = sys.argv[1], int(sys.argv[2])
with open(counter, "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    start = len(f.read().splitlines())
    f.write("started\n")
    f.flush()
    fcntl.flock(f, fcntl.LOCK_UN)
broken = start % 3 == 2


def serve(conn):
    with conn:
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data.upper() + (b"\n" if broken else b""))
        except OSError:
            pass


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
