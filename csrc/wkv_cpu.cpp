// CPU kernels of glsp::wkv and glsp::wkv_backward (algorithm: wkv_math.h).
//
// Work items are (batch, channel group, chunk): a group is 16 consecutive channels (the inner
// loops run across them and vectorise) or, for the C % 16 remaining channels, a single channel.
// Phases 1 and 3 run in parallel over work items, phase 2 over (direction, batch, channel).
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <type_traits>
#include <vector>

#include "wkv_check.h"
#include "wkv_math.h"

// Hot loops are compiled for AVX-512, AVX2+FMA and baseline x86-64, picked at run time: the
// phase functions are force-inlined into one entry per instruction set (run_isa). Not
// target_clones: GCC 12 leaves the channel loops of a target_clones function scalar ("control
// flow in loop"), while a plain target("avx512...") function if-converts and vectorises them.
#define GLSP_CPU_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GLSP_X86_ISA 1
#endif

namespace glsp {
namespace {

constexpr int kLanes = 16;
constexpr int64_t kCpuChunk = 64;

// Sizes, chunking and buffer strides of one call.
struct Geometry {
  int64_t B, Tn, C, L, n, full, groups;

  Geometry(const at::Tensor& k, int64_t chunk)
      : B(k.size(0)), Tn(k.size(1)), C(k.size(2)) {
    L = std::min(chunk > 0 ? chunk : kCpuChunk, Tn);
    n = (Tn + L - 1) / L;
    full = C / kLanes;
    groups = full + C % kLanes;
  }
  int64_t tasks() const { return B * groups * n; }
  int64_t fs() const { return B * n * C; }  // field stride of the per-chunk buffers
  int64_t chunk_len(int64_t ci) const { return std::min(L, Tn - ci * L); }
};

// One work item: batch b, chunk ci, channels [c0, c0 + (wide ? kLanes : 1)).
struct Task {
  int64_t b, ci, c0;
  bool wide;
  int Lc;
  int64_t tok;  // offset of (b, first token of the chunk, c0) in a (B, T, C) tensor
  int64_t chk;  // offset of (b, ci, c0) in a per-chunk field

  Task(const Geometry& g, int64_t i) {
    ci = i % g.n;
    const int64_t grp = (i / g.n) % g.groups;
    b = i / (g.n * g.groups);
    wide = grp < g.full;
    c0 = wide ? grp * kLanes : g.full * kLanes + (grp - g.full);
    Lc = static_cast<int>(g.chunk_len(ci));
    tok = (b * g.Tn + ci * g.L) * g.C + c0;
    chk = (b * g.n + ci) * g.C + c0;
  }
};

template <bool Deriv, bool Causal, typename scalar_t, typename T>
GLSP_CPU_INLINE void phase1(const Geometry& g, const scalar_t* k, const scalar_t* v, const T* w,
                            T* agg, int64_t begin, int64_t end) {
  const int64_t fs = g.fs(), ds = kAggFields * fs;
  for (int64_t i = begin; i < end; ++i) {
    const Task t(g, i);
    if (t.wide)
      chunk_aggregate<Deriv, Causal, kLanes>(k + t.tok, v + t.tok, g.C, t.Lc, w + t.c0,
                                             agg + t.chk, fs, ds);
    else
      chunk_aggregate<Deriv, Causal, 1>(k + t.tok, v + t.tok, g.C, t.Lc, w + t.c0, agg + t.chk,
                                        fs, ds);
  }
}

template <bool Causal, typename scalar_t, typename T>
GLSP_CPU_INLINE void phase3_forward(const Geometry& g, const scalar_t* k, const scalar_t* v,
                                    scalar_t* y, const T* w, const T* u, const T* carry,
                                    int64_t begin, int64_t end) {
  const int64_t fs = g.fs(), ds = kCarryFields * fs;
  for (int64_t i = begin; i < end; ++i) {
    const Task t(g, i);
    if (t.wide)
      chunk_forward<Causal, kLanes>(k + t.tok, v + t.tok, y + t.tok, g.C, t.Lc, w + t.c0,
                                    u + t.c0, carry + t.chk, fs, ds);
    else
      chunk_forward<Causal, 1>(k + t.tok, v + t.tok, y + t.tok, g.C, t.Lc, w + t.c0, u + t.c0,
                               carry + t.chk, fs, ds);
  }
}

template <bool Causal, typename scalar_t, typename T>
GLSP_CPU_INLINE void phase3_backward_kv(const Geometry& g, const scalar_t* k, const scalar_t* v,
                                        const scalar_t* gy, const T* w, const T* u,
                                        const T* carry, T* scratch, T* gh_agg, T* part,
                                        int64_t begin, int64_t end) {
  const int64_t fs = g.fs(), ss = g.B * g.Tn * g.C;
  for (int64_t i = begin; i < end; ++i) {
    const Task t(g, i);
    if (t.wide)
      chunk_backward_kv<Causal, kLanes>(k + t.tok, v + t.tok, gy + t.tok, g.C, t.Lc, w + t.c0,
                                        u + t.c0, carry + t.chk, fs, kCarryFields * fs,
                                        scratch + t.tok, ss, gh_agg + t.chk, fs, 4 * fs,
                                        part + t.chk, fs);
    else
      chunk_backward_kv<Causal, 1>(k + t.tok, v + t.tok, gy + t.tok, g.C, t.Lc, w + t.c0,
                                   u + t.c0, carry + t.chk, fs, kCarryFields * fs,
                                   scratch + t.tok, ss, gh_agg + t.chk, fs, 4 * fs,
                                   part + t.chk, fs);
  }
}

template <bool Causal, typename scalar_t, typename T>
GLSP_CPU_INLINE void phase3_backward_g(const Geometry& g, const scalar_t* k, const scalar_t* v,
                                       scalar_t* gk, scalar_t* gv, const T* w, const T* u,
                                       const T* scratch, const T* gh_carry, int64_t begin,
                                       int64_t end) {
  const int64_t fs = g.fs(), ss = g.B * g.Tn * g.C;
  for (int64_t i = begin; i < end; ++i) {
    const Task t(g, i);
    if (t.wide)
      chunk_backward_g<Causal, kLanes>(k + t.tok, v + t.tok, gk + t.tok, gv + t.tok, g.C, t.Lc,
                                       w + t.c0, u + t.c0, scratch + t.tok, ss,
                                       gh_carry + t.chk, fs, 3 * fs);
    else
      chunk_backward_g<Causal, 1>(k + t.tok, v + t.tok, gk + t.tok, gv + t.tok, g.C, t.Lc,
                                  w + t.c0, u + t.c0, scratch + t.tok, ss, gh_carry + t.chk, fs,
                                  3 * fs);
  }
}

// Phase 2 for the given directions: agg has n_agg fields, carry n_carry, per direction.
template <bool Deriv, typename T>
void phase2(const Geometry& g, const T* agg, int n_agg, T* carry, int n_carry, const T* w,
            int dir_begin, int dir_end) {
  const int64_t fs = g.fs(), lanes = g.B * g.C;
  at::parallel_for(0, (dir_end - dir_begin) * lanes, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int d = dir_begin + static_cast<int>(i / lanes);
      const int64_t b = (i % lanes) / g.C, c = i % g.C;
      const int64_t at = b * g.n * g.C + c;
      scan_chunks<Deriv>(agg + d * n_agg * fs + at, carry + d * n_carry * fs + at, fs, g.C, g.n,
                         g.L, g.Tn, d == 1, static_cast<double>(w[c]));
    }
  });
}

