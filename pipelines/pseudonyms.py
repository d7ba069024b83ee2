"""Pseudonymisation at the edge: no raw NIR goes past the reader.

A pseudonym is HMAC(salt_p, HMAC(K, NIR)): the first HMAC (the *subject id*, keyed by the
operator's secret K) finds the patient's random salt in the key vault; the second gives the
pseudonym written in the log. Destroying one patient's salt makes every event of theirs
unlinkable to them without rewriting the log (crypto-shredding), which is how a patient's
objection will be honoured.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Callable, Iterable

PSEUDONYM_CHARS = 32


class Pseudonymiser:
    def __init__(self, key: bytes):
        self._key = key
        self._cache: dict[str, str] = {}  # NIR → pseudonym, for this process only

    def subject_id(self, nir: str) -> str:
        return hmac.new(self._key, nir.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def pseudonym(salt: str, subject_id: str) -> str:
        return hmac.new(bytes.fromhex(salt), subject_id.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]

    @staticmethod
    def new_salt() -> str:
        return secrets.token_hex(16)

    def pseudonyms(self, nirs: Iterable[str],
                   salts_for: Callable[[dict[str, str]], dict[str, str]]) -> dict[str, str]:
        """NIR → pseudonym. `salts_for({subject_id: candidate_salt})` returns the vault's salts
        (creating the missing ones with the candidates) — the vault lives in storage."""
        wanted = [n for n in set(nirs) if n not in self._cache]
        if wanted:
            subjects = {n: self.subject_id(n) for n in wanted}
            salts = salts_for({s: self.new_salt() for s in subjects.values()})
            for nir, subject in subjects.items():
                self._cache[nir] = self.pseudonym(salts[subject], subject)
        return {n: self._cache[n] for n in set(nirs)}

    def forget_cache(self) -> None:
        self._cache.clear()
