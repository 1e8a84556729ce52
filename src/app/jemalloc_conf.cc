// jemalloc's options for the sluice binary, read by jemalloc at its first allocation; compiled in
// only when sluice links jemalloc (src/CMakeLists.txt). MALLOC_CONF in the environment still
// overrides them.
//
// tcache_nslots_small_min: each thread keeps up to this many freed blocks of each small size
// class (up to 14 KiB) for reuse. jemalloc's default of 20 is too few for a proxy that frees the
// blocks of ten or more finished requests at once (an HTTP/2 connection's batch): the cache
// overflows and jemalloc hands blocks back to its arena and takes them again, a walk through its
// page map that misses the CPU's caches. With 128, callgrind counts 24,158 -> 23,636 instructions
// per h2c request (h2load -c 10 -m 10), and the flushes are gone. The cost is memory a worker may
// hold in its cache: at most 128 blocks per size class, trimmed back by jemalloc's own
// collection as the worker allocates.
extern "C" {
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's interface
const char* malloc_conf = "tcache_nslots_small_min:128";
}
