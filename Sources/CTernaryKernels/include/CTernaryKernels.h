#ifndef CTERNARY_KERNELS_H
#define CTERNARY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set paths this build can run on this CPU (bit set of TK_ISA_*).
enum {
    TK_ISA_AVX2 = 1,
    TK_ISA_AVXVNNI = 2,
    TK_ISA_AVX512VNNI = 4,
    TK_ISA_F16C_FMA = 8,
    /// AVX-512 VBMI (byte permutes) beside AVX-512 VNNI: the t1.6 kernels.
    TK_ISA_AVX512VBMI = 16,
};
int tk_cpu_features(void);

// ---- Ternary matrices ---------------------------------------------------------------------------
// Layout (docs/FORMAT.md): a row of K weights is padded to a multiple of 64 and stored as blocks of
// 16 bytes. In a block, byte j holds in bits 2k..2k+1 the code (w + 1) of position 16k + j.
// Activations are int8, padded with zeros to the same multiple of 64. `xsum` is the sum of the
// activations, so that sum(w * x) = sum(code * x) - xsum.

/// out[r] = sum_k W[r,k] * x[k] for r in [0, rows). `row_bytes` = padded K / 4.
void tk_ternary_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                          const int8_t *x, int32_t xsum, int32_t *out);
void tk_ternary_gemv_avxvnni(const uint8_t *w, size_t row_bytes, size_t rows,
                             const int8_t *x, int32_t xsum, int32_t *out);
void tk_ternary_gemv_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                const int8_t *x, int32_t xsum, int32_t *out);

/// out[t * out_stride + r] = sum_k W[r,k] * x[t * x_stride + k], for `ntok` tokens. Each unpacked
/// weight block is reused for up to four tokens.
void tk_ternary_gemm_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                          const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                          int32_t *out, size_t out_stride);
void tk_ternary_gemm_avxvnni(const uint8_t *w, size_t row_bytes, size_t rows,
                             const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                             int32_t *out, size_t out_stride);
void tk_ternary_gemm_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows,
                                const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                                int32_t *out, size_t out_stride);

// ---- t1.6 matrices (docs/FORMAT.md): 320 weights per 64-byte block, 5 base-3 codes per byte -----
// Byte j of a block is c0 + 3·c1 + 9·c2 + 27·c3 + 81·c4, c_i = w + 1 of position 64·i + j. Rows are
// padded to a multiple of 320 weights; activations likewise (zeros). AVX-512 VBMI + VNNI.
void tk_t16_gemv_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                            const int8_t *x, int32_t xsum, int32_t *out);
void tk_t16_gemm_avx512vbmi(const uint8_t *w, size_t row_bytes, size_t rows,
                            const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                            int32_t *out, size_t out_stride);
// AVX2 (no lookup of 128 bytes: compares, a multiply-high and 16-entry byte shuffles).
void tk_t16_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                      const int8_t *x, int32_t xsum, int32_t *out);
void tk_t16_gemm_avx2(const uint8_t *w, size_t row_bytes, size_t rows,
                      const int8_t *x, size_t x_stride, const int32_t *xsum, size_t ntok,
                      int32_t *out, size_t out_stride);

// ---- Grouped matrices q4 and q6 (docs/FORMAT.md, "Grouped matrices") ---------------------------
// Groups of 32 weights with an f16 scale each (`groups` per row, rows of `row_bytes`); a 64-weight
// block is two groups. out[r] = Σ_g d[r·groups + g] · Σ_{i in g} (q − offset)·x[i], a float sum
// whose rounding may differ from the scalar reference's.
void tk_q4_gemv_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales,
                           size_t groups, const int8_t *x, float *out);
void tk_q6_gemv_avx512vnni(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales,
                           size_t groups, const int8_t *x, float *out);
void tk_q4_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales,
                     size_t groups, const int8_t *x, float *out);
void tk_q6_gemv_avx2(const uint8_t *w, size_t row_bytes, size_t rows, const uint16_t *scales,
                     size_t groups, const int8_t *x, float *out);

// ---- Int8 matrices (the int8 LM head) ----------------------------------------------------------
// Rows of int8 in [-127, 127], padded with zeros to a multiple of 64; activations likewise.
void tk_int8_gemv_avx2(const int8_t *w, size_t row_len, size_t rows,
                       const int8_t *x, int32_t xsum, int32_t *out);
