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
import os
from typing import Callable, Iterable

import polars as pl

PSEUDONYM_CHARS = 32
SALT_BYTES = 16
# Patients remembered by one process (~170 bytes each): a returning patient then costs no HMAC
# and no trip to the vault. Large enough for a department's patients; beyond it the oldest half goes.
CACHE_LIMIT = 2_000_000
KEY_FINGERPRINT_LABEL = b"carnet/pseudonymisation-key-fingerprint/v1"
NIR, SUBJECT, PSEUDONYM = "patient_nir", "subject_digest", "patient_pseudonym"
_CACHE_SCHEMA = {NIR: pl.Utf8, SUBJECT: pl.Binary, PSEUDONYM: pl.Utf8}


class Pseudonymiser:
    def __init__(self, key: bytes):
        self._key = key
        # The keyed state is prepared once; each NIR then costs one copy and two compressions.
        self._subject_mac = hmac.new(key, digestmod=hashlib.sha256)
        # NIR, subject id digest, pseudonym: this process only, oldest first. A frame, so that a
        # batch's patients are found by one join rather than one dictionary lookup each.
        self._cache = pl.DataFrame(schema=_CACHE_SCHEMA)
        # NIR → (subject id, candidate salt, pseudonym under that salt), computed by `prepare` off the
        # writer's path; `assign` takes them when the vault keeps the candidate (a new patient).
        self._prepared: dict[str, tuple[str, str, str]] = {}

    def fingerprint(self) -> str:
        """An HMAC of a fixed label under the key: tells keys apart, reveals nothing of the key."""
        return hmac.new(self._key, KEY_FINGERPRINT_LABEL, hashlib.sha256).hexdigest()

    def _subject_digest(self, nir: str) -> bytes:
        mac = self._subject_mac.copy()
        mac.update(nir.encode())
        return mac.digest()

    def subject_id(self, nir: str) -> str:
        return self._subject_digest(nir).hex()

    @staticmethod
    def pseudonym(salt: str, subject_id: str) -> str:
        # hmac.digest is OpenSSL's one-shot HMAC: half the cost of building an HMAC object per patient
        return hmac.digest(bytes.fromhex(salt), subject_id.encode(), "sha256").hex()[:PSEUDONYM_CHARS]

    def prepare(self, nirs: pl.Series) -> None:
        """Compute, ahead of the writer, the HMACs of the NIRs this process has not seen: subject id,
        and the pseudonym under a fresh candidate salt. Runs in the judging thread while the previous
        batch is stored; `assign` then costs a new patient no HMAC. Only the vault's answer (an
        existing salt) can make a candidate useless."""
        distinct = pl.Series(NIR, nirs, dtype=pl.Utf8).unique()
        unseen = distinct.to_frame().join(self._cache.select(NIR), on=NIR, how="anti").get_column(NIR).to_list()
        unseen = [n for n in unseen if n not in self._prepared]
        if not unseen:
            return
        pool, width = os.urandom(SALT_BYTES * len(unseen)).hex(), 2 * SALT_BYTES
        for i, nir in enumerate(unseen):
            subject, salt = self.subject_id(nir), pool[i * width:(i + 1) * width]
            self._prepared[nir] = (subject, salt, self.pseudonym(salt, subject))

    def assign(self, nirs: Iterable[str] | pl.Series, salts_for: Callable[[dict[str, str]], dict[str, str]],
               objected: set[str] = frozenset()) -> tuple[pl.DataFrame, set[str]]:
        """(frame of `patient_nir` → `patient_pseudonym`, NIRs refused) for these NIRs. A patient whose
        subject id is in `objected` gets no pseudonym and no salt. `salts_for({subject_id: candidate_salt})`
        returns the vault's salts, creating the missing ones with the candidates (the vault lives in storage)."""
        distinct = pl.Series(NIR, nirs, dtype=pl.Utf8).unique(maintain_order=True).to_frame()
        found = distinct.join(self._cache, on=NIR, how="left", maintain_order="left")
        remembered = found.filter(pl.col(SUBJECT).is_not_null())
        refused: set[str] = set()
        if objected and remembered.height:
            digests = pl.Series([bytes.fromhex(s) for s in objected], dtype=pl.Binary)
            objecting = pl.col(SUBJECT).is_in(digests.implode())
            refused.update(remembered.filter(objecting).get_column(NIR).to_list())
            remembered = remembered.filter(~objecting)
        new_nirs, prepared = [], []
        missing = [n for n in found.filter(pl.col(SUBJECT).is_null()).get_column(NIR).to_list()
                   if n not in self._prepared]
        if missing:
            self.prepare(pl.Series(NIR, missing, dtype=pl.Utf8))
        for nir in found.filter(pl.col(SUBJECT).is_null()).get_column(NIR).to_list():
            subject, salt, pseudonym = self._prepared.pop(nir)
            if subject in objected:
                refused.add(nir)
            else:
                new_nirs.append(nir)
                prepared.append((subject, salt, pseudonym))
        fresh = pl.DataFrame(schema=_CACHE_SCHEMA)
        if new_nirs:
            # the vault keeps an existing salt over the candidate: only then is an HMAC computed here
            salts = salts_for({subject: salt for subject, salt, _ in prepared})
            fresh = pl.DataFrame({NIR: new_nirs, SUBJECT: [bytes.fromhex(s) for s, _, _ in prepared],
                                  PSEUDONYM: [p if salts[s] == salt else self.pseudonym(salts[s], s)
                                              for s, salt, p in prepared]},
                                 schema=_CACHE_SCHEMA)
            self._remember(fresh)
        return pl.concat([remembered, fresh]).select(NIR, PSEUDONYM), refused

    def _remember(self, fresh: pl.DataFrame) -> None:
        cache = pl.concat([self._cache, fresh])
        if cache.height > CACHE_LIMIT:  # bounded memory; the vault remains the truth
            cache = cache.tail(max(CACHE_LIMIT // 2, min(fresh.height, CACHE_LIMIT)))
        self._cache = cache.rechunk() if cache.n_chunks() > 32 else cache

    def forget_cache(self) -> None:
        self._cache = self._cache.clear()
