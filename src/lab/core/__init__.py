"""The shared core every study builds on: one encoder, thread guard, training loop, fold and seed
helper, statistics, world presets, error classes and the study contract."""
from lab.core.encoding import UserEncoder, is_identifier
from lab.core.errors import IdentificationError, SchemaError
from lab.core.presets import WORLD_PRESETS, world_for, world_params
from lab.core.seeds import member_seed, member_seeds, validation_folds
from lab.core.stats import expit, logit, mean_std, mean_std_table, paired_gap, paired_interval
from lab.core.study import StudyConfig, StudyResult, stopwatch
from lab.core.threads import limit_threads
from lab.core.training import EarlyStopping

__all__ = [
    "WORLD_PRESETS", "EarlyStopping", "IdentificationError", "SchemaError", "StudyConfig", "StudyResult",
    "UserEncoder", "expit", "is_identifier", "limit_threads", "logit", "mean_std", "mean_std_table",
    "member_seed", "member_seeds", "paired_gap", "paired_interval", "stopwatch", "validation_folds",
    "world_for", "world_params",
]
