"""``--glm-sample N``: a seeded, stable choice of N cases per suite; ``--glm-shard K/N``: a
machine's share of every suite's cases.

Each case id gets a rank, the SHA-256 of ``"<seed>:<id>"``; the N lowest ranks run. The
rank depends on nothing but the seed and the id, so the choice does not move when rows are
added, removed or reordered: a new row enters only by outranking a chosen one, and then
replaces exactly that one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def rank(case_id: str, seed: int) -> bytes:
    return hashlib.sha256(f"{seed}:{case_id}".encode()).digest()


def sample_ids(case_ids: Iterable[str], n: int, seed: int = 0) -> set[str]:
    """The ``n`` ids (all when there are fewer) of lowest rank under ``seed``."""
    unique = dict.fromkeys(case_ids)
    return set(sorted(unique, key=lambda case_id: rank(case_id, seed))[:n])


def in_shard(suite: str, case_id: str, shard: int, shards: int) -> bool:
    """Whether the case belongs to shard ``shard`` (1-based) of ``shards``: by the SHA-256 of
    ``"<suite>:<id>"``, so a case stays in its shard as cases are added and every case is
    in exactly one shard."""
    digest = hashlib.sha256(f"{suite}:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % shards == shard - 1
