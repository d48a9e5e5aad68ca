"""The emulated Cortex-M boards edgeml builds firmware for: memory, compiler flags, SysTick clock.

Facts from QEMU 7.2's board models (hw/arm/mps2.c, hw/arm/microbit.c + nrf51_soc.c) as measured on Debian
12 (see /work/shared/EMULATION.md): the MPS2 boards put 4 MiB of SSRAM at 0x00000000 (used as flash) and
4 MiB at 0x20000000, and clock SysTick's processor source at 25 MHz; the micro:bit (nRF51822) has 256 KiB
of flash at 0x0, 16 KiB of RAM at 0x20000000 and a 16 MHz clock. Under ``-icount shift=0`` every guest
instruction advances virtual time by 1 ns, so one SysTick tick is 40 instructions on the MPS2 boards and
62.5 on the micro:bit: the resolution of every instruction count.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeml.errors import EdgeMLError

DEVICE_PREFIX = "qemu:"
KIB = 1024


@dataclass(frozen=True)
class Board:
    """One QEMU machine: ``machine`` is ``qemu-system-arm -M``'s name, ``cpu_flags`` the core's
    arm-none-eabi-gcc flags (``-mcpu``, ``-mfpu``, ``-mfloat-abi``), memories in bytes, ``systick_hz``
    the SysTick processor clock under QEMU."""

    core: str
    machine: str
    cpu_flags: tuple[str, ...]
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    systick_hz: int
    has_fpu: bool

    @property
    def device(self) -> str:
        return f"{DEVICE_PREFIX}{self.core}"

    @property
    def float_abi(self) -> str:
        """``hard``: float32 arithmetic on the core's FPU (M4/M7); ``soft``: libgcc's routines (M0/M3)."""
        return "hard" if self.has_fpu else "soft"

    @property
    def instructions_per_tick(self) -> float:
        """Instructions per SysTick tick under ``-icount shift=0`` (1 ns per instruction)."""
        return 1e9 / self.systick_hz

    def describe(self) -> str:
        return f"{self.device} ({self.machine}: {self.flash_bytes // KIB} KiB flash, {self.ram_bytes // KIB} KiB RAM)"


_MPS2 = dict(flash_origin=0x00000000, flash_bytes=4096 * KIB, ram_origin=0x20000000, ram_bytes=4096 * KIB,
             systick_hz=25_000_000)
BOARDS = {
    board.core: board for board in (
        Board("cortex-m0", "microbit", ("-mcpu=cortex-m0", "-mthumb", "-mfloat-abi=soft"), 0x00000000,
              256 * KIB, 0x20000000, 16 * KIB, 16_000_000, has_fpu=False),
        Board("cortex-m3", "mps2-an385", ("-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"), has_fpu=False, **_MPS2),
        Board("cortex-m4", "mps2-an386", ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
              has_fpu=True, **_MPS2),
        # Scheduled as for the Cortex-M4 (the same Armv7E-M instructions): GCC's Cortex-M7 tuning picks slightly
        # different instructions (+0.1% at -O2 on the default models, and a start-up code of another length,
        # which shifts SysTick's phase under every per-op count); QEMU counts instructions, not the M7's
        # dual-issue cycles, so both boards run, and count, the same code. For the same reason the float32
        # build uses the M4's FPv4-SP instructions (a subset of the M7's FPv5: no VSEL/VMAXNM selects).
        Board("cortex-m7", "mps2-an500", ("-mcpu=cortex-m7", "-mtune=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                          "-mfloat-abi=hard"), has_fpu=True, **_MPS2),
    )
}


def is_qemu_device(device: object) -> bool:
    """``qemu:<core>`` (any other value, a row's device description for one, is not)."""
    return isinstance(device, str) and device.startswith(DEVICE_PREFIX)


def board_for(device: str) -> Board:
    """The board of ``qemu:<core>``; EdgeMLError listing the choices for anything else."""
    core = device[len(DEVICE_PREFIX):] if device.startswith(DEVICE_PREFIX) else device
    if core not in BOARDS:
        choices = ", ".join(board.device for board in BOARDS.values())
        raise EdgeMLError(f"unknown emulated device {device!r}: choose one of {choices}")
    return BOARDS[core]
