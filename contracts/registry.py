"""Which contract judges which feed."""
from __future__ import annotations

from functools import lru_cache

import pandera.polars as pa

from contracts import acts, costs, gp_declarations
from pipelines.feeds import ACT_FEEDS

CONTRACT_VERSIONS = {
    **{feed: acts.VERSION for feed in ACT_FEEDS},
    "gp_declarations": gp_declarations.VERSION,
    "costs": costs.VERSION,
}


@lru_cache(maxsize=None)
def contract_for(feed: str) -> pa.DataFrameSchema:
    """The static schema of a feed; file context comes as columns (see `ContractContext`)."""
    if feed in ACT_FEEDS:
        return acts.schema(feed)
    if feed == "gp_declarations":
        return gp_declarations.schema()
    if feed == "costs":
        return costs.schema()
    raise ValueError(f"no contract for feed {feed!r}")