void tk_int8_gemv_avx512vnni(const int8_t *w, size_t row_len, size_t rows,
                             const int8_t *x, int32_t xsum, int32_t *out);

// ---- Float matrices (f16 / f32 LM head) --------------------------------------------------------
/// out[r] = sum_k float(W[r,k]) * x[k]; W is IEEE half, rows of `k` (no padding).
void tk_f16_gemv_fma(const uint16_t *w, size_t k, size_t rows, const float *x, float *out);
void tk_f32_gemv_fma(const float *w, size_t k, size_t rows, const float *x, float *out);
/// W is bfloat16 (the top 16 bits of an f32).
void tk_bf16_gemv_fma(const uint16_t *w, size_t k, size_t rows, const float *x, float *out);

// ---- Activation quantization --------------------------------------------------------------------
/// s = 127 / max(max|x|, 1e-5); q = clamp(round_half_even(x * s), -128, 127); zero padding up to
/// `padded`. Returns s; writes the sum of q to *sum.
float tk_quantize_activations_avx2(const float *x, size_t n, int8_t *q, size_t padded, int32_t *sum);
/// The same with AVX-512 (the same bytes).
float tk_quantize_activations_avx512(const float *x, size_t n, int8_t *q, size_t padded, int32_t *sum);

// ---- Float activations -------------------------------------------------------------------------
/// In place: GELU, tanh form (GPT-2's gelu_new).
void tk_gelu_tanh(float *x, size_t n);
/// In place: SiLU, x · sigmoid(x) (Llama's FFN gate).
void tk_silu(float *x, size_t n);
/// In place: softmax.
void tk_softmax(float *x, size_t n);
/// log Σ exp(x[i]) (a log-softmax's normalizer; −∞ for n = 0), vectorised; its terms summed in
/// double. Finite inputs only.
double tk_log_sum_exp(const float *x, size_t n);
/// The same in double precision throughout, one term at a time: the oracle.
double tk_log_sum_exp_reference(const float *x, size_t n);
/// BitLinear dequantization: y = float(acc[i]) · factor + bias[i] (no bias if NULL), stored into
/// out[i], or added to it if `accumulate`. `acc` may be `out` itself (in place). Multiply, then add,
/// unfused, so every element rounds the same way whichever path or thread computes it.
void tk_dequantize(const int32_t *acc, float factor, const float *bias, float *out, size_t n, int accumulate);

// ---- Half precision (f16 KV cache, the packer's f16/bf16 tensors) ----------------------------------
/// Rounds to nearest, ties to even (as Swift's Float16(_:)).
void tk_f32_to_f16(const float *x, uint16_t *out, size_t n);
/// Exact widenings of `n` little-endian values at any byte alignment.
void tk_f16_to_f32(const void *x, float *out, size_t n);
void tk_bf16_to_f32(const void *x, float *out, size_t n);

// ---- Attention over strided rows (KV cache rows, or a head's contiguous batch copy) ---------------
/// scores[j] = scale · Σ_{i<n} q[i] · keys[j·stride + i], for j in [0, count).
void tk_attention_scores_f16(const float *q, const uint16_t *keys, size_t stride, size_t count, size_t n,
                             float scale, float *scores);
void tk_attention_scores_f32(const float *q, const float *keys, size_t stride, size_t count, size_t n,
                             float scale, float *scores);
/// out[i] += Σ_{j<count} p[j] · values[j·stride + i], for i in [0, n).
void tk_attention_values_f16(const float *p, const uint16_t *values, size_t stride, size_t count, size_t n,
                             float *out);
void tk_attention_values_f32(const float *p, const float *values, size_t stride, size_t count, size_t n,
                             float *out);
/// Up to four query rows over one KV head's f16 rows, row r (q + r·q_stride) seeing the first
/// `first_count + r·count_step` positions (count_step 1: consecutive causal rows of one head; 0:
/// the query heads sharing a KV head at one position): scores[r·scores_stride + j] = scale · q_r ·
/// key_j for j below the last row's count (a row's scores past its own count are not used). Each
/// score is computed the same way whatever the rows are (a decode step is nq = 1).
void tk_attention_scores_f16_rows(const float *q, size_t q_stride, size_t nq, const uint16_t *keys, size_t stride,
                                  size_t first_count, size_t count_step, size_t n, float scale, float *scores,
                                  size_t scores_stride);
