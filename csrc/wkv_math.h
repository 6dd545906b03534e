// The chunked bidirectional WKV algorithm, shared by the CPU and the CUDA kernels.
//
// Per batch b and channel c (w, u: per channel; k_i, v_i: per token):
//   num_t = sum_{i != t} exp(-(|t-i|-1) w + k_i) v_i + exp(u + k_t) v_t,  den_t likewise with v = 1,
//   y_t = num_t / den_t.  causal: i < t only.
// The sums split into an exclusive prefix P_t = sum_{i<t} e^{k_i - (t-i-1) w} [v_i, 1] and the
// mirrored suffix S_t. The sequence is cut into chunks of L <= kMaxChunk tokens:
//   phase 1  per chunk, the chunk's own contribution to the state just past its end, per direction
//   phase 2  per (b, c, direction), a sequential scan over chunks in double: the state entering
//            every chunk ("carry")
//   phase 3  per chunk, the recurrences restarted from the carries, combined per token.
// The backward pass reuses the same three phases twice: once on (k, v) to rebuild y, the
// denominator and the w-derivatives, once on g_s = gy_s / den_s to get the k and v gradients.
//
// Numerics. A running sum over a set of tokens i is kept in a "frame": a reference token
// (log weight kap, local index rho) and mantissas a = sum_i e^{x_i} alpha_i, b = sum_i e^{x_i} beta_i
// with x_i = (kap_i - kap) + (i - rho) w <= 0 (the reference is the largest term, so nothing
// overflows). Its value at a later position p is e^{kap - (p - rho - 1) w} a. Relative weights never
// change as the sequence advances, so a token costs one exp and no rounding error accumulates in
// the offsets (a running "offset -= w" drifts by an ulp per token). Derivative mantissas
// da = sum_i (i - rho) e^{x_i} alpha_i give d(value)/dw = e^{...} (da - (p - rho - 1) a).
// A carry enters a chunk as a pseudo-token at local index -1 whose log weight is the carry's
// exponent and whose mantissas are the carry's.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__CUDACC__)
#define GLSP_HD __host__ __device__ __forceinline__
#else
#define GLSP_HD inline __attribute__((always_inline))
#endif

namespace glsp {

constexpr int kMaxChunk = 64;  // longest chunk; bounds the per-thread suffix buffers

// Fields of the buffers that hold per-chunk states, layout [direction][field][B][n_chunks][C].
constexpr int kAggFields = 6;    // kap, rho, a, b, da, db   (phase 1 output)
constexpr int kCarryFields = 5;  // e, a, b, da, db          (phase 2 output: value e^e [a, b])

template <typename T>
GLSP_HD T neg_inf() {
  return -std::numeric_limits<T>::infinity();
}

#if !defined(__CUDA_ARCH__)
// exp for float on the CPU: branch-free so loops over channels vectorise. exp(x) = 2^n e^r with
// n = round(x / ln 2), |r| <= ln(2)/2, e^r by its degree-7 Taylor polynomial (error < 1e-8).
inline float cpu_expf(float x) {
  const float xc = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const float r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x < -87.0f ? 0.0f : p * scale;
}
#endif

GLSP_HD float exp_acc(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);
#else
  return cpu_expf(x);
#endif
}

GLSP_HD double exp_acc(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}

template <typename T>
GLSP_HD T max3(T a, T b, T c) {
  const T m = a > b ? a : b;
  return m > c ? m : c;
}

// Add token (log weight kap_i, local index idx, values alpha/beta) to a frame.
template <typename T>
GLSP_HD void frame_add(T& kap, T& rho, T& a, T& b, T idx, T kap_i, T alpha, T beta, T w) {
  const T x = (kap_i - kap) + (idx - rho) * w;  // log of the new term relative to the reference
  const bool up = x > T(0);                      // the new token becomes the reference
  const T e = exp_acc(up ? -x : x);
  a = up ? a * e + alpha : a + e * alpha;
  b = up ? b * e + beta : b + e * beta;
  kap = up ? kap_i : kap;
  rho = up ? idx : rho;
}

