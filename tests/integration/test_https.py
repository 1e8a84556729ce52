"""TLS termination on https listeners, with certificates made by the test: SNI picks the
certificate (exact and wildcard names read from the certificates, default for unknown names),
ALPN, TLS 1.2+ only, session resumption by ticket and by session cache, client certificates
(required, optional, routed on and forwarded), a certificate swapped by reload without dropping a
connection, a bad key as a config error naming the file, and redirect_https."""
import hashlib
import subprocess

from harness import *


def openssl(*args, input=None):
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=input)


def make_ca(name):
    key, crt = tmp_path(f"{name}.key"), tmp_path(f"{name}.crt")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", key, "-out", crt)
    return key, crt


def make_cert(name, sans, ca, client=False, days=1, ocsp_url=None):
    """A certificate for `sans` (DNS names) signed by `ca` = (key, crt)."""
    key, csr, crt = tmp_path(f"{name}.key"), tmp_path(f"{name}.csr"), tmp_path(f"{name}.crt")
    ext = tmp_path(f"{name}.ext")
    with open(ext, "w") as f:
        if client:
            f.write("extendedKeyUsage=clientAuth\n")
        else:
            f.write("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\nextendedKeyUsage=serverAuth\n")
        if ocsp_url:
            f.write(f"authorityInfoAccess=OCSP;URI:{ocsp_url}\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
            f"/O=sluice tests/CN={name}", "-keyout", key, "-out", csr)
    openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0], "-CAcreateserial", "-days", str(days),
            "-extfile", ext, "-out", crt)
    return key, crt


CA = None


def ca():
    global CA
    if CA is None:
        CA = make_ca("test-ca")
    return CA


def https_sluice(backend, tls_extra="", routes="    routes: [{ cluster: c }]\n", certs=None, top=""):
    if certs is None:
        a = make_cert("a.test", ["a.test"], ca())
        w = make_cert("wild.b.test", ["*.b.test", "b.test"], ca())
        certs = f"""        - {{ cert: {a[1]}, key: {a[0]} }}
        - {{ cert: {w[1]}, key: {w[0]}, default: true }}
"""
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
{top}listeners:
  - name: web
    protocol: https
    listen: 127.0.0.1:{{port}}
    tls:
      certificates:
{certs}{tls_extra}{routes}clusters:
  - {{ name: c, endpoints: [{backend.address}] }}
""")


def s_client(port, *args, input=b"", servername="a.test"):
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca()[1]]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    out = subprocess.run(cmd + list(args), input=input, capture_output=True, timeout=20)
    return out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")


def check_tls_config(name, cert, key, tls_extra=""):
    """`sluice check` of a one-listener https config: (exit code, output)."""
    path = tmp_path(name)
    with open(path, "w") as f:
        f.write(f"""listeners:
  - name: web
    protocol: https
    listen: 127.0.0.1:8443
    tls:
      certificates:
        - {{ cert: {cert}, key: {key} }}
{tls_extra}    routes: [{{ cluster: c }}]
clusters:
  - {{ name: c, endpoints: [127.0.0.1:9] }}
