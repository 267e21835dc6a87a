"""Simulated consumer-finance world with known ground truth, its schema, and loaders for user data."""
from lab.data.io import get_world, load_world, read_table, world_problems
from lab.data.schema import SCHEMA, SchemaError, check_references, gap_counts, schema_markdown, validate
from lab.data.world import (ACTIONS, CHANNELS, OFFER_COST, OFFERS, PRODUCTS, SEGMENTS, STAGES, LifecycleEnv, World,
                            WorldConfig, regime_of_day, simulate_world)

__all__ = [
    "ACTIONS", "CHANNELS", "LifecycleEnv", "OFFERS", "OFFER_COST", "PRODUCTS", "SCHEMA", "SEGMENTS", "STAGES",
    "SchemaError", "World",
    "WorldConfig", "check_references", "gap_counts", "get_world", "load_world", "read_table", "regime_of_day",
    "schema_markdown", "simulate_world", "validate", "world_problems",
]
