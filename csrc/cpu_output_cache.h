// Memory for the CPU kernels' outputs (wkv_cpu.cpp).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace glsp {

// An uninitialised contiguous CPU tensor. Outputs of 2 MiB and more get whole 2 MiB-aligned
// transparent huge pages, and reuse the memory of earlier outputs of the same page count once
// those are freed (see cpu_output_cache.cpp); smaller ones come from PyTorch's allocator.
at::Tensor new_cpu_output(at::IntArrayRef sizes, const at::TensorOptions& options);

// glsp::cpu_output_cache: sets the cache's limit in bytes when given (freeing memory held above
// it; 0 empties and disables it) and returns [bytes held, limit].
std::vector<int64_t> cpu_output_cache(std::optional<int64_t> limit_bytes);

}  // namespace glsp
