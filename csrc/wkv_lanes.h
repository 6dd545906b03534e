// Lane types. The chunk kernels of wkv_math.h compute on V, one value per channel lane: float or
// double (one CUDA thread, or one CPU channel), or on the CPU a GCC vector of consecutive channels
// (Vec<S, W>) as wide as one register of the instruction set the caller is compiled for (RegVec:
// AVX-512, AVX2 or SSE / NEON), so each vector operation is one instruction; wider vectors would be
// split by the compiler, often into scalar code. Every operation the kernels use (arithmetic with
// scalars, comparisons, `mask ? a : b`) means the same lane by lane for both kinds, so the
// algorithm is written once.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#if defined(__CUDACC__)
#define GLSP_HD __host__ __device__ __forceinline__
#define GLSP_UNROLL _Pragma("unroll")
#else
#define GLSP_HD inline __attribute__((always_inline))
#define GLSP_UNROLL
#endif

namespace glsp {

// The scalar type and the lane count of V: V itself and 1 for a scalar.
template <typename V, typename = void>
struct LaneTraits {
  using Scalar = V;
  static constexpr int kWidth = 1;
};

#if !defined(__CUDACC__)
template <typename V>  // a GCC vector: its element type and count
struct LaneTraits<V, std::void_t<decltype(std::declval<V&>()[0])>> {
  using Scalar = std::remove_reference_t<decltype(std::declval<V&>()[0])>;
  static constexpr int kWidth = sizeof(V) / sizeof(Scalar);
};

template <typename S, int W>
struct VecType {
  typedef S type __attribute__((vector_size(W * sizeof(S))));
};
template <typename S, int W>
using Vec = typename VecType<S, W>::type;  // W lanes of S
template <typename S, int Bytes>
using RegVec = Vec<S, Bytes / static_cast<int>(sizeof(S))>;  // the lanes of S in Bytes

template <typename V>
constexpr bool kIsVector = LaneTraits<V>::kWidth > 1;
#endif

template <typename V>
using scalar_of = typename LaneTraits<V>::Scalar;

template <typename V>
GLSP_HD V splat(scalar_of<V> x) {
  return V{} + x;
}

template <typename V>
GLSP_HD V neg_inf() {
  return splat<V>(-std::numeric_limits<scalar_of<V>>::infinity());
}

// kWidth consecutive values of p (any floating type) as lanes, and back.
template <typename V, typename P>
GLSP_HD V load_lanes(const P* p) {
  if constexpr (LaneTraits<V>::kWidth == 1) {
    return static_cast<V>(*p);
  } else {
    V r;
    for (int i = 0; i < LaneTraits<V>::kWidth; ++i) r[i] = static_cast<scalar_of<V>>(p[i]);
    return r;
  }
}

template <typename P, typename V>
GLSP_HD void store_lanes(P* p, V x) {
  if constexpr (LaneTraits<V>::kWidth == 1) {
    *p = static_cast<P>(x);
  } else {
    for (int i = 0; i < LaneTraits<V>::kWidth; ++i) p[i] = static_cast<P>(x[i]);
  }
}

// The same lanes in float / in double (phase 2 keeps its states in double, exps in float).
GLSP_HD float to_float(double x) { return static_cast<float>(x); }
GLSP_HD double to_double(float x) { return static_cast<double>(x); }

#if !defined(__CUDACC__)
template <typename V, std::enable_if_t<kIsVector<V>, int> = 0>
GLSP_HD auto to_float(V x) {
  return __builtin_convertvector(x, Vec<float, LaneTraits<V>::kWidth>);
}
template <typename V, std::enable_if_t<kIsVector<V>, int> = 0>
GLSP_HD auto to_double(V x) {
  return __builtin_convertvector(x, Vec<double, LaneTraits<V>::kWidth>);
}

GLSP_HD int32_t to_int(float x) { return static_cast<int32_t>(x); }
template <typename V, std::enable_if_t<kIsVector<V>, int> = 0>
GLSP_HD auto to_int(V x) {
  return __builtin_convertvector(x, Vec<int32_t, LaneTraits<V>::kWidth>);
}

template <typename V, typename I>
GLSP_HD V from_bits(I bits) {
  V r;
  static_assert(sizeof(r) == sizeof(bits), "bit cast between types of one size");
  std::memcpy(&r, &bits, sizeof(r));
  return r;
}

// exp on float lanes for x <= 0 (all the kernels need), branch-free: exp(x) = 2^n e^r with
// n = round(x / ln 2), |r| <= ln(2)/2, e^r by a degree-6 polynomial fitted to minimise its relative
// error (4e-9; in float arithmetic 1.2e-7 on [-87, 0], the degree-7 Taylor polynomial it replaced
// 1.0e-7, at one multiply-add more); 0 below -87.
template <typename V>
GLSP_HD V exp_poly(V x) {
  const V lo = splat<V>(-87.0f);
  const V xc = x > lo ? x : lo;
  const V n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const V r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  V p = splat<V>(1.394858118e-3f);
  p = p * r + 8.381109685e-3f;
  p = p * r + 4.166623950e-2f;
  p = p * r + 1.666632593e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.000000119f;
  p = p * r + 1.0f;
  const V scale = from_bits<V>((to_int(n) + 127) << 23);
  return x < lo ? splat<V>(0.0f) : p * scale;
}

template <typename V, std::enable_if_t<kIsVector<V>, int> = 0>
GLSP_HD V exp_acc(V x) {
  if constexpr (std::is_same_v<scalar_of<V>, float>) {
    return exp_poly(x);
  } else {
    for (int i = 0; i < LaneTraits<V>::kWidth; ++i) x[i] = std::exp(x[i]);
    return x;
  }
}
#endif

// e^x for x <= 0 (every exponent the kernels take is, by the max trick).
GLSP_HD float exp_acc(float x) {
#if defined(__CUDA_ARCH__)
  return __expf(x);
#elif defined(__CUDACC__)
  return std::exp(x);  // host side of a .cu file (never on a hot path)
#else
  return exp_poly(x);
#endif
}

GLSP_HD double exp_acc(double x) {
#if defined(__CUDA_ARCH__)
  return ::exp(x);
#else
  return std::exp(x);
#endif
}

// a / b for the kernels' denominators (>= 1 by the max trick): on the GPU its fast division (2 ulp,
// no slow path for huge or tiny b), elsewhere exact.
template <typename V>
GLSP_HD V quotient(V a, V b) {
  return a / b;
}

GLSP_HD float quotient(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdividef(a, b);
#else
  return a / b;
#endif
}

}  // namespace glsp
