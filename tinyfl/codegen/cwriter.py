"""Small helpers to write C99 text deterministically: arrays, checked identifiers, comments."""
from __future__ import annotations

import re
from typing import Iterable

C_KEYWORDS = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while _Bool _Complex _Imaginary""".split()
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class IdentifierError(ValueError):
    """A generated C identifier is invalid, reserved or duplicated."""


class Identifiers:
    """Hands out C identifiers and refuses invalid, reserved or duplicate ones."""

    def __init__(self, prefix: str = "tinyfl_") -> None:
        self.prefix = prefix
        self._used: set[str] = set()

    def new(self, name: str) -> str:
        check_identifier(name, self.prefix)
        if name in self._used:
            raise IdentifierError(f"duplicate C identifier {name!r}")
        self._used.add(name)
        return name


def check_identifier(name: str, prefix: str = "tinyfl_") -> str:
    if not _IDENT.match(name):
        raise IdentifierError(f"invalid C identifier {name!r}")
    if name in C_KEYWORDS:
        raise IdentifierError(f"C keyword used as identifier: {name!r}")
    if name.startswith("__") or (name.startswith("_") and name[1:2].isupper()):
        raise IdentifierError(f"reserved C identifier {name!r}")
    if not name.lower().startswith(prefix.lower()):
        raise IdentifierError(f"identifier {name!r} lacks the {prefix!r} prefix")
    if len(name) > 63:
        raise IdentifierError(f"identifier {name!r} longer than C99's 63 significant characters")
    return name


def comment_text(text: str) -> str:
    """Text safe inside /* */: printable ASCII, no comment terminators, no trigraphs."""
    clean = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return clean.replace("*/", "* /").replace("/*", "/ *").replace("??", "?-?")


def int_array(
    c_type: str, name: str, values: Iterable[int], *, per_line: int = 16, align: str = ""
) -> str:
    vals = [int(v) for v in values]
    if not vals:
        raise ValueError(f"empty array {name}")
    lines = []
    for i in range(0, len(vals), per_line):
        lines.append("    " + ", ".join(_c_int(v, c_type) for v in vals[i : i + per_line]) + ",")
    attr = f" {align}" if align else ""
    return f"static const {c_type} {name}[{len(vals)}]{attr} = {{\n" + "\n".join(lines) + "\n};\n"


def _c_int(v: int, c_type: str) -> str:
    if c_type == "int32_t" and v == -(1 << 31):
        return "INT32_MIN"  # -2147483648 is not a valid int literal in C
    return str(v)


def float_literal(x: float) -> str:
    """A float32 value as a C float literal that parses back to the same bits."""
    import numpy as np

    f = np.float32(x)
    if not np.isfinite(f):
        raise ValueError(f"non-finite float constant {x}")
    text = np.format_float_scientific(f, unique=True, precision=None)
    return f"{text}f"