// frame_add that also carries the w-derivative mantissas da, db.
template <typename T>
GLSP_HD void frame_add_d(T& kap, T& rho, T& a, T& b, T& da, T& db, T idx, T kap_i, T alpha,
                         T beta, T w) {
  const T s = idx - rho;
  const T x = (kap_i - kap) + s * w;
  const bool up = x > T(0);
  const T e = exp_acc(up ? -x : x);
  // re-referencing by s tokens: sum (i - idx) e^{x_i - x} alpha_i = e^{-x} (da - s a)
  da = up ? e * (da - s * a) : da + s * e * alpha;
  db = up ? e * (db - s * b) : db + s * e * beta;
  a = up ? a * e + alpha : a + e * alpha;
  b = up ? b * e + beta : b + e * beta;
  kap = up ? kap_i : kap;
  rho = up ? idx : rho;
}

// Log offset of a frame's value at local position pos (pos > every index in the frame).
template <typename T>
GLSP_HD T frame_log(T kap, T rho, T pos, T w) {
  return kap - (pos - rho - T(1)) * w;
}

// Phase 2: scan one (b, c, direction) over its n chunks in double; writes the state entering
// every chunk. agg/carry point at chunk 0 of this (b, c, direction); fs: field stride,
// cs: chunk stride. Chunk ci has length min(L, Tn - ci L). Deriv: also da, db.
template <bool Deriv, typename T>
GLSP_HD void scan_chunks(const T* agg, T* carry, int64_t fs, int64_t cs, int64_t n, int64_t L,
                         int64_t Tn, bool reverse, double w) {
  double e = neg_inf<double>(), a = 0, b = 0, da = 0, db = 0;
  for (int64_t it = 0; it < n; ++it) {
    const int64_t ci = reverse ? n - 1 - it : it;
    T* out = carry + ci * cs;
    out[0] = static_cast<T>(e);
    out[fs] = static_cast<T>(a);
    out[2 * fs] = static_cast<T>(b);
    if (Deriv) {
      out[3 * fs] = static_cast<T>(da);
      out[4 * fs] = static_cast<T>(db);
    }
    const T* in = agg + ci * cs;
    const double len = static_cast<double>(L < Tn - ci * L ? L : Tn - ci * L);
    // the chunk's own sums evaluated just past its end
    const double dist = len - static_cast<double>(in[fs]) - 1.0;
    const double eF = static_cast<double>(in[0]) - dist * w;
    const double aF = in[2 * fs], bF = in[3 * fs];
    // the carried state decays by len tokens: P -> e^{-len w} P, P' -> e^{-len w} (P' - len P)
    e -= len * w;
    const double m = e > eF ? e : eF;
    const double s1 = exp_acc(e - m), s2 = exp_acc(eF - m);
    if (Deriv) {
      const double daF = in[4 * fs] - dist * aF, dbF = in[5 * fs] - dist * bF;
      da = s1 * (da - len * a) + s2 * daF;
      db = s1 * (db - len * b) + s2 * dbF;
    }
    a = s1 * a + s2 * aF;
    b = s1 * b + s2 * bF;
    e = m;
  }
}

// Phase 1: a chunk's contribution to the state just past its end, both directions, for W
// consecutive channels. k, v point at the chunk's first token, channel c0; row: token stride.
// out points at [dir 0][field 0][b][ci][c0]; fs: field stride, ds: direction stride.
template <bool Deriv, bool Causal, int W, typename scalar_t, typename T>
GLSP_HD void chunk_aggregate(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                             int64_t row, int Lc, const T* __restrict__ w_in,
                             T* __restrict__ out, int64_t fs, int64_t ds) {
  T w[W], kap[2][W], rho[2][W], a[2][W], b[2][W], da[2][W], db[2][W];
  for (int d = 0; d < 2; ++d) {
    for (int c = 0; c < W; ++c) {
      w[c] = w_in[c];
      kap[d][c] = neg_inf<T>();
      rho[d][c] = a[d][c] = b[d][c] = da[d][c] = db[d][c] = T(0);
    }
  }
  for (int j = 0; j < Lc; ++j) {
    const scalar_t* kj = k + j * row;
    const scalar_t* vj = v + j * row;
    for (int c = 0; c < W; ++c) {
      const T kk = static_cast<T>(kj[c]), vv = static_cast<T>(vj[c]);
      // the suffix direction sees the chunk mirrored: local index Lc - 1 - j
      if (Deriv) {
        frame_add_d(kap[0][c], rho[0][c], a[0][c], b[0][c], da[0][c], db[0][c], T(j), kk, vv,
                    T(1), w[c]);
        if (!Causal)
          frame_add_d(kap[1][c], rho[1][c], a[1][c], b[1][c], da[1][c], db[1][c],
                      T(Lc - 1 - j), kk, vv, T(1), w[c]);
      } else {
        frame_add(kap[0][c], rho[0][c], a[0][c], b[0][c], T(j), kk, vv, T(1), w[c]);
        if (!Causal)
          frame_add(kap[1][c], rho[1][c], a[1][c], b[1][c], T(Lc - 1 - j), kk, vv, T(1), w[c]);
      }
    }
  }
  for (int d = 0; d < (Causal ? 1 : 2); ++d) {
    for (int c = 0; c < W; ++c) {
      T* o = out + d * ds + c;
      o[0] = kap[d][c];
      o[fs] = rho[d][c];
      o[2 * fs] = a[d][c];
      o[3 * fs] = b[d][c];
      o[4 * fs] = da[d][c];
      o[5 * fs] = db[d][c];
    }
  }
}

