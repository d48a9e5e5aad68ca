"""Small pure functions that turn Python values into C source text.

Everything here returns a string and touches no files; whole files are templates in ``templates/``.
The examples below run as doctests in ``tests/test_firmware_export.py``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Iterable

from edgeml.errors import EdgeMLError
from firmware_export.reserved import RESERVED_WORDS

# Macros get suffixes such as _TENSOR_ARENA_MEASURED_SIZE (27 characters); C99 promises 63 significant
# characters in a macro or internal name, so a symbol keeps 36 and every derived name stays under that.
MAX_IDENTIFIER_LENGTH = 36
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
_VALID_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_SECTION_NAME = re.compile(r"[A-Za-z0-9_.$]+\Z")
_HEX_BYTES = tuple(f"0x{value:02x}" for value in range(256))


def c_identifier(name: str, option: str = "--name") -> str:
    """Turn any name into a valid, non-reserved C and C++ identifier.

    Accents are dropped, other characters become ``_``, leading underscores go (``_X`` and ``__`` are
    reserved for the implementation), a leading digit gets a ``model_`` prefix and a reserved word a
    ``_model`` suffix. Only a name with no letter or digit at all is an error.

    >>> c_identifier("my-model v2")
    'my_model_v2'
    >>> c_identifier("3d_net")
    'model_3d_net'
    >>> c_identifier("int"), c_identifier("NULL"), c_identifier("__init__"), c_identifier("tflite")
    ('int_model', 'NULL_model', 'init', 'tflite_model')
    >>> c_identifier("Modèle")
    'Modele'
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    identifier = _NOT_IDENTIFIER.sub("_", ascii_name)
    identifier = re.sub(r"_+", "_", identifier).strip("_")
    if not identifier:
        raise EdgeMLError(f"{option} {name!r} has no letters or digits to make a C identifier from")
    if identifier[0].isdigit():
        identifier = f"model_{identifier}"
    identifier = identifier[:MAX_IDENTIFIER_LENGTH].rstrip("_")
    while identifier in RESERVED_WORDS or identifier.upper() in RESERVED_WORDS:  # e.g. tflite -> tflite_model
        identifier = f"{identifier}_model"
    assert _VALID_IDENTIFIER.match(identifier), identifier
    return identifier


def macro_prefix(identifier: str) -> str:
    """The prefix of the identifier's macros.

    >>> macro_prefix("digits_mlp")
    'DIGITS_MLP'
    """
    return identifier.upper()


def camel_case(identifier: str) -> str:
    """A C++ type name from an identifier.

    >>> camel_case("digits_mlp"), camel_case("model_3d")
    ('DigitsMlp', 'Model3d')
    """
    return "".join(part[:1].upper() + part[1:] for part in identifier.split("_") if part)


def section_attribute(section: str) -> str:
    """The GCC/Clang attribute that puts an object in a linker section; the name is checked, not escaped.

    >>> section_attribute(".rodata.model")
    '__attribute__((section(".rodata.model")))'
    """
    if not _SECTION_NAME.match(section):
        raise EdgeMLError(
            f"--section {section!r} is not a linker section name (letters, digits, '_', '.' and '$' only)"
        )
    return f'__attribute__((section("{section}")))'


def c_string_literal(text: str) -> str:
    """A C string literal with the same UTF-8 bytes as ``text``, safe in C and C++.

    Non-ASCII bytes become octal escapes (hex escapes would swallow a following hex digit) and a ``?``
    after another ``?`` is escaped so that no trigraph (``??/`` and friends) forms.

    >>> print(c_string_literal('say "hi"?? \\\\ né'))
    "say \\"hi\\"?\\? \\\\ n\\303\\251"
    """
    pieces = []
    raw = text.encode("utf-8")
    for index, byte in enumerate(raw):
        char = chr(byte)
        if char in '"\\':
            pieces.append("\\" + char)
        elif char == "?" and index > 0 and raw[index - 1] == ord("?"):
            pieces.append("\\?")
        elif char == "\n":
            pieces.append("\\n")
        elif 32 <= byte < 127:
            pieces.append(char)
        else:
            pieces.append(f"\\{byte:03o}")
    return '"' + "".join(pieces) + '"'


def c_float_literal(value: float) -> str:
    """A ``float`` literal that reads back as the same float32.

    >>> c_float_literal(0.003921568859368563), c_float_literal(3.0), c_float_literal(-1e-05)
    ('0.003921569f', '3.0f', '-1e-05f')
    """
    if not math.isfinite(value):
        raise EdgeMLError(f"cannot write {value} as a C float constant")
    import numpy as np

    text = str(np.float32(value))  # numpy prints the shortest text that reads back as this float32
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def c_int_literal(value: int) -> str:
    """An integer constant safe inside macros (negative numbers get parentheses).

    >>> c_int_literal(-128), c_int_literal(7)
    ('(-128)', '7')
    """
    return f"({value})" if value < 0 else str(value)


def c_initializer(values: Iterable[object]) -> str:
    """A brace initialiser on one line.

    >>> c_initializer([1, 8, 8, 1])
    '{1, 8, 8, 1}'
    """
    return "{" + ", ".join(str(value) for value in values) + "}"


def hex_array_body(data: bytes, bytes_per_line: int = 12, indent: str = "  ") -> str:
    """The inside of a byte-array initialiser: fixed-width hex, ``bytes_per_line`` per line.

    >>> print(hex_array_body(bytes(range(5)), bytes_per_line=4))
      0x00, 0x01, 0x02, 0x03,
      0x04
    """
    lines = [
        indent + ", ".join(_HEX_BYTES[byte] for byte in data[start:start + bytes_per_line])
        for start in range(0, len(data), bytes_per_line)
    ]
    return ",\n".join(lines)


def comment_text(text: str) -> str:
    """Text that is safe inside a one-line ``/* */`` comment in C and C++.

    >>> comment_text("a */ b\\nc ??/ é")
    'a * / b c ?\\\\?/ \\\\xe9'
    """
    text = " ".join(text.split())
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text.replace("*/", "* /").replace("/*", "/ *").replace("??", "?\\?")


def block_comment(lines: Iterable[str]) -> str:
    """A ``/* */`` comment of several lines, each made safe with :func:`comment_text`.

    >>> print(block_comment(["one", "two */"]))
    /* one
     * two * /
     */
    """
    body = [comment_text(line) for line in lines]
    return "\n".join([f"/* {body[0]}"] + [f" * {line}".rstrip() for line in body[1:]] + [" */"])
