"""Deterministic demo exports, calibrated on the centres' published figures."""
