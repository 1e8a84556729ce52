// X-Forwarded-*, RFC 7239 Forwarded and the client-certificate header, as sent upstream.
#include "l7/forwarded_headers.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::l7 {
namespace {

std::string dump(const http::HeaderList& list) {
  std::string out;
  for (const auto& f : list) out.append(f.name).append(": ").append(f.value).append("\n");
  return out;
}

ForwardedFacts facts() {
  ForwardedFacts f;
  f.client_ip = "10.0.0.9";
  f.proto = "http";
  f.host = "a.example";
  return f;
}

TEST(ForwardedHeaders, AddsWhatSluiceKnows) {
  http::Arena arena;
  http::HeaderList h(&arena);
  h.add("Accept", "*/*");
  rewrite_forwarded(facts(), &h);
  EXPECT_EQ(dump(h),
            "Accept: */*\nX-Forwarded-For: 10.0.0.9\nX-Forwarded-Proto: http\n"
            "X-Forwarded-Host: a.example\n");
}

TEST(ForwardedHeaders, AppendsToTheClientsListAndReplacesTheRest) {
  http::Arena arena;
  http::HeaderList h(&arena);
  h.add("X-Forwarded-For", "1.1.1.1");
  h.add("X-Forwarded-Proto", "https");  // a client's claim: replaced
  h.add("x-forwarded-for", "2.2.2.2, 3.3.3.3");
  h.add("X-Forwarded-Host", "evil.example");
  h.add("Forwarded", "for=1.1.1.1");  // passed on: the listener adds no Forwarded
  rewrite_forwarded(facts(), &h);
  EXPECT_EQ(dump(h),
            "Forwarded: for=1.1.1.1\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.9\n"
            "X-Forwarded-Proto: http\nX-Forwarded-Host: a.example\n");
}

TEST(ForwardedHeaders, Rfc7239ForwardedWhenAsked) {
  http::Arena arena;
  http::HeaderList h(&arena);
  h.add("Forwarded", "for=1.1.1.1");
  h.add("forwarded", "for=2.2.2.2");
  auto f = facts();
  f.add_forwarded = true;
  f.client_ip = "2001:db8::1";
  f.client_is_v4 = false;
  f.proto = "https";
  rewrite_forwarded(f, &h);
  EXPECT_EQ(dump(h),
            "X-Forwarded-For: 2001:db8::1\nX-Forwarded-Proto: https\nX-Forwarded-Host: a.example\n"
            "Forwarded: for=1.1.1.1, for=2.2.2.2, "
            "for=\"[2001:db8::1]\";proto=https;host=\"a.example\"\n");
}

TEST(ForwardedHeaders, OnlySluiceNamesTheClientCertificate) {
  http::Arena arena;
  http::HeaderList h(&arena);
  h.add("X-Client-Cert-Subject", "CN=forged");
  auto f = facts();
  f.host = {};  // HTTP/1.0 without Host: no X-Forwarded-Host
  f.client_cert_header = "x-client-cert-subject";
  rewrite_forwarded(f, &h);  // no verified certificate: the forged one is gone, nothing added
  EXPECT_EQ(dump(h), "X-Forwarded-For: 10.0.0.9\nX-Forwarded-Proto: http\n");
  h.clear();
  h.add("X-Client-Cert-Subject", "CN=forged");
  f.client_subject = "CN=alice,O=example";
  rewrite_forwarded(f, &h);
  EXPECT_EQ(dump(h),
            "X-Forwarded-For: 10.0.0.9\nX-Forwarded-Proto: http\n"
            "x-client-cert-subject: CN=alice,O=example\n");
}

}  // namespace
}  // namespace sluice::l7
