"""The tutorial's first server: no connection loop, it serves one client and exits."""
import socket
import sys

port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
# The harness's readiness probe connects and leaves at once: skip connections that send nothing.
while True:
    conn, _ = s.accept()
    data = conn.recv(1024)
    if data:
        break
    conn.close()
with conn:
    try:
        while data:
            conn.sendall(data.upper())
            data = conn.recv(1024)
    except OSError:
        pass
