"""``qemu:cortex-m0|m3|m4|m7``: edgeml's C engine on an emulated Cortex-M board (:mod:`edgeml.qemu_target`).

prepare: the boards' tools probed, the test samples loaded, the ``.tflite`` models compiled once by the C
engine (the float32 build for a float32 model, issue 15; a model it cannot compile is set aside with its
reason); a Keras model is not sent to the board at all (the C engine compiles ``.tflite`` files; it is
named as skipped only when nothing else was given). run: every model built into images and run under QEMU,
each run's float32 model before its int8 one, and the int8 model on the float32 model's samples: float
samples take 4 bytes per value, so fewer may fit the board's flash, and both accuracies are then on the
same samples. A model too large for the board is a "not measured" row saying by how much; without
arm-none-eabi-gcc or qemu-system-arm each row says "not measured" and what to install, rather than
failing the benchmark.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.progress import show_progress
from edgeml.qemu_target import QemuOptions, is_float_model, missing_tools, not_measured, run_on_qemu
from edgeml.targets.base import BenchmarkSettings, MeasureJob, Target, TargetOutcome
from edgeml.targets.model_set import load_test_samples
from firmware_export.mcu.boards import BOARDS, DEVICE_PREFIX, board_for


class QemuTarget(Target):
    scheme = DEVICE_PREFIX
    forms = tuple(board.device for board in BOARDS.values())
    only_runtimes = ("c",)

    def __init__(self, device: str, options: QemuOptions = QemuOptions()) -> None:
        super().__init__(device)
        self.board = board_for(device)  # an unknown board fails here, before anything is built
        self.options = options
        self._models: list[tuple[Path, bool]] = []  # (model, is float32), each run's float32 model first
        self._skipped: list[str] = []
        self._missing: str | None = None
        self._inputs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    @classmethod
    def from_settings(cls, device: str, settings: BenchmarkSettings) -> QemuTarget:
        return cls(device, QemuOptions(max_samples=settings.test_samples))

    def prepare(self, job: MeasureJob) -> None:
        from edgeml.graph import read_graph_bytes
        from firmware_export.cengine.float_generate import compile_float_model
        from firmware_export.cengine.generate import compile_model

        self._missing = missing_tools()
        tflite = [model for model in job.models if model.suffix == ".tflite"]
        if not tflite:
            self._skipped += [f"{model.name} on {self.board.device}: the C engine compiles .tflite models; "
                              "convert it first" for model in job.models]
        for model in tflite:
            try:
                content = model.read_bytes()
                float32 = is_float_model(read_graph_bytes(content, str(model)))
                (compile_float_model if float32 else compile_model)(content, "model", str(model))
            except EdgeMLError as exc:
                self._skipped.append(f"{model.name} on {self.board.device}: {exc}")
                continue
            self._models.append((model, float32))
        self._models.sort(key=lambda entry: (str(entry[0].parent), not entry[1]))
        if self._models and self._missing is None:
            self._inputs, self._labels = load_test_samples(job.record, job.dataset, job.test_samples)

    def run(self) -> TargetOutcome:
        from firmware_export.mcu.image import ImageTooLarge

        rows = []
        float_samples: dict[Path, int] = {}  # run folder -> samples its float32 model ran on
        for index, (model, float32) in enumerate(self._models):
            if self._missing is not None:
                rows.append(not_measured(model.name, self.board, self._missing))
                continue
            show_progress(index, len(self._models), f"{model.name} on {self.board.device}")
            options = self.options
            if not float32 and model.parent in float_samples:
                options = replace(options, max_samples=float_samples[model.parent])
            try:
                result = run_on_qemu(model, self.board, self._inputs, self._labels, options)
            except ImageTooLarge as exc:
                rows.append(not_measured(model.name, self.board, str(exc)))
                continue
            if float32:
                float_samples[model.parent] = result.samples
            rows.append(result.to_measurement())
        show_progress(len(self._models), len(self._models), "done")
        return TargetOutcome(tuple(rows), tuple(self._skipped))
