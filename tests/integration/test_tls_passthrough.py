"""TLS passthrough routed by SNI: two nginx backends with their own certificates behind one sluice
port; openssl s_client and curl reach the right one and see that backend's certificate; no SNI
goes to the default route; garbage and silence are closed and counted."""
import subprocess

from harness import *


def make_cert(name):
    key, crt = tmp_path(f"{name}.key"), tmp_path(f"{name}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return key, crt


def tls_nginx(name):
    key, crt = make_cert(name)
    n = Nginx(f"""    listen 127.0.0.1:PORT2 ssl;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    location / {{ return 200 "{name}\\n"; }}
""".replace("PORT2", str(free_port())))
    n.tls_port = int(re.search(r"listen 127\.0\.0\.1:(\d+) ssl", open(n.conf).read()).group(1))
    n.tls_address = f"127.0.0.1:{n.tls_port}"
    return n


def setup(default=True):
    a, b = tls_nginx("a.test"), tls_nginx("b.test")
    routes = ("      - { match: { sni: a.test }, cluster: a }\n"
              "      - { match: { sni: \"*.b.test\" }, cluster: b }\n"
              "      - { match: { sni: b.test }, cluster: b }\n")
    if default:
        routes += "      - { cluster: a }\n"
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: tls
    protocol: tls_passthrough
    listen: 127.0.0.1:{{port}}
    timeouts: {{ client_hello: 1s }}
    routes:
{routes}clusters:
  - {{ name: a, endpoints: [{a.tls_address}] }}
  - {{ name: b, endpoints: [{b.tls_address}] }}
""")
    return s, a, b


def subject(port, servername):
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    if servername:
        args += ["-servername", servername]
    else:
        args += ["-noservername"]
    out = subprocess.run(args, input="", capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"subject=CN ?= ?(\S+)", out)
    return m.group(1) if m else None


def test_sni_routes_to_the_right_backend_untouched():
    s, a, b = setup()
    assert subject(s.port, "a.test") == "a.test"
    assert subject(s.port, "b.test") == "b.test"
    assert subject(s.port, "x.b.test") == "b.test"  # wildcard route
    assert subject(s.port, None) == "a.test"        # no SNI: the default route
    for name in ["a.test", "b.test"]:
        out = subprocess.run(["curl", "-sS", "--cacert", tmp_path(f"{name}.crt"), "--resolve",
                              f"{name}:{s.port}:127.0.0.1", f"https://{name}:{s.port}/"],
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0 and out.stdout == f"{name}\n", (name, out)  # the backend's own cert verifies


def test_no_route_garbage_and_silence_are_closed_and_counted():
    s, a, b = setup(default=False)
    assert subject(s.port, "other.test") is None  # no route for it
    assert raw(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""  # not TLS
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:  # silent client
        c.settimeout(5)
        assert c.recv(10) == b""  # closed after timeouts.client_hello
    rejected = 'sluice_tls_passthrough_rejected_total{listener="tls",reason="%s"}'
    assert s.metric(rejected % "no_route") == 1
    assert s.metric(rejected % "bad_client_hello") >= 2  # garbage and silence


if __name__ == "__main__":
    run_tests(globals())
