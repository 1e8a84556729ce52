#pragma once
// The validated, immutable configuration. Every field has its default here, so a reader of this
// file knows what sluice does when the YAML is silent. Produced only by `load_config`.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balance/balancer.h"
#include "core/address.h"
#include "core/enum_names.h"
#include "core/units.h"

namespace sluice::config {

using core::Millis;
using namespace std::chrono_literals;

// A place in the config file, for messages about a value after validation (e.g. at runtime).
struct SourceMark {
  int line = 0;
  int col = 0;
};

// One matcher of a header, query parameter or cookie.
struct ValueMatch {
  enum class Kind { kExact, kRegex, kPresent, kAbsent };
  std::string name;  // lower-cased for headers
  Kind kind = Kind::kExact;
  std::string value;  // exact value or RE2 pattern
};

struct Match {
  std::vector<std::string> hosts;                  // lower-case; "*.example.com" for a suffix match
  std::optional<std::string> path_prefix;          // a string prefix
  std::optional<std::string> path_segment_prefix;  // a prefix of whole path segments
  std::optional<std::string> path_exact;
  std::optional<std::string> path_regex;  // RE2, full match against the normalised path
  std::vector<std::string> methods;
  std::vector<ValueMatch> headers;
  std::vector<ValueMatch> query;
  std::vector<ValueMatch> cookies;
  std::vector<core::Cidr> sources;
  std::vector<std::string> sni;  // tls_passthrough: server names, like hosts ("*.x" allowed)
  // https with client certificates: the verified certificate's subject, RFC 2253 form
  // ("CN=alice,O=Example"), one of these exactly.
  std::vector<std::string> client_cert_subjects;
};

struct Route {
  std::string name;  // given, or "<listener>/<index>"
  Match match;
  std::string cluster;
  SourceMark mark;
};

struct HttpLimits {
  uint32_t max_request_line = 8 * 1024;        // 414 beyond
  uint32_t max_header_bytes = 64 * 1024;       // 431 beyond (whole head incl. request line)
  uint32_t max_headers = 100;                  // 431 beyond
  uint64_t max_body_size = uint64_t{1} << 30;  // 413 beyond; 0 = unlimited
  // Per client address, across all workers; excess connections are closed at accept.
  uint32_t max_connections_per_ip = 0;  // open at once; 0 = no limit
  uint32_t connection_rate_per_ip = 0;  // new per second (burst of the same size); 0 = no limit
  uint32_t max_connections = 0;         // open on this listener, all workers; 0 = no limit
};

struct ListenerTimeouts {
  Millis request_header = 10s;     // whole request head must arrive within this (408, slowloris)
  Millis request_body_idle = 30s;  // no body byte for this long (408)
  Millis keepalive_idle = 60s;     // idle downstream keep-alive connection is closed
  // Whole request, from its head to the last response byte: 504 if the upstream had not
  // answered yet, else the connection is cut. 0 = no limit (long downloads are legitimate).
  Millis request = 0s;
  // tcp: a connection with no byte either way for this long is closed (nginx proxy_timeout).
  Millis idle = 10min;
  // tcp: a connection older than this is closed, whatever it is doing. 0 = no limit.
  Millis max_duration = 0s;
  // tls_passthrough: the whole ClientHello must arrive within this.
  Millis client_hello = 5s;
  // http: an upgraded connection (WebSocket) with no byte either way for this long is closed
  // (HAProxy's `timeout tunnel`).
  Millis tunnel_idle = std::chrono::hours(1);
};

struct TlsCertificate {
  std::string cert;  // PEM: the certificate, then its chain
  std::string key;   // PEM private key
  std::string ocsp;  // DER OCSP response to staple; empty: none
  SourceMark mark;
};

// Mozilla's "intermediate" TLS 1.2 list: forward secrecy and AEAD only.
inline constexpr const char* kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct ListenerTls {
  std::vector<TlsCertificate> certificates;  // SNI picks by the names in each certificate
  size_t default_certificate = 0;            // for clients without SNI or with an unknown one
  std::vector<std::string> alpn = {"h2", "http/1.1"};  // server preference
  int min_version = 12;  // 12 = TLS 1.2, 13 = TLS 1.3; older versions are never offered
  std::string ciphers = kDefaultCiphers;  // TLS 1.2
  std::string ciphersuites;               // TLS 1.3; empty: OpenSSL's (all AEAD)
  bool session_tickets = true;
  // TLS 1.3 tickets after a full handshake (a resumed one gets at most one): docs/configuration.md
  uint32_t tickets_per_handshake = 1;
  std::string ticket_keys_file;  // 80-byte keys (nginx format), first encrypts; else random
  Millis ticket_key_rotation = std::chrono::hours(12);  // for random keys
  uint32_t session_cache_size = 20480;                  // server-side cache; 0 = off
  Millis session_timeout = std::chrono::minutes(5);
  std::string client_ca;             // PEM CAs: ask for and verify client certificates (mTLS)
  bool client_cert_required = true;  // `client_auth: require | optional`
  std::string client_cert_header = "x-client-cert-subject";  // verified subject sent upstream
  SourceMark mark;
};

struct Listener {
  enum class Protocol : uint8_t { kHttp, kHttps, kTcp, kTlsPassthrough, kUdp };
  std::string name;
  Protocol protocol = Protocol::kHttp;
  bool is_http() const { return protocol == Protocol::kHttp || protocol == Protocol::kHttps; }
  core::SocketAddress listen;
  std::vector<Route> routes;      // http
  std::string cluster;            // tcp, udp: every connection / session goes to this cluster
  bool udp_session_none = false;  // udp `session: none`: every datagram balanced on its own
  // tcp, tls_passthrough: connections must start with a PROXY protocol header (v1 or v2), and
  // only these sources may connect at all; the header's source is then the client.
  std::vector<core::Cidr> proxy_protocol_trusted;
  HttpLimits limits;
  ListenerTimeouts timeouts;
  bool add_forwarded = false;      // RFC 7239 `Forwarded` in addition to X-Forwarded-*
  std::optional<ListenerTls> tls;  // https
  // http, https: which HTTP versions the listener speaks. kAuto: HTTP/2 when ALPN picks h2 or a
  // cleartext connection starts with the h2 preface, else HTTP/1.1. kHttp1: HTTP/1.1 only.
  // kHttp2: HTTP/2 only (HAProxy's `proto h2`): any other first bytes are a connection error.
  enum class Codec : uint8_t { kAuto, kHttp1, kHttp2 };
  Codec codec = Codec::kAuto;
  // http: answer every request with 308 to the same URL on https (on this port, or 443).
  bool redirect_https = false;
  uint16_t redirect_https_port = 443;
  SourceMark mark;
};

struct HashOn {
  enum class Kind { kNone, kHeader, kCookie, kSourceIp, kPath };
  Kind kind = Kind::kNone;
  std::string name;  // header (lower-case) or cookie name
};

struct Endpoint {
  core::SocketAddress address;
  uint32_t weight = 1;
};

// An inclusive range of expected status codes.
struct StatusRange {
  int low = 200;
  int high = 399;
};

struct HealthCheck {
  enum class Type : uint8_t { kHttp, kTcp, kGrpc };
  Type type = Type::kHttp;   // tcp is the default for clusters behind stream listeners
  std::string grpc_service;  // grpc: the service asked about (grpc.health.v1); empty = server
  bool type_given = false;
  // http
  std::string method = "GET";
  std::string path = "/healthz";
  std::string host;  // Host header; default: the endpoint address
  std::vector<StatusRange> expect_status = {{200, 399}};
  std::string expect_body;  // substring that must appear in the first 64 KiB of the body
  // tcp
  std::string send;    // bytes to send after connecting
  std::string expect;  // bytes that must appear in what the endpoint answers
  Millis interval = 5s;
  Millis timeout = 1s;
  uint32_t healthy = 2;    // consecutive successes to become healthy
  uint32_t unhealthy = 3;  // consecutive failures to become unhealthy
};

// Which failures a request may be retried on; see Cluster::retries.
struct RetryPolicy {
  uint32_t attempts = 2;  // retries after the first try
  bool on_connect_failure = true;
  bool on_reset = false;                  // upstream closed or reset before any response byte
  std::vector<int> on_status;             // e.g. 502, 503, 504 (504 = the try's timeout passed)
  std::optional<Millis> per_try_timeout;  // default: timeouts.response
  // Retries in flight at most this % of requests in flight, but always min_retry_concurrency
  // (Envoy's retry budget). Connect failures are retried outside the budget: such a request
  // never reached a backend.
  uint32_t budget_percent = 20;
  uint32_t min_retry_concurrency = 3;
};

// Passive health (Envoy's outlier detection): an endpoint that fails `consecutive_failures`
// requests in a row on one worker (connect failure, reset, 5xx, timeout) is ejected for
// base_ejection_time x times ejected (at most max_ejection_time), never more than
// max_ejection_percent of the cluster at once. It comes back by itself.
struct OutlierDetection {
  uint32_t consecutive_failures = 5;
  Millis base_ejection_time = 30s;
  Millis max_ejection_time = 300s;
  uint32_t max_ejection_percent = 50;
};

struct ClusterTimeouts {
  Millis connect = 5s;
  Millis response = 60s;   // first response byte, and then between response reads (504)
  Millis pool_idle = 30s;  // idle pooled upstream connection is closed
};

// TLS to a cluster's endpoints (`tls:` on a cluster).
struct UpstreamTls {
  std::string sni;        // server name sent, and checked in the certificate when verifying
  std::string ca;         // CA bundle the endpoints' certificates must chain to
  bool verify = true;     // false only with an explicit `verify: none`
  std::string cert, key;  // client certificate (mTLS to the endpoints), optional
  SourceMark mark;
};

struct Cluster {
  std::string name;
  balance::Kind balance = balance::Kind::kRoundRobin;
  HashOn hash_on;
  std::vector<Endpoint> endpoints;
  std::optional<HealthCheck> health_check;
  // Below this % of healthy endpoints, balance over all of them (Envoy's panic mode); at 0, a
  // cluster with no healthy endpoint answers 503 at once.
  uint32_t panic_threshold = 0;
  // An endpoint that comes back (health, ejection, drain) or is added by a reload gets its
  // weight ramped up linearly over this time, so a cold instance is not flooded. 0 = off.
  Millis slow_start = 0s;
  RetryPolicy retries;
  std::optional<OutlierDetection> outlier_detection;
  ClusterTimeouts timeouts;
  // Per worker. Above the usual number of requests in flight to one endpoint: below it, every
  // burst closes the surplus connections and the next burst opens them again (HAProxy keeps
  // all by default).
  uint32_t max_idle_per_endpoint = 1024;
  // tcp: send a PROXY protocol header (0 = none, 1 = v1 text, 2 = v2 binary) on each upstream
  // connection, so the backend sees the client's address.
  int proxy_protocol = 0;
  // `protocol: h2c` (cleartext) or `h2` (over `tls`): HTTP/2 to the endpoints (gRPC), one
  // multiplexed connection per endpoint and worker; the default `http1` pools HTTP/1.1
  // connections.
  bool upstream_h2 = false;
  std::optional<UpstreamTls> tls;
  // Circuit breaker: requests in flight to this cluster, across all workers; beyond it sluice
  // answers 503 with `x-sluice-overloaded: true` at once. 0 = no limit (the default: the check
  // is an atomic shared by the workers, paid only where a limit is set).
  uint32_t max_requests = 0;
  // Upstream connections open to this cluster (in use and pooled), across workers: a request
  // that would need one more gets the same immediate 503. 0 = no limit.
  uint32_t max_connections = 0;
  // Requests waiting for an upstream connection to be established, across workers (sluice has
  // no queue beyond that: a request either connects or is refused). 0 = no limit.
  uint32_t max_pending = 0;
  SourceMark mark;
};

struct AccessLog {
  enum class Format : uint8_t { kText, kJson };
  bool enabled = true;
  Format format = Format::kText;
  std::string path = "stdout";  // stdout | stderr | a file path | off
};

// The packet tier (XDP). One VIP is an address (and for l4 a port and protocol) balanced over
// reals by a Maglev table the BPF program reads.
struct PacketReal {
  core::IpAddress address;
  uint16_t port = 0;  // nat: the new destination port (0: keep the client's)
  uint32_t weight = 1;
};

struct PacketVip {
  core::IpAddress address;
  uint16_t port = 0;     // l4: 0 = any port
  std::string protocol;  // l4: tcp | udp; l3: empty (any IP protocol)
  std::string mode = "l4";
  std::string forward = "ipip";   // ipip | nat
  bool hash_source_only = false;  // `hash: source_ip`
  std::vector<PacketReal> reals;
  // TCP connect checks on each real (at `health_port`, default the VIP's port, or the real's
  // own port for nat); an unhealthy real leaves the Maglev table, its flows stay put.
  std::optional<HealthCheck> health_check;
  uint16_t health_port = 0;
  SourceMark mark;
  std::string name() const;  // "tcp 192.0.2.10:80", "l3 192.0.2.20"
};

struct PacketTier {
  std::string interface;
  std::optional<core::IpAddress> gateway;             // next hop; its MAC from the neighbour table
  std::optional<std::array<uint8_t, 6>> gateway_mac;  // or given outright
  std::optional<core::Cidr> source_v4;                // ipip outer source, varied within the prefix
  std::optional<core::Cidr> source_v6;
  std::string attach = "auto";  // native | generic | auto (native, else generic with a warning)
  uint32_t conn_table_size = 262144;
  std::vector<PacketVip> vips;
  SourceMark mark;
};

struct Config {
  std::string file;
  std::string source_text;
  uint32_t workers = 0;  // 0 = one per core
  std::optional<core::SocketAddress> admin_listen;
  Millis shutdown_timeout = 15s;
  AccessLog access_log;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  std::optional<PacketTier> packet;

