import datetime as dt
import os
import pickle
import shutil
from pathlib import Path

import pytest

from pipelines.eventlog.store import EventLog, connect
from pipelines.identifiers import nir_key
from pipelines.ingestion.service import ingest_inbox
from pipelines.pseudonyms import Pseudonymiser
from pipelines.registry import default_registry

KEY = b"test-key-0123456789abcdef"


def make_nir(first13: str = "1850571076123") -> str:
    return first13 + f"{nir_key(first13):02d}"


DECL_HEADER_FR = "nir;date_declaration;rpps_medecin;situation_anterieure;date_fin;ald;annee_naissance;sexe;commune"
FR_ACT_HEADER = "id_acte;date;heure;site;rpps;nir;annee_naissance;sexe;commune;code_acte;montant;statut;ald"


def fr_act(act_id="A1", date="05/03/2024", heure="09:30", site="CHAL", rpps="10001234567", nir=None,
           year="1985", sexe="M", commune="71076", code="G", montant="26,50", statut="réalisé", ald="N") -> str:
    return ";".join([act_id, date, heure, site, rpps, nir or make_nir(), year, sexe, commune, code, montant, statut, ald])


def write_fr(inbox: Path, name: str, rows: list[str], header: str = FR_ACT_HEADER) -> Path:
    centre = name.split("__")[0]
    path = inbox / centre / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join([header, *rows]) + "\r\n").encode("cp1252"))
    return path



def pytest_collection_modifyitems(config, items):
    """The Spark test first (a stable sort: the rest keep their order): one worker runs it, minutes
    of one JVM, while the others run the rest, instead of the suite waiting on it at the end."""
    def on_spark(item) -> bool:
        return any(m.args[:1] == ("spark",) for m in item.iter_markers("xdist_group"))

    items.sort(key=lambda item: not on_spark(item))

class Home:
    """A CARNET_HOME for one test, with a writer connection on its event log."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox = root / "inbox"
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.reopen()
        self.pseudonymiser = Pseudonymiser(KEY)

    def reopen(self) -> None:
        """A new writer connection (after another process wrote the log)."""
        self.conn = connect(self.root / "events.duckdb")
        self.log = EventLog(self.conn)

    def ingest(self, **kw):
        return ingest_inbox(self.inbox, self.log, default_registry(), self.pseudonymiser, **kw)

    def q(self, sql, params=None):
        return self.conn.execute(sql, params or []).fetchall()


@pytest.fixture
def home(tmp_path):
    h = Home(tmp_path / "home")
    yield h
    h.conn.close()


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory, worker_id):
    """A small generated inbox, ingested once for the whole run: the first worker to ask builds it
    under a lock in a folder the workers share, and each worker gets its own copy (tests write to it)."""
    from filelock import FileLock

    from pipelines.demo.generator import generate

    base = tmp_path_factory.getbasetemp()
    shared = (base if worker_id == "master" else base.parent) / "demo-home-shared"
    built = shared.with_suffix(".pickle")
    with FileLock(str(shared.with_suffix(".lock"))):
        if not built.exists():
            h = Home(shared)
            manifest = generate(h.inbox, seed=11, scale=0.02)
            receipts = h.ingest()
            h.conn.execute("CHECKPOINT")
            h.conn.close()
            built.write_bytes(pickle.dumps((manifest, receipts)))
    root = tmp_path_factory.mktemp("demo")
    shutil.copytree(shared, root, dirs_exist_ok=True)
    manifest, receipts = pickle.loads(built.read_bytes())
    return Home(root), manifest, receipts


@pytest.fixture(scope="session")
def demo_warehouse(demo_home):
    """The session's demo home, refreshed into a warehouse once."""
    from pipelines.projections.sqlmesh_project import refresh
    from pipelines.settings import carnet_paths

    home, _, _ = demo_home
    home.conn.execute("CHECKPOINT")
    home.conn.close()
    try:
        return refresh(carnet_paths(home.root)).warehouse
    finally:
        home.reopen()
