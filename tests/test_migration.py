"""Upgrade in place: a log written in layout 1 (one table, JSON payloads) becomes the typed streams
with every event, id, head, salt, receipt, quarantine row and objection kept."""
import shutil

import duckdb
import pytest

from pipelines.eventlog.migration import OldLayout, layout_of
from pipelines.eventlog.store import connect
from pipelines.eventlog.streams import STREAMS
from tests.conftest import KEY, Home, fr_act, write_fr

CENTRE = "710000019"

# Layout 1 as carnet wrote it: the event table and its heads (the vault and the ledger are unchanged).
LAYOUT1_LOG = """
CREATE SCHEMA log;
CREATE TABLE log.events (
    event_id BIGINT NOT NULL, event_type VARCHAR NOT NULL, centre_id VARCHAR NOT NULL, business_key VARCHAR NOT NULL,
    payload JSON NOT NULL, payload_hash VARCHAR NOT NULL, occurred_at TIMESTAMP NOT NULL, recorded_at TIMESTAMP NOT NULL,
    source_file VARCHAR NOT NULL, source_sha256 VARCHAR NOT NULL, source_line INTEGER NOT NULL,
    contract_version VARCHAR NOT NULL, ingested_at TIMESTAMP NOT NULL);
CREATE TABLE log.heads (business_key VARCHAR NOT NULL, event_id BIGINT NOT NULL, recorded_at TIMESTAMP NOT NULL,
    payload_hash VARCHAR NOT NULL);
"""
# Layout 1's payloads: `json_object` of the fields, in this order, cast to these types; the hash was the
# SHA-256 of the JSON text.
_ACT = ("'act_id', act_id, 'feed', feed, 'occurred_at', occurred_at, 'site_code', site_code, "
        "'practitioner_rpps', practitioner_rpps, 'patient_pseudonym', patient_pseudonym, 'birth_year', birth_year, "
        "'sex', sex, 'residence_insee', residence_insee, 'act_code', act_code, 'amount_eur', amount_eur, "
        "'status', status, 'ald', ald")
LAYOUT1_PAYLOADS = {
    "acts": f"""CASE feed WHEN 'home_visits' THEN json_object({_ACT}, 'distance_km', distance_km)
                          WHEN 'teleconsultations' THEN json_object({_ACT}, 'mode', mode)
                          ELSE json_object({_ACT}) END""",
    "gp_declarations": "json_object('patient_pseudonym', patient_pseudonym, 'declared_on', declared_on, 'gp_rpps', "
                       "gp_rpps, 'previous_situation', previous_situation, 'ended_on', ended_on, 'ald', ald, "
                       "'birth_year', birth_year, 'sex', sex, 'residence_insee', residence_insee)",
    "costs": "json_object('month', month, 'line', line, 'amount_eur', amount_eur)",
}


def _write_layout1(source, target) -> None:
    """The log at `source` (layout 2) written again as layout 1 wrote it, at `target`."""
    conn = duckdb.connect(str(target))
    try:
        conn.execute(f"ATTACH '{source}' AS v2 (READ_ONLY)")
        conn.execute(LAYOUT1_LOG)
        for s in STREAMS:
            conn.execute(f"""
                INSERT INTO log.events
                SELECT event_id, event_type, centre_id, business_key, p, sha256(p::VARCHAR), occurred_at, recorded_at,
                       source_file, source_sha256, source_line, contract_version, ingested_at
                FROM (SELECT *, {LAYOUT1_PAYLOADS[s.name]} AS p FROM v2.{s.table})""")
        conn.execute("""
            INSERT INTO log.heads SELECT business_key, event_id, recorded_at, payload_hash FROM log.events
            QUALIFY row_number() OVER (PARTITION BY business_key ORDER BY recorded_at DESC, event_id DESC) = 1""")
        for schema in ("vault", "ingest"):
            conn.execute(f"CREATE SCHEMA {schema}")
            for (table,) in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'v2' "
                                         "AND schema_name = ?", [schema]).fetchall():
                conn.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM v2.{schema}.{table}")
    finally:
        conn.close()


def _everything(path) -> dict:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        out = {s.name: conn.execute(f"SELECT * FROM {s.table} ORDER BY event_id").fetchall() for s in STREAMS}
        for table in ("log.heads", "vault.patient_keys", "vault.key_fingerprint", "vault.objections",
                      "vault.excluded_pseudonyms", "ingest.receipts", "ingest.quarantine", "ingest.requeues"):
            out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        return out
    finally:
        conn.close()


@pytest.mark.slow  # generates, ingests and upgrades a log
def test_a_layout1_log_is_upgraded_in_place_keeping_everything(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main
    from pipelines.demo.generator import generate
    from pipelines.pseudonyms import Pseudonymiser

    new = Home(tmp_path / "new")
    generate(new.inbox, seed=3, scale=0.005)
    write_fr(new.inbox, f"{CENTRE}__consultations__20250105T020000.csv", [fr_act("Z1"), fr_act("Z2")])
    new.ingest()
    objector = new.conn.execute("SELECT subject_id FROM vault.patient_keys ORDER BY 1 LIMIT 1").fetchone()[0]
    new.log.vault.record_objection(objector, Pseudonymiser.pseudonym)
    new.conn.execute("CHECKPOINT")
    new.conn.close()
    expected = _everything(new.root / "events.duckdb")
    assert all(expected[s.name] for s in STREAMS) and expected["vault.objections"] and expected["ingest.quarantine"]

    old = tmp_path / "old"
    old.mkdir()
    _write_layout1(new.root / "events.duckdb", old / "events.duckdb")
    shutil.copytree(new.inbox, old / "inbox")

    # any command that finds the old log says what to do, in one line, and stops
    with pytest.raises(OldLayout, match="carnet migrate"):
        connect(old / "events.duckdb")
    monkeypatch.setenv("CARNET_HOME", str(old))
    monkeypatch.setenv("CARNET_PSEUDONYMISATION_KEY", KEY.decode())
    capsys.readouterr()
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "run `carnet migrate` once" in err

    assert main(["migrate"]) == 0
    assert "upgraded from layout 1 to 2" in capsys.readouterr().out
    with duckdb.connect(str(old / "events.duckdb"), read_only=True) as conn:
        assert layout_of(conn) == 2
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'events%'").fetchone() == (0,)
    got = _everything(old / "events.duckdb")
    assert got == expected  # ids, hashes (recomputed from the typed columns), heads, vault, ledger
    assert main(["migrate"]) == 0 and "nothing to do" in capsys.readouterr().out

    # the upgraded log goes on: the inbox is a no-op, a re-sent row a duplicate, a changed row a version
    h = Home(old)
    assert h.ingest() == []
    write_fr(h.inbox, f"{CENTRE}__consultations__20250106T020000.csv", [fr_act("Z1"), fr_act("Z2", statut="annulé", montant="0")])
    [receipt] = h.ingest()
    assert (receipt.rows_appended, receipt.rows_duplicate) == (1, 1)
    h.conn.close()
