"""A small TCP backend for the stream tier tests. Usage: tcp_backend.py PORT NAME
Each connection: the first line says what to do.
  "hash\\n" + data, then the client's FIN  -> answers "<name> <bytes> <sha256>\\n" and closes
  "name\\n"                                -> answers "<name>\\n" and closes
  "idle\\n"                                -> waits until the peer closes"""
import hashlib
import socket
import sys
import threading

port, name = int(sys.argv[1]), sys.argv[2]


def serve(conn):
    with conn:
        buf = b""
        while b"\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
        command, rest = buf.split(b"\n", 1)
        if command == b"hash":
            h = hashlib.sha256(rest)
            n = len(rest)
            while True:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            # the client's FIN arrived and we can still answer: a half-closed connection
            conn.sendall(f"{name} {n} {h.hexdigest()}\n".encode())
        elif command == b"name":
            conn.sendall(f"{name}\n".encode())
        elif command == b"idle":
            while conn.recv(65536):
                pass


server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
