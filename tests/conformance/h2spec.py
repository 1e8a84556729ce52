"""h2spec (HTTP/2 conformance, RFC 7540/9113 and HPACK) against sluice over h2c and over TLS,
with HAProxy 2.6 run the same way beside it as the reference. Run by `make conformance`, never by
`make test`: h2spec is built from a fetched source (build_h2spec.sh).

The cleartext listener is HTTP/2 only (`codec: http2`), as HAProxy's `proto h2` bind is: on a
port that also takes HTTP/1.1, bytes that are not the h2 preface are an HTTP/1.1 request (3.5/2
then gets a 400, not a GOAWAY). Prints one line per proxy and transport with passed/failed/skipped and lists every failed case;
exits 1 when sluice fails any case. SLUICE_BIN and DEMO_BACKEND_BIN as for the integration
tests; H2SPEC_BIN is the built h2spec."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import Backend, Sluice, free_port, start, stop, tmp_path, wait_port  # noqa: E402

H2SPEC = os.environ.get("H2SPEC_BIN", "")


def make_cert():
    key, crt = tmp_path("h2spec.key"), tmp_path("h2spec.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=h2spec.test", "-keyout", key, "-out", crt],
                   check=True, capture_output=True)
    return key, crt


def run_h2spec(port, tls):
    """(passed, failed, skipped, [failed case names]) from h2spec's JUnit report."""
    report = tmp_path(f"h2spec-{port}.xml")
    # /echo answers with a body long enough for every flow-control case (at "/", 6.9.2/2 skips)
    args = [H2SPEC, "-h", "127.0.0.1", "-p", str(port), "-P", "/echo", "-o", "5", "-j", report]
    if tls:
        args += ["-t", "-k"]
    subprocess.run(args, capture_output=True, timeout=600)
    root = ET.parse(report).getroot()
    passed = failed = skipped = 0
    failures = []
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.find("skipped") is not None:
                skipped += 1
            elif case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(f"{case.get('package', suite.get('package', ''))} {case.get('classname')}")
            else:
                passed += 1
    return passed, failed, skipped, failures


def haproxy(backend, key, crt):
    pem = tmp_path("haproxy.pem")
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())
    plain, tls = free_port(), free_port()
    cfg = tmp_path("haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
  log stderr format raw local0 emerg
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend h2c
  bind 127.0.0.1:{plain} proto h2
  default_backend be
frontend h2
  bind 127.0.0.1:{tls} ssl crt {pem} alpn h2
  default_backend be
backend be
  server s1 {backend.address}
""")
    proc = start(["haproxy", "-db", "-f", cfg])
    wait_port(plain, proc=proc)
    wait_port(tls, proc=proc)
    return proc, plain, tls


def main():
    if not H2SPEC or not os.access(H2SPEC, os.X_OK):
        print("h2spec: H2SPEC_BIN does not name an executable (build it with build_h2spec.sh)")
        sys.exit(2)
    key, crt = make_cert()
    backend = Backend("b1")
    s = Sluice(f"""
access_log: false
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: h2c
    listen: 127.0.0.1:{{port}}
    codec: http2
    routes: [{{ cluster: c }}]
  - name: h2
    protocol: https
    listen: 127.0.0.1:{{port0}}
    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}], alpn: [h2, http/1.1] }}
    routes: [{{ cluster: c }}]
clusters:
  - name: c
    endpoints: [{{ address: {backend.address} }}]
""", extra_ports=1)
    wait_port(s.extra[0], proc=s.proc)
    results = [("sluice", "h2c", run_h2spec(s.port, False)),
               ("sluice", "tls", run_h2spec(s.extra[0], True))]
    if subprocess.run(["which", "haproxy"], capture_output=True).returncode == 0:
        proc, plain, tls = haproxy(backend, key, crt)
        results += [("haproxy", "h2c", run_h2spec(plain, False)),
                    ("haproxy", "tls", run_h2spec(tls, True))]
        stop(proc)
    s.stop()
    backend.kill()
    sluice_failed = 0
    for proxy, transport, (passed, failed, skipped, failures) in results:
        total = passed + failed + skipped
        print(f"{proxy:8} {transport:4} {passed}/{total} passed, {failed} failed, {skipped} skipped")
        for name in failures:
            print(f"    FAILED {name}")
        if proxy == "sluice":
            sluice_failed += failed + skipped
    sys.exit(1 if sluice_failed else 0)


if __name__ == "__main__":
    main()
