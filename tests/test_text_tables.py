"""edgeml.text_tables: the one tabulate layout of the benchmark's and the qemu target's tables."""

from __future__ import annotations

import doctest

from edgeml import text_tables
from edgeml.text_tables import aligned_table


def test_plain_table_aligns_text_left_and_numbers_right_without_trailing_blanks():
    text = aligned_table([["qemu:cortex-m3", "model_int8.tflite", "8,327"], ["qemu:cortex-m4", "m", "12"]],
                         ["device", "model", "instr"], "plain", text_columns=2)
    assert text.splitlines() == ["device          model                instr",
                                 "qemu:cortex-m3  model_int8.tflite    8,327",
                                 "qemu:cortex-m4  m                       12"]


def test_cells_are_never_reparsed_as_numbers():
    """"1e3" and "007" stay as written (tabulate would print 1000 and 7 with number parsing on)."""
    assert aligned_table([["1e3", "007"]], ["a", "b"], "pipe", text_columns=0).splitlines()[2] == "| 1e3 | 007 |"


def test_module_doctests_pass():
    result = doctest.testmod(text_tables)
    assert result.attempted >= 1 and result.failed == 0
