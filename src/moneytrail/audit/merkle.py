"""The RFC 9162 Merkle tree (section 2.1): tree hashes, inclusion and consistency proofs.

Hashing, exactly as the RFC: a leaf is ``SHA-256(0x00 || data)``, an interior node is
``SHA-256(0x01 || left || right)``, the empty tree is ``SHA-256("")``, and a tree of n > 1
leaves splits at the largest power of two smaller than n (leaves are never duplicated).

- :func:`mth` computes MTH over leaf hashes level by level (no recursion: a 1M-leaf tree is
  one pass per level).
- :class:`Frontier` is the compact range of a growing tree (the hashes of the perfect
  subtrees along its right edge), so appending a leaf costs O(log n) and the root is a fold.
- :class:`Tree` generates PATH (inclusion) and PROOF (consistency) from the leaf hashes.
- :func:`verify_inclusion` and :func:`verify_consistency` follow RFC 9162 §2.1.3.2 and
  §2.1.4.2 step by step.

Edge-case policy (the RFC leaves it open; see docs/authority.md): an inclusion proof fails when
``index >= size``, when the leaf hash is not 32 bytes, or when the proof is longer or shorter than
the tree requires. A consistency proof fails when ``size2 < size1`` and whenever ``size1 == 0``
(every tree extends the empty tree, so such a "proof" proves nothing); with equal sizes it succeeds
exactly when the proof is empty and the two roots are the same bytes.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()
HASH_SIZE = 32


def leaf_hash(data: bytes) -> bytes:
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def mth(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaves' hashes, level by level.

    Pairing left to right and carrying an odd last node up unchanged gives the RFC's tree: the
    right edge of the RFC's split-at-the-largest-power-of-two tree is exactly the carried nodes.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    h = _sha256
    while len(level) > 1:
        nxt = [h(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class Frontier:
    """The compact range of a tree that grows at the right: one hash per set bit of its size.

    ``hashes[0]`` covers the largest perfect subtree on the left; appending a leaf merges the
    equal-sized subtrees at the right edge (as many merges as the new size has trailing zero
    bits), and the root is the right fold ``node(h0, node(h1, ... hk))``.
    """

    __slots__ = ("size", "hashes")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()):
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} holds {bin(size).count('1')} hashes, "
                             f"not {len(self.hashes)}")

    def append(self, lh: bytes) -> None:
        hs = self.hashes
        n = self.size + 1
        h = lh
        while not n & 1:
            h = _sha256(b"\x01" + hs.pop() + h).digest()
            n >>= 1
        hs.append(h)
        self.size += 1

    def root(self) -> bytes:
        hs = self.hashes
        if not hs:
            return EMPTY_ROOT
        r = hs[-1]
        for h in reversed(hs[:-1]):
            r = _sha256(b"\x01" + h + r).digest()
        return r

    def copy(self) -> "Frontier":
        return Frontier(self.size, self.hashes)


class Tree:
    """The leaf hashes of a tree with the hashes of its perfect subtrees, for generating proofs.

    ``levels[j][i]`` is the hash of leaves ``[i * 2^j, (i + 1) * 2^j)``; any other subtree the
    RFC's recursion meets is a right-edge remainder, computed from those in O(log n).
    """

    def __init__(self, leaf_hashes: Sequence[bytes]):
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        level = self.levels[0]
        h = _sha256
        while len(level) > 1:
            level = [h(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            self.levels.append(level)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi])."""
        n = hi - lo
        if n <= 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self.levels[n.bit_length() - 1][lo // n]
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size if size is None else size)

    def inclusion_path(self, m: int, size: int | None = None) -> list[bytes]:
        """PATH(m, D[size]) (RFC 9162 §2.1.3.1), bottom to top."""
        n = self.size if size is None else size
        if not 0 <= m < n <= self.size:
            raise ValueError(f"no leaf {m} in a tree of size {n}")
        out: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # walk down, collecting siblings top to bottom
            k = _split(hi - lo)
            if m - lo < k:
                out.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                out.append(self.subtree(lo, lo + k))
                lo = lo + k
        out.reverse()
        return out

    def consistency_proof(self, m: int, size: int | None = None) -> list[bytes]:
        """PROOF(m, D[size]) (RFC 9162 §2.1.4.1), bottom to top; 0 < m <= size."""
        n = self.size if size is None else size
        if not 0 < m <= n <= self.size:
            raise ValueError(f"no consistency proof from size {m} to size {n}")
        out: list[bytes] = []
        lo, hi, b = 0, n, True
        while True:
            if m == hi - lo:  # SUBPROOF(m, D[m], b)
                if not b:
                    out.append(self.subtree(lo, hi))
                break
            k = _split(hi - lo)
            if m <= k:
                out.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                out.append(self.subtree(lo, lo + k))
                lo, m, b = lo + k, m - k, False
        out.reverse()
        return out


def verify_inclusion(index: int, size: int, lh: bytes, proof: Sequence[bytes] | None,
                     root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf hash ``lh`` at ``index`` in the tree ``root``?"""
    proof = list(proof or [])
    if index >= size or index < 0 or len(lh) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, lh
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


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes] | None, root1: bytes,
                       root2: bytes) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (size2, root2) an append-only extension of (size1, root1)?"""
    proof = list(proof or [])
    if size1 <= 0 or size2 < size1:
        return False  # size 0 proves nothing: refused (policy in the module docstring)
    if size1 == size2:
        return not proof and root1 == root2
    if not proof:
        return False
    if size1 & (size1 - 1) == 0:  # first is an exact power of 2
        proof = [root1] + proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
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
    return fr == root1 and sr == root2 and sn == 0
