"""The pseudonymiser: the HMACs it computes, objections, and its bounded memory."""
import hashlib
import hmac

import pytest

import pipelines.pseudonyms as pseudonyms
from pipelines.pseudonyms import PSEUDONYM_CHARS, Pseudonymiser
from pipelines.settings import ConfigurationError, duckdb_config, carnet_paths
from tests.conftest import make_nir


class Vault:
    """Salts by subject id, created on first sight, as the event log's vault does."""

    def __init__(self):
        self.salts: dict[str, str] = {}
        self.calls = 0

    def salts_for(self, candidates: dict[str, str]) -> dict[str, str]:
        self.calls += 1
        for subject, salt in candidates.items():
            self.salts.setdefault(subject, salt)
        return {s: self.salts[s] for s in candidates}


def assign(p: Pseudonymiser, nirs, vault: Vault, objected=frozenset()) -> tuple[dict[str, str], set[str]]:
    """The pseudonymiser's answer as {NIR: pseudonym}, checking it holds each NIR once."""
    lookup, refused = p.assign(nirs, vault.salts_for, objected)
    mapping = dict(lookup.iter_rows())
    assert len(mapping) == lookup.height and lookup.columns == ["patient_nir", "patient_pseudonym"]
    return mapping, refused


@pytest.mark.parametrize("key", [b"k" * 16, b"a-longer-operator-key-0123456789", b"x" * 100])
def test_subject_id_is_hmac_sha256_of_the_nir_whatever_the_key_length(key):
    nir = make_nir()
    assert Pseudonymiser(key).subject_id(nir) == hmac.new(key, nir.encode(), hashlib.sha256).hexdigest()


def test_pseudonym_is_the_salted_hmac_of_the_subject_id():
    vault, p, nir = Vault(), Pseudonymiser(b"k" * 16), make_nir()
    mapping, refused = assign(p, [nir, nir], vault)
    subject = p.subject_id(nir)
    expected = hmac.new(bytes.fromhex(vault.salts[subject]), subject.encode(), hashlib.sha256).hexdigest()
    assert mapping == {nir: expected[:PSEUDONYM_CHARS]} and refused == set()


def test_a_patient_who_objected_gets_no_pseudonym_and_no_salt_even_when_remembered():
    vault, p = Vault(), Pseudonymiser(b"k" * 16)
    alice, bob = make_nir("2900175056123"), make_nir("1850571076123")
    assign(p, [alice, bob], vault)           # both remembered by the process
    vault.salts.clear()
    mapping, refused = assign(p, [alice, bob], vault, {p.subject_id(alice)})
    assert refused == {alice} and set(mapping) == {bob}
    fresh = Pseudonymiser(b"k" * 16)
    mapping, refused = assign(fresh, [alice], vault, {fresh.subject_id(alice)})
    assert mapping == {} and refused == {alice} and fresh.subject_id(alice) not in vault.salts


def test_the_cache_is_bounded_and_forgetting_it_changes_no_pseudonym(monkeypatch):
    monkeypatch.setattr(pseudonyms, "CACHE_LIMIT", 3)
    vault, p = Vault(), Pseudonymiser(b"k" * 16)
    nirs = [make_nir(f"18505710761{i:02d}") for i in range(8)]
    first, _ = assign(p, nirs[:2], vault)
    second, _ = assign(p, nirs, vault)
    assert p._cache.height <= 3 and {n: second[n] for n in first} == first
    again, _ = assign(Pseudonymiser(b"k" * 16), nirs, vault)
    assert again == second