// Per-token combination of prefix, suffix and the bonus term e^{u+k} into one log-scaled sum:
// num = sum of c_x a_x, den = sum of c_x b_x, true value = e^m [num, den].
template <typename T>
GLSP_HD T combine(T eP, T eS, T eB, T& cP, T& cS, T& cB) {
  const T m = max3(eP, eS, eB);  // eB = u + k is finite, so m is
  cP = exp_acc(eP - m);
  cS = exp_acc(eS - m);
  cB = exp_acc(eB - m);
  return m;
}

// Phase 3 of the forward: y for one chunk. carry points at [dir 0][field 0][b][ci][c0].
template <bool Causal, int W, typename scalar_t, typename T>
GLSP_HD void chunk_forward(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                           scalar_t* __restrict__ y, int64_t row, int Lc,
                           const T* __restrict__ w_in, const T* __restrict__ u_in,
                           const T* __restrict__ carry, int64_t fs, int64_t ds) {
  T w[W], u[W], kap[W], rho[W], a[W], b[W];
  T sE[kMaxChunk][W], sA[kMaxChunk][W], sB[kMaxChunk][W];  // suffix state before each token
  for (int c = 0; c < W; ++c) {
    w[c] = w_in[c];
    u[c] = u_in[c];
  }
  if (!Causal) {
    for (int c = 0; c < W; ++c) {
      kap[c] = carry[ds + c];
      rho[c] = T(-1);
      a[c] = carry[ds + fs + c];
      b[c] = carry[ds + 2 * fs + c];
    }
    for (int jj = 0; jj < Lc; ++jj) {
      const int j = Lc - 1 - jj;
      for (int c = 0; c < W; ++c) {
        sE[j][c] = frame_log(kap[c], rho[c], T(jj), w[c]);
        sA[j][c] = a[c];
        sB[j][c] = b[c];
        frame_add(kap[c], rho[c], a[c], b[c], T(jj), static_cast<T>(k[j * row + c]),
                  static_cast<T>(v[j * row + c]), T(1), w[c]);
      }
    }
  }
  for (int c = 0; c < W; ++c) {
    kap[c] = carry[c];
    rho[c] = T(-1);
    a[c] = carry[fs + c];
    b[c] = carry[2 * fs + c];
  }
  for (int j = 0; j < Lc; ++j) {
    for (int c = 0; c < W; ++c) {
      const T kk = static_cast<T>(k[j * row + c]), vv = static_cast<T>(v[j * row + c]);
      const T eS = Causal ? neg_inf<T>() : sE[j][c];
      const T aS = Causal ? T(0) : sA[j][c], bS = Causal ? T(0) : sB[j][c];
      T cP, cS, cB;
      combine(frame_log(kap[c], rho[c], T(j), w[c]), eS, u[c] + kk, cP, cS, cB);
      const T num = cP * a[c] + cS * aS + cB * vv;
      const T den = cP * b[c] + cS * bS + cB;
      y[j * row + c] = static_cast<scalar_t>(num / den);
      frame_add(kap[c], rho[c], a[c], b[c], T(j), kk, vv, T(1), w[c]);
    }
  }
}

