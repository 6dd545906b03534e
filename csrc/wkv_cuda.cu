// CUDA kernels of glsp::wkv and glsp::wkv_backward (algorithm: wkv_math.h, shared with the CPU).
//
// Phases 1 and 3 run one thread per (batch, chunk, channel), in blocks of 32 channels x
// kTileChunks consecutive chunks (a tile), so a warp reads 32 consecutive channels of a token
// (coalesced). Chunks are at most kCudaChunk tokens: the loops are unrolled to that length, so a
// thread's per-token arrays live in registers. Phase 2 is split by tiles: phase 1 folds its
// block's chunk totals in shared memory into each chunk's carry from inside its tile and the
// tile's total; one kernel scans the tile totals of each (direction, batch, channel), with
// kScanRanges threads each taking a range of tiles, the range totals joined in shared memory;
// phase 3 joins a chunk's tile carry with its in-tile carry. Three launches a scan, no atomics,
// no warp shuffles: gw, gu are per-chunk partials summed in a fixed order.
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "wkv_check.h"
#include "wkv_math.h"

namespace glsp {
namespace {

constexpr int kWarp = 32;  // channels of a block
constexpr int kTileChunks = 8;  // chunks of a tile: block rows of phases 1 and 3
constexpr int kTileThreads = kWarp * kTileChunks;
constexpr int kScanChannels = 4;  // channels of a tile-scan block
constexpr int kScanRanges = 128;  // threads per channel in the tile scan
// A block's chunk states in shared memory: [direction][field][chunk in tile][channel].
constexpr int kTileStates = 2 * kStateFields * kTileThreads;
constexpr int kTileDirStride = kStateFields * kTileThreads;

// The chunk and tile grids of one call; a `chunk` argument above kCudaChunk is capped.
struct Dims : ChunkGrid {
  int64_t nt;  // tiles

  Dims(const at::Tensor& k, int64_t chunk)
      : ChunkGrid(k.size(0), k.size(1), k.size(2), chunk_tokens(true, chunk), false),
        nt((n + kTileChunks - 1) / kTileChunks) {
    TORCH_CHECK(B * nt <= std::numeric_limits<int32_t>::max() && C <= 65535 * kScanChannels,
                "glsp::wkv (CUDA): input of shape ", k.sizes(),
                " exceeds the launch grid (B * T / ", kTileChunks * L, " < 2^31 and C <= ",
                65535 * kScanChannels, "); split the batch or the channels");
  }
  __host__ __device__ int64_t ss() const { return B * Tn * C; }  // scratch field stride
  __host__ __device__ int64_t tfs() const { return B * nt * C; }  // field stride of tile states
  __host__ __device__ int64_t tds() const { return kStateFields * tfs(); }  // direction stride
  __host__ __device__ int64_t tile_tokens() const { return kTileChunks * L; }
};

// The thread of (batch b, chunk ci, channel c) in a tile block: block (b, tile) x channel group,
// thread (channel, chunk j of the tile). Lc: the chunk's length, 0 when the chunk or the channel
// does not exist.
struct TileThread {
  int64_t b, tile, ci, c;
  int j, Lc;

