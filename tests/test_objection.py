"""The right to object: a patient disappears from the marts from the next refresh on, their
events become unlinkable to them, later exports of theirs are refused, nobody else changes."""
import io

import duckdb

from pipelines.cli import main
from pipelines.eventlog.store import connect
from pipelines.projections.sqlmesh_project import refresh
from pipelines.settings import carnet_paths
from tests.conftest import DECL_HEADER_FR, KEY, fr_act, make_nir, write_fr

CHALON = "710000019"
ALICE, BOB = make_nir("2850571076001"), make_nir("1900571076002")


def _decl(nir):
    return ";".join([nir, "01/03/2024", "10001234567", "sans_medecin_traitant", "", "N", "1985", "F", "71076"])


def _marts(warehouse):
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return (conn.execute("SELECT sum(acts_completed), sum(patients) FROM marts.activity_monthly").fetchone(),
                conn.execute("SELECT sum(newly_reattached) FROM marts.gp_reattachment_monthly").fetchone()[0])
    finally:
        conn.close()


def test_an_objecting_patient_disappears_and_becomes_unlinkable(home, monkeypatch, capsys):
    write_fr(home.inbox, f"{CHALON}__consultations__20240306T020000.csv",
             [fr_act(f"A{i}", nir=ALICE) for i in range(3)] + [fr_act(f"B{i}", nir=BOB) for i in range(2)])
    write_fr(home.inbox, f"{CHALON}__gp_declarations__20240306T020000.csv", [_decl(ALICE), _decl(BOB)],
             header=DECL_HEADER_FR)
    home.ingest()
    events_before = home.q("SELECT event_id, payload_hash FROM log.events ORDER BY 1")
    home.conn.close()
    paths = carnet_paths(home.root)
    assert _marts(refresh(paths).warehouse) == ((5, 2), 2)

    monkeypatch.setenv("CARNET_HOME", str(home.root))
    monkeypatch.setenv("CARNET_PSEUDONYMISATION_KEY", KEY.decode())
    monkeypatch.setattr("sys.stdin", io.StringIO(ALICE + "\n"))
    assert main(["object"]) == 0
    assert "1 objection(s) recorded" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("123\n"))
    assert main(["object"]) == 2  # not a NIR: refused, nothing recorded

    result = refresh(paths)
    assert result.mode == "full" and _marts(result.warehouse) == ((2, 1), 1)

    home.reopen()
    assert home.q("SELECT event_id, payload_hash FROM log.events ORDER BY 1") == events_before  # history kept
    assert home.q("SELECT count(*) FROM vault.patient_keys") == [(1,)]  # Alice's salt is gone
    assert home.pseudonymiser.subject_id(ALICE) not in {s for (s,) in home.q("SELECT subject_id FROM vault.patient_keys")}

    write_fr(home.inbox, f"{CHALON}__consultations__20240406T020000.csv", [fr_act("A9", nir=ALICE), fr_act("B9", nir=BOB)])
    home.pseudonymiser.forget_cache()
    [receipt] = home.ingest()
    assert (receipt.rows_appended, receipt.rows_quarantined) == (1, 1)
    assert home.q("SELECT rule, value_masked FROM ingest.quarantine") == [("objection", None)]
    assert home.q("SELECT count(*) FROM vault.patient_keys") == [(1,)]  # no new salt for her
