"""Every pair of a class compared by fingerprints, the release's starter code and common code left out.

Each student's fragments (:mod:`.extract`) are tokenized and winnowed
(:mod:`.fingerprints`). Left out of every comparison:

* the *starter code*: every k-gram of the release (each ``mlp_core`` module,
  each notebook code cell), so that the signatures, docstrings and given
  lines every student has in common count for nothing, and two untouched
  releases share no fingerprint;
* *common code*: a fingerprint found in more than ``common`` submissions (by
  default :func:`default_common`), as MOSS does: the one obvious way to write
  a line, written by much of a large class, is no sign of copying.

A pair's ``shared`` is the number of fingerprints both students have; its
score is ``2 * shared / (n_a + n_b)`` (0: nothing in common, 1: the same
fingerprints), ``n`` being a student's fingerprint count. Pairs are found
through an index of fingerprint -> students, so a class costs in proportion
to the fingerprints two students share, not to the square of the class.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from .extract import Fragment, StudentCode
from .fingerprints import K, Token, kgram_hashes, normalised_tokens, winnow


@dataclass
class Document:
    """A student's fragments, their tokens and all their k-gram hashes (fragment by fragment), and the kept fingerprints."""

    student: str
    fragments: list[Fragment]
    tokens: list[list[Token]]
    hashes: list[list[int]]
    fingerprints: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Pair:
    """Two students (``a`` < ``b``), their shared fingerprints, the score and the share of each one's fingerprints."""

    a: str
    b: str
    shared: int
    score: float
    share_a: float
    share_b: float


@dataclass
class Comparison:
    documents: dict[str, Document]
    pairs: list[Pair]  # every pair sharing a fingerprint, highest score first
    excluded: set[int]  # the starter's k-grams and the common fingerprints
    given: dict[str, set[str]]  # fragment label -> the lines the release gave in it (never marked)
    common: int  # the limit used
    common_dropped: int  # how many fingerprints were common
    unread: dict[str, str]  # student -> why their submission was not compared
    notes: dict[str, list[str]]


def default_common(students: int) -> int:
    """Fingerprints found in more submissions than this are common code: 10, or a tenth of a larger class."""
    return max(10, math.ceil(students / 10))


def document(code: StudentCode, starter: set[int]) -> Document:
    """The tokens, k-gram hashes and winnowed fingerprints (without ``starter``'s) of a student's fragments."""
    doc = Document(code.student, code.fragments, [], [])
    for fragment in code.fragments:
        tokens = normalised_tokens(fragment.text)
        hashes = kgram_hashes(tokens)
        doc.tokens.append(tokens)
        doc.hashes.append(hashes)
        doc.fingerprints.update(h for h, _ in winnow(hashes) if h not in starter)
    return doc


def starter_kgrams(texts: list[str]) -> set[int]:
    """Every k-gram hash of the starter texts."""
    found: set[int] = set()
    for text in texts:
        found.update(kgram_hashes(normalised_tokens(text)))
    return found


def compare(codes: list[StudentCode], starter_texts: list[str], common: int | None = None,
            given: dict[str, set[str]] | None = None) -> Comparison:
    """Compare every pair of ``codes`` that could be read; see the module's docstring for what is left out.

    ``given``: :func:`given_lines` of the release's fragments, for the page's marks.
    """
    starter = starter_kgrams(starter_texts)
    readable = [c for c in codes if not c.problem]
    documents = {c.student: document(c, starter) for c in readable}
    limit = default_common(len(readable)) if common is None else common
    holders: dict[int, list[str]] = defaultdict(list)
    for student, doc in documents.items():
        for h in doc.fingerprints:
            holders[h].append(student)
    common_hashes = {h for h, students in holders.items() if len(students) > limit}
    for doc in documents.values():
        doc.fingerprints -= common_hashes
    shared: dict[tuple[str, str], int] = defaultdict(int)
    for h, students in holders.items():
        if h not in common_hashes:
            for a, b in combinations(sorted(students), 2):
                shared[a, b] += 1
    pairs = []
    for (a, b), n in shared.items():
        na, nb = len(documents[a].fingerprints), len(documents[b].fingerprints)
        pairs.append(Pair(a, b, n, 2 * n / (na + nb), n / na, n / nb))
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.a, p.b))
    return Comparison(documents, pairs, starter | common_hashes, given or {}, limit, len(common_hashes),
                      {c.student: c.problem for c in codes if c.problem},
                      {c.student: c.notes for c in codes if c.notes})


def given_lines(fragments: list[Fragment]) -> dict[str, set[str]]:
    """Label -> the lines (stripped) of the release's own fragment: its signature, docstring and given statements."""
    return {f.label: {line.strip() for line in f.text.splitlines() if line.strip()} for f in fragments}


def matched_spans(doc: Document, other: Document, excluded: set[int], given: dict[str, set[str]]
                  ) -> list[list[tuple[int, int]]]:
    """For each fragment of ``doc``: the character spans (merged, in order) of its code also in ``other``.

    A token is matched when a k-gram holding it is in both documents; every
    k-gram counts here, not only the winnowed ones, so the spans cover the
    whole shared runs. The ``excluded`` k-grams (starter and common) match
    nothing, and a token on a line the release gave (``given``, by the
    fragment's label) is never marked.
    """
    theirs = {h for hashes in other.hashes for h in hashes} - excluded
    spans_by_fragment = []
    for fragment, tokens, hashes in zip(doc.fragments, doc.tokens, doc.hashes):
        text, released = fragment.text, given.get(fragment.label, set())
        marked = [False] * len(tokens)
        for position, h in enumerate(hashes):
            if h in theirs:
                marked[position : position + K] = [True] * K
        spans: list[tuple[int, int]] = []
        previous = False
        for token, mark in zip(tokens, marked):
            if not text[token.start : token.end].strip():
                continue  # a line break: it neither starts nor ends a span
            line_start = text.rfind("\n", 0, token.start) + 1
            line_end = text.find("\n", token.start)
            now = mark and text[line_start : line_end if line_end >= 0 else len(text)].strip() not in released
            if now and previous:
                spans[-1] = (spans[-1][0], token.end)
            elif now:
                spans.append((token.start, token.end))
            previous = now
        spans_by_fragment.append(spans)
    return spans_by_fragment
