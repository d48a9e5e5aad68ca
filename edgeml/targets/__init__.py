"""Where a benchmark measures: one :class:`~edgeml.targets.base.Target` per ``--device`` scheme.

:mod:`.registry` picks the target for a device string (``local``, ``ssh://user@host[:port]``,
``qemu:cortex-m0|m3|m4|m7``); :mod:`.local`, :mod:`.ssh` and :mod:`.qemu` implement prepare, deploy, run
and clean up, each with its own options dataclass. :mod:`.model_set` (the models and test samples a target
measures) and :mod:`.results` (reading a results file) sit below all of them and below
:mod:`edgeml.benchmark`, :mod:`edgeml.device` and :mod:`edgeml.bundle`, so those never import each other
in a circle. This file imports nothing, so importing one of the lower modules stays light.
"""
