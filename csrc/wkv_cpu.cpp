// CPU kernels of glsp::wkv and glsp::wkv_backward (algorithm: wkv_math.h).
//
// Work items are (batch, channel group, chunk): a group is kLanes consecutive channels, computed
// on vector lanes one register wide (RegVec: all kLanes at once with AVX-512 floats, in parts with
// narrower registers), or, for the C % kLanes remaining channels, a single channel. Phases 1 and 3
// run in parallel over work items, phase 2 over its scan lanes (direction, batch, segment, channel
// group), with the same vector or single-channel lanes in double.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "wkv_check.h"
#include "wkv_math.h"

// Hot loops on float data are compiled for AVX-512, AVX2 (with FMA) and baseline x86-64,
// picked at run time: the phase functions are force-inlined into one entry per instruction set
// (run_isa). Not target_clones: GCC 12 leaves the loops of a target_clones function scalar, while a
// plain target("avx512...") function maps the vector lane types onto zmm registers.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GLSP_X86_ISA 1
#endif

namespace glsp {

// bfloat16, which wkv_lanes.h converts a register at a time.
template <>
constexpr bool kIsBfloat16<c10::BFloat16> = true;

namespace {

// Channels per work item: the float lanes of the widest register (AVX-512), a multiple of every
// narrower one's.
constexpr int kLanes = 16;

// Phase 2 runs in segments only when it has fewer scan lanes (2 B C) than this: enough lanes
// already keep every core busy. A constant, not the thread count, so results never depend on it.
constexpr int64_t kMinScanLanes = 64;

// The chunk grid of one call, with the channel groups of the work items.
struct Geometry : ChunkGrid {
  int64_t full, groups;

  Geometry(const at::Tensor& k, int64_t chunk)
      : ChunkGrid(k.size(0), k.size(1), k.size(2), chunk_tokens(false, chunk),
                  2 * k.size(0) * k.size(2) < kMinScanLanes),
        full(C / kLanes),
        groups(full + C % kLanes) {}
  int64_t tasks() const { return B * groups * n; }
  int64_t scratch_size() const { return 3 * B * n * L * C; }  // see Task::scr
  bool wide(int64_t grp) const { return grp < full; }  // kLanes channels, else one
  int64_t first_channel(int64_t grp) const {
    return grp < full ? grp * kLanes : full * kLanes + (grp - full);
  }
};

// One work item: batch b, chunk ci, channels [c0, c0 + width). Groups vary fastest, so
// consecutive items read consecutive memory.
struct Task {
  bool wide;
  int Lc;
  int64_t c0;
  int64_t tok;  // offset of (b, first token of the chunk, c0) in a (B, T, C) tensor
  int64_t chk;  // offset of (b, ci, c0) in a state field
  // offset of the item's backward scratch: one contiguous block [3 fields][L tokens][width], so
  // the g pass reads it sequentially (token stride width, field stride L width)
  int64_t scr;

