"""``qemu:cortex-m0|m3|m4|m7``: edgeml's C engine on an emulated Cortex-M board (:mod:`edgeml.qemu_target`).

prepare: the boards' tools probed, the test samples loaded, and the models the C engine cannot compile
(float, Keras) set aside with their reason; run: every other model built into images and run under QEMU.
Without arm-none-eabi-gcc or qemu-system-arm each model's row says "not measured" and what to install,
rather than failing the benchmark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeml.errors import EdgeMLError
from edgeml.progress import show_progress
from edgeml.qemu_target import QemuOptions, missing_tools, not_measured_row, run_on_qemu
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
        self._models: list[Path] = []
        self._skipped: list[str] = []
        self._missing: str | None = None
        self._inputs: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    @classmethod
    def from_settings(cls, device: str, settings: BenchmarkSettings) -> QemuTarget:
        return cls(device, QemuOptions(max_samples=settings.test_samples))

    def prepare(self, job: MeasureJob) -> None:
        from firmware_export.cengine.generate import compile_model

        self._missing = missing_tools()
        for model in job.models:
            try:
                if model.suffix != ".tflite":
                    raise EdgeMLError("the C engine compiles .tflite models; convert it first")
                compile_model(model.read_bytes(), "model", str(model))
            except EdgeMLError as exc:
                self._skipped.append(f"{model.name} on {self.board.device}: {exc}")
                continue
            self._models.append(model)
        if self._models and self._missing is None:
            self._inputs, self._labels = load_test_samples(job.record, job.dataset, job.test_samples)

    def run(self) -> TargetOutcome:
        rows = []
        for index, model in enumerate(self._models):
            if self._missing is not None:
                rows.append(not_measured_row(model.name, self.board, self._missing))
                continue
            show_progress(index, len(self._models), f"{model.name} on {self.board.device}")
            rows.append(run_on_qemu(model, self.board, self._inputs, self._labels, self.options).to_row())
        show_progress(len(self._models), len(self._models), "done")
        return TargetOutcome(tuple(rows), tuple(self._skipped))
