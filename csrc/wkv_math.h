// The chunked bidirectional WKV algorithm, shared by the CPU and the CUDA kernels.
//
// Per batch b and channel c (w, u: per channel; k_i, v_i: per token):
//   num_t = sum_{i != t} exp(-(|t-i|-1) w + k_i) v_i + exp(u + k_t) v_t,  den_t likewise with v = 1,
//   y_t = num_t / den_t.  causal: i < t only.
// The sums split into an exclusive prefix P_t = sum_{i<t} e^{k_i - (t-i-1) w} [v_i, 1] and the
// mirrored suffix S_t. The sequence is cut into chunks of L <= kMaxChunk tokens:
//   phase 1  per chunk, the chunk's own sum at its far end ("total"), per direction
//   phase 2  per (b, c, direction), a scan over the chunk totals in double: the state entering
//            every chunk ("carry"); on the CPU, where it needs the parallelism, in two levels:
//            segments of about sqrt(n) chunks get their totals, a scan over the segments gives
//            each segment's carry, then each segment scans its own chunks from it (sequential
//            depth ~3 sqrt(n) instead of n); the GPU's tiled form is in wkv_cuda.cu
//   phase 3  per chunk, the recurrences restarted from the carries, combined per token.
// The backward pass reuses the same three phases twice: once on (k, v) to rebuild y, the
// denominator and the w-derivatives, once on g_s = gy_s / den_s to get the k and v gradients.
//
// Numerics. Inside a chunk a running sum over tokens i is a Frame: a reference token (log weight
// kap, local index rho) and mantissas a = sum_i e^{x_i} alpha_i, b = sum_i e^{x_i} beta_i with
// x_i = (kap_i - kap) + (i - rho) w <= 0 (the reference is the largest term, so nothing
// overflows). Its value at a later position p is e^{kap - (p - rho - 1) w} a. Relative weights never
// change as the sequence advances, so a token costs one exp and no rounding error accumulates in
// the offsets (a running "offset -= w" drifts by an ulp per token). Derivative mantissas
// da = sum_i (i - rho) e^{x_i} alpha_i give d(value)/dw = e^{...} (da - (p - rho - 1) a).
// Between chunks a sum is a state at one position: value e^e [a, b], d(value)/dw = e^e [da, db].
// A carry enters a chunk as a pseudo-token at local index -1 whose log weight is the carry's
// exponent and whose mantissas are the carry's. Chunk functions work on lanes V (wkv_lanes.h):
// one channel per lane, so the CPU runs them on a register of channels at once (16 floats with
// AVX-512) and a CUDA thread on one.
#pragma once

#include "wkv_lanes.h"

namespace glsp {

constexpr int kMaxChunk = 64;  // longest chunk (the CPU's); bounds the per-chunk suffix buffers
constexpr int kCudaChunk = 16;  // longest chunk on the GPU, whose loops are unrolled to it

// Tokens per chunk for a `chunk` argument in [0, kMaxChunk] (0: automatic, the longest), before
// the cap at T: the chunk grid of every kernel and of glsp::wkv_with_carries' carries.
inline int64_t chunk_tokens(bool cuda, int64_t chunk) {
  const int64_t longest = cuda ? kCudaChunk : kMaxChunk;
  return chunk > 0 && chunk < longest ? chunk : longest;
}

// State buffers: layout [direction][field][B][n][C] with fields e, a, b, da, db (the backward
// scan on (k, v) uses all five, the others the first three); segment buffers likewise with nseg.
constexpr int kStateFields = 5;

// Sizes and chunking of one call: B, T (Tn), C; chunks of L tokens (the last may be shorter),
// n of them, grouped into nseg segments of G chunks: about sqrt(n) each when segmented, else one
// segment. Segments make phase 2 parallel over more lanes at twice the work.
struct ChunkGrid {
  int64_t B, Tn, C, L, n, G, nseg;