  Task(const Geometry& g, int64_t i) {
    const int64_t grp = i % g.groups, ci = (i / g.groups) % g.n, b = i / (g.n * g.groups);
    wide = g.wide(grp);
    c0 = g.first_channel(grp);
    Lc = static_cast<int>(g.chunk_len(ci));
    tok = (b * g.Tn + ci * g.L) * g.C + c0;
    chk = (b * g.n + ci) * g.C + c0;
    scr = 3 * g.L * chk;  // [b][ci] blocks of 3 L C values, a group's at 3 L c0
  }
  int64_t width() const { return wide ? kLanes : 1; }
  // The same item from its channel c0 + h on (for lanes narrower than the group). width() stays
  // the group's: it is the token stride of the item's scratch.
  Task from_lane(int h) const {
    Task t = *this;
    t.c0 += h;
    t.tok += h;
    t.chk += h;
    t.scr += h;
    return t;
  }
};

// Memory for the per-call buffers (states, scratch), kept by each thread across calls: fresh
// memory costs a page fault per 4 KiB, more than the kernels spend on it. It grows to the largest
// request and is never returned (about 12 bytes per element of the largest backward call).
template <typename T>
T* workspace(int64_t count) {
  thread_local std::unique_ptr<char[]> block;
  thread_local size_t capacity = 0;
  const size_t bytes = static_cast<size_t>(count) * sizeof(T);
  if (bytes > capacity) {
    block.reset(new char[bytes]);
    capacity = bytes;
  }
  return reinterpret_cast<T*>(block.get());
}

template <typename V>
struct LaneTag {
  using type = V;
};

// ---- instruction sets ----
// The float kernels are compiled for AVX-512, AVX2 + FMA and the baseline (SSE2 on x86-64,
// the compiler's default elsewhere), each on vectors one register wide (RegBytes). The best the CPU
// has runs, or the one the environment variable GLSP_CPU_ISA names (tests and benchmarks of the
// others).
enum class Isa { kBaseline, kAvx2, kAvx512 };
constexpr const char* kIsaNames[] = {"baseline", "avx2", "avx512"};

Isa best_isa() {
#if defined(GLSP_X86_ISA)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return Isa::kAvx2;
#endif
  return Isa::kBaseline;
}

Isa selected_isa() {
  static const Isa isa = [] {
    const Isa best = best_isa();
    const char* env = std::getenv("GLSP_CPU_ISA");
    if (env == nullptr || *env == '\0') return best;
    std::string choices;
    for (int i = 0; i <= static_cast<int>(best); ++i) {
      if (std::string_view(env) == kIsaNames[i]) return static_cast<Isa>(i);
      choices += std::string(i > 0 ? ", " : "") + kIsaNames[i];
    }
    TORCH_CHECK(false, "GLSP_CPU_ISA=", env, " is not an instruction set this CPU runs: use one of ",
                choices, ", or unset it for the best (", kIsaNames[static_cast<int>(best)], ")");
  }();
  return isa;
}

template <int Bytes>
struct RegBytes {
  static constexpr int kBytes = Bytes;  // one vector register
};
static_assert(kLanes % (64 / sizeof(float)) == 0, "a group is whole AVX-512 float registers");

#if defined(GLSP_X86_ISA)
template <typename F>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void on_avx512(const F& f) {
  f(RegBytes<64>{});
}
template <typename F>
__attribute__((target("avx2,fma"))) void on_avx2(const F& f) {
  f(RegBytes<32>{});
}
#endif

// Runs f(RegBytes) (force-inlined, like everything it calls) compiled for the selected instruction
// set.
template <typename F>
void run_isa(const F& f) {
#if defined(GLSP_X86_ISA)
  const Isa isa = selected_isa();
  if (isa == Isa::kAvx512) return on_avx512(f);
  if (isa == Isa::kAvx2) return on_avx2(f);
#endif
  f(RegBytes<16>{});
}

// Runs items(begin, end, RegBytes) over [0, count) with at::parallel_for (ranges of at least
// grain items), compiled for the selected instruction set (run_isa). items must be a
// force-inlined generic lambda.
template <typename F>
void parallel_items(int64_t count, int64_t grain, const F& items) {
  at::parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
    run_isa([&](auto reg) __attribute__((always_inline)) { items(begin, end, reg); });
  });
}

// fn(task, LaneTag<V>) for every work item of phases 1 and 3, in parallel; V: the register-wide
// vector (a group's item in kLanes / width parts) or the scalar lane type of the accumulation type
// of scalar_t. fn must be a force-inlined generic lambda.
template <typename scalar_t, typename F>
void parallel_tasks(const Geometry& g, const F& fn) {
  using T = at::opmath_type<scalar_t>;
  const auto items = [&](int64_t begin, int64_t end, auto reg) __attribute__((always_inline)) {
    using V = RegVec<T, decltype(reg)::kBytes>;
    for (int64_t i = begin; i < end; ++i) {
      const Task t(g, i);
      if (t.wide) {
        for (int h = 0; h < kLanes; h += LaneTraits<V>::kWidth) fn(t.from_lane(h), LaneTag<V>{});
      } else {
        fn(t, LaneTag<T>{});
      }
    }
  };
  parallel_items(g.tasks(), 4, items);
}

// Phase 1: every chunk's totals.
template <bool Deriv, bool Causal, typename scalar_t, typename T>
void phase1(const Geometry& g, const scalar_t* k, const scalar_t* v, const T* w, T* totals) {
  parallel_tasks<scalar_t>(g, [&](const Task& t, auto lane) __attribute__((always_inline)) {
    using V = typename decltype(lane)::type;
    chunk_totals<Deriv, Causal, kMaxChunk, V>(k + t.tok, v + t.tok, g.C, t.Lc, w + t.c0,
                                              totals + t.chk, g.fs(), g.ds());
  });
}

// fn(ScanLane, first channel, LaneTag<D>) over the n_dirs * B * segs * groups lanes of a phase-2
// level, in parallel; D: register-wide double vectors for a group of kLanes channels (in parts),
// else double.
template <typename F>
void scan_level(const Geometry& g, int dir_begin, int n_dirs, int64_t segs, const F& fn) {
  const auto lanes = [&](int64_t begin, int64_t end, auto reg) __attribute__((always_inline)) {
    using D = RegVec<double, decltype(reg)::kBytes>;
    for (int64_t i = begin; i < end; ++i) {
      const ScanLane l(g, dir_begin, segs, g.groups, i);
      const int64_t c = g.first_channel(l.unit);
      if (g.wide(l.unit)) {
        for (int h = 0; h < kLanes; h += LaneTraits<D>::kWidth) fn(l, c + h, LaneTag<D>{});
      } else {
        fn(l, c, LaneTag<double>{});
      }
    }
  };
  parallel_items(n_dirs * g.B * segs * g.groups, 1, lanes);
}

