"""Names a generated C/C++ identifier must not take.

Written for edgeml from the C23 and C++23 keyword lists, plus the standard macros and typedefs a
firmware file is likely to have in scope, plus the names our own generated files and examples use.
A model called ``int``, ``NULL`` or ``interpreter`` would otherwise produce code that does not compile.
"""

from __future__ import annotations

C_KEYWORDS = frozenset({
    "alignas", "alignof", "auto", "bool", "break", "case", "char", "const", "constexpr", "continue",
    "default", "do", "double", "else", "enum", "extern", "false", "float", "for", "goto", "if", "inline",
    "int", "long", "nullptr", "register", "restrict", "return", "short", "signed", "sizeof", "static",
    "static_assert", "struct", "switch", "thread_local", "true", "typedef", "typeof", "typeof_unqual",
    "union", "unsigned", "void", "volatile", "while",
    "_Alignas", "_Alignof", "_Atomic", "_BitInt", "_Bool", "_Complex", "_Decimal128", "_Decimal32",
    "_Decimal64", "_Generic", "_Imaginary", "_Noreturn", "_Static_assert", "_Thread_local",
})

CPP_KEYWORDS = frozenset({
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case",
    "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval",
    "constexpr", "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype",
    "default", "delete", "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern",
    "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new",
    "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public",
    "register", "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
    "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true",
    "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "wchar_t", "while", "xor", "xor_eq",
    # Identifiers with a special meaning in some contexts; harmless mostly, confusing always.
    "final", "override", "import", "module",
})

# Macros and typedefs from the C standard library and the toolchains' common headers.
STANDARD_NAMES = frozenset({
    "NULL", "EOF", "BUFSIZ", "FILE", "errno", "assert", "offsetof", "complex", "imaginary", "noreturn",
    "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "intptr_t",
    "uintptr_t", "size_t", "ssize_t", "ptrdiff_t", "wint_t", "max_align_t",
    "stdin", "stdout", "stderr", "main", "abs", "div", "exit", "abort", "free", "malloc", "calloc",
    "realloc", "printf", "puts", "putchar", "memcpy", "memset", "memcmp", "strlen", "strcmp", "sin", "cos",
    "exp", "log", "pow", "sqrt", "round", "floor", "ceil", "time", "signal", "std",
    # Arduino core macros and globals.
    "setup", "loop", "Serial", "PROGMEM", "HIGH", "LOW", "INPUT", "OUTPUT", "PI", "DEC", "HEX", "BIN",
    "min", "max", "constrain", "radians", "degrees", "sq",
})

# Names the generated files and example programs use themselves.
GENERATED_NAMES = frozenset({
    "tflite", "TfLiteStatus", "TfLiteTensor", "kTfLiteOk", "kTfLiteError", "tensor_arena", "interpreter",
    "resolver", "flatbuffer_root", "static_interpreter", "example_raw_input", "input", "output", "top", "i",
    "argc", "argv",
})

RESERVED_WORDS = C_KEYWORDS | CPP_KEYWORDS | STANDARD_NAMES | GENERATED_NAMES