  __device__ explicit TileThread(const Dims& d) {
    const uint32_t nt = static_cast<uint32_t>(d.nt);
    b = blockIdx.x / nt;
    tile = blockIdx.x % nt;
    j = static_cast<int>(threadIdx.y);
    ci = tile * kTileChunks + j;
    c = static_cast<int64_t>(blockIdx.y) * kWarp + threadIdx.x;
    Lc = c < d.C && ci < d.n ? static_cast<int>(d.chunk_len(ci)) : 0;
  }
  __device__ bool active() const { return Lc > 0; }
  __device__ int slot() const { return j * kWarp + static_cast<int>(threadIdx.x); }
  __device__ int64_t tok(const Dims& d) const { return (b * d.Tn + ci * d.L) * d.C + c; }
  __device__ int64_t state(const Dims& d) const { return (b * d.n + ci) * d.C + c; }
  __device__ int64_t tile_state(const Dims& d) const { return (b * d.nt + tile) * d.C + c; }
  __device__ int tile_chunks(const Dims& d) const {
    return static_cast<int>(std::min<int64_t>(kTileChunks, d.n - tile * kTileChunks));
  }
  // Tokens from the tile's edge to the chunk's edge on side dir (0: left, 1: right).
  __device__ double offset(const Dims& d, int dir) const {
    const int64_t tile_end = std::min((tile + 1) * d.tile_tokens(), d.Tn);
    return static_cast<double>(dir == 0 ? j * d.L : tile_end - std::min((ci + 1) * d.L, d.Tn));
  }
};

// f(Lc) with Lc a compile-time constant for a full chunk, so its unrolled loops have no guards.
template <typename F>
__device__ __forceinline__ void with_chunk_len(int Lc, const F& f) {
  if (Lc == kCudaChunk)
    f(kCudaChunk);
  else
    f(Lc);
}

// Phase 2 inside a tile, once the block's chunk totals are in shared memory (tile_totals_sm,
// kTileStates layout): the state entering this thread's chunk from the tile's other chunks (to
// carries, a [direction][field][B][n][C] buffer) and, from the thread of the tile's last chunk in
// scan order, the tile's total (to tile_totals, [direction][field][B][nt][C]).
template <bool Deriv, typename T>
__device__ void fold_tile(const Dims& d, const TileThread& t, const T* tile_totals_sm, const T* w,
                          int dir_begin, int n_dirs, T* carries, T* tile_totals) {
  const int nc = t.tile_chunks(d);
  const double wd = w[t.c];
  for (int dir = dir_begin; dir < dir_begin + n_dirs; ++dir) {
    const T* chunk_total = tile_totals_sm + dir * kTileDirStride + threadIdx.x;
    auto s = empty_state<double>();
    const int ahead = dir == 0 ? t.j : nc - 1 - t.j;  // chunks before this one in scan order
    for (int step = 0; step < ahead; ++step) {
      const int i = dir == 0 ? step : nc - 1 - step;
      advance<Deriv, T>(s, load_state<Deriv, double>(chunk_total + i * kWarp, kTileThreads),
                        static_cast<double>(d.chunk_len(t.tile * kTileChunks + i)), wd);
    }
    store_state<Deriv>(carries + dir * d.ds() + t.state(d), d.fs(), s);
    if (ahead == nc - 1) {
      advance<Deriv, T>(s, load_state<Deriv, double>(chunk_total + t.j * kWarp, kTileThreads),
                        static_cast<double>(t.Lc), wd);
      store_state<Deriv>(tile_totals + dir * d.tds() + t.tile_state(d), d.tfs(), s);
    }
  }
}

// Phase 3's entry states of this thread's chunk: its tile's carry moved to the chunk's edge,
// joined with its in-tile carry; to out (field stride fs, direction stride ds: this thread's slot
// of a kTileStates buffer, or of the carries saved for the backward).
template <bool Deriv, typename T>
__device__ void enter_chunk(const Dims& d, const TileThread& t, const T* tile_carries,
                            const T* carries, const T* w, int dir_begin, int n_dirs, T* out,
                            int64_t fs, int64_t ds) {
  for (int dir = dir_begin; dir < dir_begin + n_dirs; ++dir) {
    auto s = load_state<Deriv, double>(tile_carries + dir * d.tds() + t.tile_state(d), d.tfs());
    advance<Deriv, T>(s, load_state<Deriv, double>(carries + dir * d.ds() + t.state(d), d.fs()),
                      t.offset(d, dir), static_cast<double>(w[t.c]));
    store_state<Deriv>(out + dir * ds, fs, s);
  }
}

// Phase 1: chunk totals, folded per tile.
template <bool Deriv, bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kTileThreads)
    totals_kernel(Dims d, const scalar_t* k, const scalar_t* v, const T* w, T* carries,
                  T* tile_totals) {
  __shared__ T totals[kTileStates];
  const TileThread t(d);
  if (t.active()) {
    const int64_t tok = t.tok(d);
    with_chunk_len(t.Lc, [&](int Lc) {
      chunk_totals<Deriv, Causal, kCudaChunk, T>(k + tok, v + tok, d.C, Lc, w + t.c,
                                                 totals + t.slot(), kTileThreads, kTileDirStride);
    });
  }
  __syncthreads();
  if (t.active()) fold_tile<Deriv>(d, t, totals, w, 0, Causal ? 1 : 2, carries, tile_totals);
}

// Phase 2 over tiles: block (direction, batch) x kScanChannels channels; thread (channel, range
// of about nt / kScanRanges consecutive tiles). Each thread scans its range's tiles for the
// range's total; the range totals are scanned in shared memory in log2(kScanRanges) rounds
// (Hillis-Steele, on positions in scan order); then each thread scans its tiles again from its
// range's carry. Sequential depth: 2 nt / kScanRanges + log2(kScanRanges) steps.
template <bool Deriv, typename T>
__global__ void __launch_bounds__(kScanChannels* kScanRanges)
    tile_scan_kernel(Dims d, const T* tile_totals, T* tile_carries, const T* w, int dir_begin) {
  constexpr int kFs = kScanChannels * kScanRanges;  // field stride of the shared states
  __shared__ double ranges[kStateFields * kFs];
  const int dir = dir_begin + static_cast<int>(blockIdx.x / d.B);
  const int64_t b = blockIdx.x % d.B;
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kScanChannels + threadIdx.x;
  const int r = static_cast<int>(threadIdx.y);
  const int pos = dir == 0 ? r : kScanRanges - 1 - r;  // the range's position in scan order
  const int64_t per_range = (d.nt + kScanRanges - 1) / kScanRanges;
  const auto first_tile = [&](int q) { return std::min(q * per_range, d.nt); };  // of range q
  const auto token = [&](int q) { return std::min(first_tile(q) * d.tile_tokens(), d.Tn); };
  const auto span = [&](int lo, int hi) {  // tokens of the ranges at positions lo..hi
    return static_cast<double>(dir == 0 ? token(hi + 1) - token(lo)
                                        : token(kScanRanges - lo) - token(kScanRanges - 1 - hi));
  };
  const bool active = c < d.C;
  const double wd = active ? static_cast<double>(w[c]) : 0.0;
  const int64_t at = dir * d.tds() + b * d.nt * d.C + c;
  const auto scan = [&](T* carries, ScanState<double> from) {
    return scan_states<Deriv>(tile_totals + at, carries, d.tfs(), d.C, first_tile(r),
                              first_tile(r + 1), d.tile_tokens(), d.Tn, dir == 1, wd, from);
  };
  const auto slot = [&](int q) { return ranges + q * kScanChannels + threadIdx.x; };
  auto s = active ? scan(nullptr, empty_state<double>()) : empty_state<double>();
  for (int offset = 1; offset < kScanRanges; offset <<= 1) {  // s: positions pos - offset + 1..pos
    store_state<Deriv>(slot(pos), kFs, s);
    __syncthreads();
    if (pos >= offset) {
      auto joined = load_state<Deriv, double>(slot(pos - offset), kFs);
      advance<Deriv, T>(joined, s, span(pos - offset + 1, pos), wd);
      s = joined;
    }
    __syncthreads();
  }
  store_state<Deriv>(slot(pos), kFs, s);  // s: positions 0..pos
  __syncthreads();
  if (active)
    scan(tile_carries + at, pos > 0 ? load_state<Deriv, double>(slot(pos - 1), kFs)
                                    : empty_state<double>());
}

// Save: the chunk's entry states, with w-derivatives, also go to `saved` (the carries of
// glsp::wkv_with_carries, [direction][field][B][n][C]), from where the chunk reads them.
template <bool Causal, bool Save, typename scalar_t, typename T>
__global__ void __launch_bounds__(kTileThreads)
    forward_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* y, const T* w,
                   const T* u, const T* tile_carries, const T* carries, T* saved) {
  __shared__ T entry[kTileStates];
  const TileThread t(d);
  if (!t.active()) return;
  T* const mine = Save ? saved + t.state(d) : entry + t.slot();
  const int64_t fs = Save ? d.fs() : kTileThreads, ds = Save ? d.ds() : kTileDirStride;
  enter_chunk<Save>(d, t, tile_carries, carries, w, 0, Causal ? 1 : 2, mine, fs, ds);
  const int64_t tok = t.tok(d);
  with_chunk_len(t.Lc, [&](int Lc) {
    chunk_forward<Causal, kCudaChunk, T>(k + tok, v + tok, y + tok, d.C, Lc, w + t.c, u + t.c,
                                         mine, fs, ds);
  });
}

