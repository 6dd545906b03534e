// Lane types. The chunk kernels of wkv_math.h compute on V, one value per channel lane: float or
// double (one CUDA thread, or one CPU channel), or on the CPU a GCC vector of kLanes consecutive
// channels (VecF, VecD), which the compiler maps onto AVX-512, AVX2 or SSE registers. Every
// operation the kernels use (arithmetic with scalars, comparisons, `mask ? a : b`) means the
// same lane by lane for both kinds, so the algorithm is written once.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__CUDACC__)
#define GLSP_HD __host__ __device__ __forceinline__
#define GLSP_UNROLL _Pragma("unroll")
#else
#define GLSP_HD inline __attribute__((always_inline))
#define GLSP_UNROLL
#endif

namespace glsp {

template <typename V>
struct LaneTraits {
  using Scalar = V;
  static constexpr int kWidth = 1;
};

#if !defined(__CUDACC__)
constexpr int kLanes = 16;
typedef float VecF __attribute__((vector_size(kLanes * sizeof(float))));
typedef double VecD __attribute__((vector_size(kLanes * sizeof(double))));
typedef int32_t VecI __attribute__((vector_size(kLanes * sizeof(int32_t))));

template <>
struct LaneTraits<VecF> {
  using Scalar = float;
  static constexpr int kWidth = kLanes;
};
template <>
struct LaneTraits<VecD> {
  using Scalar = double;
  static constexpr int kWidth = kLanes;
};

template <typename S>
struct VecOf;  // the kLanes-wide vector of a scalar type
template <>
struct VecOf<float> {
  using type = VecF;
};
template <>
struct VecOf<double> {
  using type = VecD;
};
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
GLSP_HD VecF to_float(VecD x) { return __builtin_convertvector(x, VecF); }
GLSP_HD VecD to_double(VecF x) { return __builtin_convertvector(x, VecD); }

GLSP_HD int32_t to_int(float x) { return static_cast<int32_t>(x); }
GLSP_HD VecI to_int(VecF x) { return __builtin_convertvector(x, VecI); }

template <typename V, typename I>
GLSP_HD V from_bits(I bits) {
  V r;
  static_assert(sizeof(r) == sizeof(bits), "bit cast between types of one size");
  std::memcpy(&r, &bits, sizeof(r));
  return r;
}

// exp on float lanes for x <= 0 (all the kernels need), branch-free: exp(x) = 2^n e^r with
// n = round(x / ln 2), |r| <= ln(2)/2, e^r by its degree-7 Taylor polynomial (relative error
// < 1e-7); 0 below -87.
template <typename V>
GLSP_HD V exp_poly(V x) {
  const V lo = splat<V>(-87.0f);
  const V xc = x > lo ? x : lo;
  const V n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const V r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  V p = splat<V>(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const V scale = from_bits<V>((to_int(n) + 127) << 23);
  return x < lo ? splat<V>(0.0f) : p * scale;
}

GLSP_HD VecF exp_acc(VecF x) { return exp_poly(x); }
GLSP_HD VecD exp_acc(VecD x) {
  for (int i = 0; i < kLanes; ++i) x[i] = std::exp(x[i]);
  return x;
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
