"""C/C++ files for TensorFlow Lite Micro from a quantized model: ``edgeml export``.

Never imports TensorFlow: the model is read with ``edgeml.tflite_model`` and run with the tflite-micro
and LiteRT interpreters.
"""

from firmware_export.arena import ArenaMeasurement, arena_fits, measure_arena
from firmware_export.export import ExportConfig, ExportResult, export_firmware
from firmware_export.parity import KernelAgreement, ParityReport, compare_with_litert
from firmware_export.render import Lang

__all__ = [
    "ArenaMeasurement", "ExportConfig", "ExportResult", "KernelAgreement", "Lang", "ParityReport",
    "arena_fits", "compare_with_litert", "export_firmware", "measure_arena",
]