""")
    out = subprocess.run([SLUICE, "check", "-c", path], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def curl(port, name, path="/", *extra):
    out = subprocess.run(["curl", "-sS", "--cacert", ca()[1], "--resolve", f"{name}:{port}:127.0.0.1",
                          "-o", "-", "-w", "\\n%{http_code} %{http_version}", *extra,
                          f"https://{name}:{port}{path}"], capture_output=True, timeout=20)
    return out.returncode, out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")


def test_sni_picks_the_certificate_and_requests_are_proxied():
    b = Backend("b1")
    s = https_sluice(b)
    assert "subject=O = sluice tests, CN = a.test" in s_client(s.port, servername="a.test")
    assert "CN = wild.b.test" in s_client(s.port, servername="x.b.test")   # wildcard
    assert "CN = wild.b.test" in s_client(s.port, servername="b.test")     # exact SAN
    assert "CN = wild.b.test" in s_client(s.port, servername="other.test")  # unknown: default
    assert "CN = wild.b.test" in s_client(s.port, servername=None)          # no SNI: default
    # curl verifies the chain and the name, then gets the backend's answer
    rc, out, err = curl(s.port, "a.test", "/echo", "-i")
    assert rc == 0, err
    assert out.endswith("200 2") and "x-backend: b1" in out.lower(), out  # h2 by ALPN
    rc, out, err = curl(s.port, "x.b.test", "/", "--http1.1")
    assert rc == 0 and out.endswith("200 1.1"), (out, err)
    assert s.metric('sluice_tls_handshakes_total{listener="web",result="full"}') >= 7


def test_large_download_to_a_slow_reader_over_tls():
    # A rate-limited client keeps the socket full, so writes that cannot go at once (the TLS
    # hold and the socket both full) wait and resume; every byte must arrive, in order.
    b = Backend("b1")
    s = https_sluice(b)
    n = 24 * 1024 * 1024
    block = bytes((ord("a") + i % 26) for i in range(64 * 1024))
    want = hashlib.sha256(block * (n // len(block))).hexdigest()
    # HTTP/1.1 writes wait in tls_io::write; HTTP/2's connection writer in write_now, then write.
    for version, query in [("--http1.1", ""), ("--http1.1", "&chunked=1"), ("--http2", "")]:
        out = subprocess.run(f"curl -sS --fail {version} --limit-rate 40M --cacert {ca()[1]} "
                             f"--resolve a.test:{s.port}:127.0.0.1 "
                             f"'https://a.test:{s.port}/bytes?n={n}{query}' | sha256sum",
                             shell=True, capture_output=True, text=True, timeout=60)
        assert out.stdout.split()[0] == want, (version, query, out.stdout, out.stderr)


def test_backend_sees_https_forwarding_headers():
    b = Backend("b1")
    s = https_sluice(b)
    rc, out, err = curl(s.port, "a.test", "/echo")
    assert rc == 0, err
    assert "x-forwarded-proto: https" in out.lower(), out


def test_alpn_and_versions():
    b = Backend("b1")
    s = https_sluice(b)
    assert "ALPN protocol: h2" in s_client(s.port, "-alpn", "h2,http/1.1")
    assert "ALPN protocol: http/1.1" in s_client(s.port, "-alpn", "http/1.1")
    assert "No ALPN negotiated" in s_client(s.port, "-alpn", "spdy/3")  # no overlap: no ALPN
    # a listener that offers http/1.1 only never says h2
    h1 = https_sluice(b, tls_extra="      alpn: [http/1.1]\n")
    assert "ALPN protocol: http/1.1" in s_client(h1.port, "-alpn", "h2,http/1.1")
    # never TLS 1.1, even for a client willing to use it (SECLEVEL=0 lets s_client offer it)
    out = s_client(s.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    assert "alert protocol version" in out, out
    assert "New, TLSv1.2, Cipher is ECDHE-" in s_client(s.port, "-tls1_2")
    assert "New, TLSv1.3, Cipher is TLS_" in s_client(s.port, "-tls1_3")
    # a client that asks to renegotiate ("R" on s_client's input) is refused
    out = s_client(s.port, "-tls1_2", input=b"R\n")
    assert "RENEGOTIATING" in out and "no renegotiation" in out, out
    assert s.metric('sluice_tls_handshakes_total{listener="web",result="failed"}') >= 1


def test_resumption_with_tickets_and_with_the_session_cache():
    b = Backend("b1")
    for tickets in ["true", "false"]:
        s = https_sluice(b, tls_extra=f"      session_tickets: {tickets}\n")
        for version in ["-tls1_2", "-tls1_3"]:
            sess = tmp_path(f"sess-{s.port}{version}")
            # -ign_eof: read until the server closes, so TLS 1.3's ticket (sent after the
            # handshake) arrives before s_client saves the session
            first = s_client(s.port, version, "-ign_eof", "-sess_out", sess, input=b"GET / HTTP/1.0\r\n\r\n")
            assert "New, " in first, first
            again = s_client(s.port, version, "-ign_eof", "-sess_in", sess, input=b"GET / HTTP/1.0\r\n\r\n")
            assert "Reused, " in again, (tickets, version, again)
        assert s.metric('sluice_tls_handshakes_total{listener="web",result="resumed"}') == 2
        s.stop()


def test_tickets_per_handshake():
    b = Backend("b1")
    for extra, expect in [("", 1), ("      tickets_per_handshake: 3\n", 3)]:
        s = https_sluice(b, tls_extra=extra)
        sess = tmp_path(f"sess-count-{s.port}")
        # -ign_eof: read until the server closes, so every ticket has arrived
        out = s_client(s.port, "-tls1_3", "-ign_eof", "-sess_out", sess, input=b"GET / HTTP/1.0\r\n\r\n")
        assert out.count("Post-Handshake New Session Ticket arrived") == expect, out
        # a resumed handshake gets none, whatever the setting: the ticket's key is current, so
        # the client keeps using it (OpenSSL sends at most one after a resumption)
        again = s_client(s.port, "-tls1_3", "-ign_eof", "-sess_in", sess, "-sess_out", sess + ".2",
                         input=b"GET / HTTP/1.0\r\n\r\n")
        assert "Reused, " in again, again
        assert "Post-Handshake New Session Ticket arrived" not in again, again
        s.stop()
    rc, out = check_tls_config("bad-tickets.yaml", ca()[1], ca()[0], "      tickets_per_handshake: 0\n")
    assert rc == 2, out
    assert re.search(r"bad-tickets.yaml:8:30: .*tickets_per_handshake", out), out


def test_shared_ticket_keys_resume_across_instances():
    b = Backend("b1")
    keys = tmp_path("ticket.keys")
    with open(keys, "wb") as f:
        f.write(os.urandom(160))  # two keys: the first encrypts
    one = https_sluice(b, tls_extra=f"      ticket_keys_file: {keys}\n")
    two = https_sluice(b, tls_extra=f"      ticket_keys_file: {keys}\n")
    sess = tmp_path("sess-shared")
    assert "New, " in s_client(one.port, "-tls1_3", "-ign_eof", "-sess_out", sess,
                               input=b"GET / HTTP/1.0\r\n\r\n")
    assert "Reused, " in s_client(two.port, "-tls1_3", "-ign_eof", "-sess_in", sess,
                                  input=b"GET / HTTP/1.0\r\n\r\n")
    # a third instance with other keys cannot decrypt the ticket: a full handshake
    three = https_sluice(b)
    assert "New, " in s_client(three.port, "-tls1_3", "-ign_eof", "-sess_in", sess,
                               input=b"GET / HTTP/1.0\r\n\r\n")


def test_client_certificates_required_optional_routed_and_forwarded():
    b, admins = Backend("b1"), Backend("admins")
    alice = make_cert("alice", [], ca(), client=True)
    other_ca = make_ca("other-ca")
    mallory = make_cert("mallory", [], other_ca, client=True)
    routes = f"""    routes:
      - {{ match: {{ client_cert_subject: "CN=alice,O=sluice tests" }}, cluster: admins }}
      - {{ cluster: c }}
