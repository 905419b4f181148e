"""A nonblocking selectors server (as in the socket tutorial's multi-connection part), correct except that it
replies with one `send` and ignores how many bytes it took: when the client reads slowly, the socket buffer has
less room than a reply, `send` writes only part of it (or raises BlockingIOError), and the rest is lost."""
import selectors
import socket
import sys

port = int(sys.argv[1])
sel = selectors.DefaultSelector()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
s.setblocking(False)
sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        if key.fileobj is s:
            conn, _ = s.accept()
            conn.setblocking(False)
            sel.register(conn, selectors.EVENT_READ)
            continue
        conn = key.fileobj
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn)
            conn.close()
            continue
        try:
            conn.send(data.upper())  # the bug: the count it returns is ignored
        except BlockingIOError:
            pass
        except OSError:
            sel.unregister(conn)
            conn.close()
