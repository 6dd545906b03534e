// CUDA kernels of glsp::wkv and glsp::wkv_backward (algorithm: wkv_math.h, shared with the CPU).
//
// Phases 1 and 3 run one thread per (batch, chunk, channel), channel fastest, so a warp reads
// consecutive channels of a token (coalesced). Chunks are at most kCudaChunk tokens: the loops are
// unrolled to that length, so a thread's suffix buffers live in registers. Phase 2 scans the chunk
// totals of each (direction, batch, channel) in two levels, segments of about sqrt(n) chunks
// (totals per segment, a scan over segments, then each segment's chunks from its carry), so its
// sequential depth is ~3 sqrt(n), not n. No atomics and no warp shuffles: gw, gu are per-chunk
// partials summed in a fixed order.
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>

#include "wkv_check.h"
#include "wkv_math.h"

namespace glsp {
namespace {

constexpr int kThreads = 128;
constexpr int kCudaChunk = 16;  // longest chunk on the GPU (a `chunk` argument above is capped)

// The chunk grid of one call; a `chunk` argument above kCudaChunk is capped.
struct Dims : ChunkGrid {
  Dims(const at::Tensor& k, int64_t chunk)
      : ChunkGrid(k.size(0), k.size(1), k.size(2),
                  chunk > 0 ? std::min<int64_t>(chunk, kCudaChunk) : kCudaChunk, true) {}
  __host__ __device__ int64_t items() const { return B * n * C; }  // phase-1/3 threads
  __host__ __device__ int64_t ss() const { return B * Tn * C; }  // scratch field stride
};

// Work item i = (b, ci, c): offset of its first token and its length.
struct Item {
  int64_t c, tok;
  int Lc;
  __device__ Item(const Dims& d, int64_t i) {
    c = i % d.C;
    const int64_t ci = (i / d.C) % d.n, b = i / (d.C * d.n);
    tok = (b * d.Tn + ci * d.L) * d.C + c;
    Lc = static_cast<int>(d.chunk_len(ci));
  }
};

#define GLSP_GRID_LOOP(i, total)                                                  \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; \
       i < (total); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <bool Deriv, bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    totals_kernel(Dims d, const scalar_t* k, const scalar_t* v, const T* w, T* totals) {
  GLSP_GRID_LOOP(i, d.items()) {
    const Item it(d, i);
    chunk_totals<Deriv, Causal, kCudaChunk, T>(k + it.tok, v + it.tok, d.C, it.Lc, w + it.c,
                                               totals + i, d.fs(), d.ds());
  }
}

// Phase 2, levels 1 to 3 (wkv_math.h): one thread per scan lane.
template <bool Deriv, typename T>
__global__ void __launch_bounds__(kThreads)
    segment_totals_kernel(Dims d, const T* totals, T* seg_totals, const T* w, int dir_begin,
                          int n_dirs) {
  GLSP_GRID_LOOP(i, n_dirs * d.B * d.nseg * d.C) {
    const ScanLane l(d, dir_begin, d.nseg, d.C, i);
    segment_total<Deriv, double>(d, totals, seg_totals, w, l.dir, l.b, l.s, l.unit);
  }
}

template <bool Deriv, typename T>
__global__ void __launch_bounds__(kThreads)
    segment_scan_kernel(Dims d, const T* seg_totals, T* seg_carries, const T* w, int dir_begin,
                        int n_dirs) {
  GLSP_GRID_LOOP(i, n_dirs * d.B * d.C) {
    const ScanLane l(d, dir_begin, 1, d.C, i);
    segment_scan<Deriv, double>(d, seg_totals, seg_carries, w, l.dir, l.b, l.unit);
  }
}

template <bool Deriv, typename T>
__global__ void __launch_bounds__(kThreads)
    chunk_carries_kernel(Dims d, const T* totals, const T* seg_carries, T* carries, const T* w,
                         int dir_begin, int n_dirs) {
  GLSP_GRID_LOOP(i, n_dirs * d.B * d.nseg * d.C) {
    const ScanLane l(d, dir_begin, d.nseg, d.C, i);
    chunk_carries<Deriv, double>(d, totals, seg_carries, carries, w, l.dir, l.b, l.s, l.unit);
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* y, const T* w,
                   const T* u, const T* carries) {
  GLSP_GRID_LOOP(i, d.items()) {
    const Item it(d, i);
    chunk_forward<Causal, kCudaChunk, T>(k + it.tok, v + it.tok, y + it.tok, d.C, it.Lc,
                                         w + it.c, u + it.c, carries + i, d.fs(), d.ds());
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    backward_kv_kernel(Dims d, const scalar_t* k, const scalar_t* v, const scalar_t* gy,
                       const T* w, const T* u, const T* carries, T* scratch, T* g_totals,
                       T* part) {
  GLSP_GRID_LOOP(i, d.items()) {
    const Item it(d, i);
    chunk_backward_kv<Causal, kCudaChunk, T>(k + it.tok, v + it.tok, gy + it.tok, d.C, it.Lc,
                                             w + it.c, u + it.c, carries + i, d.fs(), d.ds(),
                                             scratch + it.tok, d.C, d.ss(), g_totals + i,
                                             part + i, d.fs());
  }
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kThreads)
    backward_g_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* gk, scalar_t* gv,
                      const T* w, const T* u, const T* scratch, const T* g_carries) {
  GLSP_GRID_LOOP(i, d.items()) {
    const Item it(d, i);
    chunk_backward_g<Causal, kCudaChunk, T>(k + it.tok, v + it.tok, gk + it.tok, gv + it.tok,
                                            d.C, it.Lc, w + it.c, u + it.c, scratch + it.tok,
                                            d.C, d.ss(), g_carries + i, d.fs(), d.ds());
  }
}

// gw, gu: block (32 channels x 32 row threads) per (32 channels, field); each thread sums every
// 32nd of the B n chunk partials, then one thread per channel adds the 32 sums in order.
constexpr int kReduceTile = 32;

template <typename T>
__global__ void __launch_bounds__(kReduceTile* kReduceTile)
    reduce_kernel(Dims d, const T* part, double* sums) {
  __shared__ double tile[kReduceTile][kReduceTile];
  const int64_t c = blockIdx.x * static_cast<int64_t>(kReduceTile) + threadIdx.x;
  const int f = blockIdx.y;
  double acc = 0;
  if (c < d.C) {
#pragma unroll 8
    for (int64_t r = threadIdx.y; r < d.B * d.n; r += kReduceTile)
      acc += static_cast<double>(part[f * d.fs() + r * d.C + c]);
  }
  tile[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < d.C) {
    double total = 0;
    for (int r = 0; r < kReduceTile; ++r) total += tile[r][threadIdx.x];
    sums[f * d.C + c] = total;
  }
}

unsigned int blocks_for(int64_t total) {
  return static_cast<unsigned int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 1 << 30));
}

// Phase 2 for directions [dir_begin, dir_begin + n_dirs): chunk totals -> carries.
template <bool Deriv, typename T>
void scan_phase(const Dims& d, const at::TensorOptions& opts, const T* totals, T* carries,
                const T* w, int dir_begin, int n_dirs, cudaStream_t stream) {
  at::Tensor seg;  // segment totals, then segment carries
  const T* seg_carries = nullptr;
  if (d.nseg > 1) {
    seg = at::empty({2, 2 * d.sds()}, opts);
    T* seg_totals = seg[0].data_ptr<T>();
    T* seg_carries_w = seg[1].data_ptr<T>();
    segment_totals_kernel<Deriv><<<blocks_for(n_dirs * d.B * d.nseg * d.C), kThreads, 0, stream>>>(
        d, totals, seg_totals, w, dir_begin, n_dirs);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    segment_scan_kernel<Deriv><<<blocks_for(n_dirs * d.B * d.C), kThreads, 0, stream>>>(
        d, seg_totals, seg_carries_w, w, dir_begin, n_dirs);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    seg_carries = seg_carries_w;
  }
  chunk_carries_kernel<Deriv><<<blocks_for(n_dirs * d.B * d.nseg * d.C), kThreads, 0, stream>>>(
      d, totals, seg_carries, carries, w, dir_begin, n_dirs);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <bool Causal, typename scalar_t>
void forward_impl(const Dims& d, const KernelInputs& in, at::Tensor& y) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = in.k.options().dtype(c10::CppTypeToScalarType<T>::value);
  at::Tensor states = at::empty({2, 2, kStateFields, d.B, d.n, d.C}, opts);  // totals, carries
  T *totals = states[0].data_ptr<T>(), *carries = states[1].data_ptr<T>();
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  totals_kernel<false, Causal><<<blocks_for(d.items()), kThreads, 0, stream>>>(d, k, v, w, totals);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  scan_phase<false>(d, opts, totals, carries, w, 0, Causal ? 1 : 2, stream);
  forward_kernel<Causal><<<blocks_for(d.items()), kThreads, 0, stream>>>(
      d, k, v, y.data_ptr<scalar_t>(), w, u, carries);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <bool Causal, typename scalar_t>
void backward_impl(const Dims& d, const KernelInputs& in, at::Tensor& gw, at::Tensor& gu,
                   at::Tensor& gk, at::Tensor& gv) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = in.k.options().dtype(c10::CppTypeToScalarType<T>::value);
  // totals and carries of the (k, v) and of the g scans
  at::Tensor states = at::empty({4, 2, kStateFields, d.B, d.n, d.C}, opts);
  at::Tensor scratch = at::empty({3, d.B, d.Tn, d.C}, opts);
  at::Tensor part = at::empty({2, d.B, d.n, d.C}, opts);
  at::Tensor sums = at::empty({2, d.C}, opts.dtype(at::kDouble));
  T *totals = states[0].data_ptr<T>(), *carries = states[1].data_ptr<T>();
  T *g_totals = states[2].data_ptr<T>(), *g_carries = states[3].data_ptr<T>();
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  totals_kernel<true, Causal><<<blocks_for(d.items()), kThreads, 0, stream>>>(d, k, v, w, totals);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  scan_phase<true>(d, opts, totals, carries, w, 0, Causal ? 1 : 2, stream);
  backward_kv_kernel<Causal><<<blocks_for(d.items()), kThreads, 0, stream>>>(
      d, k, v, in.gy.data_ptr<scalar_t>(), w, u, carries, scratch.data_ptr<T>(), g_totals,
      part.data_ptr<T>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // the g scans: both directions when bidirectional, only direction 1 (s > i) when causal
  scan_phase<false>(d, opts, g_totals, g_carries, w, Causal ? 1 : 0, Causal ? 1 : 2, stream);
  backward_g_kernel<Causal><<<blocks_for(d.items()), kThreads, 0, stream>>>(
      d, k, v, gk.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), w, u, scratch.data_ptr<T>(),
      g_carries);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const dim3 grid(static_cast<unsigned int>((d.C + kReduceTile - 1) / kReduceTile), 2);
  reduce_kernel<<<grid, dim3(kReduceTile, kReduceTile), 0, stream>>>(d, part.data_ptr<T>(),
                                                                     sums.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  gw.copy_(sums[0]);
  gu.copy_(sums[1]);
}

at::Tensor wkv_cuda(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                    const at::Tensor& v, bool causal, int64_t chunk) {
  const KernelInputs in(w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  at::Tensor y = at::empty_like(in.k);
  const Dims d(in.k, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv", [&] {
    if (causal)
      forward_impl<true, scalar_t>(d, in, y);
    else
      forward_impl<false, scalar_t>(d, in, y);
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> wkv_backward_cuda(
    const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
    const at::Tensor& v, bool causal, int64_t chunk) {
  const KernelInputs in(gy, w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  at::Tensor gw = at::empty(w.sizes(), w.options()), gu = at::empty(u.sizes(), u.options());
  at::Tensor gk = at::empty_like(in.k), gv = at::empty_like(in.v);
  const Dims d(in.k, chunk);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv_backward", [&] {
        if (causal)
          backward_impl<true, scalar_t>(d, in, gw, gu, gk, gv);
        else
          backward_impl<false, scalar_t>(d, in, gw, gu, gk, gv);
      });
  return {gw, gu, gk, gv};
}

}  // namespace
}  // namespace glsp

TORCH_LIBRARY_IMPL(glsp, CUDA, m) {
  m.impl("wkv", &glsp::wkv_cuda);
  m.impl("wkv_backward", &glsp::wkv_backward_cuda);
}
