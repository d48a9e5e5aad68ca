"""The benchmark targets, chosen by the ``--device`` value's scheme; the one place they are listed.

Adding a target is one module with a :class:`~edgeml.targets.base.Target` subclass and one entry in
:data:`TARGETS` (after llm's plugin registry: the built-ins register the way a new one would).
"""

from __future__ import annotations

from typing import Sequence

from edgeml.errors import EdgeMLError
from edgeml.targets.base import BenchmarkSettings, Target
from edgeml.targets.local import LocalTarget
from edgeml.targets.qemu import QemuTarget
from edgeml.targets.ssh import SshTarget

TARGETS: tuple[type[Target], ...] = (LocalTarget, SshTarget, QemuTarget)
LOCAL = LocalTarget.scheme


def device_forms() -> tuple[str, ...]:
    """Every valid ``--device`` form, for help texts and errors."""
    return tuple(form for target in TARGETS for form in target.forms)


def target_class(device: str) -> type[Target]:
    """The target whose scheme ``device`` has; EdgeMLError listing the valid forms otherwise."""
    for target in TARGETS:
        if isinstance(device, str) and target.accepts(device):
            return target
    raise EdgeMLError(f"unknown device {device!r}: choose one of {', '.join(device_forms())}")


def open_target(device: str, settings: BenchmarkSettings) -> Target:
    """The target of ``device`` with its options from the flat benchmark options (EdgeMLError for an
    unknown scheme, a bad address or board, or a bad option)."""
    return target_class(device).from_settings(device, settings)


def devices_to_measure(devices: Sequence[str]) -> tuple[str, ...]:
    """``devices`` without repeats, remote ones first (an unreachable device fails before the host spends
    minutes), and ``local`` beside any ``ssh://`` device: a device's rows come with the host's, as
    ``--device ssh://...`` has always measured both."""
    chosen = tuple(dict.fromkeys(devices))
    if any(target_class(device).remote for device in chosen) and LOCAL not in chosen:
        chosen += (LOCAL,)
    return tuple(sorted(chosen, key=lambda device: not target_class(device).remote))
