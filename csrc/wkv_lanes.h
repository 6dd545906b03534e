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

#if !defined(__CUDACC__)
// Whether P is bfloat16, for the lanes that convert a register of such values at once (the CPU
// kernels name theirs, c10::BFloat16, whose own conversion is value by value). Other types,
// float16 included, convert value by value.
template <typename P>
constexpr bool kIsBfloat16 = false;

template <typename V, typename I>
GLSP_HD V from_bits(I bits) {
  V r;
  static_assert(sizeof(r) == sizeof(bits), "bit cast between types of one size");
  std::memcpy(&r, &bits, sizeof(r));
  return r;
}

// Float vector lanes of bfloat16 P: the upper half of a float, widened and shifted on any
// instruction set; stored rounded to nearest even (NaN as 0x7fc0), as c10::BFloat16 does.
template <typename V, typename P>
constexpr bool kConvertsBfloat16 = kIsBfloat16<P> && kIsVector<V> &&
                                   std::is_same_v<scalar_of<V>, float>;

template <typename V>
GLSP_HD V bfloat16_to_lanes(const void* p) {
  constexpr int W = LaneTraits<V>::kWidth;
  Vec<uint16_t, W> bits;
  std::memcpy(&bits, p, sizeof(bits));
  return from_bits<V>(__builtin_convertvector(bits, Vec<uint32_t, W>) << 16);
}

template <typename V>
GLSP_HD void lanes_to_bfloat16(void* p, V x) {
  using U = Vec<uint32_t, LaneTraits<V>::kWidth>;
  const U u = from_bits<U>(x);
  const U rounded = (u + ((u >> 16) & 1u) + 0x7fffu) >> 16;
  const U nan = U{} + 0x7fc0u;
  const auto bits =
      __builtin_convertvector(x != x ? nan : rounded, Vec<uint16_t, LaneTraits<V>::kWidth>);
  std::memcpy(p, &bits, sizeof(bits));
}
#endif

// kWidth consecutive values of p (any floating type) as lanes, and back.
template <typename V, typename P>
GLSP_HD V load_lanes(const P* p) {
  if constexpr (LaneTraits<V>::kWidth == 1) {
    return static_cast<V>(*p);
#if !defined(__CUDACC__)
  } else if constexpr (kConvertsBfloat16<V, P>) {
    return bfloat16_to_lanes<V>(p);
#endif
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
#if !defined(__CUDACC__)
  } else if constexpr (kConvertsBfloat16<V, P>) {
    lanes_to_bfloat16(p, x);
#endif
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

// exp on float lanes for x <= 0 (all the kernels need), branch-free: exp(x) = 2^n e^r with
// n = round(x / ln 2), |r| <= ln(2)/2, e^r by a degree-5 polynomial fitted to minimise its largest
// relative error (9.2e-8; computed in float, 1.6e-7 on [-87, 0]; the degree-6 polynomial before
// it: 2e-9 and 9.9e-8, at one multiply-add more an exp; scripts/dev/fit_exp_poly.py fits and
// checks them), 2^n from the exponent bits; 0 below kExpLowest.
constexpr float kExpLowest = -87.0f;

template <typename V>
GLSP_HD V exp_poly(V x) {
  const V lo = splat<V>(kExpLowest), xr = x > lo ? x : lo;
  const V n = (xr * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const V r = (xr - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
  V p = splat<V>(8.290315047e-3f);
  p = p * r + 4.189793020e-2f;
  p = p * r + 1.666763574e-1f;
  p = p * r + 4.999915063e-1f;
  p = p * r + 9.999997020e-1f;
  p = p * r + 1.0f;
  return x < lo ? splat<V>(0.0f) : p * from_bits<V>((to_int(n) + 127) << 23);
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
