#pragma once
// The YAML reader every part of the config reads its block with: scalars converted and checked
// (numbers in range, durations, sizes, addresses, regexes), maps checked against their allowed
// keys, and each problem recorded as `file:line:col: message`.
#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/loader.h"
#include "core/units.h"

namespace sluice::config {

inline std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

inline bool is_token(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || kSpecials.find(static_cast<char>(c)) != std::string_view::npos;
  });
}

// Walks the YAML tree, converting and checking values; every problem is recorded with the
// position of the node that caused it, and reading goes on (all errors are reported, not the
// first). Every part of the config reads its own block with it, filters included.
class YamlReader {
 public:
  explicit YamlReader(std::string file) : file_(std::move(file)) {}

  std::vector<ConfigError>& errors() { return errors_; }

  // A file named in the config: relative paths are relative to the config file's folder.
  std::optional<std::string> path(const YAML::Node& node, std::string_view what) {
    auto s = string(node, what);
    if (!s) return std::nullopt;
    if (s->empty()) {
      error(node, std::string(what) + " must not be empty");
      return std::nullopt;
    }
    if (s->front() == '/') return s;
    auto slash = file_.rfind('/');
    return slash == std::string::npos ? *s : file_.substr(0, slash + 1) + *s;
  }

  void error(const YAML::Node& node, const std::string& message) {
    const auto mark = node.Mark();
    errors_.push_back({file_, mark.line + 1, mark.column + 1, message});
  }

  SourceMark mark(const YAML::Node& node) { return {node.Mark().line + 1, node.Mark().column + 1}; }

  // Checks that `node` is a map and that all its keys are in `allowed`. Returns false if not a map.
  bool expect_map(const YAML::Node& node, std::string_view what,
                  std::initializer_list<std::string_view> allowed) {
    if (!node.IsMap()) {
      error(node, std::string(what) + " must be a mapping");
      return false;
    }
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const auto key = kv.first.as<std::string>();
      if (!seen.insert(key).second) {
        error(kv.first, "duplicate key '" + key + "' in " + std::string(what));
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(kv.first, "unknown key '" + key + "' in " + std::string(what) +
                            " (expected one of: " + list + ")");
      }
    }
    return true;
  }

  std::optional<std::string> string(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  std::optional<uint64_t> uint(const YAML::Node& node, std::string_view what, uint64_t min,
                               uint64_t max) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a number");
      return std::nullopt;
    }
    const auto& s = node.Scalar();
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
      error(node, std::string(what) + ": '" + s + "' is not a whole number");
      return std::nullopt;
    }
    if (value < min || value > max) {
      error(node, std::string(what) + " must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
      return std::nullopt;
    }
    return value;
  }

  std::optional<bool> boolean(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) {
      if (node.Scalar() == "true") return true;
      if (node.Scalar() == "false") return false;
    }
    error(node, std::string(what) + " must be true or false");
    return std::nullopt;
  }

  void duration(const YAML::Node& node, std::string_view what, Millis* out) {
    if (auto s = string(node, what)) {
      if (auto d = core::parse_duration(*s)) {
        *out = *d;
      } else {
        error(node, std::string(what) + ": bad duration '" + *s +
                        "' (write a number and a unit: 250ms, 2s, 1m, 1h)");
      }
    }
  }

  template <typename T>
  void size(const YAML::Node& node, std::string_view what, T* out) {
    if (auto s = string(node, what)) {
      auto v = core::parse_size(*s);
      if (!v || *v > std::numeric_limits<T>::max()) {
        error(node, std::string(what) + ": bad size '" + *s + "' (e.g. 512, 16k, 1m, 1g)");
      } else {
        *out = static_cast<T>(*v);
      }
    }
  }

  std::optional<core::SocketAddress> address(const YAML::Node& node, std::string_view what) {
    auto s = string(node, what);
    if (!s) return std::nullopt;
    auto a = core::SocketAddress::parse(*s);
    if (!a) {
      error(node, std::string(what) + ": bad address '" + *s +
                      "' (expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)");
    }
    return a;
  }

  // A scalar or a list of scalars.
  std::vector<std::pair<std::string, YAML::Node>> string_list(const YAML::Node& node,
                                                              std::string_view what) {
    std::vector<std::pair<std::string, YAML::Node>> out;
    if (node.IsScalar()) {
      out.emplace_back(node.Scalar(), node);
    } else if (node.IsSequence()) {
      for (const auto& item : node) {
        if (auto s = string(item, what)) out.emplace_back(*s, item);
      }
    } else {
      error(node, std::string(what) + " must be a string or a list of strings");
    }
    return out;
  }

  // `{ name: value }`, `{ name: { regex: re } }`, `{ name: { present: true|false } }`.
  std::vector<ValueMatch> value_matches(const YAML::Node& node, std::string_view what,
                                        bool lower_names) {
    std::vector<ValueMatch> out;
    if (!node.IsMap()) {
      error(node, std::string(what) + " must be a mapping of name to value");
      return out;
    }
    for (const auto& kv : node) {
      ValueMatch m;
      m.name = kv.first.as<std::string>();
      if (lower_names) m.name = lower(m.name);
      if (m.name.empty() || (lower_names && !is_token(m.name))) {
        error(kv.first, std::string(what) + ": '" + m.name + "' is not a valid name");
        continue;
      }
      const auto& v = kv.second;
      if (v.IsScalar()) {
        m.kind = ValueMatch::Kind::kExact;
        m.value = v.Scalar();
      } else if (v.IsMap() && expect_map(v, what, {"exact", "regex", "present"}) && v.size() == 1) {
        if (v["exact"]) {
          m.kind = ValueMatch::Kind::kExact;
          if (auto s = string(v["exact"], "exact")) m.value = *s;
        } else if (v["regex"]) {
          m.kind = ValueMatch::Kind::kRegex;
          if (auto s = string(v["regex"], "regex")) {
            m.value = *s;
            check_regex(v["regex"], *s);
          }
        } else if (v["present"]) {
          auto b = boolean(v["present"], "present");
          m.kind = (b && !*b) ? ValueMatch::Kind::kAbsent : ValueMatch::Kind::kPresent;
        }
      } else {
        error(v, std::string(what) + " '" + m.name +
                     "' must be a value or one of { exact: .. }, { regex: .. }, { present: .. }");
        continue;
      }
      out.push_back(std::move(m));
    }
    return out;
  }

  void check_regex(const YAML::Node& node, const std::string& pattern) {
    RE2 re(pattern, RE2::Quiet);
    if (!re.ok()) error(node, "bad regex '" + pattern + "': " + re.error());
  }

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

}  // namespace sluice::config
