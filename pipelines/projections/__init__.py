"""Projections: the SQLMesh models that fold the event log into marts, and what they say."""