  GLSP_HD ChunkGrid(int64_t B_, int64_t Tn_, int64_t C_, int64_t L_, bool segmented)
      : B(B_), Tn(Tn_), C(C_), L(L_ < Tn_ ? L_ : Tn_) {
    n = (Tn + L - 1) / L;
    G = 1;
    while (segmented && G * G < n) ++G;  // ceil(sqrt(n))
    if (!segmented) G = n;
    nseg = (n + G - 1) / G;
  }
  GLSP_HD int64_t fs() const { return B * n * C; }  // field stride of the state buffers
  GLSP_HD int64_t ds() const { return kStateFields * fs(); }  // their direction stride
  GLSP_HD int64_t sfs() const { return B * nseg * C; }  // field stride of the segment buffers
  GLSP_HD int64_t sds() const { return kStateFields * sfs(); }
  GLSP_HD int64_t chunk_len(int64_t ci) const { return L < Tn - ci * L ? L : Tn - ci * L; }
  GLSP_HD int64_t segment_end(int64_t s) const { return (s + 1) * G < n ? (s + 1) * G : n; }
};

template <typename V>
GLSP_HD V vmax(V a, V b) {
  return a > b ? a : b;
}

// A running sum over the tokens of one chunk (see Numerics above); Deriv: with da, db.
template <bool Deriv, typename V>
struct Frame {
  using S = scalar_of<V>;
  V kap, rho, a, b, da, db;

  GLSP_HD static Frame empty() {
    return {neg_inf<V>(), V{}, V{}, V{}, V{}, V{}};
  }

  // The state entering the chunk (at its first token), as a pseudo-token at local index -1.
  GLSP_HD static Frame enter(const S* state, int64_t fs) {
    Frame f{load_lanes<V>(state), splat<V>(S(-1)), load_lanes<V>(state + fs),
            load_lanes<V>(state + 2 * fs), V{}, V{}};
    if (Deriv) {
      f.da = load_lanes<V>(state + 3 * fs);
      f.db = load_lanes<V>(state + 4 * fs);
    }
    return f;
  }

  // Adds token (local index idx, log weight kap_i, values alpha, beta).
  GLSP_HD void add(S idx, V kap_i, V alpha, V beta, V w) {
    const V s = idx - rho;
    const V x = (kap_i - kap) + s * w;  // log of the new term relative to the reference
    const auto up = x > splat<V>(S(0));  // the new token becomes the reference
    const V e = exp_acc(up ? -x : x);
    if (Deriv) {
      // re-referencing by s tokens: sum (i - idx) e^{x_i - x} alpha_i = e^{-x} (da - s a)
      da = up ? e * (da - s * a) : da + s * e * alpha;
      db = up ? e * (db - s * b) : db + s * e * beta;
    }
    a = up ? a * e + alpha : a + e * alpha;
    b = up ? b * e + beta : b + e * beta;
    kap = up ? kap_i : kap;
    rho = up ? splat<V>(idx) : rho;
  }

  // Log offset of the value at local position pos (after every token in the frame).
  GLSP_HD V log_at(S pos, V w) const { return kap - (pos - rho - S(1)) * w; }

