"""Pandera (Polars) contracts: what a canonical row of each feed must satisfy to become an event.

Contracts are versioned: every event and receipt records the version that let it in, so a
rule change can be traced and quarantined rows re-validated.
"""
from contracts.base import ContractContext, validate
from contracts.registry import CONTRACT_VERSIONS, contract_for

__all__ = ["ContractContext", "CONTRACT_VERSIONS", "contract_for", "validate"]