// Phase 3 of the (k, v) scan (with w-derivatives) and phase 1 of the g scan. Saved: the chunk's
// entry states are the forward's saved carries (in `carries`; tile_carries unused). The backward
// kernels run 2 blocks an SM (128 registers, a few spilled): on an H200 forward+backward takes
// 0.87x the time of 1 block an SM at ~200 registers (docs/perf/compare_wkv_builds_h200_run1.json).
template <bool Causal, bool Saved, typename scalar_t, typename T>
__global__ void __launch_bounds__(kTileThreads, 2)
    backward_kv_kernel(Dims d, const scalar_t* k, const scalar_t* v, const scalar_t* gy,
                       const T* w, const T* u, const T* tile_carries, const T* carries,
                       T* scratch, T* part, T* g_carries, T* g_tile_totals) {
  __shared__ T entry[kTileStates], g_totals[kTileStates];
  const TileThread t(d);
  if (t.active()) {
    const T* const mine = Saved ? carries + t.state(d) : entry + t.slot();
    const int64_t fs = Saved ? d.fs() : kTileThreads, ds = Saved ? d.ds() : kTileDirStride;
    if constexpr (!Saved)
      enter_chunk<true>(d, t, tile_carries, carries, w, 0, Causal ? 1 : 2, entry + t.slot(), fs,
                        ds);
    const int64_t tok = t.tok(d);
    chunk_backward_kv<Causal, kCudaChunk, T>(k + tok, v + tok, gy + tok, d.C, t.Lc, w + t.c,
                                             u + t.c, mine, fs, ds, scratch + tok, d.C, d.ss(),
                                             g_totals + t.slot(), part + t.state(d), d.fs());
  }
  __syncthreads();
  // the g scans: both directions when bidirectional, only direction 1 (s > i) when causal
  if (t.active())
    fold_tile<false>(d, t, g_totals, w, Causal ? 1 : 0, Causal ? 1 : 2, g_carries, g_tile_totals);
}

