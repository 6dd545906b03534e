// Memory for the CPU kernels' outputs.
//
// Fresh memory costs: the OS zero-fills every page on the first write (and faults it in, per 4 KiB
// unless the page is huge), and glibc hands out fresh memory often, since it maps every block of
// 32 MiB or more anew and unmaps it on free, and returns the top of its heap once enough of it is
// free. For the op's outputs that was 10 %, 5 % and 14 % of a forward+backward at C = 64 and
// T = 16384, 32768 and 131072 (scripts/bench_wkv.py counts the page faults per call). So
// outputs of 2 MiB and more live in blocks of whole 2 MiB pages, mapped 2 MiB-aligned and advised
// for transparent huge pages, and a freed block is kept, most recent first, for the next output
// of the same page count, up to a limit on the bytes kept (GLSP_CPU_OUTPUT_CACHE_MB, default 512;
// glsp::cpu_output_cache changes it; 0 keeps nothing), past which the oldest go back to the OS.
// Tensors made here are ordinary CPU tensors (resizable: a resize allocates here too).
#include "cpu_output_cache.h"

#include <ATen/EmptyTensor.h>
#include <c10/core/Allocator.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <mutex>
#include <new>
#include <string>

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>
#define GLSP_OUTPUT_CACHE 1
#endif

namespace glsp {

#if defined(GLSP_OUTPUT_CACHE)
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr int64_t kDefaultLimitMiB = 512;

struct Block {
  void* ptr;
  size_t bytes;  // a multiple of kHugePage
};

// `bytes` of fresh memory at a 2 MiB boundary, advised for huge pages: one mapping a huge page
// longer, its unaligned ends unmapped.
Block map_block(size_t bytes) {
  const size_t span = bytes + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TORCH_CHECK_WITH(OutOfMemoryError, raw != MAP_FAILED, "glsp::wkv: cannot map ", bytes,
                   " bytes for an output on the CPU: out of memory");
  const auto first = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (first + kHugePage - 1) & ~(kHugePage - 1);
  const size_t head = aligned - first, tail = span - head - bytes;
  if (head > 0) munmap(raw, head);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* ptr = reinterpret_cast<void*>(aligned);
  madvise(ptr, bytes, MADV_HUGEPAGE);  // a hint: nothing changes where THP is off
  return {ptr, bytes};
}

int64_t limit_from_env() {
  const char* env = std::getenv("GLSP_CPU_OUTPUT_CACHE_MB");
  if (env == nullptr || *env == '\0') return kDefaultLimitMiB << 20;
  char* end = nullptr;
  const long long mib = std::strtoll(env, &end, 10);
  TORCH_CHECK(*end == '\0' && mib >= 0 && mib < (int64_t{1} << 43),
              "GLSP_CPU_OUTPUT_CACHE_MB=", env,
              " is not a size: give the MiB of freed output memory the CPU kernels may keep for "
              "reuse (0 keeps none), or unset it for ", kDefaultLimitMiB);
  return static_cast<int64_t>(mib) << 20;
}

class OutputCache final : public c10::Allocator {
 public:
  // The process's cache: never destroyed, so that tensors freed at exit can still return here.
  static OutputCache& instance() {
    static auto* cache = new OutputCache(limit_from_env());
    return *cache;
  }

  c10::DataPtr allocate(size_t n) override {
    const size_t bytes = (std::max<size_t>(n, 1) + kHugePage - 1) & ~(kHugePage - 1);
    Block block = take(bytes);
    if (block.ptr == nullptr) block = map_block(bytes);
    return {block.ptr, new Block(block), &OutputCache::release, c10::Device(c10::kCPU)};
  }

  void copy_data(void* dest, const void* src, size_t count) const override {
    default_copy_data(dest, src, count);
  }

  std::vector<int64_t> limit(std::optional<int64_t> bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes.has_value()) {
      TORCH_CHECK(*bytes >= 0, "glsp::cpu_output_cache: the limit must be >= 0 bytes, got ",
                  *bytes);
      limit_ = *bytes;
      trim();
    }
    return {static_cast<int64_t>(held_), limit_};
  }

 private:
  explicit OutputCache(int64_t limit) : limit_(limit) {
    // a child forked while another thread held the lock would wait for it forever: the child
    // starts with a fresh one (its copy of the kept blocks stays valid)
    pthread_atfork(nullptr, nullptr, [] { new (&instance().mutex_) std::mutex(); });
  }

  static void release(void* ctx) {
    const Block* block = static_cast<Block*>(ctx);
    instance().keep(*block);
    delete block;
  }

  // A kept block of exactly `bytes`, the most recently freed; none: {nullptr, 0}.
  Block take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      if (it->bytes == bytes) {
        const Block block = *it;
        kept_.erase(it);
        held_ -= bytes;
        return block;
      }
    }
    return {nullptr, 0};
  }

  void keep(const Block& block) {
    std::lock_guard<std::mutex> lock(mutex_);
    kept_.push_front(block);
    held_ += block.bytes;
    trim();
  }

  // Unmaps the oldest kept blocks until the rest fit the limit.
  void trim() {
    while (held_ > static_cast<size_t>(limit_)) {
      munmap(kept_.back().ptr, kept_.back().bytes);
      held_ -= kept_.back().bytes;
      kept_.pop_back();
    }
  }

  std::mutex mutex_;
  std::list<Block> kept_;  // most recently freed first
  size_t held_ = 0;
  int64_t limit_;
};

}  // namespace

at::Tensor new_cpu_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  const int64_t bytes = c10::multiply_integers(sizes) * options.dtype().itemsize();
  if (bytes < static_cast<int64_t>(kHugePage)) return at::empty(sizes, options);
  return at::detail::empty_generic(sizes, &OutputCache::instance(),
                                   c10::DispatchKeySet(c10::DispatchKey::CPU),
                                   options.dtype().toScalarType(), std::nullopt);
}

std::vector<int64_t> cpu_output_cache(std::optional<int64_t> limit_bytes) {
  return OutputCache::instance().limit(limit_bytes);
}

#else  // no mmap: PyTorch's allocator, nothing kept

at::Tensor new_cpu_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  return at::empty(sizes, options);
}

std::vector<int64_t> cpu_output_cache(std::optional<int64_t> limit_bytes) {
  TORCH_CHECK(!limit_bytes.has_value() || *limit_bytes >= 0,
              "glsp::cpu_output_cache: the limit must be >= 0 bytes, got ", *limit_bytes);
  return {0, 0};
}

#endif

}  // namespace glsp
