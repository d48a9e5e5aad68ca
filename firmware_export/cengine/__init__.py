"""The interpreter-free C engine: an int8 ``.tflite`` compiled to standalone C99 (issue 12)."""

from firmware_export.cengine.generate import CEngineConfig, CEngineResult, compile_model, export_c_engine

__all__ = ["CEngineConfig", "CEngineResult", "compile_model", "export_c_engine"]
