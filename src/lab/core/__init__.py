"""The shared core every study builds on: one encoder, thread guard, training loop, fold and seed
helper, statistics, world presets, error classes and the study contract."""
from lab.core.encoding import GAPS_IMPUTED, UserEncoder, gap_note, gap_sentence, is_identifier, sort_by_ids
from lab.core.errors import IdentificationError, SchemaError
from lab.core.presets import WORLD_PRESETS, world_for, world_params, world_problems_of
from lab.core.seeds import member_seed, member_seeds, validation_folds
from lab.core.stats import expit, logit, mean_std, mean_std_table, paired_gap, paired_interval, welch_difference
from lab.core.study import StudyConfig, StudyResult, refuse, stopwatch, study_module
from lab.core.threads import limit_threads
from lab.core.training import EarlyStopping

__all__ = [
    "GAPS_IMPUTED", "WORLD_PRESETS", "EarlyStopping", "expit", "gap_note", "gap_sentence",
    "IdentificationError", "is_identifier", "limit_threads", "logit", "mean_std", "mean_std_table",
    "member_seed", "member_seeds", "paired_gap", "paired_interval", "refuse", "SchemaError", "sort_by_ids",
    "stopwatch", "study_module", "StudyConfig", "StudyResult", "UserEncoder", "validation_folds", "world_for",
    "welch_difference", "world_params", "world_problems_of",
]