/// out_r[i] += Σ_{j < first_count + r·count_step} p_r[j] · values[j·stride + i] for r < nq ≤ 4, with
/// p_r = p + r·p_stride and out_r = out + r·out_stride; each output the same whatever the rows are.
void tk_attention_values_f16_rows(const float *p, size_t p_stride, size_t nq, size_t first_count, size_t count_step,
                                  const uint16_t *values, size_t stride, size_t n, float *out, size_t out_stride);

// ---- q8 rows (q8 KV cache): int8 values, one float scale per row, value = scale · q -----------------
/// q[i] = round_half_even(x[i] · 127 / max|x|) for i in [0, n); returns max|x| / 127 (0 for a zero row).
/// A 32-byte aligned `q` may be written with streaming stores: call tk_store_fence() before another
/// thread reads it.
float tk_quantize_row_q8(const float *x, int8_t *q, size_t n);
/// Orders this thread's earlier streaming stores before its later stores (x86 sfence).
void tk_store_fence(void);
/// scores[j] = scale · key_scales[j·scale_stride] · Σ_{i<n} q[i] · keys[j·stride + i].
void tk_attention_scores_q8(const float *q, const int8_t *keys, size_t stride, const float *key_scales,
                            size_t scale_stride, size_t count, size_t n, float scale, float *scores);
/// out[i] += Σ_{j<count} p[j] · value_scales[j·scale_stride] · values[j·stride + i].
void tk_attention_values_q8(const float *p, const int8_t *values, size_t stride, const float *value_scales,
                            size_t scale_stride, size_t count, size_t n, float *out);

// ---- Memory bandwidth probe ----------------------------------------------------------------
/// Reads `bytes` bytes and returns their sum (as 64-bit words where possible).
uint64_t tk_read_sum(const void *data, size_t bytes);
/// The same sum without software prefetches: a STREAM-style read.
uint64_t tk_read_sum_plain(const void *data, size_t bytes);

// ---- Int8 dot-product peak -------------------------------------------------------------------
/// `rounds` rounds of twelve independent multiply-add chains of path `isa` (one TK_ISA_* value):
/// vpdpbusd (AVX-512 VNNI, AVX-VNNI) or vpmaddubsw + add (AVX2), registers only. Returns a value
/// that depends on every chain, or -1 when this CPU lacks the path.
int64_t tk_dot_peak(int isa, size_t rounds);
/// Int8 multiply-adds one round of `tk_dot_peak` performs for `isa` (0 for an unknown path).
size_t tk_dot_peak_macs_per_round(int isa);

// ---- Interrupted writes ----------------------------------------------------------------------------
/// Registers a file being written: SIGINT, SIGTERM or SIGHUP (when the program has not set its own
/// handler) removes it before the process ends as the signal says. Returns a slot, or -1 if full.
int tk_cleanup_register(const char *path);
void tk_cleanup_unregister(int slot);

// ---- Worker pool --------------------------------------------------------------------------------
typedef void (*tk_task_fn)(void *ctx, int64_t begin, int64_t end, int worker);
typedef struct tk_pool tk_pool;
/// A pool of `threads` - 1 persistent workers; the calling thread is the last member.
tk_pool *tk_pool_create(int threads);
int tk_pool_threads(const tk_pool *pool);
/// Runs fn over [0, total) split into contiguous ranges (ends rounded to `grain`) that the threads
/// claim as they go, long ones first; fn gets the claiming thread's index (0 = caller) and may be
/// called several times per thread. With `owned_first`, each thread starts with its own run
/// (tk_pool_first_run), which another takes only if it is late. Returns when all are done. Not
/// re-entrant.
void tk_pool_run(tk_pool *pool, tk_task_fn fn, void *ctx, int64_t total, int64_t grain, int owned_first);
/// The run [begin, end) that thread `index` takes first in an owned-first tk_pool_run(total, grain)
/// (empty when that call does not split the work).
void tk_pool_first_run(const tk_pool *pool, int64_t total, int64_t grain, int index, int64_t *begin, int64_t *end);
/// Sets prefetch hint `range` (0 or 1) of thread `index`: bytes it will likely read first in a
/// coming run. A thread reads its hints into L2 while it waits for work; nothing is dereferenced
/// (bad addresses are harmless). Hints take effect when published; the caller's thread sets them.
void tk_pool_set_prefetch(tk_pool *pool, int index, int range, const void *base, int64_t bytes);
void tk_pool_publish_prefetch(tk_pool *pool);
void tk_pool_destroy(tk_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
