#include "http/header_list.h"

#include <cassert>

namespace sluice::http {
namespace {

// A field is the named one by its id when both have one, else by its name: a field filled in
// bulk without its id still matches.
bool named(const Header& f, HeaderId id, std::string_view name) {
  return (id != HeaderId::kOther && f.id == id) || iequals(f.name, name);
}

}  // namespace

const Header* HeaderList::find(HeaderId id) const {
  for (const auto& f : fields_) {
    if (f.id == id) return &f;
  }
  return nullptr;
}

const Header* HeaderList::find(std::string_view name) const {
  const HeaderId id = classify_header(name);
  for (const auto& f : fields_) {
    if (named(f, id, name)) return &f;
  }
  return nullptr;
}

std::optional<std::string_view> HeaderList::get(std::string_view name) const {
  const Header* f = find(name);
  if (!f) return std::nullopt;
  return f->value;
}

void HeaderList::add(std::string_view name, std::string_view value) {
  fields_.push_back({name, value, classify_header(name)});
}

void HeaderList::add_copy(std::string_view name, std::string_view value) {
  assert(arena_);
  const auto id = classify_header(name);
  fields_.push_back({arena_->copy(name), arena_->copy(value), id});
}

void HeaderList::set(std::string_view name, std::string_view value) {
  const HeaderId id = classify_header(name);
  auto same = [&](const Header& f) { return named(f, id, name); };
  size_t i = 0;
  while (i < fields_.size() && !same(fields_[i])) ++i;
  if (i == fields_.size()) {
    fields_.push_back({name, value, id});
    return;
  }
  fields_[i].value = value;
  size_t kept = i + 1;
  for (size_t j = i + 1; j < fields_.size(); ++j) {
    if (!same(fields_[j])) fields_[kept++] = fields_[j];
  }
  fields_.resize(kept);
}

size_t HeaderList::remove(HeaderId id) {
  return remove_if([id](const Header& f) { return f.id == id; });
}

size_t HeaderList::remove(std::string_view name) {
  const HeaderId id = classify_header(name);
  return remove_if([&](const Header& f) { return named(f, id, name); });
}

}  // namespace sluice::http
