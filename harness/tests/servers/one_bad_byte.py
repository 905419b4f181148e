"""Correct, except that byte 100,000 of each connection's echo comes back one off (a bit flipped in memory, say):
a single wrong byte in a long stream, which only a check of every byte finds."""
import socket
import sys
import threading

BAD = 100_000


def serve(conn):
    with conn:
        seen = 0
        try:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                reply = bytearray(data.upper())
                if seen <= BAD < seen + len(reply):
                    reply[BAD - seen] ^= 0x01
                seen += len(reply)
                conn.sendall(reply)
        except OSError:
            pass


port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(128)
while True:
    conn, _ = s.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
