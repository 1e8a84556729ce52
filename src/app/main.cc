// sluice: run | check | explain | --version. See DESIGN.md, "CLI contract".
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "app/explain.h"
#include "app/runtime.h"
#include "config/loader.h"
#include "core/log.h"
#include "core/version.h"
#include "packet/decapsulator.h"

#include <csignal>

namespace {

constexpr int kConfigError = 2;

// Loads and validates; prints every error as file:line:col: message.
std::shared_ptr<const sluice::config::Config> load_or_report(const std::string& path) {
  auto result = sluice::config::load_config_file(path);
  for (const auto& e : result.errors) fmt::print(stderr, "{}\n", e.to_string());
  return result.config;
}

// Attaches, then waits for SIGINT/SIGTERM and detaches.
int run_decap(const std::string& interface, const std::vector<std::string>& vip_texts,
              const std::string& mode) {
  std::vector<sluice::core::IpAddress> vips;
  for (const auto& text : vip_texts) {
    auto ip = sluice::core::IpAddress::parse(text);
    if (!ip) {
      fmt::print(stderr, "decap: bad VIP address '{}'\n", text);
      return kConfigError;
    }
    vips.push_back(*ip);
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::string error, warning;
  auto decap = sluice::packet::Decapsulator::attach(interface, vips, mode, &error, &warning);
  if (!decap) {
    sluice::core::log_error("{}", error);
    return 1;
  }
  if (!warning.empty()) sluice::core::log_warn("{}", warning);
  sluice::core::log_info("decap: stripping IP-in-IP on {} for {} vip(s)", interface, vips.size());
  int signal = 0;
  sigwait(&stop, &signal);
  sluice::core::log_info("decap: {} packets stripped; detached", decap->stripped_packets());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice: one load balancer for the packet, stream and http tiers"};
  app.set_version_flag("--version", std::string("sluice ") + sluice::core::kVersion);
  app.require_subcommand(0, 1);
  std::string config_path;
  app.add_option("-c,--config", config_path, "config file (same as `run -c FILE`)");

  auto* run = app.add_subcommand("run", "run until SIGTERM/SIGINT; SIGHUP reloads");
  run->add_option("-c,--config", config_path, "config file")->required();

  auto* check = app.add_subcommand("check", "validate a config: prints ok or file:line:col errors");
  check->add_option("-c,--config", config_path, "config file")->required();

  sluice::app::ExplainRequest req;
  auto* explain =
      app.add_subcommand("explain", "show which route, cluster and endpoint a request gets");
  explain->add_option("-c,--config", config_path, "config file")->required();
  std::string packet_flow;
  explain->add_option("url", req.url, "http://host[:port]/path?query");
  explain->add_option("--packet", packet_flow,
                      "a packet-tier flow instead: 'tcp 198.51.100.7:40000 -> 192.0.2.10:80'");
  explain->add_option("-H,--header", req.headers, "request header 'Name: value' (repeatable)");
  explain->add_option("-X,--method", req.method, "request method (default GET)");
  explain->add_option("--source", req.source, "client IP address (default 127.0.0.1)");

  std::string decap_interface, decap_mode = "auto";
  std::vector<std::string> decap_vips;
  auto* decap = app.add_subcommand(
      "decap", "on a packet-tier backend: strip IP-in-IP for local VIPs until SIGTERM/SIGINT");
  decap->add_option("--interface", decap_interface, "interface the tunnelled packets arrive on")
      ->required();
  decap->add_option("--vip", decap_vips, "VIP address on this backend's loopback (repeatable)")
      ->required();
  decap->add_option("--attach", decap_mode, "native | generic | auto (default)")
      ->check(CLI::IsMember({"native", "generic", "auto"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kConfigError;
  }

  if (*decap) return run_decap(decap_interface, decap_vips, decap_mode);
  if (*check) {
    auto config = load_or_report(config_path);
    if (!config) return kConfigError;
    fmt::print("ok\n");
    return 0;
  }
  if (*explain) {
    auto config = load_or_report(config_path);
    if (!config) return kConfigError;
    if (!packet_flow.empty()) return sluice::app::explain_packet(*config, packet_flow);
    if (req.url.empty()) {
      fmt::print(stderr, "explain: give a URL, or --packet 'PROTO SRC -> DST'\n");
      return kConfigError;
    }
    return sluice::app::explain(*config, req);
  }
  if (config_path.empty()) {
    fmt::print(stderr, "{}", app.help());
    return kConfigError;
  }
  auto config = load_or_report(config_path);
  if (!config) return kConfigError;
  sluice::app::Runtime runtime(config_path);
  return runtime.run(config);
}