// Phase 2 for directions [dir_begin, dir_begin + n_dirs): chunk totals -> carries. seg: room for
// the segment totals and carries (4 sds()).
template <bool Deriv, typename T>
void phase2(const Geometry& g, const T* totals, T* carries, T* seg, const T* w, int dir_begin,
            int n_dirs) {
  T *seg_totals = seg, *seg_carries = seg + 2 * g.sds();
  if (g.nseg > 1) {
    scan_level(
        g, dir_begin, n_dirs, g.nseg,
        [&](const ScanLane& l, int64_t c, auto lane) __attribute__((always_inline)) {
          using D = typename decltype(lane)::type;
          segment_total<Deriv, D>(g, totals, seg_totals, w, l.dir, l.b, l.s, c);
        });
    scan_level(
        g, dir_begin, n_dirs, 1,
        [&](const ScanLane& l, int64_t c, auto lane) __attribute__((always_inline)) {
          using D = typename decltype(lane)::type;
          segment_scan<Deriv, D>(g, seg_totals, seg_carries, w, l.dir, l.b, c);
        });
  }
  scan_level(
      g, dir_begin, n_dirs, g.nseg,
      [&](const ScanLane& l, int64_t c, auto lane) __attribute__((always_inline)) {
        using D = typename decltype(lane)::type;
        chunk_carries<Deriv, D>(g, totals, g.nseg > 1 ? seg_carries : nullptr, carries, w, l.dir,
                                l.b, l.s, c);
      });
}

// Phases 1 and 2 on (k, v): the state entering every chunk (carries), with the w-derivatives when
// Deriv. totals, seg: room for the chunk totals (2 ds()) and the segment buffers (4 sds()).
template <bool Deriv, bool Causal, typename scalar_t, typename T>
void kv_carries(const Geometry& g, const scalar_t* k, const scalar_t* v, const T* w, T* totals,
                T* seg, T* carries) {
  phase1<Deriv, Causal>(g, k, v, w, totals);
  phase2<Deriv>(g, totals, carries, seg, w, 0, Causal ? 1 : 2);
}

// y; when `saved` is not null, the carries go there with their w-derivatives, for the backward.
template <bool Causal, typename scalar_t>
void forward_impl(const Geometry& g, const KernelInputs& in, at::Tensor& y,
                  at::opmath_type<scalar_t>* saved) {
  using T = at::opmath_type<scalar_t>;
  const int64_t states = 2 * g.ds();
  T* tp = workspace<T>(2 * states + 4 * g.sds());  // chunk totals, carries, segment buffers
  T *seg = tp + 2 * states, *cp = saved == nullptr ? tp + states : saved;
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  scalar_t* yp = y.data_ptr<scalar_t>();
  if (saved == nullptr)
    kv_carries<false, Causal>(g, k, v, w, tp, seg, cp);
  else
    kv_carries<true, Causal>(g, k, v, w, tp, seg, cp);
  parallel_tasks<scalar_t>(g, [&](const Task& t, auto lane) __attribute__((always_inline)) {
    using V = typename decltype(lane)::type;
    chunk_forward<Causal, kMaxChunk, V>(k + t.tok, v + t.tok, yp + t.tok, g.C, t.Lc, w + t.c0,
                                        u + t.c0, cp + t.chk, g.fs(), g.ds());
  });
}