"""
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: web
    protocol: https
    listen: 127.0.0.1:{{port}}
    tls:
      certificates: [{{ cert: {make_cert('a.test', ['a.test'], ca())[1]}, key: {tmp_path('a.test.key')} }}]
      client_ca: {ca()[1]}
{routes}clusters:
  - {{ name: c, endpoints: [{b.address}] }}
  - {{ name: admins, endpoints: [{admins.address}] }}
""")
    # required: no certificate, or one from another CA, gets no answer
    rc, out, err = curl(s.port, "a.test")
    assert rc != 0, out
    rc, out, err = curl(s.port, "a.test", "/", "--cert", mallory[1], "--key", mallory[0])
    assert rc != 0, out
    # alice is verified, routed by subject, and her subject is forwarded; a forged header is not
    rc, out, err = curl(s.port, "a.test", "/echo", "-i", "--cert", alice[1], "--key", alice[0],
                        "-H", "x-client-cert-subject: CN=root")
    assert rc == 0, err
    assert "x-backend: admins" in out.lower() and "x-client-cert-subject: CN=alice,O=sluice tests" in out, out
    assert "CN=root" not in out, out
    # optional: without a certificate the request is served on the catch-all route
    s.write_config(open(s.config_path).read().replace(f"client_ca: {ca()[1]}",
                                                       f"client_ca: {ca()[1]}\n      client_auth: optional"))
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.metric('sluice_config_reloads_total{result="ok"}') >= 1, what="reload")
    rc, out, err = curl(s.port, "a.test", "/echo", "-i")
    assert rc == 0 and "x-backend: b1" in out.lower() and "x-client-cert-subject" not in out.lower(), (out, err)


