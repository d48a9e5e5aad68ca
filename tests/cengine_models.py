"""Tiny int8 models for the C engine tests, converted by the TFLite converter (seeded), and the three
references the engine is compared with: the tflite-micro interpreter, LiteRT BUILTIN_REF and the
engine built on the host."""

from __future__ import annotations

import numpy as np

from edgeml.tf_setup import load_tensorflow


class _Builds(dict):
    """(single_rounding, trace) -> HostEngine, each built on first use."""

    def __init__(self, built: "BuiltEngine") -> None:
        super().__init__()
        self.built = built

    def __missing__(self, key: tuple[bool, bool]):
        from firmware_export.cengine.host import BuildOptions, HostEngine, build_shared_library

        single, trace = key
        built = self.built
        library = build_shared_library(built.folder, built.folder / f"lib_{int(single)}{int(trace)}.so",
                                       BuildOptions(single_rounding=single, trace=trace))
        self[key] = HostEngine(library, built.symbol, built.input.element_count, built.output.element_count,
                               built.compiled.plan.arena_bytes)
        return self[key]


def convert_int8(model, representative: np.ndarray, per_channel_dense: bool | None = None) -> bytes:
    """Full-int8 conversion (int8 input and output) calibrated on ``representative``; Dense weights are
    quantized per channel or per tensor as ``per_channel_dense`` says (None: the converter's default,
    per channel in TF 2.21)."""
    tf = load_tensorflow()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if per_channel_dense is not None:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def calibration():
        for sample in representative:
            yield [sample[np.newaxis].astype(np.float32)]

    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return bytes(converter.convert())


class BuiltEngine:
    """A model compiled by the C engine and built on the host in both rounding modes (plus trace builds)."""

    def __init__(self, model: bytes, folder, symbol: str = "net") -> None:
        from firmware_export.cengine.generate import write_files, compile_model

        self.model = model
        self.compiled = compile_model(model, symbol)
        self.graph = self.compiled.graph
        self.folder = write_files(folder, self.compiled.files)[0].parent
        self.input = self.graph.tensor(self.graph.inputs[0])
        self.output = self.graph.tensor(self.graph.outputs[0])
        self.symbol = symbol
        self.engines = _Builds(self)

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.asarray(x, dtype=np.float64) / self.input.scale) + self.input.zero_point
        return np.clip(q, -128, 127).astype(np.int8).reshape(len(x), -1)

    def exactness(self, inputs: np.ndarray, single_rounding: bool):
        from firmware_export.cengine.exactness import Reference, compare

        reference = Reference.BUILTIN_REF if single_rounding else Reference.TFLM
        return compare(self.model, self.graph, self.engines[single_rounding, False], inputs, reference,
                       self.engines[single_rounding, True])