def test_a_full_cache_forgets_its_oldest_patients_first_and_asks_the_vault_again(monkeypatch):
    monkeypatch.setattr(pseudonyms, "CACHE_LIMIT", 4)
    vault, p = Vault(), Pseudonymiser(b"k" * 16)
    nirs = [make_nir(f"18505710761{i:02d}") for i in range(6)]
    first, _ = assign(p, nirs[:4], vault)      # full
    assign(p, nirs[4:5], vault)                # over the limit: the newest half is kept
    assert p._cache.get_column("patient_nir").to_list() == nirs[3:5]
    calls = vault.calls
    again, _ = assign(p, nirs[3:5], vault)     # remembered: no trip to the vault
    assert vault.calls == calls and again[nirs[3]] == first[nirs[3]]
    back, _ = assign(p, nirs[:1], vault)       # forgotten: the vault gives the same salt back
    assert vault.calls == calls + 1 and back == {nirs[0]: first[nirs[0]]}


# Logs created before the vault lost its PRIMARY KEY keep it: the same statements must serve both.
KEYED_VAULT = ("CREATE SCHEMA vault; CREATE TABLE vault.patient_keys (subject_id VARCHAR PRIMARY KEY, "
               "salt VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)")


@pytest.mark.parametrize("layout", ["unkeyed", "keyed"])
def test_the_vault_keeps_a_subjects_first_salt_and_returns_it_with_the_new_ones(tmp_path, layout):
    import duckdb

    from pipelines.eventlog.store import EventLog, connect

    if layout == "keyed":
        with duckdb.connect(str(tmp_path / "events.duckdb")) as old:
            old.execute(KEYED_VAULT)
    log = EventLog(connect(tmp_path / "events.duckdb"))
    try:
        keyed = log.conn.execute("SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'vault' "
                                 "AND table_name = 'patient_keys' AND constraint_type = 'PRIMARY KEY'").fetchone()[0]
        assert keyed == (layout == "keyed")
        assert log.vault.salts_for({"s1": "aa" * 16}) == {"s1": "aa" * 16}
        # s1 is stored: its first salt wins over the new candidate; s2 and s3 are new
        assert log.vault.salts_for({"s2": "bb" * 16, "s1": "cc" * 16, "s3": "dd" * 16}) == {
            "s1": "aa" * 16, "s2": "bb" * 16, "s3": "dd" * 16}
        assert log.vault.salts_for({"s3": "ee" * 16}) == {"s3": "dd" * 16}  # every candidate stored already
        assert log.conn.execute("SELECT subject_id, salt FROM vault.patient_keys ORDER BY 1").fetchall() == [
            ("s1", "aa" * 16), ("s2", "bb" * 16), ("s3", "dd" * 16)]
    finally:
        log.conn.close()


def test_duckdb_memory_limit_is_read_at_run_time_and_checked(tmp_path, monkeypatch):
    paths = carnet_paths(tmp_path)
    monkeypatch.setenv("CARNET_DUCKDB_MEMORY_LIMIT", "750MB")
    assert duckdb_config(paths) == {"memory_limit": "750MB", "temp_directory": str(tmp_path / "spill"),
                                    "block_allocator_memory": "357MiB"}  # half the ceiling, kept
    monkeypatch.setenv("CARNET_DUCKDB_MEMORY_LIMIT", "3 GiB")
    assert duckdb_config(paths)["block_allocator_memory"] == "1536MiB"
    monkeypatch.setenv("CARNET_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigurationError, match="CARNET_DUCKDB_MEMORY_LIMIT"):
        duckdb_config(paths)


def test_the_event_log_writer_runs_under_the_memory_limit(tmp_path, monkeypatch):
    from pipelines.resources import CarnetResource

    monkeypatch.setenv("CARNET_DUCKDB_MEMORY_LIMIT", "300MB")
    with CarnetResource(home=str(tmp_path)).event_log() as log:
        limit = log.conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        spill = log.conn.execute("SELECT current_setting('temp_directory')").fetchone()[0]
        kept = log.conn.execute("SELECT current_setting('block_allocator_memory')").fetchone()[0]
    assert limit in ("286.1 MiB", "300.0 MB") and spill == str(tmp_path / "spill") and kept == "143.0 MiB"
