/*
 * edgeml C engine: the index arithmetic of convolution and pooling windows, shared by the int8 kernels
 * (edgeml_engine.h) and the float32 kernels (edgeml_float.h); both builds ship this file. C99, <stdint.h> only.
 *
 * Copyright 2026 the edgeml authors. Licensed under the Apache License, Version 2.0
 * (http://www.apache.org/licenses/LICENSE-2.0). The geometry is TensorFlow Lite's reference kernels'
 * (Copyright The TensorFlow Authors, Apache License 2.0): in_x_origin = out_x * stride - pad and the window
 * clipped to the input, tensorflow/lite/kernels/internal/reference/{conv,depthwiseconv_float,pooling}.h and
 * .../reference/integer_ops/{conv,depthwise_conv,pooling}.h at tflite-micro 90b983c2. This is edgeml's own code.
 */
#ifndef EDGEML_GEOMETRY_H
#define EDGEML_GEOMETRY_H

#include <stdint.h>

/* The shape of a CONV_2D / DEPTHWISE_CONV_2D on NHWC data, the first fields of both builds' conv parameters
   (edgeml_conv_params, edgeml_float_conv_params), in the order the generators write them (lower.conv_geometry). */
#define EDGEML_CONV_GEOMETRY_FIELDS                                                                              \
    int32_t batches, input_h, input_w, input_c;                                                                 \
    int32_t output_h, output_w, output_c;                                                                       \
    int32_t filter_h, filter_w;                                                                                 \
    int32_t stride_h, stride_w, dilation_h, dilation_w;                                                         \
    int32_t pad_top, pad_left;

/* The shape of a MAX_POOL_2D / AVERAGE_POOL_2D on NHWC data, the first fields of both builds' pool parameters
   (edgeml_pool_params, edgeml_float_pool_params). */
#define EDGEML_POOL_GEOMETRY_FIELDS                                                                              \
    int32_t batches, input_h, input_w, channels;                                                                \
    int32_t output_h, output_w;                                                                                 \
    int32_t filter_h, filter_w, stride_h, stride_w;                                                             \
    int32_t pad_top, pad_left;

/* to's conv geometry (either build's parameters) = from's, for the 1 x count output pixels of one batch that
   start at (conv_y, conv_x): the window is moved onto them by shifting the padding, so an unfused kernel
   computes them (the fused conv + pool kernels, edgeml_conv_pool.c and edgeml_float_conv_pool.c). Field by
   field: a struct assignment would become a memcpy call on Cortex-M. */
#define EDGEML_CONV_GEOMETRY_AT(to, from, conv_y, conv_x, count)                                                 \
    do {                                                                                                        \
        (to).batches = 1;                                                                                       \
        (to).input_h = (from)->input_h;                                                                         \
        (to).input_w = (from)->input_w;                                                                         \
        (to).input_c = (from)->input_c;                                                                         \
        (to).output_h = 1;                                                                                      \
        (to).output_w = (count);                                                                                \
        (to).output_c = (from)->output_c;                                                                       \
        (to).filter_h = (from)->filter_h;                                                                       \
        (to).filter_w = (from)->filter_w;                                                                       \
        (to).stride_h = (from)->stride_h;                                                                       \
        (to).stride_w = (from)->stride_w;                                                                       \
        (to).dilation_h = (from)->dilation_h;                                                                   \
        (to).dilation_w = (from)->dilation_w;                                                                   \
        (to).pad_top = (from)->pad_top - (conv_y) * (from)->stride_h;                                           \
        (to).pad_left = (from)->pad_left - (conv_x) * (from)->stride_w;                                         \
    } while (0)

/* The input coordinate under the first tap of output coordinate `out`: TFLite's in_x_origin / in_y_origin
   (negative inside the padding). */
static inline int32_t edgeml_window_origin(int32_t out, int32_t stride, int32_t pad)
{
    return out * stride - pad;
}

/* The taps [*start, *end) of a filter of `taps` taps, `dilation` apart from `origin`, that land inside
   [0, size): the taps the reference kernels skip one by one as padding are cut from the loops' ranges. */
static inline void edgeml_tap_range(int32_t origin, int32_t dilation, int32_t taps, int32_t size, int32_t *start,
                                    int32_t *end)
{
    int32_t first = 0, last = taps;
    while (first < last && origin + dilation * first < 0) {
        ++first;
    }
    while (last > first && origin + dilation * (last - 1) >= size) {
        --last;
    }
    *start = first;
    *end = last;
}

/* The part [*start, *end) of a pool window of `filter` taps from `origin` that lies inside [0, size): TFLite's
   filter_x_start / filter_x_end (padding is never pooled). */
static inline void edgeml_pool_window(int32_t origin, int32_t filter, int32_t size, int32_t *start, int32_t *end)
{
    *start = origin < 0 ? -origin : 0;
    *end = size - origin < filter ? size - origin : filter;
}

#endif /* EDGEML_GEOMETRY_H */