def test_reload_swaps_the_certificate_without_dropping_connections():
    b = Backend("b1")
    first = make_cert("first", ["a.test"], ca())
    s = https_sluice(b, certs=f"        - {{ cert: {first[1]}, key: {first[0]} }}\n")
    # a keep-alive TLS connection opened on the old certificate
    import ssl
    ctx = ssl.create_default_context(cafile=ca()[1])
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", s.port)), server_hostname="a.test")
    conn.request("GET", "/", headers={"Host": "a.test"})
    assert conn.getresponse().read() and True
    second = make_cert("second", ["a.test"], ca())
    s.write_config(open(s.config_path).read().replace(first[1], second[1]).replace(first[0], second[0]))
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.metric('sluice_config_reloads_total{result="ok"}') >= 1, what="reload")
    assert "CN = second" in s_client(s.port)          # new connections: the new certificate
    conn.request("GET", "/", headers={"Host": "a.test"})  # the old connection still works
    r = conn.getresponse()
    assert r.status == 200 and r.read()
    conn.close()
    # a reload with a key that does not match keeps the running config
    bad = open(s.config_path).read().replace(second[0], first[0])
    s.write_config(bad)
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.metric('sluice_config_reloads_total{result="error"}') >= 1, what="failed reload")
    assert "CN = second" in s_client(s.port)


def test_bad_certificate_files_are_config_errors_naming_the_file():
    a = make_cert("a.test", ["a.test"], ca())
    other = make_cert("other", ["o.test"], ca())
    junk = tmp_path("junk.pem")
    with open(junk, "w") as f:
        f.write("not a certificate\n")
    for cert, key, expect in [(a[1], other[0], f"key '{other[0]}' does not match certificate '{a[1]}'"),
                              (junk, a[0], f"certificate '{junk}'"),
                              (tmp_path("missing.pem"), a[0], "missing.pem")]:
        rc, out = check_tls_config("bad-tls.yaml", cert, key)
        assert rc == 2, out
        assert re.search(rf"bad-tls.yaml:7:\d+: .*{re.escape(expect)}", out), out


def test_ocsp_response_is_stapled():
    b = Backend("b1")
    key, crt = make_cert("stapled.test", ["stapled.test"], ca())
    serial = openssl("x509", "-in", crt, "-noout", "-serial").stdout.decode().strip().split("=")[1]
    index, req, resp = tmp_path("ocsp-index.txt"), tmp_path("ocsp-req.der"), tmp_path("ocsp-resp.der")
    with open(index, "w") as f:
        f.write(f"V\t991231235959Z\t\t{serial}\tunknown\t/CN=stapled.test\n")
    openssl("ocsp", "-issuer", ca()[1], "-cert", crt, "-no_nonce", "-reqout", req)
    openssl("ocsp", "-index", index, "-rsigner", ca()[1], "-rkey", ca()[0], "-CA", ca()[1], "-reqin", req,
            "-respout", resp, "-ndays", "1")
    s = https_sluice(b, certs=f"        - {{ cert: {crt}, key: {key}, ocsp: {resp} }}\n")
    out = s_client(s.port, "-status", servername="stapled.test")
    assert "OCSP Response Status: successful" in out and "Cert Status: good" in out, out
    # a listener without a response staples nothing
    plain = https_sluice(b)
    assert "OCSP response: no response sent" in s_client(plain.port, "-status")


def test_redirect_https():
    s = Sluice("""
admin: { listen: 127.0.0.1:{admin} }
listeners:
  - { name: plain, listen: 127.0.0.1:{port}, redirect_https: 8443 }
clusters:
  - { name: c, endpoints: [127.0.0.1:9] }
""")
    status, headers, body = request(s.port, "GET", "/a/../b?x=1", headers={"Host": "Example.com"})
    assert status == 308 and headers["location"] == "https://example.com:8443/b?x=1", (status, headers)


def tls_nginx_backend(verify_clients=False):
    key, crt = make_cert("backend.test", ["backend.test"], ca())
    extra = f"    ssl_client_certificate {ca()[1]};\n    ssl_verify_client on;\n" if verify_clients else ""
    return Nginx(f"""    ssl_certificate {crt};
    ssl_certificate_key {key};
{extra}    location / {{ return 200 "sni=$ssl_server_name client=$ssl_client_s_dn reused=$ssl_session_reused\\n"; }}
""", listen_options="ssl")


def upstream_tls_sluice(backend, tls_yaml):
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
workers: 1
listeners:
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: c }}] }}
clusters:
  - name: c
    tls: {tls_yaml}
    endpoints: [{backend.address}]
