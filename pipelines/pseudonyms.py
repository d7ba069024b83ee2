"""Pseudonymisation at the edge: no raw NIR goes past the reader.

A pseudonym is HMAC(salt_p, HMAC(K, NIR)): the first HMAC (the *subject id*, keyed by the
operator's secret K) finds the patient's random salt in the key vault; the second gives the
pseudonym written in the log. Destroying one patient's salt makes every event of theirs
unlinkable to them without rewriting the log (crypto-shredding), which is how a patient's
objection is honoured.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable, Iterable

PSEUDONYM_CHARS = 32
CACHE_LIMIT = 1_000_000  # patients remembered by one process: two HMACs saved per returning patient


class Pseudonymiser:
    def __init__(self, key: bytes):
        # The keyed state is prepared once; each NIR then costs one copy and two compressions.
        self._subject_mac = hmac.new(key, digestmod=hashlib.sha256)
        self._cache: dict[str, tuple[str, str]] = {}  # NIR → (subject id, pseudonym), this process only

    def subject_id(self, nir: str) -> str:
        mac = self._subject_mac.copy()
        mac.update(nir.encode())
        return mac.hexdigest()

    @staticmethod
    def pseudonym(salt: str, subject_id: str) -> str:
        return hmac.new(bytes.fromhex(salt), subject_id.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]

    @staticmethod
    def new_salt() -> str:
        return secrets.token_hex(16)

    def assign(self, nirs: Iterable[str], salts_for: Callable[[dict[str, str]], dict[str, str]],
               objected: set[str] = frozenset()) -> tuple[dict[str, str], set[str]]:
        """(NIR → pseudonym, NIRs refused) for these NIRs. A patient whose subject id is in
        `objected` gets no pseudonym and no salt. `salts_for({subject_id: candidate_salt})` returns
        the vault's salts, creating the missing ones with the candidates (the vault lives in storage)."""
        known: dict[str, tuple[str, str]] = {}
        new: dict[str, str] = {}
        for nir in set(nirs):
            hit = self._cache.get(nir)
            if hit is None:
                new[nir] = self.subject_id(nir)
            else:
                known[nir] = hit
        refused = {n for n, (s, _) in known.items() if s in objected} | {n for n, s in new.items() if s in objected}
        new = {n: s for n, s in new.items() if n not in refused}
        if new:
            salts = salts_for({s: self.new_salt() for s in new.values()})
            fresh = {n: (s, self.pseudonym(salts[s], s)) for n, s in new.items()}
            if len(self._cache) + len(fresh) > CACHE_LIMIT:
                self._cache.clear()  # bounded memory; the vault remains the truth
            self._cache.update(fresh)
            known.update(fresh)
        return {n: p for n, (_, p) in known.items() if n not in refused}, refused

    def forget_cache(self) -> None:
        self._cache.clear()
