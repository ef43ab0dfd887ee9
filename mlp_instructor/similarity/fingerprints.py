"""Python source as a stream of normalised tokens, and the winnowed fingerprints of that stream.

:func:`normalised_tokens` reads code with the standard library's
``tokenize`` (never ``ast`` or ``exec``: nothing of a student's text runs):

* comments, blank lines, indentation and the line breaks inside brackets are
  dropped, so comments and reformatting change nothing; a statement's end
  (a logical line break or ``;``) is one token ``;``;
* a name a student chooses (a variable, a parameter, a function or class of
  their own) becomes ``N``, so renaming changes nothing; keywords, builtins,
  attributes (``np.exp``: the ``exp``) and keyword arguments (``axis=``)
  keep their text, since renaming them would change what the code does;
* a string becomes ``S``; a number keeps its value (``1.`` and ``1.0`` alike).

Source that does not tokenize to the end (an unclosed bracket) gives the
tokens before the error. :func:`kgram_hashes` hashes every run of
:data:`K` consecutive tokens (a *k-gram*); :func:`winnow` keeps the smallest
hash of every window of :data:`WINDOW` consecutive k-grams (Schleimer, Wilkerson
and Aiken's winnowing, the algorithm behind MOSS): any run of at least
``K + WINDOW - 1`` tokens shared by two texts shares a kept hash.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import io
import keyword
import tokenize
from dataclasses import dataclass

#: Tokens per k-gram: a shared run shorter than this is noise (``return np.where(x > 0, 1.0, 0.0)`` is 15).
K = 10
#: K-grams per winnowing window: a shared run of K + WINDOW - 1 tokens or more is always found.
WINDOW = 5

_BUILTINS = frozenset(dir(builtins))
_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING,
            tokenize.ENDMARKER}


@dataclass(frozen=True)
class Token:
    """One normalised token: ``kind`` (what is compared), and ``start``/``end``, its character offsets in the text."""

    kind: str
    start: int
    end: int


def _raw_tokens(source: str) -> list[tokenize.TokenInfo]:
    """The tokens of ``source`` that carry meaning, up to the first tokenizing error (if any)."""
    found = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in _DROPPED or (tok.type == tokenize.ERRORTOKEN and not tok.string.strip()):
                continue
            found.append(tok)
    except (tokenize.TokenError, SyntaxError):  # IndentationError is a SyntaxError
        pass
    return found


def _number(text: str) -> str:
    try:
        return repr(ast.literal_eval(text))
    except (ValueError, SyntaxError):
        return text


def normalised_tokens(source: str) -> list[Token]:
    """The tokens of ``source`` as compared (see the module's docstring), each with its character span."""
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        row, col = position
        return line_starts[min(row, len(line_starts)) - 1] + col

    raw = _raw_tokens(source)
    tokens: list[Token] = []
    depth = 0
    for i, tok in enumerate(raw):
        text = tok.string
        if tok.type == tokenize.NAME:
            after_dot = i > 0 and raw[i - 1].string == "."
            keyword_argument = depth > 0 and i + 1 < len(raw) and raw[i + 1].string == "="
            kept = keyword.iskeyword(text) or text in _BUILTINS or after_dot or keyword_argument
            kind = text if kept else "N"
        elif tok.type == tokenize.NUMBER:
            kind = _number(text)
        elif tok.type == tokenize.STRING:
            kind = "S"
        elif tok.type == tokenize.NEWLINE or text == ";":
            if tokens and tokens[-1].kind == ";":
                continue
            kind = ";"
        else:
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}") and depth:
                depth -= 1
            kind = text
        tokens.append(Token(kind, offset(tok.start), offset(tok.end)))
    return tokens


def kgram_hashes(tokens: list[Token], k: int = K) -> list[int]:
    """The hash of every run of ``k`` consecutive tokens (``len(tokens) - k + 1`` of them; none if fewer)."""
    kinds = [t.kind for t in tokens]
    return [
        int.from_bytes(hashlib.blake2b("\x1f".join(kinds[i : i + k]).encode(), digest_size=8).digest(), "big")
        for i in range(len(kinds) - k + 1)
    ]


def winnow(hashes: list[int], window: int = WINDOW) -> list[tuple[int, int]]:
    """(hash, position) of the k-grams winnowing keeps: the rightmost smallest hash of each window.

    A sequence shorter than one window keeps its smallest hash. Each position
    is listed once, in increasing order.
    """
    if not hashes:
        return []
    if len(hashes) <= window:
        position = min(range(len(hashes)), key=lambda i: (hashes[i], -i))
        return [(hashes[position], position)]
    kept: list[tuple[int, int]] = []
    for start in range(len(hashes) - window + 1):
        position = min(range(start, start + window), key=lambda i: (hashes[i], -i))
        if not kept or kept[-1][1] != position:
            kept.append((hashes[position], position))
    return kept
