// sluice: run | check | explain | --version. See DESIGN.md, "CLI contract".
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "app/explain.h"
#include "app/runtime.h"
#include "config/loader.h"
#include "core/version.h"

namespace {

constexpr int kConfigError = 2;

// Loads and validates; prints every error as file:line:col: message.
std::shared_ptr<const sluice::config::Config> load_or_report(const std::string& path) {
  auto result = sluice::config::load_config_file(path);
  for (const auto& e : result.errors) fmt::print(stderr, "{}\n", e.to_string());
  return result.config;
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
  explain->add_option("url", req.url, "http://host[:port]/path?query")->required();
  explain->add_option("-H,--header", req.headers, "request header 'Name: value' (repeatable)");
  explain->add_option("-X,--method", req.method, "request method (default GET)");
  explain->add_option("--source", req.source, "client IP address (default 127.0.0.1)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kConfigError;
  }

  if (*check) {
    auto config = load_or_report(config_path);
    if (!config) return kConfigError;
    fmt::print("ok\n");
    return 0;
  }
  if (*explain) {
    auto config = load_or_report(config_path);
    if (!config) return kConfigError;
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
