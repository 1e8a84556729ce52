"""A gRPC server (python3-grpcio, generic handlers on raw bytes, no generated code) with one method
of each kind under /test.Echo/: Unary, ServerStream, ClientStream, Bidi; Slow (sleeps as long as
the request says, in ms), Fail (answers NOT_FOUND with a message) and SetServing ("0"/"1"),
which the grpc.health.v1 Check it also serves reports. Every answer names the server. Usage: grpc_backend.py PORT NAME"""
import sys
import time
from concurrent import futures

import grpc

PORT, NAME = int(sys.argv[1]), sys.argv[2].encode()


def unary(req, ctx):
    return NAME + b":" + req


def server_stream(req, ctx):
    for i in range(int(req)):
        yield NAME + b":" + str(i).encode()


def client_stream(reqs, ctx):
    return NAME + b":" + b",".join(reqs)


def bidi(reqs, ctx):
    for r in reqs:
        yield NAME + b":" + r


def slow(req, ctx):
    time.sleep(int(req) / 1000)
    return NAME + b":slept"


SERVING = [True]


def set_serving(req, ctx):
    SERVING[0] = req == b"1"
    return b"ok"


def health_check(req, ctx):
    # grpc.health.v1 HealthCheckResponse { status: SERVING (1) or NOT_SERVING (2) }, by hand
    return b"\x08\x01" if SERVING[0] else b"\x08\x02"


def fail(req, ctx):
    ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())


handlers = {
    "Unary": grpc.unary_unary_rpc_method_handler(unary),
    "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
    "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
    "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    "Slow": grpc.unary_unary_rpc_method_handler(slow),
    "Fail": grpc.unary_unary_rpc_method_handler(fail),
    "SetServing": grpc.unary_unary_rpc_method_handler(set_serving),
}
health = {"Check": grpc.unary_unary_rpc_method_handler(health_check)}
server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),
                                 grpc.method_handlers_generic_handler("grpc.health.v1.Health", health)))
server.add_insecure_port(f"127.0.0.1:{PORT}")
server.start()
server.wait_for_termination()
