"""No leak: no artefact carnet writes holds a NIR, the pseudonymisation key, a pseudonym in
the observatory file, or a published patient count of 1 to 10."""
import datetime as dt
import os
import re

import dagster as dg
import duckdb
import polars as pl
import pytest

from pipelines.eventlog.store import connect
from pipelines.identifiers import nir_is_valid
from pipelines.publication.release import publish, read_tables
from pipelines.settings import DEMO_KEY, carnet_paths
from tests.conftest import KEY

# a NIR standing alone: not a run of digits inside a hexadecimal hash or pseudonym
NIR_LIKE = re.compile(rb"(?<![0-9A-Za-z])[1-478][0-9]{2}(?:0[1-9]|1[0-2]|[2-9][0-9])(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}"
                      rb"(?![0-9A-Za-z])")

# where an inbox NIR's first 13 characters could hide, even inside a longer value
DIGIT_RUN = re.compile(rb"[0-9AB]{13,}")

# its tests share a module fixture: one worker runs them all
pytestmark = pytest.mark.xdist_group("security")


def _strings_in_duckdb(path) -> list[str]:
    """Every text value of every table and column of a DuckDB file (compressed on disk, so bytes won't do),
    and the text of its views. A view holds no values: the warehouse's act staging views read the
    event log's file, whose own tables this scan reads when it reaches that file."""
    conn = duckdb.connect(str(path), read_only=True)
    try:
        out = [v for (v,) in conn.execute("SELECT sql FROM duckdb_views() WHERE NOT internal").fetchall()]
        columns = conn.execute("SELECT c.database_name, c.schema_name, c.table_name, c.column_name "
                               "FROM duckdb_columns() c JOIN duckdb_tables() t USING (table_oid) "
                               "WHERE c.data_type IN ('VARCHAR', 'JSON') AND NOT c.internal").fetchall()
        for db, schema, table, column in columns:
            out += [v for (v,) in conn.execute(
                f'SELECT DISTINCT CAST("{column}" AS VARCHAR) FROM "{db}"."{schema}"."{table}" '
                f'WHERE "{column}" IS NOT NULL').fetchall()]
        return out
    finally:
        conn.close()


def _texts(root) -> dict[str, str | bytes]:
    """Every artefact under a folder, as text where it is text."""
    found = {}
    for path in root.rglob("*"):
        if not path.is_file() or "inbox" in path.parts:
            continue
        if path.suffix == ".duckdb":
            found[str(path)] = "\n".join(_strings_in_duckdb(path))
        elif path.suffix == ".parquet":
            found[str(path)] = pl.read_parquet(path).write_csv()
        else:
            found[str(path)] = path.read_bytes()
    return found


@pytest.fixture(scope="module")
def artefacts(demo_home, demo_warehouse, tmp_path_factory):
    """The demo home after ingestion, refresh and a release, plus a Dagster instance's storage."""
    from pipelines.ingestion.assets import ingest_inbox_asset
    from pipelines.resources import CarnetResource

    home, _, _ = demo_home
    home.conn.execute("CHECKPOINT")
    home.conn.close()
    try:
        paths = carnet_paths(home.root)
        publish(paths, published_at=dt.datetime(2025, 1, 4, 3, 0))
        dagster_home = tmp_path_factory.mktemp("dagster_home")
        os.environ["CARNET_PSEUDONYMISATION_KEY"] = KEY.decode()
        try:
            with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
                dg.materialize([ingest_inbox_asset], instance=instance,
                               resources={"carnet": CarnetResource(home=str(home.root))},
                               run_config={"ops": {"ingest_inbox": {"config": {"settle_seconds": 0}}}})
        finally:
            del os.environ["CARNET_PSEUDONYMISATION_KEY"]
        sent = {m.group().decode() for p in home.inbox.rglob("*.csv") for m in NIR_LIKE.finditer(p.read_bytes())
                if nir_is_valid(m.group().decode())}
        found = _texts(home.root) | _texts(dagster_home)
    finally:
        home.reopen()
    return paths, sent, found


def test_no_artefact_holds_a_nir_or_the_key(artefacts):
    _, sent, found = artefacts
    assert len(sent) > 100 and len(found) > 20  # the scan looks where NIRs are, and at many files
    prefixes = {nir[:13].encode() for nir in sent}  # a NIR without its key still identifies the patient
    leaks = []
    for name, content in found.items():
        data = content.encode() if isinstance(content, str) else content
        leaks += [(name, "NIR-shaped") for m in NIR_LIKE.finditer(data) if nir_is_valid(m.group().decode())]
        leaks += [(name, "a NIR of the inbox") for run in DIGIT_RUN.findall(data)
                  for i in range(len(run) - 12) if run[i:i + 13] in prefixes]
        leaks += [(name, "the pseudonymisation key") for key in (KEY, DEMO_KEY.encode()) if key in data]
    assert leaks == []


def test_the_observatory_file_has_no_pseudonym_and_no_small_patient_count(artefacts, demo_warehouse):
    paths, _, found = artefacts
    conn = duckdb.connect(str(demo_warehouse), read_only=True)
    try:
        pseudonyms = {p for (p,) in conn.execute(
            "SELECT DISTINCT patient_pseudonym FROM intermediate.int_acts LIMIT 5000").fetchall()}
    finally:
        conn.close()
    published = found[str(paths.observatory_db)]
    assert pseudonyms and not [p for p in pseudonyms if p in published]
    tables = read_tables(paths.observatory_db)
    for table, column in [("activity_by_territory", "patients"), ("reattachment_by_territory", "newly_reattached"),
                          ("reattachment_by_territory", "newly_reattached_ald"),
                          ("reattachment_by_centre", "newly_reattached")]:
        assert tables[table].filter(pl.col(column).is_between(1, 10)).height == 0
