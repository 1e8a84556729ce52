#!/usr/bin/env bash
# Prints the src/*.cc files that clang-tidy 14 can parse: clang 14 cannot read C++20 coroutines
# against libstdc++ 12 (it lacks __cpp_impl_coroutine), so a file is left out when it, or any
# project header it includes (directly or not, as the debug build's dependency records say),
# has a coroutine body or an Asio awaitable. Those are left to the compiler's -Wall -Wextra.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/debug}
root=$PWD
coroutine_files=$(git ls-files 'src/*.h' 'src/*.cc' |
  xargs grep -l 'co_await\|co_return\|asio::awaitable' | sed "s|^|$root/|")
ninja -C "$build" -t deps | awk -v coro="$coroutine_files" -v root="$root/" '
  BEGIN { n = split(coro, list, "\n"); for (i = 1; i <= n; i++) bad[list[i]] = 1 }
  /^[^ ]/ { if (src != "" && !tainted) print src; src = ""; tainted = 0; first = 1; next }
  /^    / {
    path = $1
    if (first) { first = 0; if (index(path, root "src/") == 1 && path ~ /\.cc$/) src = path }
    if (path in bad) tainted = 1
  }
  END { if (src != "" && !tainted) print src }' | sed "s|^$root/||" | sort -u
