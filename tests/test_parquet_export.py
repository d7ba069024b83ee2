"""The log exported to Hive-partitioned Parquet: incremental by log position, equal to the streams,
and whole again after a crash or a compaction."""
import shutil

import duckdb

from pipelines.eventlog.parquet_export import PARTITION, compact, export, read_manifest, sweep
from pipelines.eventlog.streams import STREAMS
from tests.conftest import fr_act, write_fr

CENTRE = "710000019"


def _name(ts: str) -> str:
    return f"{CENTRE}__consultations__{ts}.csv"


def _as_exported(root) -> dict:
    conn = duckdb.connect()
    try:
        out = {}
        for s in STREAMS:
            files = sorted((root / s.name).glob("*/*.parquet"))
            out[s.name] = conn.execute(
                f"SELECT * EXCLUDE ({PARTITION}) FROM read_parquet(?, hive_partitioning = true) ORDER BY event_id",
                [[str(f) for f in files]]).fetchall() if files else []
        return out
    finally:
        conn.close()


def _in_log(home) -> dict:
    return {s.name: home.q(f"SELECT * FROM {s.table} ORDER BY event_id") for s in STREAMS}


def test_the_export_follows_the_log_by_position_and_survives_crashes_and_compaction(home, tmp_path):
    root = tmp_path / "parquet"
    write_fr(home.inbox, _name("20240306T020000"), [fr_act("A1"), fr_act("A2", date="10/02/2024")])
    home.ingest()
    first = export(home.conn, root)
    assert (first.exported_through, first.events, first.files) == (2, 2, 2)  # two act months, two folders
    assert _as_exported(root) == _in_log(home)

    write_fr(home.inbox, _name("20240307T020000"), [fr_act("A1", statut="annulé", montant="0"), fr_act("A3")])
    home.ingest()
    second = export(home.conn, root)
    assert (second.exported_through, second.events) == (4, 2)
    assert _as_exported(root) == _in_log(home)
    assert export(home.conn, root).events == 0  # nothing new: nothing written

    # a crash after files were moved in, before the manifest: the next export sweeps them and redoes it
    write_fr(home.inbox, _name("20240308T020000"), [fr_act("A4")])
    home.ingest()
    before = read_manifest(root)
    export(home.conn, root)
    (root / "_manifest.json").write_text(__import__("json").dumps(before))
    (root / ".staging-5-9").mkdir()
    (root / ".staging-5-9" / "half.parquet").write_bytes(b"PAR1")
    assert export(home.conn, root).events == 1
    assert not list(root.glob(".staging-*"))
    assert _as_exported(root) == _in_log(home)

    # compaction: one file per folder, same rows; a crash after the rename leaves covered files, swept
    march = root / "acts" / f"{PARTITION}=2024-03-01"
    assert len(list(march.glob("*.parquet"))) == 3
    kept = [p.read_bytes() for p in sorted(march.glob("*.parquet"))]
    names = sorted(p.name for p in march.glob("*.parquet"))
    assert compact(root) >= 1
    assert len(list(march.glob("*.parquet"))) == 1
    assert _as_exported(root) == _in_log(home)
    for name, data in zip(names, kept):  # as if the crash came before the covered files were removed
        (march / name).write_bytes(data)
    (march / ".compact-leftover").write_bytes(b"PAR1")
    swept = sweep(root)
    assert len(swept) == 4 and _as_exported(root) == _in_log(home)

    shutil.rmtree(root)  # the tree is derived: exported again from scratch, it is the same
    export(home.conn, root)
    assert _as_exported(root) == _in_log(home)
