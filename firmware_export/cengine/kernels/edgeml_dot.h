/*
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). Arithmetic follows TensorFlow Lite / gemmlowp
 * (Copyright The TensorFlow Authors, The gemmlowp Authors; Apache License 2.0); see edgeml_engine.h.
 */
/* int8 dot products of the matrix kernels (FULLY_CONNECTED, CONV_2D over im2col columns): several
   weight rows against one input column share the column's loads (and its unpacking), two columns
   against two rows share both ("2x2 output tiling", Lai, Suda and Chandra, "CMSIS-NN: Efficient Neural
   Network Kernels for Arm Cortex-M CPUs", arXiv:1801.06601, 2018, section 3.2 and Fig. 4).

   Two builds of the same arithmetic:
   - Armv7E-M with the DSP extension (Cortex-M4, M7, M33 with DSP: __ARM_FEATURE_DSP, unless
     EDGEML_NO_DSP is defined): four int8 values per word load, unpacked by SXTB16 into two pairs of
     int16 (bytes 0 and 2, then bytes 1 and 3 with SXTB16's own ROR #8), and SMLAD adds both products
     of a pair to the accumulator: two MACs per instruction. Rows and columns are unpacked the same
     way, so the pairs match without reordering the weights: the weights keep TFLite's layout in every
     build. GCC's ACLE has no rotate form of __sxtb16, hence one line of inline assembly.
     Word loads may be unaligned (LDR allows it on Armv7-M; the DSP build exists only there).
   - Everywhere else (Cortex-M0/M3, the host): byte loads (never an unaligned word), each loaded value used
     by every row (or column) of the tile.
   Both add the same int32 products in a different order; int32 addition is exact (the sum of int8
   products of a layer fits int32 as it does in TFLite's reference kernels), so every bit is the same. */
#ifndef EDGEML_DOT_H
#define EDGEML_DOT_H

#include <stdint.h>
#include <string.h>

/* The dot products are the kernels' inner loops: always inlined into their callers. */
#if defined(__GNUC__) || defined(__clang__)
#define EDGEML_DOT_INLINE static inline __attribute__((always_inline))
#else
#define EDGEML_DOT_INLINE static inline
#endif

/* Portable C: byte loads (never an unaligned word), one value of every operand per step. Rows (and
   columns) are `stride` bytes apart; n values each. Also the DSP versions' tails. */
