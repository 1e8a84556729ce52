#pragma once
// A message's header fields, in order, as one mutable list that every codec fills and every
// stage after it (forwarded headers, filters, the codec that writes) edits in place. Fields are
// views: those that came with the message point into its receive buffer or stream storage, and
// those made up on the way are copied into the exchange's Arena (add_copy). Names keep their
// case as received; lookups ignore it. Known names carry their HeaderId, recognised once here or
// by the parser, so that later stages switch on it instead of comparing strings.
#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "http/arena.h"
#include "http/header.h"

namespace sluice::http {

class HeaderList {
 public:
  explicit HeaderList(Arena* arena = nullptr) : arena_(arena) {}

  void set_arena(Arena* arena) { arena_ = arena; }
  Arena* arena() const { return arena_; }

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }
  const Header& operator[](size_t i) const { return fields_[i]; }
  void clear() { fields_.clear(); }
  void reserve(size_t n) { fields_.reserve(n); }
  // The fields themselves, for a codec that fills them in bulk (ids must be right).
  std::vector<Header>& fields() { return fields_; }
  const std::vector<Header>& fields() const { return fields_; }

  // The first field with that id (not kOther) or name, or null.
  const Header* find(HeaderId id) const;
  const Header* find(std::string_view name) const;
  std::optional<std::string_view> get(std::string_view name) const;

  // Appends a field whose name and value outlive the list (or the arena's reset). `name` must
  // be a token, as every codec guarantees for what it receives.
  void add(std::string_view name, std::string_view value);
  void add(const Header& field) { fields_.push_back(field); }
  // Appends a copy of both, made in the arena (which must be set).
  void add_copy(std::string_view name, std::string_view value);
  // One field of that name with `value` where the first one was (appended if none); the others
  // of that name are removed. `value` must outlive the list, as for add().
  void set(std::string_view name, std::string_view value);
  // Removes every field of that id (not kOther) or name; returns how many.
  size_t remove(HeaderId id);
  size_t remove(std::string_view name);
  template <class Pred>
  size_t remove_if(Pred pred) {
    size_t kept = 0;
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (!pred(fields_[i])) fields_[kept++] = fields_[i];
    }
    const size_t removed = fields_.size() - kept;
    fields_.resize(kept);
    return removed;
  }

 private:
  std::vector<Header> fields_;
  Arena* arena_ = nullptr;
};

}  // namespace sluice::http
