// Hot-path latency of a C++ logger (Quill or NanoLog) against the floor, in
// one process: ul's latency harness (benches/src/bin/latency.rs, burst/20
// mode, `int, int, double` message) redone in C++ so the C++ leaders are
// timed the same way as ul and its Rust peers.
//
// Built once per logger by benches/cpp/run.sh (-DUL_BENCH_QUILL or
// -DUL_BENCH_NANOLOG); not part of CI. Usage:
//
//   latency-quill --dir DIR [--bursts 10000] [--warmup 100] [--no-pin]
//                 [--quill-sleep-us 100]
//
// One producer thread (pinned to CPU 1, as ul's harness pins its first
// producer). Two cases, their bursts dealt round-robin: the logger's call
// and the floor's push. A burst is 20 calls between two `rdtscp` reads,
// divided by 20 (Quill's method); after every burst a busy pause of 2.0-2.2
// ms (uniform). Each case gets --bursts bursts. TSC ticks are converted to
// ns with a frequency measured against CLOCK_MONOTONIC over 200 ms, as
// ul_benches::timing::ticks_per_ns does.
//
// The floor (issue 15; ul_benches::floor::MinFloor): a 40-byte record (an
// 8-byte header word, an 8-byte `rdtsc` timestamp, then the u64, u32 and
// f64 arguments in 24 bytes) written with five plain stores into a
// pre-faulted ring of 2^15 slots and published with one Release store of
// the head; no call, no check (the slot index is masked), nobody consumes.
//
// Prints, on stdout, one `row` line per case and one `info` line:
//   row <name> <samples> <p50> <p75> <p90> <p99> <p99.9> <p99.99> <max>
//   info logger=<name> version=<v> ticks_per_ns=<f> lines_expected=<n> log=<path> elapsed_s=<s>
// Percentiles are nearest-rank over the sorted samples, in ns. run.sh
// counts the lines that reached the log file and builds the table.

#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#if defined(UL_BENCH_QUILL)
#include "quill/Backend.h"
#include "quill/Frontend.h"
#include "quill/LogMacros.h"
#include "quill/Logger.h"
#include "quill/sinks/FileSink.h"
#elif defined(UL_BENCH_NANOLOG)
#include <array>  // NanoLogCpp17.h uses std::array without including it

#include "NanoLogCpp17.h"
using namespace NanoLog::LogLevels;
#else
#error "define UL_BENCH_QUILL or UL_BENCH_NANOLOG"
#endif

