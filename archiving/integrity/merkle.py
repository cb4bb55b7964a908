"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification (standard library only).

Why not a library: pymerkle (maintained, RFC 9162 hashing) keeps the whole tree in memory or SQLite.  Our leaves
live in manifests on Blob Storage and a proof must be computed in one streaming pass with bounded memory, and an
auditor must be able to check a proof with nothing but the standard library (docs/integrity.md shows the
verification functions of this module, which are self-contained).  tests/test_integrity.py checks this module
against the RFC's recursive definition.

Hashes (RFC 6962 section 2.1): leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), the empty
tree's root is SHA-256("").  A tree of n > 1 leaves splits at k, the largest power of two smaller than n.
Proofs are lists of node hashes, computed as in RFC 9162 section 2.1.3 (PATH) and 2.1.4 (SUBPROOF), and verified
with the algorithms of sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


class CompactRange:
    """The roots of the perfect subtrees of a growing tree (at most log2(n) hashes): append leaves, get the root
    of everything appended so far.  This is all the state the seal keeps between runs."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes: list[bytes] = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} has {bin(size).count('1')} hashes, not {len(self.hashes)}")

    def append(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        node = leaf
        size = self.size
        while size & 1:  # merge with the perfect subtrees of equal height on the right edge
            node = node_hash(self.hashes.pop(), node)
            size >>= 1
        self.hashes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        node = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root of a tree of these leaf hashes, streaming."""
    cr = CompactRange()
    for leaf in leaves:
        cr.append(leaf)
    return cr.root()


# -- proofs as ranges of leaves --------------------------------------------------------------------------
# Every node of a proof is the root of a subtree D[a:b]; the ranges of one proof are disjoint, so all of them
# can be computed in one pass over the leaves (hashes_of_ranges).


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PATH(index, D[0:size]), in proof order (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out: list[tuple[int, int]] = []

    def path(m: int, lo: int, hi: int) -> None:
        n = hi - lo
        if n == 1:
            return
        k = split(n)
        if m < k:
            path(m, lo, lo + k)
            out.append((lo + k, hi))
        else:
            path(m - k, lo + k, hi)
            out.append((lo, lo + k))

    path(index, 0, size)
    return out


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PROOF(old, D[0:new]) (RFC 9162 2.1.4.1); empty when old is 0 or new."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from {old} to {new}")
    if old == 0 or old == new:
        return []
    out: list[tuple[int, int]] = []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> None:
        n = hi - lo
        if m == n:
            if not complete:
                out.append((lo, hi))
            return
        k = split(n)
        if m <= k:
            subproof(m, lo, lo + k, complete)
            out.append((lo + k, hi))
        else:
            subproof(m - k, lo + k, hi, False)
            out.append((lo, lo + k))

    subproof(old, 0, new, True)
    return out


class RangeHasher:
    """Roots of disjoint leaf ranges, fed one leaf at a time (in one pass with other work); O(log n) memory."""

    def __init__(self, ranges: list[tuple[int, int]]):
        self.ranges = ranges
        self.order = sorted(range(len(ranges)), key=lambda i: ranges[i])
        self.results: list[bytes | None] = [None] * len(ranges)
        self.next = 0  # position in order
        self.count = 0
        self.cr: CompactRange | None = None

    def add(self, leaf: bytes) -> None:
        index = self.count
        self.count += 1
        if self.next >= len(self.order):
            return
        i = self.order[self.next]
        lo, hi = self.ranges[i]
        if index < lo:
            return
        if self.cr is None:
            self.cr = CompactRange()
        self.cr.append(leaf)
        if index + 1 == hi:
            self.results[i] = self.cr.root()
            self.cr = None
            self.next += 1

    def hashes(self) -> list[bytes]:
        missing = [self.ranges[i] for i, r in enumerate(self.results) if r is None]
        if missing:
            raise ValueError(f"the log ended after {self.count} leaves, before the ranges {missing[:3]}")
        return [r for r in self.results if r is not None]


class NestedRangeHasher:
    """Roots of many leaf ranges that are disjoint or nested (the nodes of several proofs of one tree), fed one
    leaf at a time; each leaf goes to the open ranges that contain it (one per level at most)."""

    def __init__(self, ranges: Iterable[tuple[int, int]]):
        self.pending = sorted(set(ranges), reverse=True)  # pop() gives the lowest start
        self.open: list[tuple[tuple[int, int], CompactRange]] = []
        self.results: dict[tuple[int, int], bytes] = {}
        self.count = 0

    def add(self, leaf: bytes) -> None:
        index = self.count
        self.count += 1
        while self.pending and self.pending[-1][0] == index:
            self.open.append((self.pending.pop(), CompactRange()))
        still = []
        for rng, cr in self.open:
            cr.append(leaf)
            if rng[1] == index + 1:
                self.results[rng] = cr.root()
            else:
                still.append((rng, cr))
        self.open = still


def hashes_of_ranges(leaves: Iterable[bytes], ranges: list[tuple[int, int]]) -> list[bytes]:
    """The root of each (disjoint) range of the leaf sequence, in the order given; one pass, O(log n) memory."""
    hasher = RangeHasher(ranges)
    for leaf in leaves:
        hasher.add(leaf)
    return hasher.hashes()


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2); standard library only --------------------------------


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """True if ``proof`` shows that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with ``root``."""
    if index >= size or index < 0:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, old_root: bytes, new_size: int, new_root: bytes, proof: list[bytes]) -> bool:
    """True if ``proof`` shows that the tree (new_size, new_root) extends the tree (old_size, old_root)."""
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
