"""SQLMesh project configuration (models/, seeds/, tests/*.yaml) for `sqlmesh plan` / `sqlmesh test`:
built from carnet's settings ($CARNET_HOME, $CARNET_DUCKDB_MEMORY_LIMIT) by the same function
carnet's refreshes use (`pipelines/projections/sqlmesh_config.py`)."""
from pipelines.projections.sqlmesh_config import sqlmesh_config
from pipelines.settings import Settings

config = sqlmesh_config(Settings.from_environment())
