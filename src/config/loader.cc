#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "config/cluster_reader.h"
#include "config/listener_reader.h"
#include "config/packet_reader.h"
#include "config/yaml_reader.h"

namespace sluice::config {

std::string ConfigError::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

std::string PacketVip::name() const {
  if (mode == "l3") return "l3 " + address.to_string();
  core::SocketAddress sa{address, port};
  return protocol + " " + sa.to_string();
}

const Cluster* Config::find_cluster(std::string_view name) const {
  for (const auto& c : clusters) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

namespace {

void read_root(YamlReader& r, const YAML::Node& root, Config& cfg) {
  if (!r.expect_map(root, "the config file",
                    {"workers", "admin", "listeners", "clusters", "access_log", "shutdown_timeout",
                     "packet"})) {
    return;
  }
  if (auto w = root["workers"]) {
    if (!(w.IsScalar() && w.Scalar() == "auto")) {
      if (auto v = r.uint(w, "workers", 1, 1024)) cfg.workers = *v;
    }
  }
  if (auto a = root["admin"]) {
    if (r.expect_map(a, "admin", {"listen"}) && a["listen"]) {
      cfg.admin_listen = r.address(a["listen"], "admin listen");
    }
  }
  if (auto s = root["shutdown_timeout"]) r.duration(s, "shutdown_timeout", &cfg.shutdown_timeout);
  if (auto al = root["access_log"]) {
    if (al.IsScalar()) {
      if (auto b = r.boolean(al, "access_log")) cfg.access_log.enabled = *b;
    } else if (r.expect_map(al, "access_log", {"enabled", "format", "path"})) {
      if (al["enabled"]) {
        if (auto b = r.boolean(al["enabled"], "enabled")) cfg.access_log.enabled = *b;
      }
      if (al["format"]) {
        if (auto s = r.string(al["format"], "format")) {
          if (auto f = core::parse_enum(kAccessLogFormats, *s)) {
            cfg.access_log.format = *f;
          } else {
            r.error(al["format"], "format must be text or json");
          }
        }
      }
      if (al["path"]) {
        if (auto s = r.string(al["path"], "path")) cfg.access_log.path = *s;
      }
    }
  }
  if (auto p = root["packet"]) cfg.packet = read_packet(r, p);

  // A packet-tier node may run no proxy at all.
  const bool packet_only = cfg.packet && !root["listeners"] && !root["clusters"];
  if (packet_only) {
  } else if (!root["listeners"] || !root["listeners"].IsSequence() ||
             root["listeners"].size() == 0) {
    r.error(root["listeners"] ? root["listeners"] : root, "'listeners' must be a non-empty list");
  } else {
    std::set<std::string> names;
    for (const auto& ln : root["listeners"]) {
      auto l = read_listener(r, ln, cfg.listeners.size());
      if (!names.insert(l.name).second) {
        r.error(ln["name"] ? ln["name"] : ln, "duplicate listener name '" + l.name + "'");
      }
      cfg.listeners.push_back(std::move(l));
    }
  }
  if (packet_only) {
  } else if (!root["clusters"] || !root["clusters"].IsSequence() || root["clusters"].size() == 0) {
    r.error(root["clusters"] ? root["clusters"] : root, "'clusters' must be a non-empty list");
  } else {
    std::set<std::string> names;
    for (const auto& cn : root["clusters"]) {
      auto c = read_cluster(r, cn);
      if (!c.name.empty() && !names.insert(c.name).second) {
        r.error(cn["name"], "duplicate cluster name '" + c.name + "'");
      }
      cfg.clusters.push_back(std::move(c));
    }
  }
  // A cluster behind a stream listener speaks whatever protocol it speaks: its health check is a
  // TCP connect unless the config says otherwise.
  for (const auto& l : cfg.listeners) {
    if (l.is_http()) continue;
    std::vector<std::string> names;
    if (!l.cluster.empty()) names.push_back(l.cluster);
    for (const auto& route : l.routes) names.push_back(route.cluster);
    for (auto& c : cfg.clusters) {
      if (c.health_check && !c.health_check->type_given &&
          std::find(names.begin(), names.end(), c.name) != names.end()) {
        c.health_check->type = HealthCheck::Type::kTcp;
      }
    }
  }
  // Cross references, reported at the route that refers.
  const auto& listeners_node = root["listeners"];
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    for (size_t j = 0; j < l.routes.size(); ++j) {
      const auto& route = l.routes[j];
      if (!route.cluster.empty() && !cfg.find_cluster(route.cluster)) {
        auto rn = listeners_node[i]["routes"][j]["cluster"];
        r.error(rn, "route '" + route.name + "' refers to unknown cluster '" + route.cluster + "'");
      }
    }
    if (l.protocol == Listener::Protocol::kUdp) {
      if (const auto* c = cfg.find_cluster(l.cluster); c && c->proxy_protocol == 1) {
        r.error(listeners_node[i]["cluster"],
                "cluster '" + c->name + "' sends PROXY v1, which has no UDP form: use v2");
      }
    }
    if (!l.cluster.empty() && !cfg.find_cluster(l.cluster)) {
      r.error(listeners_node[i]["cluster"],
              "listener '" + l.name + "' refers to unknown cluster '" + l.cluster + "'");
    }
    for (size_t k = 0; k < i; ++k) {
      if (cfg.listeners[k].listen == l.listen) {
        r.error(listeners_node[i]["listen"], "listen address " + l.listen.to_string() +
                                                 " is already used by listener '" +
                                                 cfg.listeners[k].name + "'");
      }
    }
    if (cfg.admin_listen && *cfg.admin_listen == l.listen) {
      r.error(listeners_node[i]["listen"],
              "listen address " + l.listen.to_string() + " is already used by the admin listener");
    }
  }
}

}  // namespace

LoadResult load_config_text(const std::string& text, const std::string& file_name) {
  YamlReader r(file_name);
  auto cfg = std::make_shared<Config>();
  cfg->file = file_name;
  cfg->source_text = text;
  try {
    YAML::Node root = YAML::Load(text);
    if (!root.IsDefined() || root.IsNull()) {
      r.errors().push_back({file_name, 1, 1, "the config file is empty"});
    } else {
      read_root(r, root, *cfg);
    }
  } catch (const YAML::Exception& e) {
    r.errors().push_back({file_name, e.mark.line + 1, e.mark.column + 1, e.msg});
  }
  LoadResult result;
  result.errors = std::move(r.errors());
  std::stable_sort(result.errors.begin(), result.errors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.col) < std::tie(b.line, b.col);
  });
  if (result.errors.empty()) result.config = std::move(cfg);
  return result;
}

LoadResult load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(
        {path, 1, 1, "cannot open the config file: " + std::string(std::strerror(errno))});
    return result;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_config_text(ss.str(), path);
}

}  // namespace sluice::config