template <bool Causal, typename scalar_t, typename T>
__global__ void __launch_bounds__(kTileThreads, 2)
    backward_g_kernel(Dims d, const scalar_t* k, const scalar_t* v, scalar_t* gk, scalar_t* gv,
                      const T* w, const T* u, const T* scratch, const T* g_tile_carries,
                      const T* g_carries) {
  __shared__ T entry[kTileStates];
  const TileThread t(d);
  if (!t.active()) return;
  T* const mine = entry + t.slot();
  enter_chunk<false>(d, t, g_tile_carries, g_carries, w, Causal ? 1 : 0, Causal ? 1 : 2, mine,
                     kTileThreads, kTileDirStride);
  const int64_t tok = t.tok(d);
  chunk_backward_g<Causal, kCudaChunk, T>(k + tok, v + tok, gk + tok, gv + tok, d.C, t.Lc,
                                          w + t.c, u + t.c, scratch + tok, d.C, d.ss(), mine,
                                          kTileThreads, kTileDirStride);
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

dim3 tile_grid(const Dims& d) {
  return dim3(static_cast<unsigned int>(d.B * d.nt),
              static_cast<unsigned int>((d.C + kWarp - 1) / kWarp));
}
const dim3 kTileBlock(kWarp, kTileChunks);

// The buffers of one scan: in-tile chunk carries, tile totals, tile carries (one allocation).
template <typename T>
struct ScanBuffers {
  at::Tensor storage;
  T *carries, *tile_totals, *tile_carries;

  ScanBuffers(const Dims& d, const at::TensorOptions& opts)
      : storage(at::empty({2 * d.ds() + 4 * d.tds()}, opts)) {
    carries = storage.data_ptr<T>();
    tile_totals = carries + 2 * d.ds();
    tile_carries = tile_totals + 2 * d.tds();
  }
};

// Phase 2 over the tiles of directions [dir_begin, dir_begin + n_dirs).
template <bool Deriv, typename T>
void scan_tiles(const Dims& d, const ScanBuffers<T>& s, const T* w, int dir_begin, int n_dirs,
                cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned int>(n_dirs * d.B),
                  static_cast<unsigned int>((d.C + kScanChannels - 1) / kScanChannels));
  tile_scan_kernel<Deriv><<<grid, dim3(kScanChannels, kScanRanges), 0, stream>>>(
      d, s.tile_totals, s.tile_carries, w, dir_begin);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// y; when `saved` is not null, the carries go there with their w-derivatives, for the backward.
template <bool Causal, bool Save, typename scalar_t>
void forward_impl(const Dims& d, const KernelInputs& in, at::Tensor& y,
                  at::opmath_type<scalar_t>* saved) {
  using T = at::opmath_type<scalar_t>;
  const ScanBuffers<T> s(d, in.k.options().dtype(c10::CppTypeToScalarType<T>::value));
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  totals_kernel<Save, Causal><<<tile_grid(d), kTileBlock, 0, stream>>>(d, k, v, w, s.carries,
                                                                        s.tile_totals);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  scan_tiles<Save>(d, s, w, 0, Causal ? 1 : 2, stream);
  forward_kernel<Causal, Save><<<tile_grid(d), kTileBlock, 0, stream>>>(
      d, k, v, y.data_ptr<scalar_t>(), w, u, s.tile_carries, s.carries, saved);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// saved: the forward's carries (glsp::wkv_with_carries), or null to compute them here.
template <bool Causal, typename scalar_t>
void backward_impl(const Dims& d, const KernelInputs& in, const at::opmath_type<scalar_t>* saved,
                   at::Tensor& gw, at::Tensor& gu, at::Tensor& gk, at::Tensor& gv) {
  using T = at::opmath_type<scalar_t>;
  const auto opts = in.k.options().dtype(c10::CppTypeToScalarType<T>::value);
  const ScanBuffers<T> g(d, opts);  // the g scan
  at::Tensor scratch = at::empty({3, d.B, d.Tn, d.C}, opts);
  at::Tensor part = at::empty({2, d.B, d.n, d.C}, opts);
  at::Tensor sums = at::empty({2, d.C}, opts.dtype(at::kDouble));
  const T *w = in.w.data_ptr<T>(), *u = in.u.data_ptr<T>();
  const scalar_t *k = in.k.data_ptr<scalar_t>(), *v = in.v.data_ptr<scalar_t>();
  const scalar_t* gy = in.gy.data_ptr<scalar_t>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (saved == nullptr) {
    const ScanBuffers<T> kv(d, opts);  // the (k, v) scan
    totals_kernel<true, Causal><<<tile_grid(d), kTileBlock, 0, stream>>>(d, k, v, w, kv.carries,
                                                                          kv.tile_totals);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    scan_tiles<true>(d, kv, w, 0, Causal ? 1 : 2, stream);
    backward_kv_kernel<Causal, false><<<tile_grid(d), kTileBlock, 0, stream>>>(
        d, k, v, gy, w, u, kv.tile_carries, kv.carries, scratch.data_ptr<T>(), part.data_ptr<T>(),
        g.carries, g.tile_totals);
  } else {
    backward_kv_kernel<Causal, true><<<tile_grid(d), kTileBlock, 0, stream>>>(
        d, k, v, gy, w, u, static_cast<const T*>(nullptr), saved, scratch.data_ptr<T>(),
        part.data_ptr<T>(), g.carries, g.tile_totals);
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  scan_tiles<false>(d, g, w, Causal ? 1 : 0, Causal ? 1 : 2, stream);
  backward_g_kernel<Causal><<<tile_grid(d), kTileBlock, 0, stream>>>(
      d, k, v, gk.data_ptr<scalar_t>(), gv.data_ptr<scalar_t>(), w, u, scratch.data_ptr<T>(),
      g.tile_carries, g.carries);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const dim3 grid(static_cast<unsigned int>((d.C + kReduceTile - 1) / kReduceTile), 2);
  reduce_kernel<<<grid, dim3(kReduceTile, kReduceTile), 0, stream>>>(d, part.data_ptr<T>(),
                                                                     sums.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  gw.copy_(sums[0]);
  gu.copy_(sums[1]);
}

// y, and the carries for the backward when `saved` is defined.
void forward(const Dims& d, const KernelInputs& in, bool causal, at::Tensor& y,
             at::Tensor& saved) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, in.k.scalar_type(), "glsp::wkv", [&] {
    using T = at::opmath_type<scalar_t>;
    if (!saved.defined()) {
      if (causal)
        forward_impl<true, false, scalar_t>(d, in, y, nullptr);
      else
        forward_impl<false, false, scalar_t>(d, in, y, nullptr);
    } else if (causal) {
      forward_impl<true, true, scalar_t>(d, in, y, saved.data_ptr<T>());
    } else {
      forward_impl<false, true, scalar_t>(d, in, y, saved.data_ptr<T>());
    }
  });
}

at::Tensor wkv_cuda(const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
                    const at::Tensor& v, bool causal, int64_t chunk) {
  const KernelInputs in(w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  at::Tensor y = at::empty_like(in.k), none;
  forward(Dims(in.k, chunk), in, causal, y, none);
  return y;
}

std::tuple<at::Tensor, at::Tensor> wkv_with_carries_cuda(const at::Tensor& w,
                                                         const at::Tensor& u,
                                                         const at::Tensor& k,
                                                         const at::Tensor& v, bool causal,
                                                         int64_t chunk) {
  const KernelInputs in(w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  const Dims d(in.k, chunk);
  at::Tensor y = at::empty_like(in.k), carries = new_carries(in.k, d, causal);
  forward(d, in, causal, y, carries);
  return {y, carries};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> wkv_backward_cuda(
    const at::Tensor& gy, const at::Tensor& w, const at::Tensor& u, const at::Tensor& k,
    const at::Tensor& v, bool causal, int64_t chunk, const std::optional<at::Tensor>& carries) {
  const KernelInputs in(gy, w, u, k, v, chunk);
  const c10::cuda::CUDAGuard guard(k.device());
  at::Tensor gw = at::empty(w.sizes(), w.options()), gu = at::empty(u.sizes(), u.options());
  at::Tensor gk = at::empty_like(in.k), gv = at::empty_like(in.v);
  const Dims d(in.k, chunk);
  const at::Tensor saved = checked_carries(carries, in.k, d, causal);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, k.scalar_type(), "glsp::wkv_backward", [&] {
        using T = at::opmath_type<scalar_t>;
        const T* sp = saved.defined() ? saved.data_ptr<T>() : nullptr;
        if (causal)
          backward_impl<true, scalar_t>(d, in, sp, gw, gu, gk, gv);
        else
          backward_impl<false, scalar_t>(d, in, sp, gw, gu, gk, gv);
      });
  return {gw, gu, gk, gv};
}

}  // namespace
}  // namespace glsp

TORCH_LIBRARY_IMPL(glsp, CUDA, m) {
  m.impl("wkv", &glsp::wkv_cuda);
  m.impl("wkv_with_carries", &glsp::wkv_with_carries_cuda);
  m.impl("wkv_backward", &glsp::wkv_backward_cuda);
}