// Backward, phase 3 on (k, v): rebuilds y and the log-scaled g = gy / den for one chunk, writes
// them to scratch ([3][B][T][C]: q = -log offset, ghat, y; g = ghat e^q), adds this chunk's
// partial gw, gu (per channel) and the chunk aggregates of (g, g y) with log weights q.
// carry: [dir][kCarryFields]; gh_out: [dir][kAggFields] (da, db unused); part: gw at [0], gu at ps.
template <bool Causal, int W, typename scalar_t, typename T>
GLSP_HD void chunk_backward_kv(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                               const scalar_t* __restrict__ gy, int64_t row, int Lc,
                               const T* __restrict__ w_in, const T* __restrict__ u_in,
                               const T* __restrict__ carry, int64_t fs, int64_t ds,
                               T* __restrict__ scratch, int64_t ss, T* __restrict__ gh_out,
                               int64_t gfs, int64_t gds, T* __restrict__ part, int64_t ps) {
  T w[W], u[W], kap[W], rho[W], a[W], b[W], da[W], db[W];
  T sE[kMaxChunk][W], sA[kMaxChunk][W], sB[kMaxChunk][W], sdA[kMaxChunk][W], sdB[kMaxChunk][W];
  for (int c = 0; c < W; ++c) {
    w[c] = w_in[c];
    u[c] = u_in[c];
  }
  if (!Causal) {
    for (int c = 0; c < W; ++c) {
      kap[c] = carry[ds + c];
      rho[c] = T(-1);
      a[c] = carry[ds + fs + c];
      b[c] = carry[ds + 2 * fs + c];
      da[c] = carry[ds + 3 * fs + c];
      db[c] = carry[ds + 4 * fs + c];
    }
    for (int jj = 0; jj < Lc; ++jj) {
      const int j = Lc - 1 - jj;
      for (int c = 0; c < W; ++c) {
        const T dist = T(jj) - rho[c] - T(1);
        sE[j][c] = kap[c] - dist * w[c];
        sA[j][c] = a[c];
        sB[j][c] = b[c];
        sdA[j][c] = da[c] - dist * a[c];
        sdB[j][c] = db[c] - dist * b[c];
        frame_add_d(kap[c], rho[c], a[c], b[c], da[c], db[c], T(jj),
                    static_cast<T>(k[j * row + c]), static_cast<T>(v[j * row + c]), T(1), w[c]);
      }
    }
  }
  T gkap[2][W], grho[2][W], ga[2][W], gb[2][W], gw[W], gu[W];
  for (int c = 0; c < W; ++c) {
    kap[c] = carry[c];
    rho[c] = T(-1);
    a[c] = carry[fs + c];
    b[c] = carry[2 * fs + c];
    da[c] = carry[3 * fs + c];
    db[c] = carry[4 * fs + c];
    gw[c] = gu[c] = T(0);
    for (int d = 0; d < 2; ++d) {
      gkap[d][c] = neg_inf<T>();
      grho[d][c] = ga[d][c] = gb[d][c] = T(0);
    }
  }
  for (int j = 0; j < Lc; ++j) {
    for (int c = 0; c < W; ++c) {
      const T kk = static_cast<T>(k[j * row + c]), vv = static_cast<T>(v[j * row + c]);
      const T dist = T(j) - rho[c] - T(1);
      const T eS = Causal ? neg_inf<T>() : sE[j][c];
      const T aS = Causal ? T(0) : sA[j][c], bS = Causal ? T(0) : sB[j][c];
      const T dAS = Causal ? T(0) : sdA[j][c], dBS = Causal ? T(0) : sdB[j][c];
      T cP, cS, cB;
      const T m = combine(kap[c] - dist * w[c], eS, u[c] + kk, cP, cS, cB);
      const T den = cP * b[c] + cS * bS + cB;
      const T yy = (cP * a[c] + cS * aS + cB * vv) / den;
      const T g = static_cast<T>(gy[j * row + c]) / den;  // gy / den = g e^{m}
      // d y / d u and d y / d w, weighted by gy (all exponents relative to m, so <= 1)
      gu[c] += cB * g * (vv - yy);
      gw[c] += g * (cP * ((da[c] - dist * a[c]) - yy * (db[c] - dist * b[c])) +
                    cS * (dAS - yy * dBS));
      scratch[j * row + c] = -m;
      scratch[ss + j * row + c] = g;
      scratch[2 * ss + j * row + c] = yy;
      // aggregates of (g, g y) at log weight -m: direction 0 only when bidirectional (the
      // prefix of g feeds tokens after s); direction 1 (mirrored index) always
      if (!Causal)
        frame_add(gkap[0][c], grho[0][c], ga[0][c], gb[0][c], T(j), -m, g, g * yy, w[c]);
      frame_add(gkap[1][c], grho[1][c], ga[1][c], gb[1][c], T(Lc - 1 - j), -m, g, g * yy, w[c]);
      frame_add_d(kap[c], rho[c], a[c], b[c], da[c], db[c], T(j), kk, vv, T(1), w[c]);
    }
  }
  for (int c = 0; c < W; ++c) {
    part[c] = gw[c];
    part[ps + c] = gu[c];
    for (int d = Causal ? 1 : 0; d < 2; ++d) {
      T* o = gh_out + d * gds + c;
      o[0] = gkap[d][c];
      o[gfs] = grho[d][c];
      o[2 * gfs] = ga[d][c];
      o[3 * gfs] = gb[d][c];
    }
  }
}

