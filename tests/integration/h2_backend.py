"""An HTTP/2 backend in cleartext (prior knowledge), written with python3-h2, that reports what it
received: every request is answered 200 with a text body of `key: value` lines giving the
method, path, the request body's length and SHA-256, and each request trailer as
`trailer-NAME: VALUE`. On a path starting with /trailers it ends its response with trailers
(`x-checksum`: the SHA-256 of the response body, `x-done: yes`).

Usage: h2_backend.py PORT. One thread per connection; stops on SIGTERM."""
import hashlib
import signal
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events


def serve(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    streams = {}
    pending = {}  # stream id -> (response body left to send, trailers)

    def flush_pending():
        for sid in list(pending):
            body, trailers = pending[sid]
            while body:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                conn.send_data(sid, body[:room])
                body = body[room:]
            if body:
                pending[sid] = (body, trailers)
                continue
            if trailers:
                conn.send_headers(sid, trailers, end_stream=True)
            else:
                conn.end_stream(sid)
            del pending[sid]

    while True:
        try:
            data = sock.recv(1 << 20)
        except OSError:
            return
        if not data:
            return
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.RequestReceived):
                streams[event.stream_id] = {"headers": dict(event.headers), "hash": hashlib.sha256(),
                                            "length": 0, "trailers": []}
            elif isinstance(event, h2.events.DataReceived):
                st = streams.get(event.stream_id)
                if st is not None:
                    st["hash"].update(event.data)
                    st["length"] += len(event.data)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.TrailersReceived):
                st = streams.get(event.stream_id)
                if st is not None:
                    st["trailers"] = list(event.headers)
            elif isinstance(event, h2.events.StreamEnded):
                st = streams.pop(event.stream_id, None)
                if st is None:
                    continue
                path = st["headers"].get(":path", "")
                lines = [f"method: {st['headers'].get(':method')}", f"path: {path}",
                         f"body-length: {st['length']}", f"body-sha256: {st['hash'].hexdigest()}"]
                lines += [f"trailer-{k}: {v}" for k, v in st["trailers"]]
                body = ("\n".join(lines) + "\n").encode()
                trailers = None
                if path.startswith("/trailers"):
                    trailers = [("x-checksum", hashlib.sha256(body).hexdigest()), ("x-done", "yes")]
                conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "text/plain")])
                pending[event.stream_id] = (body, trailers)
            elif isinstance(event, h2.events.StreamReset):
                streams.pop(event.stream_id, None)
                pending.pop(event.stream_id, None)
        flush_pending()
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                return


def main():
    port = int(sys.argv[1])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=lambda: (serve(client), client.close()), daemon=True).start()


if __name__ == "__main__":
    main()
