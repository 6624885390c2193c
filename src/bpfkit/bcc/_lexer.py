"""A C tokenizer for the BCC rewriter: exact text of every token, comments and directives kept.

Joining the ``text`` of all tokens gives the input back unchanged, so the
rewriter can replace token ranges and leave everything else (comments,
spacing, line breaks) as written; line numbers of the output stay those of
the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from ..errors import LexError

__all__ = ["Kind", "Token", "tokenize"]


class Kind(str, Enum):
    """Token kinds: only what the rewriter needs to tell apart."""

    WS = "ws"  # spaces, tabs, newlines, backslash-newlines
    COMMENT = "comment"
    DIRECTIVE = "directive"  # a whole preprocessor line, continuations included
    STRING = "string"
    CHAR = "char"
    NUMBER = "number"
    IDENT = "ident"
    PUNCT = "punct"


@dataclass(frozen=True)
class Token:
    """One token: kind, exact text, and the 1-based line where it starts."""

    kind: Kind
    text: str
    line: int


_PUNCT3 = ("<<=", ">>=", "...")
_PUNCT2 = ("->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "%=", "&=",
           "^=", "|=", "##")
_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER_RE = re.compile(r"\.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.'])*")
_WS_RE = re.compile(r"(?:[ \t\r\f\v\n]|\\\r?\n)+")


def _skip_quoted(text: str, i: int, quote: str, line: int) -> int:
    """Index just past the literal that starts with ``quote`` at ``i``."""
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            return j + 1
        if c == "\n":
            break
        j += 1
    what = "string literal" if quote == '"' else "character literal"
    raise LexError(f"unterminated {what} (a missing closing {quote})", line)


def _directive_end(text: str, i: int) -> int:
    """End of a preprocessor directive starting at ``i``: the newline not escaped by a backslash."""
    n = len(text)
    j = i
    while j < n:
        c = text[j]
        if c == "\\" and j + 1 < n and text[j + 1] == "\n":
            j += 2
            continue
        if c == "\\" and text[j + 1 : j + 3] == "\r\n":
            j += 3
            continue
        if c == "/" and text[j + 1 : j + 2] == "*":
            k = text.find("*/", j + 2)
            j = n if k < 0 else k + 2
            continue
        if c == "/" and text[j + 1 : j + 2] == "/":
            k = text.find("\n", j)
            return n if k < 0 else k
        if c in "\"'":
            try:
                j = _skip_quoted(text, j, c, 0)
            except LexError:
                j += 1  # a stray quote inside #error text and the like
            continue
        if c == "\n":
            return j
        j += 1
    return n


def tokenize(text: str) -> list[Token]:
    """Split C source into tokens whose texts concatenate back to ``text``."""
    out: list[Token] = []
    i = 0
    n = len(text)
    line = 1
    at_line_start = True
    while i < n:
        c = text[i]
        start = i
        if c in " \t\r\f\v\n\\":
            m = _WS_RE.match(text, i)
            if m is None:  # a lone backslash
                out.append(Token(Kind.PUNCT, c, line))
                i += 1
                at_line_start = False
                continue
            i = m.end()
            chunk = text[start:i]
            out.append(Token(Kind.WS, chunk, line))
            if "\n" in chunk.replace("\\\n", "").replace("\\\r\n", ""):
                at_line_start = True
            line += chunk.count("\n")
            continue
        if c == "/" and text.startswith("/*", i):
            k = text.find("*/", i + 2)
            if k < 0:
                raise LexError("unterminated /* comment", line)
            i = k + 2
        elif c == "/" and text.startswith("//", i):
            k = text.find("\n", i)
            i = n if k < 0 else k
            # a comment ending in a backslash continues on the next line
            while i < n and text[i - 1] == "\\":
                k = text.find("\n", i + 1)
                i = n if k < 0 else k
        elif c == "#" and at_line_start:
            i = _directive_end(text, i)
            out.append(Token(Kind.DIRECTIVE, text[start:i], line))
            line += text.count("\n", start, i)
            continue
        elif c in "\"'":
            i = _skip_quoted(text, i, c, line)
            out.append(Token(Kind.STRING if c == '"' else Kind.CHAR, text[start:i], line))
            at_line_start = False
            continue
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            m = _NUMBER_RE.match(text, i)
            assert m is not None
            i = m.end()
            out.append(Token(Kind.NUMBER, text[start:i], line))
            at_line_start = False
            continue
        elif c.isalpha() or c in "_$":
            m = _IDENT_RE.match(text, i)
            assert m is not None
            i = m.end()
            # string/char literal prefixes (L"..", u8"..") stay one token with their literal
            if i < n and text[i] in "\"'" and text[start:i] in ("L", "u", "U", "u8"):
                i = _skip_quoted(text, i, text[i], line)
                out.append(Token(Kind.STRING if text[i - 1] == '"' else Kind.CHAR, text[start:i], line))
            else:
                out.append(Token(Kind.IDENT, text[start:i], line))
            at_line_start = False
            continue
        else:
            for p in _PUNCT3 + _PUNCT2:
                if text.startswith(p, i):
                    i += len(p)
                    break
            else:
                i += 1
            out.append(Token(Kind.PUNCT, text[start:i], line))
            at_line_start = False
            continue
        # comments
        chunk = text[start:i]
        out.append(Token(Kind.COMMENT, chunk, line))
        line += chunk.count("\n")
    return out