// Backward, phase 3 on g: G_i = sum_{s != i} W(s, i) g_s and H_i (same with g_s y_s) from the
// scratch of chunk_backward_kv and the carries of its aggregates, then
//   gv_i = e^{u+k_i} g_i + e^{k_i} G_i,   gk_i = v_i gv_i - (e^{u+k_i} g_i y_i + e^{k_i} H_i).
// causal: only s > i (direction 1).
template <bool Causal, int W, typename scalar_t, typename T>
GLSP_HD void chunk_backward_g(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                              scalar_t* __restrict__ gk, scalar_t* __restrict__ gv, int64_t row,
                              int Lc, const T* __restrict__ w_in, const T* __restrict__ u_in,
                              const T* __restrict__ scratch, int64_t ss,
                              const T* __restrict__ carry, int64_t fs, int64_t ds) {
  T w[W], u[W], kap[W], rho[W], a[W], b[W];
  T sE[kMaxChunk][W], sA[kMaxChunk][W], sB[kMaxChunk][W];
  for (int c = 0; c < W; ++c) {
    w[c] = w_in[c];
    u[c] = u_in[c];
    kap[c] = carry[ds + c];
    rho[c] = T(-1);
    a[c] = carry[ds + fs + c];
    b[c] = carry[ds + 2 * fs + c];
  }
  for (int jj = 0; jj < Lc; ++jj) {
    const int j = Lc - 1 - jj;
    for (int c = 0; c < W; ++c) {
      sE[j][c] = frame_log(kap[c], rho[c], T(jj), w[c]);
      sA[j][c] = a[c];
      sB[j][c] = b[c];
      const T g = scratch[ss + j * row + c];
      frame_add(kap[c], rho[c], a[c], b[c], T(jj), scratch[j * row + c], g,
                g * scratch[2 * ss + j * row + c], w[c]);
    }
  }
  for (int c = 0; c < W; ++c) {
    kap[c] = Causal ? neg_inf<T>() : carry[c];
    rho[c] = T(-1);
    a[c] = Causal ? T(0) : carry[fs + c];
    b[c] = Causal ? T(0) : carry[2 * fs + c];
  }
  for (int j = 0; j < Lc; ++j) {
    for (int c = 0; c < W; ++c) {
      const T kk = static_cast<T>(k[j * row + c]), vv = static_cast<T>(v[j * row + c]);
      const T q = scratch[j * row + c], g = scratch[ss + j * row + c];
      const T yy = scratch[2 * ss + j * row + c];
      const T eB = exp_acc(u[c] + kk + q);  // e^{u+k} / D <= 1
      const T eP = exp_acc(kk + frame_log(kap[c], rho[c], T(j), w[c]));
      const T eS = exp_acc(kk + sE[j][c]);
      const T gvv = eB * g + eP * a[c] + eS * sA[j][c];
      const T hh = eB * g * yy + eP * b[c] + eS * sB[j][c];
      gv[j * row + c] = static_cast<scalar_t>(gvv);
      gk[j * row + c] = static_cast<scalar_t>(vv * gvv - hh);
      if (!Causal) frame_add(kap[c], rho[c], a[c], b[c], T(j), q, g, g * yy, w[c]);
    }
  }
}

}  // namespace glsp
