"""Wrong only the first time it is ever started (it echoes without upper-casing), correct from then on.

Usage: wrong_first_time.py MARKER PORT. Every start appends a line to MARKER; the first start finds it empty."""
import socket
import sys
import threading

marker, port = sys.argv[1], int(sys.argv[2])
with open(marker, "a+") as f:
    f.seek(0)
    first = f.read() == ""
    f.write("started\n")


def serve(conn):
    with conn:
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data if first else data.upper())
        except OSError:
            pass


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
