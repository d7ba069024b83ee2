"""carnet: from the centres' inbox to an event log, marts and a published observatory file."""