EDGEML_DOT_INLINE void edgeml_dot_4rows_c(const int8_t *rows, int32_t stride, const int8_t *col, int32_t n,
                                          int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *row0 = rows, *row1 = rows + stride, *row2 = rows + 2 * stride, *row3 = rows + 3 * stride;
    const int8_t *const end = col + n;
    while (col < end) {
        const int32_t x = *col++;
        a0 += *row0++ * x;
        a1 += *row1++ * x;
        a2 += *row2++ * x;
        a3 += *row3++ * x;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

EDGEML_DOT_INLINE void edgeml_dot_2x2_c(const int8_t *rows, const int8_t *cols, int32_t stride, int32_t n,
                                        int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *row0 = rows, *row1 = rows + stride, *col0 = cols, *col1 = cols + stride;
    const int8_t *const end = cols + n;
    while (col0 < end) {
        const int32_t x = *col0++, y = *col1++, w0 = *row0++, w1 = *row1++;
        a00 += w0 * x;
        a01 += w0 * y;
        a10 += w1 * x;
        a11 += w1 * y;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* row . col over n values, unrolled by four. */
EDGEML_DOT_INLINE int32_t edgeml_dot_1_c(const int8_t *row, const int8_t *col, int32_t n)
{
    int32_t acc = 0;
    const int8_t *const end4 = col + (n & ~3);
    const int8_t *const end = col + n;
    while (col < end4) {
        acc += row[0] * col[0] + row[1] * col[1] + row[2] * col[2] + row[3] * col[3];
        col += 4;
        row += 4;
    }
    while (col < end) {
        acc += *row++ * *col++;
    }
    return acc;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(EDGEML_NO_DSP)
#define EDGEML_DSP 1
#include <arm_acle.h>

/* Four int8 values as one word (any alignment: an LDR on Armv7-M). */
static inline int32_t edgeml_read_s8x4(const int8_t *p)
{
    int32_t word;
    memcpy(&word, p, 4);
    return word;
}

/* SXTB16 of the word rotated by 8: bytes 1 and 3 as two int16. */
static inline int32_t edgeml_sxtb16_ror8(int32_t word)
{
    int32_t pair;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(pair) : "r"(word));
    return pair;
}

/* The inner loops below are inline assembly: GCC 12 hoists every load of an unrolled C loop, runs out of
   the 14 allocatable registers and spills in the loop (measured: 2.2 instructions per MAC for the 2x2 tile
   against 1.3 here). Each step handles four values of every operand; post-indexed loads walk the first
   row and column, and row + k (and column + k) are read at [pointer, k - 4] after it moved. */

/* Four values of four rows row0, row0 + k, row2, row2 + k against one column: 23 instructions, 16 MACs. */
#define EDGEML_DOT_4ROWS_STEP                                                                                      \
    "ldr %[x], [%[col]], #4\n\t"                                                                                   \
    "sxtb16 %[x02], %[x]\n\t"                                                                                      \
    "sxtb16 %[x], %[x], ror #8\n\t"                                                                                \
    "ldr %[w], [%[row0]], #4\n\t"                                                                                  \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a0], %[x02], %[w02], %[a0]\n\t"                                                                       \
    "smlad %[a0], %[x], %[w], %[a0]\n\t"                                                                           \
    "ldr %[w], [%[row0], %[km4]]\n\t"                                                                              \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a1], %[x02], %[w02], %[a1]\n\t"                                                                       \
    "smlad %[a1], %[x], %[w], %[a1]\n\t"                                                                           \
    "ldr %[w], [%[row2]], #4\n\t"                                                                                  \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a2], %[x02], %[w02], %[a2]\n\t"                                                                       \
    "smlad %[a2], %[x], %[w], %[a2]\n\t"                                                                           \
    "ldr %[w], [%[row2], %[km4]]\n\t"                                                                              \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a3], %[x02], %[w02], %[a3]\n\t"                                                                       \
    "smlad %[a3], %[x], %[w], %[a3]\n\t"

/* One asm statement of `steps` (EDGEML_DOT_4ROWS_STEP repeated) on edgeml_dot_4rows's variables. */
#define EDGEML_DOT_4ROWS_ASM(steps)                                                                                \
    __asm__(steps                                                                                                  \
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [col] "+r"(col), [row0] "+r"(row0),     \
              [row2] "+r"(row2), [x] "=&r"(x), [x02] "=&r"(x02), [w] "=&r"(w), [w02] "=&r"(w02)                    \
            : [km4] "r"(km4)                                                                                       \
            : "memory")

/* acc[r] += (row r of the k-wide matrix at rows) . col for r < 4 (rows contiguous, k apart): the column is
   loaded and unpacked once for four rows (FULLY_CONNECTED at batch 1, where no second column exists). */
EDGEML_DOT_INLINE void edgeml_dot_4rows(const int8_t *rows, const int8_t *col, int32_t k, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *row0 = rows, *row2 = rows + 2 * k;
    const int8_t *const end8 = col + (k & ~7);
    const int8_t *const end = col + k;
    const int32_t km4 = k - 4;
    int32_t x, x02, w, w02;
    while (col < end8) {
        EDGEML_DOT_4ROWS_ASM(EDGEML_DOT_4ROWS_STEP EDGEML_DOT_4ROWS_STEP);
    }
    if (k & 4) {
        EDGEML_DOT_4ROWS_ASM(EDGEML_DOT_4ROWS_STEP);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    edgeml_dot_4rows_c(row0, k, col, (int32_t)(end - col), acc);
}

/* Builds that optimize for speed (-O2, the QEMU images' kernels) run the 2x2 tile's loop over 32 values per
   iteration (half the loop's compares and branches, then one block of 16 if k needs it); -Os keeps the loop
   over 16 values (160 instructions fewer per inlined copy). */
#if defined(__OPTIMIZE_SIZE__)
#define EDGEML_DOT_UNROLL_32 0
#else
#define EDGEML_DOT_UNROLL_32 1
#endif

/* Four values of rows row0, row0 + k against columns col0, col0 + k: 20 instructions, 16 MACs. */
#define EDGEML_DOT_2X2_STEP                                                                                        \
    "ldr %[x], [%[col]], #4\n\t"                                                                                   \
    "ldr %[y], [%[col], %[km4]]\n\t"                                                                               \
    "sxtb16 %[x02], %[x]\n\t"                                                                                      \
    "sxtb16 %[x], %[x], ror #8\n\t"                                                                                \
    "sxtb16 %[y02], %[y]\n\t"                                                                                      \
    "sxtb16 %[y], %[y], ror #8\n\t"                                                                                \
    "ldr %[w], [%[row]], #4\n\t"                                                                                   \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a00], %[x02], %[w02], %[a00]\n\t"                                                                     \
    "smlad %[a00], %[x], %[w], %[a00]\n\t"                                                                         \
    "smlad %[a01], %[y02], %[w02], %[a01]\n\t"                                                                     \
    "smlad %[a01], %[y], %[w], %[a01]\n\t"                                                                         \
    "ldr %[w], [%[row], %[km4]]\n\t"                                                                               \
    "sxtb16 %[w02], %[w]\n\t"                                                                                      \
    "sxtb16 %[w], %[w], ror #8\n\t"                                                                                \
    "smlad %[a10], %[x02], %[w02], %[a10]\n\t"                                                                     \
    "smlad %[a10], %[x], %[w], %[a10]\n\t"                                                                         \
    "smlad %[a11], %[y02], %[w02], %[a11]\n\t"                                                                     \
    "smlad %[a11], %[y], %[w], %[a11]\n\t"

/* One asm statement of `steps` (EDGEML_DOT_2X2_STEP repeated) on edgeml_dot_2x2's variables. */
#define EDGEML_DOT_2X2_ASM(steps)                                                                                  \
    __asm__(steps                                                                                                  \
            : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [col] "+r"(col), [row] "+r"(row),\
              [x] "=&r"(x), [x02] "=&r"(x02), [y] "=&r"(y), [y02] "=&r"(y02), [w] "=&r"(w), [w02] "=&r"(w02)       \
            : [km4] "r"(km4)                                                                                       \
            : "memory")

/* acc[2 * r + c] += (row r of rows) . (column c of cols) for r, c < 2, both matrices k wide (rows and
   columns k bytes apart): each word of the four operands is loaded and unpacked once for four SMLADs. */
EDGEML_DOT_INLINE void edgeml_dot_2x2(const int8_t *rows, const int8_t *cols, int32_t k, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    const int8_t *row = rows, *col = cols;
    const int8_t *const end = cols + k;
    const int32_t km4 = k - 4;
    int32_t x, x02, y, y02, w, w02;
#if EDGEML_DOT_UNROLL_32
    const int8_t *const end32 = cols + (k & ~31);
    while (col < end32) {
        EDGEML_DOT_2X2_ASM(EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP
                           EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP);
    }
    if (k & 16) {
#else
    const int8_t *const end16 = cols + (k & ~15);
    while (col < end16) {
#endif
        EDGEML_DOT_2X2_ASM(EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP EDGEML_DOT_2X2_STEP);
    }
    if (k & 15) { /* the rest of k: none in most layers (k a multiple of 16), one test then */
        const int8_t *const end4 = cols + (k & ~3);
        while (col < end4) {
            EDGEML_DOT_2X2_ASM(EDGEML_DOT_2X2_STEP);
        }
        acc[0] = a00;
        acc[1] = a01;
        acc[2] = a10;
        acc[3] = a11;
        edgeml_dot_2x2_c(row, col, k, (int32_t)(end - col), acc);
        return;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* row . col over n values. */
EDGEML_DOT_INLINE int32_t edgeml_dot_1(const int8_t *row, const int8_t *col, int32_t n)
{
    int32_t acc = 0;
    const int8_t *const end4 = col + (n & ~3);
    const int8_t *const end = col + n;
    while (col < end4) {
        const int32_t x = edgeml_read_s8x4(col), w = edgeml_read_s8x4(row);
        acc = __smlad(__sxtb16(x), __sxtb16(w), acc);
        acc = __smlad(edgeml_sxtb16_ror8(x), edgeml_sxtb16_ror8(w), acc);
        col += 4;
        row += 4;
    }
    return acc + edgeml_dot_1_c(row, col, (int32_t)(end - col));
}

#else /* portable C */
#define EDGEML_DSP 0

EDGEML_DOT_INLINE void edgeml_dot_4rows(const int8_t *rows, const int8_t *col, int32_t k, int32_t acc[4])
{
    edgeml_dot_4rows_c(rows, k, col, k, acc);
}

EDGEML_DOT_INLINE void edgeml_dot_2x2(const int8_t *rows, const int8_t *cols, int32_t k, int32_t acc[4])
{
    edgeml_dot_2x2_c(rows, cols, k, k, acc);
}

EDGEML_DOT_INLINE int32_t edgeml_dot_1(const int8_t *row, const int8_t *col, int32_t n)
{
    return edgeml_dot_1_c(row, col, n);
}

#endif /* EDGEML_DSP */

#endif /* EDGEML_DOT_H */
