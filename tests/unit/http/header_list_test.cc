// The neutral message's header list and the arena that owns made-up values.
#include "http/header_list.h"

#include <gtest/gtest.h>

#include <string>

#include "http/arena.h"

namespace sluice::http {
namespace {

std::string dump(const HeaderList& list) {
  std::string out;
  for (const auto& f : list) out.append(f.name).append("=").append(f.value).append(";");
  return out;
}

TEST(HeaderList, FindAndGetIgnoreCaseAndUseIds) {
  HeaderList h;
  h.add("Host", "a.example");
  h.add("X-Trace", "1");
  h.add("x-trace", "2");
  ASSERT_NE(h.find(HeaderId::kHost), nullptr);
  EXPECT_EQ(h.find(HeaderId::kHost)->value, "a.example");
  EXPECT_EQ(h.find("HOST")->name, "Host");
  EXPECT_EQ(h.get("x-TRACE"), "1");  // the first one
  EXPECT_EQ(h.get("absent"), std::nullopt);
  EXPECT_EQ(h.find(HeaderId::kCookie), nullptr);
  // a field filled in bulk without its id is still found by name
  h.fields().push_back({"cookie", "a=1"});
  EXPECT_EQ(h.get("Cookie"), "a=1");
}

TEST(HeaderList, SetReplacesAllOfOneNameInPlace) {
  HeaderList h;
  h.add("a", "1");
  h.add("X-Trace", "1");
  h.add("b", "2");
  h.add("x-trace", "2");
  h.set("x-trace", "9");
  EXPECT_EQ(dump(h), "a=1;X-Trace=9;b=2;");
  h.set("new", "v");
  EXPECT_EQ(dump(h), "a=1;X-Trace=9;b=2;new=v;");
}

TEST(HeaderList, RemoveByNameIdAndPredicate) {
  HeaderList h;
  h.add("Connection", "close");
  h.add("a", "1");
  h.add("TE", "trailers");
  h.add("A", "2");
  EXPECT_EQ(h.remove("a"), 2u);
  EXPECT_EQ(h.remove(HeaderId::kConnection), 1u);
  EXPECT_EQ(h.remove("absent"), 0u);
  EXPECT_EQ(dump(h), "TE=trailers;");
  EXPECT_EQ(h.remove_if([](const Header& f) { return is_connection_specific(f.id); }), 1u);
  EXPECT_TRUE(h.empty());
}

TEST(HeaderList, CopiesLiveInTheArenaUntilReset) {
  Arena arena;
  HeaderList h(&arena);
  {
    std::string name = "X-Made", value = "up";
    h.add_copy(name, value);
    name.assign("zzzzzz");
    value.assign("zz");
  }
  EXPECT_EQ(dump(h), "X-Made=up;");
  EXPECT_EQ(arena.blocks(), 1u);
}

TEST(Arena, JoinsInPlaceAndKeepsViewsStable) {
  Arena arena;
  EXPECT_EQ(arena.blocks(), 0u);  // nothing is allocated until something is copied
  EXPECT_EQ(arena.copy(""), "");
  EXPECT_EQ(arena.blocks(), 0u);
  auto joined = arena.join("10.0.0.1", ", ", "10.0.0.2");
  EXPECT_EQ(joined, "10.0.0.1, 10.0.0.2");
  std::vector<std::string_view> views;
  for (int i = 0; i < 1000; ++i) views.push_back(arena.copy(std::to_string(i) + "-value"));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(views[i], std::to_string(i) + "-value");
  EXPECT_EQ(joined, "10.0.0.1, 10.0.0.2");  // earlier blocks did not move
  const std::string big(10000, 'b');
  EXPECT_EQ(arena.copy(big), big);  // larger than a block: a block of its own
  EXPECT_GT(arena.blocks(), 2u);
  arena.reset();
  EXPECT_EQ(arena.blocks(), 1u);  // the current block stays for the next exchange
  EXPECT_EQ(arena.copy("again"), "again");
}

}  // namespace
}  // namespace sluice::http