  // The value at local position pos as a state (phase 1's chunk total).
  GLSP_HD void store(S* out, int64_t fs, S pos, V w) const {
    const V dist = pos - rho - S(1);
    store_lanes(out, kap - dist * w);
    store_lanes(out + fs, a);
    store_lanes(out + 2 * fs, b);
    if (Deriv) {
      store_lanes(out + 3 * fs, da - dist * a);
      store_lanes(out + 4 * fs, db - dist * b);
    }
  }
};

// ---- phase 2: scans over states, in double, per (direction, batch, channel) ----
// D: the double lane type, double (one channel: a CUDA thread, or a CPU channel) or a vector of
// consecutive channels on the CPU (Vec<double, W>); c: the first channel.

template <typename D>
struct ScanState {
  D e, a, b, da, db;
};

template <typename D>
GLSP_HD ScanState<D> empty_state() {
  return {neg_inf<D>(), D{}, D{}, D{}, D{}};
}

// e^x for x <= 0 in the scan: exact for double data; for float data the float exp (relative
// error ~1e-7, not accumulated: the exponents themselves stay in double) keeps the sequential
// scan short.
template <typename S, typename D>
GLSP_HD D scan_exp(D x) {
  if constexpr (sizeof(S) == sizeof(float)) {
    return to_double(exp_acc(to_float(x)));
  } else {
    return exp_acc(x);
  }
}

template <bool Deriv, typename D, typename S>
GLSP_HD ScanState<D> load_state(const S* p, int64_t fs) {
  ScanState<D> s{load_lanes<D>(p), load_lanes<D>(p + fs), load_lanes<D>(p + 2 * fs), D{}, D{}};
  if (Deriv) {
    s.da = load_lanes<D>(p + 3 * fs);
    s.db = load_lanes<D>(p + 4 * fs);
  }
  return s;
}

template <bool Deriv, typename D, typename S>
GLSP_HD void store_state(S* p, int64_t fs, const ScanState<D>& s) {
  store_lanes(p, s.e);
  store_lanes(p + fs, s.a);
  store_lanes(p + 2 * fs, s.b);
  if (Deriv) {
    store_lanes(p + 3 * fs, s.da);
    store_lanes(p + 4 * fs, s.db);
  }
}

// s moved len tokens on (P -> e^{-len w} P, P' -> e^{-len w} (P' - len P)), plus add (a state at
// the new position).
template <bool Deriv, typename S, typename D>
GLSP_HD void advance(ScanState<D>& s, const ScanState<D>& add, double len, D w) {
  const D e = s.e - len * w;
  const D m = vmax(e, add.e);
  // the larger side's factor is exactly 1 (and both are when both sides are empty: no -inf + inf)
  const D one = splat<D>(1.0);
  const D s1 = e == m ? one : scan_exp<S>(e - m), s2 = add.e == m ? one : scan_exp<S>(add.e - m);
  if (Deriv) {
    s.da = s1 * (s.da - len * s.a) + s2 * add.da;
    s.db = s1 * (s.db - len * s.b) + s2 * add.db;
  }
  s.a = s1 * s.a + s2 * add.a;
  s.b = s1 * s.b + s2 * add.b;
  s.e = m;
}

// Scans elements first..last-1 (chunks, or segments of chunks) of `unit` tokens each (the last
// element of the sequence may be shorter), in direction order, starting from state s. totals:
// each element's own total at its far end; carries (if not null): receives the state entering
// each element. fs: field stride, es: element stride. Returns the state after the last element.
// Totals are read kScanBatch at a time, so a GPU thread waits for memory once per batch.
constexpr int kScanBatch = 8;

template <bool Deriv, typename D, typename S>
GLSP_HD ScanState<D> scan_states(const S* __restrict__ totals, S* __restrict__ carries,
                                 int64_t fs, int64_t es, int64_t first, int64_t last,
                                 int64_t unit, int64_t Tn, bool reverse, D w, ScanState<D> s) {
  for (int64_t base = first; base < last; base += kScanBatch) {
    ScanState<D> batch[kScanBatch];
    GLSP_UNROLL for (int j = 0; j < kScanBatch; ++j) {
      const int64_t it = base + j < last ? base + j : last - 1;
      batch[j] = load_state<Deriv, D>(totals + (reverse ? first + last - 1 - it : it) * es, fs);
    }
    GLSP_UNROLL for (int j = 0; j < kScanBatch; ++j) {
      if (base + j < last) {
        const int64_t i = reverse ? first + last - 1 - (base + j) : base + j;
        if (carries != nullptr) store_state<Deriv>(carries + i * es, fs, s);
        const int64_t len = unit < Tn - i * unit ? unit : Tn - i * unit;
        advance<Deriv, S>(s, batch[j], static_cast<double>(len), w);
      }
    }
  }
  return s;
}

// Lane i of a phase-2 level over segs segments per (direction, batch, channel unit), units
// fastest: a unit is a channel (GPU) or a channel group (CPU).
struct ScanLane {
  int dir;
  int64_t b, s, unit;
  GLSP_HD ScanLane(const ChunkGrid& g, int dir_begin, int64_t segs, int64_t units, int64_t i) {
    unit = i % units;
    s = (i / units) % segs;
    b = (i / (units * segs)) % g.B;
    dir = dir_begin + static_cast<int>(i / (units * segs * g.B));
  }
};

// One lane of phase 2: (direction, batch, segment, channels from c). Level 1: the segment's total.
template <bool Deriv, typename D, typename S>
GLSP_HD void segment_total(const ChunkGrid& g, const S* totals, S* seg_totals, const S* w, int dir,
                           int64_t b, int64_t s, int64_t c) {
  const ScanState<D> t = scan_states<Deriv>(
      totals + dir * g.ds() + b * g.n * g.C + c, static_cast<S*>(nullptr), g.fs(), g.C, s * g.G,
      g.segment_end(s), g.L, g.Tn, dir == 1, load_lanes<D>(w + c), empty_state<D>());
  store_state<Deriv>(seg_totals + dir * g.sds() + (b * g.nseg + s) * g.C + c, g.sfs(), t);
}

// Level 2 (lane (direction, batch, channels)): the state entering each segment.
template <bool Deriv, typename D, typename S>
GLSP_HD void segment_scan(const ChunkGrid& g, const S* seg_totals, S* seg_carries, const S* w,
                          int dir, int64_t b, int64_t c) {
  const int64_t at = dir * g.sds() + b * g.nseg * g.C + c;
  scan_states<Deriv>(seg_totals + at, seg_carries + at, g.sfs(), g.C, 0, g.nseg, g.G * g.L, g.Tn,
                     dir == 1, load_lanes<D>(w + c), empty_state<D>());
}

// Level 3: the state entering each chunk of the segment, from the segment's carry (seg_carries
// may be null when there is a single segment).
template <bool Deriv, typename D, typename S>
GLSP_HD void chunk_carries(const ChunkGrid& g, const S* totals, const S* seg_carries, S* carries,
                           const S* w, int dir, int64_t b, int64_t s, int64_t c) {
  const ScanState<D> enter =
      seg_carries == nullptr
          ? empty_state<D>()
          : load_state<Deriv, D>(seg_carries + dir * g.sds() + (b * g.nseg + s) * g.C + c,
                                 g.sfs());
  const int64_t at = dir * g.ds() + b * g.n * g.C + c;
  scan_states<Deriv>(totals + at, carries + at, g.fs(), g.C, s * g.G, g.segment_end(s), g.L, g.Tn,
                     dir == 1, load_lanes<D>(w + c), enter);
}

// ---- phases 1 and 3: one chunk (Lc <= L tokens) on lanes V ----
// k, v, y, ...: the chunk's first token at the first lane; row: token stride; w, u: at the first
// lane; state buffers (totals, carries): at [direction 0][field 0][b][chunk][first lane], fs:
// field stride, ds: direction stride. Loops run to the compile-time L (unrolled on the GPU, so
// the per-token arrays stay in registers) and skip the tokens past Lc.

// The chunk's rows of x as lanes. On the GPU all L rows go to registers first (a thread then
// waits for memory once per chunk, not once per token; rows past Lc repeat row Lc - 1 and are
// never used). On the CPU they are read in place: caches and prefetchers do that job, and the
// copies would crowd the L1 cache. Only ever a local object, so the two layouts never meet.
template <int L, typename V, typename P>
struct Rows {
#if defined(__CUDA_ARCH__)
  V r[L];
  GLSP_HD Rows(const P* __restrict__ x, int64_t row, int Lc) {
    GLSP_UNROLL for (int j = 0; j < L; ++j) r[j] = load_lanes<V>(x + (j < Lc ? j : Lc - 1) * row);
  }
  GLSP_HD V operator[](int j) const { return r[j]; }
#else
  const P* x;
  int64_t row;
  GLSP_HD Rows(const P* x_, int64_t row_, int) : x(x_), row(row_) {}
  GLSP_HD V operator[](int j) const { return load_lanes<V>(x + j * row); }
#endif
};

// Phase 1: the chunk's totals at its far end, per direction.
template <bool Deriv, bool Causal, int L, typename V, typename scalar_t>
GLSP_HD void chunk_totals(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                          int64_t row, int Lc, const scalar_of<V>* __restrict__ w_in,
                          scalar_of<V>* __restrict__ totals, int64_t fs, int64_t ds) {
  using S = scalar_of<V>;
  const V w = load_lanes<V>(w_in), one = splat<V>(S(1));
  const Rows<L, V, scalar_t> kk(k, row, Lc), vv(v, row, Lc);
  auto pre = Frame<Deriv, V>::empty(), suf = Frame<Deriv, V>::empty();
  GLSP_UNROLL for (int j = 0; j < L; ++j) {
    if (j < Lc) {
      pre.add(S(j), kk[j], vv[j], one, w);
      if (!Causal) suf.add(S(Lc - 1 - j), kk[j], vv[j], one, w);  // the suffix sees it mirrored
    }
  }
  pre.store(totals, fs, S(Lc), w);
  if (!Causal) suf.store(totals + ds, fs, S(Lc), w);
}

// Phase 3's suffix pass: enters the chunk from the right with the carry (at carry, field stride
// fs) and records the state before each token: log offset sE, mantissas sA, sB.
// token(j, kap, alpha, beta) gives token j's log weight and values.
template <int L, typename V, typename Token>
GLSP_HD void suffix_pass(const scalar_of<V>* __restrict__ carry, int64_t fs, int Lc, V w,
                         const Token& token, V (&sE)[L], V (&sA)[L], V (&sB)[L]) {
  using S = scalar_of<V>;
  auto suf = Frame<false, V>::enter(carry, fs);
  GLSP_UNROLL for (int j = L - 1; j >= 0; --j) {
    if (j < Lc) {
      const S pos = S(Lc - 1 - j);
      sE[j] = suf.log_at(pos, w);
      sA[j] = suf.a;
      sB[j] = suf.b;
      V kap, alpha, beta;
      token(j, kap, alpha, beta);
      suf.add(pos, kap, alpha, beta, w);
    }
  }
}

// Phase 3 of the forward: y for one chunk.
template <bool Causal, int L, typename V, typename scalar_t>
GLSP_HD void chunk_forward(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                           scalar_t* __restrict__ y, int64_t row, int Lc,
                           const scalar_of<V>* __restrict__ w_in,
                           const scalar_of<V>* __restrict__ u_in,
                           const scalar_of<V>* __restrict__ carries, int64_t fs, int64_t ds) {
  using S = scalar_of<V>;
  const V w = load_lanes<V>(w_in), u = load_lanes<V>(u_in), one = splat<V>(S(1));
  const Rows<L, V, scalar_t> ks(k, row, Lc), vs(v, row, Lc);
  V sE[L], sA[L], sB[L];  // suffix state before each token
  if constexpr (!Causal) {
    suffix_pass<L>(carries + ds, fs, Lc, w, [&](int j, V& kap, V& alpha, V& beta) {
      kap = ks[j];
      alpha = vs[j];
      beta = one;
    }, sE, sA, sB);
  }
  auto pre = Frame<false, V>::enter(carries, fs);
  GLSP_UNROLL for (int j = 0; j < L; ++j) {
    if (j < Lc) {
      const V kk = ks[j], vv = vs[j];
      const V eP = pre.log_at(S(j), w), eB = u + kk;
      V m = vmax(eP, eB);
      if constexpr (!Causal) m = vmax(m, sE[j]);
      const V cP = exp_acc(eP - m), cB = exp_acc(eB - m);
      V num = cP * pre.a + cB * vv, den = cP * pre.b + cB;
      if constexpr (!Causal) {
        const V cS = exp_acc(sE[j] - m);
        num += cS * sA[j];
        den += cS * sB[j];
      }
      store_lanes(y + j * row, quotient(num, den));
      pre.add(S(j), kk, vv, one, w);
    }
  }
}

// Backward, phase 3 on (k, v): rebuilds y and the log-scaled g = gy / den for one chunk, writes
// them to the chunk's scratch (fields q = -log offset, ghat, y, with g = ghat e^q; srow: token
// stride, ss: field stride; the layout is the caller's),
// this chunk's partial gw, gu (part, part + ps) and the chunk totals of (g, g y) with log weights
// q (g_totals, a state buffer like carries).
template <bool Causal, int L, typename V, typename scalar_t>
GLSP_HD void chunk_backward_kv(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                               const scalar_t* __restrict__ gy, int64_t row, int Lc,
                               const scalar_of<V>* __restrict__ w_in,
                               const scalar_of<V>* __restrict__ u_in,
                               const scalar_of<V>* __restrict__ carries, int64_t fs, int64_t ds,
                               scalar_of<V>* __restrict__ scratch, int64_t srow, int64_t ss,
                               scalar_of<V>* __restrict__ g_totals, scalar_of<V>* __restrict__ part,
                               int64_t ps) {
  using S = scalar_of<V>;
  const V w = load_lanes<V>(w_in), u = load_lanes<V>(u_in), one = splat<V>(S(1));
  const Rows<L, V, scalar_t> ks(k, row, Lc), vs(v, row, Lc), gys(gy, row, Lc);
  V sE[L], sA[L], sB[L], sdA[L], sdB[L];  // suffix state and its w-derivative before each token
  if constexpr (!Causal) {
    auto suf = Frame<true, V>::enter(carries + ds, fs);
    GLSP_UNROLL for (int j = L - 1; j >= 0; --j) {
      if (j < Lc) {
        const S pos = S(Lc - 1 - j);
        const V dist = pos - suf.rho - S(1);
        sE[j] = suf.kap - dist * w;
        sA[j] = suf.a;
        sB[j] = suf.b;
        sdA[j] = suf.da - dist * suf.a;
        sdB[j] = suf.db - dist * suf.b;
        suf.add(pos, ks[j], vs[j], one, w);
      }
    }
  }
  auto pre = Frame<true, V>::enter(carries, fs);
  auto g_pre = Frame<false, V>::empty(), g_suf = Frame<false, V>::empty();
  V gw{}, gu{};
  GLSP_UNROLL for (int j = 0; j < L; ++j) {
    if (j < Lc) {
      const V kk = ks[j], vv = vs[j];
      const V dist = S(j) - pre.rho - S(1);
      const V eP = pre.kap - dist * w, eB = u + kk;
      V m = vmax(eP, eB);
      if constexpr (!Causal) m = vmax(m, sE[j]);
      const V cP = exp_acc(eP - m), cB = exp_acc(eB - m);
      // all terms relative to e^m, so each weight is <= 1
      V num = cP * pre.a + cB * vv, den = cP * pre.b + cB;
      V d_num = cP * (pre.da - dist * pre.a), d_den = cP * (pre.db - dist * pre.b);
      if constexpr (!Causal) {
        const V cS = exp_acc(sE[j] - m);
        num += cS * sA[j];
        den += cS * sB[j];
        d_num += cS * sdA[j];
        d_den += cS * sdB[j];
      }
      const V yy = quotient(num, den);
      const V g = quotient(gys[j], den);  // gy / den = g e^{m}
      gu += cB * g * (vv - yy);  // gy * dy/du
      gw += g * (d_num - yy * d_den);  // gy * dy/dw
      store_lanes(scratch + j * srow, -m);
      store_lanes(scratch + ss + j * srow, g);
      store_lanes(scratch + 2 * ss + j * srow, yy);
      // totals of (g, g y) at log weight -m: direction 0 only when bidirectional (the prefix of
      // g feeds tokens after s); direction 1 (mirrored index) always
      if constexpr (!Causal) g_pre.add(S(j), -m, g, g * yy, w);
      g_suf.add(S(Lc - 1 - j), -m, g, g * yy, w);
      pre.add(S(j), kk, vv, one, w);
    }
  }
  store_lanes(part, gw);
  store_lanes(part + ps, gu);
  if constexpr (!Causal) g_pre.store(g_totals, fs, S(Lc), w);
  g_suf.store(g_totals + ds, fs, S(Lc), w);
}

// Backward, phase 3 on g: G_i = sum_{s != i} W(s, i) g_s and H_i (same with g_s y_s) from the
// scratch of chunk_backward_kv and the carries of its g totals, then
//   gv_i = e^{u+k_i} g_i + e^{k_i} G_i,   gk_i = v_i gv_i - (e^{u+k_i} g_i y_i + e^{k_i} H_i).
// causal: only s > i (direction 1).
template <bool Causal, int L, typename V, typename scalar_t>
GLSP_HD void chunk_backward_g(const scalar_t* __restrict__ k, const scalar_t* __restrict__ v,
                              scalar_t* __restrict__ gk, scalar_t* __restrict__ gv, int64_t row,
                              int Lc, const scalar_of<V>* __restrict__ w_in,
                              const scalar_of<V>* __restrict__ u_in,
                              const scalar_of<V>* __restrict__ scratch, int64_t srow, int64_t ss,
                              const scalar_of<V>* __restrict__ carries, int64_t fs, int64_t ds) {
  using S = scalar_of<V>;
  const V w = load_lanes<V>(w_in), u = load_lanes<V>(u_in);
  const Rows<L, V, S> qs(scratch, srow, Lc), gs(scratch + ss, srow, Lc),
      ys(scratch + 2 * ss, srow, Lc);
  V sE[L], sA[L], sB[L];
  suffix_pass<L>(carries + ds, fs, Lc, w, [&](int j, V& kap, V& alpha, V& beta) {
    kap = qs[j];
    alpha = gs[j];
    beta = gs[j] * ys[j];
  }, sE, sA, sB);
  const Rows<L, V, scalar_t> ks(k, row, Lc), vs(v, row, Lc);
  auto pre = Causal ? Frame<false, V>::empty() : Frame<false, V>::enter(carries, fs);
  GLSP_UNROLL for (int j = 0; j < L; ++j) {
    if (j < Lc) {
      const V kk = ks[j], vv = vs[j], q = qs[j], g = gs[j], yy = ys[j];
      const V eB = exp_acc(u + kk + q);  // e^{u+k} / D <= 1
      const V eS = exp_acc(kk + sE[j]);
      V gvv = eB * g + eS * sA[j], hh = eB * g * yy + eS * sB[j];
      if constexpr (!Causal) {
        const V eP = exp_acc(kk + pre.log_at(S(j), w));
        gvv += eP * pre.a;
        hh += eP * pre.b;
        pre.add(S(j), q, g, g * yy, w);
      }
      store_lanes(gv + j * row, gvv);
      store_lanes(gk + j * row, vv * gvv - hh);
    }
  }
}

}  // namespace glsp