#if defined(GLSP_X86_ISA)
template <typename F>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void on_avx512(const F& f) {
  f();
}
template <typename F>
__attribute__((target("avx2,fma"))) void on_avx2(const F& f) {
  f();
}
#endif

// Runs f (force-inlined, like everything it calls) compiled for the best instruction set.
template <typename F>
void run_isa(const F& f) {
#if defined(GLSP_X86_ISA)
  static const int isa = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                                 __builtin_cpu_supports("avx512bw") &&
                                 __builtin_cpu_supports("avx512dq")
                             ? 2
                             : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0);
  if (isa == 2) return on_avx512(f);
  if (isa == 1) return on_avx2(f);
#endif
  f();
}

// fn(begin, end) over the work items; fn must be force-inlined (GLSP_CPU_INLINE lambdas).
template <typename F>
void parallel_tasks(const Geometry& g, const F& fn) {
  at::parallel_for(0, g.tasks(), 4, [&](int64_t begin, int64_t end) {
    run_isa([&]() __attribute__((always_inline)) { fn(begin, end); });
  });
}

template <bool Causal, typename scalar_t>
void forward_impl(const Geometry& g, const at::Tensor& w, const at::Tensor& u,
                  const at::Tensor& k, const at::Tensor& v, at::Tensor& y) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = k.options().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor agg = at::empty({2, kAggFields, g.B, g.n, g.C}, opts);
  at::Tensor carry = at::empty({2, kCarryFields, g.B, g.n, g.C}, opts);
  const T* wp = w.data_ptr<T>();
  const scalar_t* kp = k.data_ptr<scalar_t>();
  const scalar_t* vp = v.data_ptr<scalar_t>();
  parallel_tasks(g, [&](int64_t b, int64_t e) __attribute__((always_inline)) {
    phase1<false, Causal>(g, kp, vp, wp, agg.data_ptr<T>(), b, e);
  });
  phase2<false>(g, agg.data_ptr<T>(), kAggFields, carry.data_ptr<T>(), kCarryFields, wp, 0,
                Causal ? 1 : 2);
  parallel_tasks(g, [&](int64_t b, int64_t e) __attribute__((always_inline)) {
    phase3_forward<Causal>(g, kp, vp, y.data_ptr<scalar_t>(), wp, u.data_ptr<T>(),
                           carry.data_ptr<T>(), b, e);
  });
}

