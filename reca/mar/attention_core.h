// The core of multi-head attention, softmax(q k^T * scale, masked) v, read
// straight out of the packed projection the qkv Linear emits.
//
// The textbook form (and bench/python's) permutes q, k and v out of the packed
// tensor, which makes ATen copy each of them, concatenates any context keys
// and values (another copy), copies the masked scores, and copies the heads
// back together at the end; and ATen's CPU bmm (1.13) walks the batch with a
// select() + addmm per matrix, which for a few dozen tokens costs about as much
// as the arithmetic. On fp32 CPU tensors this instead calls the BLAS sgemm
// once per (batch, head) and segment on raw pointers with the packed tensor's
// strides, masks and normalises the scores in place, writes the heads straight
// into [B, L, D], and has its own backward that writes the gradient of the
// packed tensor (and of the context) in one buffer. Anything else (CUDA,
// other dtypes, no sgemm symbol) takes the textbook path, so results never
// depend on where it runs beyond float rounding.
#ifndef RECA_MAR_ATTENTION_CORE_H_
#define RECA_MAR_ATTENTION_CORE_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace reca {

// qkv [B, L, 3 * D]: queries, keys and values of `heads` heads of D / heads
// each, in that order (the Attention module's qkv Linear output). With
// context_k / context_v ([B, heads, Lc, D / heads], any strides; both or
// neither), each query attends to those keys first, then to its own
// sequence's. allowed: bool, broadcastable to [B, L, Lc + L], or undefined
// for full attention. Returns [B, L, D], heads concatenated.
at::Tensor AttentionCore(const at::Tensor& qkv, int64_t heads, double scale, const at::Tensor& allowed,
                         const at::Tensor& context_k = at::Tensor(), const at::Tensor& context_v = at::Tensor());

// The keys and values of a packed qkv [B, L, 3 * D], each a [B, heads, L,
// D / heads] view into it.
void SplitKeysValues(const at::Tensor& qkv, int64_t heads, at::Tensor* k, at::Tensor* v);

// Whether the direct BLAS path is available in this process (for tests).
bool HaveDirectSgemm();

// Forces the textbook path in this process (tests compare the two).
void SetDirectAttentionForTesting(bool enabled);

}  // namespace reca

#endif  // RECA_MAR_ATTENTION_CORE_H_
