"""gRPC through sluice with python3-grpcio on both sides (an h2c cluster, clients over h2c): all
four call kinds, trailers (grpc-status, grpc-message) passed through, calls spread over two
servers, and sluice's own failures answered as gRPC statuses: DEADLINE_EXCEEDED when the client's
grpc-timeout passes, UNAVAILABLE when no server is up."""
import grpc

from harness import *


def grpc_backend(name):
    port = free_port()
    p = start(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_backend.py"),
               str(port), name])
    wait_port(port, proc=p)

    class B:
        address = f"127.0.0.1:{port}"
        proc = p
    return B()


def grpc_sluice(backends, health=""):
    eps = ", ".join(b.address for b in backends)
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: grpc }}] }}
clusters:
  - name: grpc
    protocol: h2c
{health}    endpoints: [{eps}]
""")


def stub(channel, kind, name):
    return getattr(channel, kind)(f"/test.Echo/{name}")


def test_all_call_kinds_and_trailers():
    a, b = grpc_backend("a"), grpc_backend("b")
    s = grpc_sluice([a, b])
    with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        servers = set()
        for i in range(20):  # unary, spread over both servers (one connection from the client)
            answer = stub(ch, "unary_unary", "Unary")(b"hi%d" % i, timeout=10)
            name, _, rest = answer.partition(b":")
            assert rest == b"hi%d" % i, answer
            servers.add(name)
        assert servers == {b"a", b"b"}, servers
        got = list(stub(ch, "unary_stream", "ServerStream")(b"5", timeout=10))
        assert [g.split(b":")[1] for g in got] == [b"0", b"1", b"2", b"3", b"4"], got
        answer = stub(ch, "stream_unary", "ClientStream")(iter([b"x", b"y", b"z"]), timeout=10)
        assert answer.split(b":")[1] == b"x,y,z", answer
        got = list(stub(ch, "stream_stream", "Bidi")(iter([b"1", b"2", b"3"]), timeout=10))
        assert [g.split(b":")[1] for g in got] == [b"1", b"2", b"3"], got
        # a status from the server arrives as it was sent, message included
        try:
            stub(ch, "unary_unary", "Fail")(b"thing", timeout=10)
            raise AssertionError("Fail succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND and e.details() == "no such thing: thing", e


def test_deadline_is_deadline_exceeded():
    # A raw HTTP/2 client (python3-h2) sends grpc-timeout: 300m and then waits as long as needed,
    # so what it sees is sluice's answer at the deadline, not its own timer; the server is
    # stopped (SIGSTOP), so that it cannot answer DEADLINE_EXCEEDED itself.
    import socket
    import h2.config
    import h2.connection
    import h2.events
    a = grpc_backend("a")
    s = grpc_sluice([a])
    a.proc.send_signal(signal.SIGSTOP)
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":path", "/test.Echo/Slow"), (":scheme", "http"),
                          (":authority", "grpc"), ("content-type", "application/grpc"), ("te", "trailers"),
                          ("grpc-timeout", "300m")])
    conn.send_data(1, b"\x00" + (4).to_bytes(4, "big") + b"3000", end_stream=True)
    sock.sendall(conn.data_to_send())
    headers = {}
    for _ in range(100):  # bounded
        data = sock.recv(65536)
        if not data:
            break
        for e in conn.receive_data(data):
            if isinstance(e, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers.update(dict(e.headers))
        sock.sendall(conn.data_to_send())
        if "grpc-status" in headers:
            break
    sock.close()
    a.proc.send_signal(signal.SIGCONT)
    assert headers.get(":status") == "200" and headers.get("grpc-status") == "4", headers
    assert s.metric('sluice_timeouts_total{listener="web",kind="request"}') == 1
    # and the grpc client's own deadline, for completeness, on a call that would take 3 s
    with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        try:
            stub(ch, "unary_unary", "Slow")(b"3000", timeout=0.3)
            raise AssertionError("Slow succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, (e.code(), e.details())
        assert stub(ch, "unary_unary", "Slow")(b"10", timeout=10) == b"a:slept"


def test_no_server_is_unavailable():
    a = grpc_backend("a")
    s = grpc_sluice([a])
    stop(a.proc)
    with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        try:
            stub(ch, "unary_unary", "Unary")(b"hi", timeout=10)
            raise AssertionError("call succeeded with no server")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, (e.code(), e.details())


def test_grpc_health_check_takes_a_not_serving_server_out():
    a, b = grpc_backend("a"), grpc_backend("b")
    s = grpc_sluice([a, b], health="    health_check: { type: grpc, interval: 200ms, timeout: 1s, healthy: 1, unhealthy: 1 }\n")

    def states():
        clusters = json.loads(s.admin("GET", "/clusters")[2])["clusters"]
        return {e["address"]: e["state"] for e in clusters[0]["endpoints"]}
    wait_for(lambda: set(states().values()) == {"healthy"}, what="both serving")
    # a says NOT_SERVING (told directly, not through sluice)
    with grpc.insecure_channel(a.address) as direct:
        stub(direct, "unary_unary", "SetServing")(b"0", timeout=10)
    wait_for(lambda: states() == {a.address: "unhealthy", b.address: "healthy"}, what="a out")
    with grpc.insecure_channel(f"127.0.0.1:{s.port}") as ch:
        names = {stub(ch, "unary_unary", "Unary")(b"x", timeout=10).split(b":")[0] for _ in range(10)}
    assert names == {b"b"}, names
    with grpc.insecure_channel(a.address) as direct:
        stub(direct, "unary_unary", "SetServing")(b"1", timeout=10)
    wait_for(lambda: set(states().values()) == {"healthy"}, what="a back")


if __name__ == "__main__":
    run_tests(globals())
