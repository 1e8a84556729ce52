// libFuzzer target: the request head parser, then the path normaliser and the chunked body
// decoder (and the check of a body's first bytes) on whatever follows the head, exactly as the
// proxy chains them. Invariants checked:
// no crash, consumed never exceeds input, normalisation is idempotent, and a parse of the same
// bytes split at any point gives the same answer as a parse of them whole, a head accepted here
// is accepted with the same meaning when its parts arrive split (as HTTP/2 gives them), and the
// HTTP/1 codecs' body reader (Http1BodyDecoder) finds the same payload, end and error whether the
// body comes whole or in small reads.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/chunked_decoder.h"
#include "http/http1_body.h"
#include "http/path_normalizer.h"
#include "http/request_parser.h"

using namespace sluice::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  RequestParser parser({256, 2048, 32});
  RequestHead head;
  auto whole = parser.parse(input, &head);
  if (whole.ok() && whole.consumed > size) std::abort();

  // Incremental feeding must agree with the one-shot parse.
  RequestParser incremental({256, 2048, 32});
  RequestHead head2;
  ParseResult step;
  size_t split = size / 2;
  step = incremental.parse(input.substr(0, split), &head2);
  if (step.state == ParseResult::State::kIncomplete) step = incremental.parse(input, &head2);
  if (step.state != whole.state || step.status != whole.status || step.consumed != whole.consumed) {
    if (!(step.is_error() && whole.is_error()))
      std::abort();  // limits may trip earlier on a prefix
  }

  if (whole.ok()) {
    std::string once, twice;
    normalize_path(head.path, &once);
    normalize_path(once, &twice);
    if (once != twice || once.empty() || once[0] != '/') std::abort();

    // The same head as split fields (accept_fields, the HTTP/2 path): same verdict, same meaning.
    if (head.version_minor == 1 && !head.target.empty() && head.target.front() == '/') {
      RequestHead split;
      split.method = head.method;
      split.target = head.target;
      split.host = head.host;
      for (const auto& h : head.headers)
        if (h.id != HeaderId::kHost) split.headers.push_back({h.name, h.value});
      auto accepted = RequestParser({256, 2048, 32}).accept_fields(&split);
      if (!accepted.ok() || split.path != head.path || split.query != head.query ||
          split.framing.body != head.framing.body ||
          split.framing.content_length != head.framing.content_length) {
        std::abort();
      }
    }
    if (head.framing.body == BodyKind::kChunked) {
      ChunkedDecoder dec(1024);
      std::string_view rest = input.substr(whole.consumed);
      for (int guard = 0; guard < 100000 && !rest.empty(); ++guard) {
        auto s = dec.step(rest);
        if (s.consumed > rest.size()) std::abort();
        if (s.error || s.done || s.consumed == 0) break;
        rest.remove_prefix(s.consumed);
      }
      // The check made before anything goes upstream flags exactly the bodies that a full
      // decode of the same bytes finds malformed.
      ChunkedDecoder full;
      bool errored = false;
      rest = input.substr(whole.consumed);
      for (int guard = 0; guard < 100000 && !rest.empty(); ++guard) {
        auto s = full.step(rest);
        errored = s.error;
        if (s.error || s.done || s.consumed == 0) break;
        rest.remove_prefix(s.consumed);
      }
      if ((chunked_prefix_error(input.substr(whole.consumed)) != nullptr) != errored) std::abort();
    }
    // The HTTP/1 codecs' body reader, as they feed it: once with the bytes whole and once as
    // reads of a few bytes each. Both must find the same payload, end and error.
    if (head.framing.body != BodyKind::kNone) {
      const std::string_view body = input.substr(whole.consumed);
      auto run = [&](size_t slice, std::string* payload, bool* done) {
        Http1BodyDecoder d;
        d.start(head.framing.body, head.framing.content_length);
        std::string buffer;
        size_t fed = 0;
        for (int guard = 0; guard < 200000 && !d.done(); ++guard) {
          auto st = d.step(buffer);
          if (st.consumed > buffer.size()) std::abort();
          if (st.error) return false;
          payload->append(st.data);
          buffer.erase(0, st.consumed);
          if (d.done()) break;
          if (st.consumed == 0 || buffer.empty()) {
            if (fed == body.size()) break;
            const size_t n = std::min(slice, body.size() - fed);
            buffer.append(body.substr(fed, n));
            fed += n;
          }
        }
        *done = d.done();
        if (head.framing.body == BodyKind::kContentLength && d.done() &&
            payload->size() != head.framing.content_length)
          std::abort();
        return true;
      };
      std::string a, b;
      bool done_a = false, done_b = false;
      const bool ok_a = run(body.size() + 1, &a, &done_a);
      const bool ok_b = run(3, &b, &done_b);
      if (ok_a != ok_b || (ok_a && (a != b || done_a != done_b))) std::abort();
    }
  }
  return 0;
}
