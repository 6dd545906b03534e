// CUDA kernels of glsp::wkv and glsp::wkv_backward (algorithm: wkv_math.h, shared with the CPU).
//
// One thread per (batch, chunk, channel), channel fastest, so a warp reads consecutive channels of
// a token (coalesced). Phase 2 runs one thread per (direction, batch, channel) over its chunks.
// No atomics and no warp shuffles: gw, gu are per-chunk partials summed in a fixed order.
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>

#include "wkv_check.h"
#include "wkv_math.h"

namespace glsp {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kTargetThreads = 1 << 16;  // chunk size aims at about this many phase-3 threads

struct Dims {
  int64_t B, Tn, C, L, n;
};

Dims make_dims(const at::Tensor& k, int64_t chunk) {
  Dims d{k.size(0), k.size(1), k.size(2), chunk, 0};
  if (d.L == 0) {  // smallest power of two in [16, 64] giving at most kTargetThreads threads
    d.L = 16;
    while (d.L < kMaxChunk && d.B * d.C * ((d.Tn + d.L - 1) / d.L) > kTargetThreads) d.L *= 2;
  }
  d.L = std::min(d.L, d.Tn);
  d.n = (d.Tn + d.L - 1) / d.L;
  return d;
}

// Index of work item i = (b, ci, c): token offset and chunk length.
struct Item {
  int64_t c, tok;
  int Lc;
  __device__ Item(const Dims& d, int64_t i) {
    c = i % d.C;
    const int64_t ci = (i / d.C) % d.n, b = i / (d.C * d.n);
    tok = (b * d.Tn + ci * d.L) * d.C + c;
    const int64_t rest = d.Tn - ci * d.L;
    Lc = static_cast<int>(rest < d.L ? rest : d.L);
  }
};

#define GLSP_GRID_LOOP(i, total)                                                  \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; \
       i < (total); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <bool Deriv, bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    phase1_kernel(Dims d, const scalar_t* k, const scalar_t* v, const T* w, T* agg) {
  const int64_t fs = d.B * d.n * d.C;
  GLSP_GRID_LOOP(i, fs) {
    const Item it(d, i);
    chunk_aggregate<Deriv, Causal, 1>(k + it.tok, v + it.tok, d.C, it.Lc, w + it.c, agg + i, fs,
                                      kAggFields * fs);
  }
}

template <bool Deriv, typename T>
__global__ void __launch_bounds__(kThreads) phase2_kernel(Dims d, const T* agg, int n_agg,
                                                          T* carry, int n_carry, const T* w,
                                                          int dir_begin, int n_dirs) {
  const int64_t fs = d.B * d.n * d.C, lanes = d.B * d.C;
  GLSP_GRID_LOOP(i, n_dirs * lanes) {
    const int dir = dir_begin + static_cast<int>(i / lanes);
    const int64_t b = (i % lanes) / d.C, c = i % d.C;
    const int64_t at = b * d.n * d.C + c;
    scan_chunks<Deriv>(agg + dir * n_agg * fs + at, carry + dir * n_carry * fs + at, fs, d.C, d.n,
                       d.L, d.Tn, dir == 1, static_cast<double>(w[c]));
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* y, const T* w,
                   const T* u, const T* carry) {
  const int64_t fs = d.B * d.n * d.C;
  GLSP_GRID_LOOP(i, fs) {
    const Item it(d, i);
    chunk_forward<Causal, 1>(k + it.tok, v + it.tok, y + it.tok, d.C, it.Lc, w + it.c, u + it.c,
                             carry + i, fs, kCarryFields * fs);
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    backward_kv_kernel(Dims d, const scalar_t* k, const scalar_t* v, const scalar_t* gy,
                       const T* w, const T* u, const T* carry, T* scratch, T* gh_agg, T* part) {
  const int64_t fs = d.B * d.n * d.C, ss = d.B * d.Tn * d.C;
  GLSP_GRID_LOOP(i, fs) {
    const Item it(d, i);
    chunk_backward_kv<Causal, 1>(k + it.tok, v + it.tok, gy + it.tok, d.C, it.Lc, w + it.c,
                                 u + it.c, carry + i, fs, kCarryFields * fs, scratch + it.tok, ss,
                                 gh_agg + i, fs, 4 * fs, part + i, fs);
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    backward_g_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* gk, scalar_t* gv,
                      const T* w, const T* u, const T* scratch, const T* gh_carry) {
  const int64_t fs = d.B * d.n * d.C, ss = d.B * d.Tn * d.C;
  GLSP_GRID_LOOP(i, fs) {
    const Item it(d, i);
    chunk_backward_g<Causal, 1>(k + it.tok, v + it.tok, gk + it.tok, gv + it.tok, d.C, it.Lc,
                                w + it.c, u + it.c, scratch + it.tok, ss, gh_carry + i, fs,
                                3 * fs);
  }
}

// gw, gu: one thread per (field, channel) sums the B * n chunk partials in order.
template <typename T>
__global__ void __launch_bounds__(kThreads) reduce_kernel(Dims d, const T* part, double* sums) {
  const int64_t fs = d.B * d.n * d.C;
  GLSP_GRID_LOOP(i, 2 * d.C) {
    const int64_t f = i / d.C, c = i % d.C;
    double acc = 0;
    for (int64_t r = 0; r < d.B * d.n; ++r) acc += static_cast<double>(part[f * fs + r * d.C + c]);
    sums[i] = acc;
  }
}

unsigned int blocks_for(int64_t total) {
  return static_cast<unsigned int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 1 << 30));
}

template <bool Causal, typename scalar_t>
void forward_impl(const Dims& d, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                  const at::Tensor& v, at::Tensor& y) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = k.options().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor agg = at::empty({2, kAggFields, d.B, d.n, d.C}, opts);
  at::Tensor carry = at::empty({2, kCarryFields, d.B, d.n, d.C}, opts);
  const int64_t items = d.B * d.n * d.C;
  const int dirs = Causal ? 1 : 2;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  phase1_kernel<false, Causal><<<blocks_for(items), kThreads, 0, stream>>>(
      d, k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), w.data_ptr<T>(), agg.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  phase2_kernel<false><<<blocks_for(dirs * d.B * d.C), kThreads, 0, stream>>>(
      d, agg.data_ptr<T>(), kAggFields, carry.data_ptr<T>(), kCarryFields, w.data_ptr<T>(), 0,
      dirs);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  forward_kernel<Causal><<<blocks_for(items), kThreads, 0, stream>>>(
      d, k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), w.data_ptr<T>(),
      u.data_ptr<T>(), carry.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <bool Causal, typename scalar_t>
void backward_impl(const Dims& d, const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u,
                   const at::Tensor& k, const at::Tensor& v, at::Tensor& gw, at::Tensor& gu,
                   at::Tensor& gk, at::Tensor& gv) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = k.options().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor agg = at::empty({2, kAggFields, d.B, d.n, d.C}, opts);
  at::Tensor carry = at::empty({2, kCarryFields, d.B, d.n, d.C}, opts);
  at::Tensor scratch = at::empty({3, d.B, d.Tn, d.C}, opts);
  at::Tensor gh_agg = at::empty({2, 4, d.B, d.n, d.C}, opts);
  at::Tensor gh_carry = at::empty({2, 3, d.B, d.n, d.C}, opts);
  at::Tensor part = at::empty({2, d.B, d.n, d.C}, opts);
  at::Tensor sums = at::empty({2, d.C}, opts.dtype(at::kDouble));
  const int64_t items = d.B * d.n * d.C;
  const int dirs = Causal ? 1 : 2;
  const scalar_t* kp = k.data_ptr<scalar_t>();
  const scalar_t* vp = v.data_ptr<scalar_t>();
  const T* wp = w.data_ptr<T>();
  const T* up = u.data_ptr<T>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  phase1_kernel<true, Causal><<<blocks_for(items), kThreads, 0, stream>>>(d, kp, vp, wp,
                                                                        agg.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  phase2_kernel<true><<<blocks_for(dirs * d.B * d.C), kThreads, 0, stream>>>(
      d, agg.data_ptr<T>(), kAggFields, carry.data_ptr<T>(), kCarryFields, wp, 0, dirs);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  backward_kv_kernel<Causal><<<blocks_for(items), kThreads, 0, stream>>>(
      d, kp, vp, gy.data_ptr<scalar_t>(), wp, up, carry.data_ptr<T>(), scratch.data_ptr<T>(),
      gh_agg.data_ptr<T>(), part.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // the g scans: both directions when bidirectional, only direction 1 (s > i) when causal
  phase2_kernel<false><<<blocks_for(dirs * d.B * d.C), kThreads, 0, stream>>>(
      d, gh_agg.data_ptr<T>(), 4, gh_carry.data_ptr<T>(), 3, wp, Causal ? 1 : 0, dirs);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  backward_g_kernel<Causal><<<blocks_for(items), kThreads, 0, stream>>>(
      d, kp, vp, gk.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), wp, up, scratch.data_ptr<T>(),
      gh_carry.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  reduce_kernel<<<blocks_for(2 * d.C), kThreads, 0, stream>>>(d, part.data_ptr<T>(),
                                                              sums.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  gw.copy_(sums[0]);
  gu.copy_(sums[1]);
}

at::Tensor wkv_cuda(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                    const at::Tensor& v, bool causal, int64_t chunk) {
  check_inputs(w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  const at::Tensor kc = k.contiguous(), vc = v.contiguous();
  const auto acc = at::toOpMathType(k.scalar_type());
  const at::Tensor wc = w.to(acc).contiguous(), uc = u.to(acc).contiguous();
  at::Tensor y = at::empty_like(kc);
  const Dims d = make_dims(kc, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv", [&] {
    if (causal)
      forward_impl<true, scalar_t>(d, wc, uc, kc, vc, y);
    else
      forward_impl<false, scalar_t>(d, wc, uc, kc, vc, y);
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> wkv_backward_cuda(
    const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
    const at::Tensor& v, bool causal, int64_t chunk) {
  check_inputs(w, u, k, v, chunk);
  TORCH_CHECK(gy.sizes() == k.sizes(), "glsp::wkv_backward: gy must have shape ", k.sizes(),
              ", got ", gy.sizes());
  TORCH_CHECK(gy.device() == k.device(), "glsp::wkv_backward: gy must be on ", k.device());
  const c10::cuda::CUDAGuard guard(k.device());
  const at::Tensor kc = k.contiguous(), vc = v.contiguous();
  const at::Tensor gyc = gy.to(k.scalar_type()).contiguous();
  const auto acc = at::toOpMathType(k.scalar_type());
  const at::Tensor wc = w.to(acc).contiguous(), uc = u.to(acc).contiguous();
  at::Tensor gw = at::empty(w.sizes(), w.options()), gu = at::empty(u.sizes(), u.options());
  at::Tensor gk = at::empty_like(kc), gv = at::empty_like(vc);
  const Dims d = make_dims(kc, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv_backward", [&] {
        if (causal)
          backward_impl<true, scalar_t>(d, gyc, wc, uc, kc, vc, gw, gu, gk, gv);
        else
          backward_impl<false, scalar_t>(d, gyc, wc, uc, kc, vc, gw, gu, gk, gv);
      });
  return {gw, gu, gk, gv};
}

}  // namespace
}  // namespace glsp

TORCH_LIBRARY_IMPL(glsp, CUDA, m) {
  m.impl("wkv", &glsp::wkv_cuda);
  m.impl("wkv_backward", &glsp::wkv_backward_cuda);
}
