"""Bare-metal Cortex-M images around the C engine, run under QEMU (issue 13).

:mod:`.boards` is the board table; :mod:`.image` renders the startup, linker script and harness, builds
the image with arm-none-eabi-gcc and measures its flash and RAM; :mod:`.qemu` runs it and parses what the
harness prints.
"""