""")


def test_upstream_tls_verifies_sends_sni_and_client_certificates():
    n = tls_nginx_backend()
    s = upstream_tls_sluice(n, f"{{ sni: backend.test, verify: {ca()[1]} }}")
    for _ in range(3):
        status, _, body = request(s.port, "GET", "/")
        assert status == 200 and body.startswith(b"sni=backend.test client= "), (status, body)
    # pooled: three requests, one TLS connection
    assert s.metric('sluice_upstream_connections_total{cluster="c"}') == 1
    # a certificate from another CA, or for another name, is refused: no endpoint is reachable
    other = make_ca("other-ca-2")
    bad_ca = upstream_tls_sluice(n, f"{{ sni: backend.test, verify: {other[1]} }}")
    assert request(bad_ca.port, "GET", "/")[0] == 503
    bad_name = upstream_tls_sluice(n, f"{{ sni: wrong.test, verify: {ca()[1]} }}")
    assert request(bad_name.port, "GET", "/")[0] == 503
    assert bad_name.metric('sluice_upstream_connect_errors_total{cluster="c"}') >= 1
    # verify: none is explicit, and then anything goes
    anything = upstream_tls_sluice(n, "{ sni: wrong.test, verify: none }")
    assert request(anything.port, "GET", "/")[0] == 200
    # a backend that wants a client certificate gets ours
    strict = tls_nginx_backend(verify_clients=True)
    alice = make_cert("sluice-client", [], ca(), client=True)
    without = upstream_tls_sluice(strict, f"{{ sni: backend.test, verify: {ca()[1]} }}")
    assert request(without.port, "GET", "/")[0] == 400  # nginx: "No required SSL certificate"
    with_cert = upstream_tls_sluice(strict, f"{{ sni: backend.test, verify: {ca()[1]}, "
                                            f"client_cert: {{ cert: {alice[1]}, key: {alice[0]} }} }}")
    status, _, body = request(with_cert.port, "GET", "/")
    assert status == 200 and b"client=CN=sluice-client,O=sluice tests" in body, (status, body)


def test_upstream_h2_over_tls():
    key, crt = make_cert("backend.test", ["backend.test"], ca())
    n = Nginx(f"""    ssl_certificate {crt};
    ssl_certificate_key {key};
    location / {{ return 200 "$server_protocol sni=$ssl_server_name\\n"; }}
""", listen_options="ssl http2")
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
workers: 1
listeners:
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: c }}] }}
clusters:
  - name: c
    protocol: h2
    tls: {{ sni: backend.test, verify: {ca()[1]} }}
    endpoints: [{n.address}]
""")
    for _ in range(5):
        status, _, body = request(s.port, "GET", "/")
        assert status == 200 and body == b"HTTP/2.0 sni=backend.test\n", (status, body)
    assert s.metric('sluice_upstream_connections_total{cluster="c"}') == 1  # multiplexed
    # an endpoint that does not offer h2 by ALPN is not spoken to in HTTP/2
    h1 = tls_nginx_backend()
    s2 = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: c }}] }}
clusters:
  - name: c
    protocol: h2
    tls: {{ sni: backend.test, verify: {ca()[1]} }}
    endpoints: [{h1.address}]
""")
    assert request(s2.port, "GET", "/")[0] == 503


def test_upstream_tls_needs_an_explicit_verify():
    path = tmp_path("no-verify.yaml")
    with open(path, "w") as f:
        f.write("""listeners:
  - { name: web, listen: 127.0.0.1:8080, routes: [{ cluster: c }] }
clusters:
  - name: c
    tls: { sni: a.test }
    endpoints: [127.0.0.1:9]
""")
    out = subprocess.run([SLUICE, "check", "-c", path], capture_output=True, text=True)
    assert out.returncode == 2 and "no-verify.yaml:5:10: tls needs 'verify: CA-FILE'" in out.stderr, out


def test_testssl_finds_nothing_high_or_critical():
    # A certificate as a public site would have one (trusted CA, 90 days, an OCSP URI), so that
    # what testssl judges is sluice's TLS, not a test certificate's shortcuts.
    b = Backend("b1")
    cert = make_cert("site.test", ["site.test"], ca(), days=90, ocsp_url="http://127.0.0.1:9/ocsp")
    s = https_sluice(b, certs=f"        - {{ cert: {cert[1]}, key: {cert[0]} }}\n")
    report = tmp_path("testssl.json")
    subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--fast", "--ip", "127.0.0.1",
                    "--add-ca", ca()[1], "--jsonfile", report, f"site.test:{s.port}"],
                   capture_output=True, timeout=600)
    findings = json.load(open(report))
    bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
    assert findings and not bad, bad


if __name__ == "__main__":
    run_tests(globals())