  const Cluster* find_cluster(std::string_view name) const;
};

// The words config uses for its enums (core/enum_names.h), parsed once by the readers.
inline constexpr core::EnumName<Listener::Protocol> kListenerProtocols[] = {
    {Listener::Protocol::kHttp, "http"},
    {Listener::Protocol::kHttps, "https"},
    {Listener::Protocol::kTcp, "tcp"},
    {Listener::Protocol::kTlsPassthrough, "tls_passthrough"},
    {Listener::Protocol::kUdp, "udp"}};
inline constexpr core::EnumName<Listener::Codec> kListenerCodecs[] = {
    {Listener::Codec::kAuto, "auto"},
    {Listener::Codec::kHttp1, "http1"},
    {Listener::Codec::kHttp2, "http2"}};
inline constexpr core::EnumName<HealthCheck::Type> kHealthCheckTypes[] = {
    {HealthCheck::Type::kHttp, "http"},
    {HealthCheck::Type::kTcp, "tcp"},
    {HealthCheck::Type::kGrpc, "grpc"}};
inline constexpr core::EnumName<AccessLog::Format> kAccessLogFormats[] = {
    {AccessLog::Format::kText, "text"}, {AccessLog::Format::kJson, "json"}};
inline std::string_view name_of(Listener::Protocol p) {
  return core::enum_name(kListenerProtocols, p);
}
inline std::string_view name_of(HealthCheck::Type t) {
  return core::enum_name(kHealthCheckTypes, t);
}

}  // namespace sluice::config
