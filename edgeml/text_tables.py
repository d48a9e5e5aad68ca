"""Tables of already formatted cells, laid out by ``tabulate``: the benchmark's printed and Markdown tables
(:mod:`edgeml.benchmark`, :mod:`edgeml.qemu_tables`) and the README tables of ``benchmarks/``."""

from __future__ import annotations

from typing import Sequence

from tabulate import tabulate


def aligned_table(cells: Sequence[Sequence[str]], headers: Sequence[str], style: str, text_columns: int) -> str:
    """``cells`` under ``headers`` by tabulate in ``style`` (``"plain"`` for a terminal, ``"pipe"`` for
    Markdown): the first ``text_columns`` left-aligned, the rest right-aligned; cells are never re-parsed as
    numbers; no trailing blanks.

    >>> print(aligned_table([["mlp", "1,234"], ["cnn", "5"]], ["model", "bytes"], "pipe", text_columns=1))
    | model   |   bytes |
    |:--------|--------:|
    | mlp     |   1,234 |
    | cnn     |       5 |
    """
    table = tabulate(cells, headers=headers, tablefmt=style, disable_numparse=True,
                     colalign=("left",) * text_columns + ("right",) * (len(headers) - text_columns))
    return "\n".join(line.rstrip() for line in table.splitlines())