template <bool Causal, typename scalar_t>
void backward_impl(const Geometry& g, const at::Tensor& gy, const at::Tensor& w,
                   const at::Tensor& u, const at::Tensor& k, const at::Tensor& v,
                   at::Tensor& gw, at::Tensor& gu, at::Tensor& gk, at::Tensor& gv) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = k.options().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor agg = at::empty({2, kAggFields, g.B, g.n, g.C}, opts);
  at::Tensor carry = at::empty({2, kCarryFields, g.B, g.n, g.C}, opts);
  at::Tensor scratch = at::empty({3, g.B, g.Tn, g.C}, opts);
  at::Tensor gh_agg = at::empty({2, 4, g.B, g.n, g.C}, opts);
  at::Tensor gh_carry = at::empty({2, 3, g.B, g.n, g.C}, opts);
  at::Tensor part = at::empty({2, g.B, g.n, g.C}, opts);
  const T* wp = w.data_ptr<T>();
  const T* up = u.data_ptr<T>();
  const scalar_t* kp = k.data_ptr<scalar_t>();
  const scalar_t* vp = v.data_ptr<scalar_t>();
  parallel_tasks(g, [&](int64_t b, int64_t e) __attribute__((always_inline)) {
    phase1<true, Causal>(g, kp, vp, wp, agg.data_ptr<T>(), b, e);
  });
  phase2<true>(g, agg.data_ptr<T>(), kAggFields, carry.data_ptr<T>(), kCarryFields, wp, 0,
               Causal ? 1 : 2);
  parallel_tasks(g, [&](int64_t b, int64_t e) __attribute__((always_inline)) {
    phase3_backward_kv<Causal>(g, kp, vp, gy.data_ptr<scalar_t>(), wp, up, carry.data_ptr<T>(),
                               scratch.data_ptr<T>(), gh_agg.data_ptr<T>(), part.data_ptr<T>(),
                               b, e);
  });
  phase2<false>(g, gh_agg.data_ptr<T>(), 4, gh_carry.data_ptr<T>(), 3, wp, Causal ? 1 : 0, 2);
  parallel_tasks(g, [&](int64_t b, int64_t e) __attribute__((always_inline)) {
    phase3_backward_g<Causal>(g, kp, vp, gk.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), wp,
                              up, scratch.data_ptr<T>(), gh_carry.data_ptr<T>(), b, e);
  });
  // gw, gu: per-chunk partials summed in a fixed order (deterministic)
  at::Tensor sums = at::empty({2, g.C}, opts.dtype(at::kDouble));
  const T* pp = part.data_ptr<T>();
  double* sp = sums.data_ptr<double>();
  const int64_t fs = g.fs();
  for (int f = 0; f < 2; ++f) {
    for (int64_t c = 0; c < g.C; ++c) {
      double acc = 0;
      for (int64_t r = 0; r < g.B * g.n; ++r) acc += pp[f * fs + r * g.C + c];
      sp[f * g.C + c] = acc;
    }
  }
  gw.copy_(sums[0]);
  gu.copy_(sums[1]);
}

at::Tensor wkv_cpu(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                   const at::Tensor& v, bool causal, int64_t chunk) {
  check_inputs(w, u, k, v, chunk);
  const at::Tensor kc = k.contiguous(), vc = v.contiguous();
  const auto acc = at::toOpMathType(k.scalar_type());
  const at::Tensor wc = w.to(acc).contiguous(), uc = u.to(acc).contiguous();
  at::Tensor y = at::empty_like(kc);
  const Geometry g(kc, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv", [&] {
    if (causal)
      forward_impl<true, scalar_t>(g, wc, uc, kc, vc, y);
    else
      forward_impl<false, scalar_t>(g, wc, uc, kc, vc, y);
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> wkv_backward_cpu(
    const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
    const at::Tensor& v, bool causal, int64_t chunk) {
  check_inputs(w, u, k, v, chunk);
  TORCH_CHECK(gy.sizes() == k.sizes(), "glsp::wkv_backward: gy must have shape ", k.sizes(),
              ", got ", gy.sizes());
  TORCH_CHECK(gy.device() == k.device(), "glsp::wkv_backward: gy must be on ", k.device());
  const at::Tensor kc = k.contiguous(), vc = v.contiguous();
  const at::Tensor gyc = gy.to(k.scalar_type()).contiguous();
  const auto acc = at::toOpMathType(k.scalar_type());
  const at::Tensor wc = w.to(acc).contiguous(), uc = u.to(acc).contiguous();
  at::Tensor gw = at::empty(w.sizes(), w.options()), gu = at::empty(u.sizes(), u.options());
  at::Tensor gk = at::empty_like(kc), gv = at::empty_like(vc);
  const Geometry g(kc, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv_backward",
                                  [&] {
                                    if (causal)
                                      backward_impl<true, scalar_t>(g, gyc, wc, uc, kc, vc, gw,
                                                                    gu, gk, gv);
                                    else
                                      backward_impl<false, scalar_t>(g, gyc, wc, uc, kc, vc, gw,
                                                                     gu, gk, gv);
                                  });
  return {gw, gu, gk, gv};
}

}  // namespace
}  // namespace glsp

TORCH_LIBRARY_IMPL(glsp, CPU, m) {
  m.impl("wkv", &glsp::wkv_cpu);
  m.impl("wkv_backward", &glsp::wkv_backward_cpu);
}