namespace {

constexpr size_t kBurst = 20;

// ------------------------------------------------------------------ timing

// rdtscp: waits for earlier instructions to finish, then reads the TSC. The
// empty asm statements keep the compiler from moving memory accesses across
// the read (they emit no instruction).
inline uint64_t rdtscp() {
  unsigned aux;
  asm volatile("" ::: "memory");
  uint64_t t = __rdtscp(&aux);
  asm volatile("" ::: "memory");
  return t;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

// TSC ticks per ns over 200 ms of sleep (ul_benches::timing::ticks_per_ns).
double ticks_per_ns() {
  uint64_t t0 = rdtscp();
  uint64_t n0 = monotonic_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  uint64_t t1 = rdtscp();
  uint64_t n1 = monotonic_ns();
  return double(t1 - t0) / double(n1 - n0);
}

// The pause after a burst: 2.0-2.2 ms, uniform, spun (no sleep, no yield).
class Pause {
 public:
  Pause(double tpn, uint64_t seed)
      : state_(seed * 0x9E3779B97F4A7C15ull + 1),
        min_(uint64_t(2000000.0 * tpn)),
        spread_(uint64_t(200000.0 * tpn)) {}

  void spin() {
    uint64_t end = rdtscp() + min_ + next() % spread_;
    while (rdtscp() < end) _mm_pause();
  }

 private:
  uint64_t next() {  // xorshift64*
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  uint64_t state_;
  uint64_t min_, spread_;
};

void pin_to_cpu(int cpu) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// --------------------------------------------------------------- the floor

constexpr size_t kFloorRecords = size_t(1) << 15;
constexpr size_t kFloorWords = 5;  // 40 bytes
// Length in the low 32 bits, a constant callsite id above (ul's MIN_HEADER).
constexpr uint64_t kFloorHeader = 40 | (uint64_t(1) << 32);

struct FloorRing {
  uint64_t* words = nullptr;
  alignas(128) std::atomic<uint64_t> head{0};
  char pad[128 - sizeof(std::atomic<uint64_t>)];

  FloorRing() {
    size_t bytes = kFloorRecords * kFloorWords * 8;  // 1.25 MiB, 64 | bytes
    words = static_cast<uint64_t*>(std::aligned_alloc(64, bytes));
    if (words == nullptr) std::abort();
    // Touch every page so no push pays a page fault.
    for (size_t w = 0; w < bytes / 8; w += 4096 / 8) {
      reinterpret_cast<volatile uint64_t*>(words)[w] = 1;
      reinterpret_cast<volatile uint64_t*>(words)[w] = 0;
    }
  }
  ~FloorRing() { std::free(words); }
};

// The ring's one producer (ul's MinProducer).
struct FloorProducer {
  uint64_t* base;
  std::atomic<uint64_t>* head;
  uint64_t next;

  explicit FloorProducer(FloorRing& r)
      : base(r.words), head(&r.head), next(r.head.load(std::memory_order_relaxed)) {}

  inline __attribute__((always_inline)) void push(uint64_t ts, uint64_t i, uint32_t j, double x) {
    uint64_t* p = base + (next & (kFloorRecords - 1)) * kFloorWords;
    uint64_t xb;
    std::memcpy(&xb, &x, 8);
    p[0] = kFloorHeader;
    p[1] = ts;
    p[2] = i;
    p[3] = j;
    p[4] = xb;
    ++next;
    head->store(next, std::memory_order_release);
  }
};

// The arguments of the timed message, advanced after every call as ul's
// harness does (loggers::Args for thread 0).
struct Args {
  uint64_t i = 0;
  uint32_t j = 7;
  double x = 0.5;
  inline void advance() {
    ++i;
    x += 0.25;
  }
};

// --------------------------------------------------------------- the logger

#if defined(UL_BENCH_QUILL)

constexpr const char* kLogger = "quill";

struct Logger {
  quill::Logger* logger = nullptr;
  std::string path;

  Logger(std::string const& dir, long sleep_us) {
    quill::BackendOptions bo;
    // The library's default is 100 us; Quill's own hot-path harness sets
    // 0 (the backend spins; run.sh's `quill-spin`).
    bo.sleep_duration = std::chrono::microseconds(sleep_us);
    quill::Backend::start(bo);
    path = dir + "/quill.log";
    auto sink = quill::Frontend::create_or_get_sink<quill::FileSink>(
        path,
        [] {
          quill::FileSinkConfig cfg;
          cfg.set_open_mode('w');
          return cfg;
        }(),
        quill::FileEventNotifier{});
    // The pattern of Quill's hot-path benchmark.
    logger = quill::Frontend::create_or_get_logger(
        "bench", std::move(sink),
        quill::PatternFormatterOptions{
            "%(time) [%(thread_id)] %(short_source_location) %(log_level) %(message)",
            "%H:%M:%S.%Qns", quill::Timezone::LocalTime, false});
  }

  // On the producer thread, before the first call.
  void thread_start() { quill::Frontend::preallocate(); }

  inline __attribute__((always_inline)) void log(Args const& a) {
    LOG_INFO(logger, "Logging int: {}, int: {}, double: {}", a.i, a.j, a.x);
  }

  void flush() { logger->flush_log(); }
  void stop() { quill::Backend::stop(); }
  static std::string version() {
    return std::to_string(quill::VersionMajor) + "." + std::to_string(quill::VersionMinor) +
           "." + std::to_string(quill::VersionPatch);
  }
};

#elif defined(UL_BENCH_NANOLOG)

constexpr const char* kLogger = "nanolog";

struct Logger {
  std::string path;

  Logger(std::string const& dir, long) {
    path = dir + "/nanolog.clog";
    NanoLog::setLogFile(path.c_str());
    NanoLog::setLogLevel(NOTICE);
  }

  // On the producer thread: allocates its staging buffer.
  void thread_start() { NanoLog::preallocate(); }

  inline __attribute__((always_inline)) void log(Args const& a) {
    NANO_LOG(NOTICE, "Logging int: %lu, int: %u, double: %lf", a.i, a.j, a.x);
  }

  void flush() { NanoLog::sync(); }
  void stop() { NanoLog::sync(); }
  static std::string version() { return "C++17-API"; }
};

#endif

// ------------------------------------------------------------------ the run

struct Summary {
  size_t n;
  double p[7];  // p50 p75 p90 p99 p99.9 p99.99 max
};

Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Summary s{v.size(), {}};
  const double q[6] = {0.50, 0.75, 0.90, 0.99, 0.999, 0.9999};
  for (int k = 0; k < 6; ++k) {
    size_t rank = size_t(std::ceil(double(v.size()) * q[k]));
    s.p[k] = v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
  }
  s.p[6] = v.back();
  return s;
}

void print_row(const char* name, Summary const& s) {
  std::printf("row %s %zu", name, s.n);
  for (double v : s.p) std::printf(" %.1f", v);
  std::printf("\n");
}

struct Options {
  std::string dir;
  size_t bursts = 10000;
  size_t warmup = 100;
  bool pin = true;
  long quill_sleep_us = 100;  // Quill's BackendOptions default
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "latency: %s\nusage: latency-%s --dir DIR [--bursts N] [--warmup N] [--no-pin] "
               "[--quill-sleep-us N]\n",
               why, kLogger);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int k = 1; k < argc; ++k) {
    std::string a = argv[k];
    auto value = [&]() -> const char* {
      if (k + 1 >= argc) usage(("missing value for " + a).c_str());
      return argv[++k];
    };
    if (a == "--dir") {
      o.dir = value();
    } else if (a == "--bursts") {
      o.bursts = std::strtoull(value(), nullptr, 10);
    } else if (a == "--warmup") {
      o.warmup = std::strtoull(value(), nullptr, 10);
    } else if (a == "--no-pin") {
      o.pin = false;
    } else if (a == "--quill-sleep-us") {
      o.quill_sleep_us = std::strtol(value(), nullptr, 10);
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (o.dir.empty()) usage("--dir is required");
  if (o.bursts == 0) usage("--bursts must be positive");
  return o;
}

// One burst of the logger's call, timed. The arguments are copied to a
// local first so they can live in registers, as in ul's harness (where
// `&mut Args` cannot alias what the call writes).
__attribute__((noinline)) double logger_burst(Logger& l, Args& args, double tpn) {
  Args a = args;
  uint64_t t0 = rdtscp();
  for (size_t k = 0; k < kBurst; ++k) {
    l.log(a);
    a.advance();
  }
  uint64_t t1 = rdtscp();
  args = a;
  return double(t1 - t0) / tpn / double(kBurst);
}

// One burst of the floor's push, timed. Producer and arguments are copied
// to locals so the ring's stores cannot alias them (else the compiler
// reloads them after every store; ul's Rust floor keeps them in registers:
// 20 instructions per call, 14 of them the push).
__attribute__((noinline)) double floor_burst(FloorProducer& producer, Args& args, double tpn) {
  FloorProducer p = producer;
  Args a = args;
  uint64_t t0 = rdtscp();
  for (size_t k = 0; k < kBurst; ++k) {
    p.push(__rdtsc(), a.i, a.j, a.x);
    a.advance();
  }
  uint64_t t1 = rdtscp();
  producer = p;
  args = a;
  return double(t1 - t0) / tpn / double(kBurst);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  auto started = std::chrono::steady_clock::now();
  double tpn = ticks_per_ns();
  Logger logger(o.dir, o.quill_sleep_us);
  FloorRing ring;

  std::vector<double> logger_ns, floor_ns;
  logger_ns.reserve(o.bursts);
  floor_ns.reserve(o.bursts);
  uint64_t floor_check = 0;

  std::thread producer([&] {
    if (o.pin) pin_to_cpu(1);
    logger.thread_start();
    FloorProducer fp(ring);
    Args la, fa;
    for (size_t k = 0; k < o.warmup; ++k) {
      logger.log(la);
      la.advance();
      fp.push(__rdtsc(), fa.i, fa.j, fa.x);
      fa.advance();
    }
    // Let the backend drain the warm-up before timing starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Pause pause(tpn, 1);
    for (size_t b = 0; b < 2 * o.bursts; ++b) {
      if (b % 2 == 0) {
        logger_ns.push_back(logger_burst(logger, la, tpn));
      } else {
        floor_ns.push_back(floor_burst(fp, fa, tpn));
      }
      pause.spin();
    }
    floor_check = fp.next;
  });
  producer.join();
  logger.flush();
  logger.stop();

  if (ring.head.load(std::memory_order_acquire) != floor_check ||
      floor_check != o.warmup + o.bursts * kBurst) {
    std::fprintf(stderr, "latency: the floor ring's head is wrong\n");
    return 1;
  }
  print_row(kLogger, summarize(logger_ns));
  print_row("floor", summarize(floor_ns));
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("info logger=%s version=%s ticks_per_ns=%.4f lines_expected=%zu log=%s elapsed_s=%.1f\n",
              kLogger, Logger::version().c_str(), tpn, o.warmup + o.bursts * kBurst,
              logger.path.c_str(), elapsed);
  return 0;
}
