"""Behaviour similarity: two students who got the same *wrong* value on a hidden check.

Each student's record holds a fingerprint of every value they produced (`grader.similar.outputs`).
A shared wrong value weighs by its rarity, log(N / how many students share it): the same value on
the same input variant (the value's hash), or the same way of being wrong on any variant (its
relation to the expected value). Right values weigh nothing. One bug fails several checks of a
test: a test counts once, by its rarest shared value. The pair's score is the weight they share
over the weight either holds alone, so a single shared common slip stays low and several shared
rare ones approach 1.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

RIGHT = "+"  # a right value, as grader.similar.outputs records it

_CHECK = re.compile(r"^(?P<test>.+?)(\[[^\]]*\])?#(?P<i>\d+)$")


@dataclass
class Shared:
    check: str  # "<test key>#<check>"
    relation: str  # how both values are wrong
    same_value: bool  # the very same value (same input variant)
    students: int  # how many in the class share it
    weight: float


Key = tuple[
    str, str, int | None, str
]  # ("h", check, variant, hash) or ("r", check, None, relation)


@dataclass
class BehaviourIndex:
    outputs: list[dict[str, str]]
    variants: list[int | None]
    weight_of: dict[Key, float]
    count_of: dict[Key, int]
    shared: np.ndarray  # students x students: the weight both hold, one value a test
    mass: np.ndarray  # students: the weight each holds alone, one value a test

    def similarity(self) -> np.ndarray:
        prior = math.log(max(len(self.outputs), 2))
        denom = self.mass[:, None] + self.mass[None, :] - self.shared + prior
        return np.clip(self.shared / denom, 0.0, 1.0)

    def evidence(self, a: int, b: int) -> list[Shared]:
        """The wrong values a and b share, one per test (its rarest), rarest first."""
        best: dict[str, Shared] = {}
        oa, ob = self.outputs[a], self.outputs[b]
        for check, va in oa.items():
            vb = ob.get(check)
            if vb is None or va == RIGHT or vb == RIGHT:
                continue
            ka, kb = keys(check, va, self.variants[a]), keys(check, vb, self.variants[b])
            for x, y in zip(ka, kb, strict=True):
                w = self.weight_of.get(x, 0.0)
                test = test_of(check)
                if x == y and w > 0 and (test not in best or w > best[test].weight):
                    relation = va.partition("|")[2]
                    same = ka[0] == kb[0]  # the very value, whichever made it rare
                    best[test] = Shared(check, relation, same, self.count_of[x], w)
        return sorted(best.values(), key=lambda s: -s.weight)


def test_of(check: str) -> str:
    """The test a check belongs to (its device instances are one test)."""
    m = _CHECK.match(check)
    return m.group("test") if m else check


def keys(check: str, value: str, variant: int | None) -> tuple[Key, Key]:
    h, _, r = value.partition("|")
    return ("h", check, variant, h), ("r", check, None, r)


def index_class(outputs: list[dict[str, str]], variants: list[int | None]) -> BehaviourIndex:
    n = len(outputs)
    holders: dict[Key, list[int]] = {}
    ran: dict[tuple[str, int | None], int] = {}  # students who ran a check, per variant and in all
    for s, mine in enumerate(outputs):
        for check, value in mine.items():
            for where in ((check, variants[s]), (check, None)):
                ran[where] = ran.get(where, 0) + 1
            if value != RIGHT:
                for key in keys(check, value, variants[s]):
                    holders.setdefault(key, []).append(s)
    weight_of = {
        key: math.log(max(ran.get((key[1], key[2]), 1), len(who)) / len(who))
        for key, who in holders.items()
    }
    by_test: dict[str, list[Key]] = {}
    for key in holders:
        by_test.setdefault(test_of(key[1]), []).append(key)
    shared = np.zeros((n, n))
    mass = np.zeros(n)
    for test_keys in by_test.values():
        best = np.zeros((n, n))
        own = np.zeros(n)
        for key in test_keys:
            idx = np.array(holders[key])
            w = weight_of[key]
            own[idx] = np.maximum(own[idx], w)
            if len(idx) >= 2:
                block = np.ix_(idx, idx)
                best[block] = np.maximum(best[block], w)
        shared += best
        mass += own
    np.fill_diagonal(shared, 0.0)
    counts = {key: len(who) for key, who in holders.items()}
    return BehaviourIndex(outputs, variants, weight_of, counts, shared, mass)