// saved: the forward's carries (glsp::wkv_with_carries), or null to compute them here.
template <bool Causal, typename scalar_t>
void backward_impl(const Geometry& g, const KernelInputs& in,
                   const at::opmath_type<scalar_t>* saved, at::Tensor& gw, at::Tensor& gu,
                   at::Tensor& gk, at::Tensor& gv) {
  using T = at::opmath_type<scalar_t>;
  // totals and carries of the (k, v) and the g scans, scratch (Task::scr), partials [2][B][n][C],
  // segment buffers
  const int64_t states = 2 * g.ds();
  T* tp = workspace<T>(4 * states + g.scratch_size() + 2 * g.fs() + 4 * g.sds());
  T *cp = tp + states, *gtp = cp + states, *gcp = gtp + states;
  T *sp = gcp + states, *pp = sp + g.scratch_size(), *seg = pp + 2 * g.fs();
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  const scalar_t* gy = in.gy.data_ptr<scalar_t>();
  scalar_t *gkp = gk.data_ptr<scalar_t>(), *gvp = gv.data_ptr<scalar_t>();
  if (saved == nullptr) kv_carries<true, Causal>(g, k, v, w, tp, seg, cp);
  const T* kv = saved == nullptr ? cp : saved;
  parallel_tasks<scalar_t>(g, [&](const Task& t, auto lane) __attribute__((always_inline)) {
    using V = typename decltype(lane)::type;
    chunk_backward_kv<Causal, kMaxChunk, V>(k + t.tok, v + t.tok, gy + t.tok, g.C, t.Lc, w + t.c0,
                                            u + t.c0, kv + t.chk, g.fs(), g.ds(), sp + t.scr,
                                            t.width(), g.L * t.width(), gtp + t.chk, pp + t.chk,
                                            g.fs());
  });
  // the g scans: both directions when bidirectional, only direction 1 (s > i) when causal
  phase2<false>(g, gtp, gcp, seg, w, Causal ? 1 : 0, Causal ? 1 : 2);
  parallel_tasks<scalar_t>(g, [&](const Task& t, auto lane) __attribute__((always_inline)) {
    using V = typename decltype(lane)::type;
    chunk_backward_g<Causal, kMaxChunk, V>(k + t.tok, v + t.tok, gkp + t.tok, gvp + t.tok, g.C,
                                           t.Lc, w + t.c0, u + t.c0, sp + t.scr, t.width(),
                                           g.L * t.width(), gcp + t.chk, g.fs(), g.ds());
  });
  // gw, gu: per-chunk partials summed in a fixed order (deterministic)
  at::Tensor sums = at::zeros({2, g.C}, in.k.options().dtype(at::kDouble));
  double* sums_p = sums.data_ptr<double>();
  for (int f = 0; f < 2; ++f) {
    for (int64_t r = 0; r < g.B * g.n; ++r) {
      const T* row = pp + f * g.fs() + r * g.C;
      for (int64_t c = 0; c < g.C; ++c) sums_p[f * g.C + c] += row[c];
    }
  }
  gw.copy_(sums[0]);
  gu.copy_(sums[1]);
}

// y, and the carries for the backward when `saved` is defined.
void forward(const Geometry& g, const KernelInputs& in, bool causal, at::Tensor& y,
             at::Tensor& saved) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.k.scalar_type(), "glsp::wkv", [&] {
    using T = at::opmath_type<scalar_t>;
    T* sp = saved.defined() ? saved.data_ptr<T>() : nullptr;
    if (causal)
      forward_impl<true, scalar_t>(g, in, y, sp);
    else
      forward_impl<false, scalar_t>(g, in, y, sp);
  });
}

at::Tensor wkv_cpu(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                   const at::Tensor& v, bool causal, int64_t chunk) {
  const KernelInputs in(w, u, k, v, chunk);
  at::Tensor y = at::empty_like(in.k), none;
  forward(Geometry(in.k, chunk), in, causal, y, none);
  return y;
}

std::tuple<at::Tensor, at::Tensor> wkv_with_carries_cpu(const at::Tensor& w, const at::Tensor& u,
                                                        const at::Tensor& k, const at::Tensor& v,
                                                        bool causal, int64_t chunk) {
  const KernelInputs in(w, u, k, v, chunk);
  const Geometry g(in.k, chunk);
  at::Tensor y = at::empty_like(in.k);
  at::Tensor carries = at::empty(carries_shape(g, causal), carries_options(in.k));
  forward(g, in, causal, y, carries);
  return {y, carries};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> wkv_backward_cpu(
    const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
    const at::Tensor& v, bool causal, int64_t chunk, const std::optional<at::Tensor>& carries) {
  const KernelInputs in(gy, w, u, k, v, chunk);
  at::Tensor gw = at::empty(w.sizes(), w.options()), gu = at::empty(u.sizes(), u.options());
  at::Tensor gk = at::empty_like(in.k), gv = at::empty_like(in.v);
  const Geometry g(in.k, chunk);
  const at::Tensor saved = checked_carries(carries, in.k, g, causal);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv_backward",
                                  [&] {
                                    using T = at::opmath_type<scalar_t>;
                                    const T* sp = saved.defined() ? saved.data_ptr<T>() : nullptr;
                                    if (causal)
                                      backward_impl<true, scalar_t>(g, in, sp, gw, gu, gk, gv);
                                    else
                                      backward_impl<false, scalar_t>(g, in, sp, gw, gu, gk, gv);
                                  });
  return {gw, gu, gk, gv};
}

}  // namespace

std::string cpu_isa_name() { return kIsaNames[static_cast<int>(selected_isa())]; }

}  // namespace glsp

TORCH_LIBRARY_IMPL(glsp, CPU, m) {
  m.impl("wkv", &glsp::wkv_cpu);
  m.impl("wkv_with_carries", &glsp::wkv_with_carries_cpu);
  m.impl("wkv_backward", &glsp::wkv_backward_cpu);
}
