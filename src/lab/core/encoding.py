"""One users-table encoder for every study: the users table (or any table of one row per unit) to numbers.

Columns are sorted into four kinds, each encoded one way:

* **ids** (``user_id``, ``*_id``, ``id``) are labels, never features: dropped;
* **numeric** columns: money columns (``log_columns``) through ``log1p``, missing values imputed with
  the training median plus a 0/1 ``<column>_missing`` indicator when the training fold had gaps,
  then standard-scaled (``scale=True``) or left in their units (``scale=False``, for readable rules);
* **ordinal** columns (ordered codes such as grades ``A1 < A2 < ... < G5``): their sorted levels as
  codes 0, 1, ...; unseen levels map to the middle code;
* **categorical** columns (``region``, ``preferred_channel``, any text column): one-hot with rare
  levels (share below ``min_frequency``) pooled into ``<column>=infrequent`` and at most
  ``max_categories`` columns per variable, or, with ``categorical_encoding="target"``, scikit-learn's
  ``TargetEncoder`` (cross-fitted inside ``fit``, so the training fold's targets never leak into its
  own codes). Both take a 35-level sub-grade or a 50-level state column.

Everything is learned in ``fit`` on the training rows only and applied by ``transform``.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import FunctionTransformer, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from lab.data.schema import SchemaError

# Columns of the workbench schema that hold codes rather than quantities.
SCHEMA_CATEGORICAL = ("region", "preferred_channel")
LOG_COLUMNS = ("income", "savings_balance")
CATEGORICAL_ENCODINGS = ("onehot", "target")


def is_identifier(column: str) -> bool:
    """True for id columns (``id``, ``user_id``, ``customer-id`` ...): labels, not features."""
    name = str(column).lower()
    return name == "id" or name.endswith(("_id", "-id", " id"))


def gap_note(frame: pd.DataFrame) -> str:
    """The gaps the encoder imputes, in words (``"income 12, age 3"``; "" when there are none): counted
    from the ``<column>_missing`` indicators of encoded features, else from the NaN of a raw table."""
    counts = {str(c).removesuffix("_missing"): int(frame[c].sum()) for c in frame.columns
              if str(c).endswith("_missing")}
    if not counts:
        nan = frame.isna().sum()
        counts = {str(c): int(n) for c, n in nan[nan > 0].items()}
    return ", ".join(f"{column} {count:,}" for column, count in counts.items() if count)


GAPS_IMPUTED = "gaps imputed (median, flagged by <column>_missing)"


def gap_sentence(frame: pd.DataFrame) -> str:
    """``gap_note`` as a sentence for a report's data paragraph ("" when there are no gaps)."""
    note = gap_note(frame)
    return f" Missing values imputed with the median, flagged by a `<column>_missing` feature: {note}." if note else ""


def sort_by_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by the table's id columns (then by every other column), so a study's splits and
    fits do not depend on how the file happened to be sorted; a table without ids keeps its order."""
    ids = [c for c in frame.columns if is_identifier(c)]
    if not ids:
        return frame
    order = ids + [c for c in frame.columns if c not in ids]
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def _level_name(feature: str, level: object) -> str:
    return f"{feature}={level}"


class UserEncoder(TransformerMixin, BaseEstimator):
    """Encode a table of one row per unit into a numeric ``DataFrame`` (see the module docstring).

    Parameters
    ----------
    categorical : columns to one-hot / target-encode; ``None`` = the schema's code columns present
        plus every non-numeric column that is not ordinal.
    ordinal : columns whose sorted levels are ordered codes (e.g. ``("grade", "sub_grade")``).
    log_columns : numeric columns passed through ``log1p`` first (money is heavy-tailed).
    scale : standard-scale numeric and ordinal columns.
    max_categories, min_frequency : caps of the one-hot encoding.
    categorical_encoding : ``"onehot"`` or ``"target"`` (needs ``y`` in ``fit``).
    random_state : seeds the target encoder's cross-fitting folds.

    Attributes
    ----------
    numeric_, ordinal_, categorical_ : the columns of each kind seen in ``fit``.
    transformer_ : the fitted ``ColumnTransformer``; ``feature_names_out_`` its output names.
    """

    def __init__(self, categorical: Sequence[str] | None = None, ordinal: Sequence[str] = (),
                 log_columns: Sequence[str] = LOG_COLUMNS, scale: bool = True, max_categories: int = 20,
                 min_frequency: float = 0.01, categorical_encoding: str = "onehot", random_state: int = 0):
        self.categorical = categorical
        self.ordinal = ordinal
        self.log_columns = log_columns
        self.scale = scale
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.categorical_encoding = categorical_encoding
        self.random_state = random_state

    def _kinds(self, frame: pd.DataFrame) -> tuple[list[str], list[str], list[str]]:
        columns = [c for c in frame.columns if not is_identifier(c)]
        ordinal = [c for c in self.ordinal if c in columns]
        if self.categorical is None:
            categorical = [c for c in columns if c not in ordinal and (
                c in SCHEMA_CATEGORICAL or not (pd.api.types.is_numeric_dtype(frame[c])
                                                or pd.api.types.is_bool_dtype(frame[c])))]
        else:
            missing = [c for c in self.categorical if c not in frame.columns]
            if missing:
                raise SchemaError(f"categorical column(s) {missing} are not in the table")
            categorical = [c for c in self.categorical if c not in ordinal]
        numeric = [c for c in columns if c not in ordinal and c not in categorical]
        text = [c for c in numeric if not (pd.api.types.is_numeric_dtype(frame[c])
                                           or pd.api.types.is_bool_dtype(frame[c]))]
        if text:
            raise SchemaError(f"column(s) {text} hold text but are not declared categorical or ordinal")
        empty = [c for c in numeric if frame[c].isna().all()]
        if empty:
            raise SchemaError(f"column(s) {empty} are empty")
        return numeric, ordinal, categorical

    def _numeric_pipeline(self, frame: pd.DataFrame, numeric: list[str]):
        logged = [c for c in numeric if c in self.log_columns]
        steps = []
        if logged:
            steps.append(FunctionTransformer(_log1p_columns, kw_args={"positions": [numeric.index(c) for c in logged]},
                                             feature_names_out="one-to-one"))
        steps.append(SimpleImputer(strategy="median"))
        if self.scale:
            steps.append(StandardScaler())
        return make_pipeline(*steps)

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # gaps are imputed, with a missing indicator
        tags.input_tags.string = True  # text columns are categories
        tags.transformer_tags.preserves_dtype = []  # the features are always float64
        return tags

    def _table(self, X: pd.DataFrame | np.ndarray, reset: bool) -> pd.DataFrame:
        """``X`` as a DataFrame with the checks of scikit-learn (column names and count as in ``fit``); an
        array gets columns ``x0, x1, ...``; sparse, complex, infinite or empty input is refused."""
        if not isinstance(X, pd.DataFrame):
            array = check_array(X, dtype=None, ensure_all_finite="allow-nan")
            validate_data(self, array, reset=reset, skip_check_array=True)
            return pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
        try:
            validate_data(self, X, reset=reset, skip_check_array=True)
        except ValueError as err:  # other columns than in fit: a table problem
            raise SchemaError(" ".join(str(err).split())) from err
        numbers = X.select_dtypes("number")
        infinite = [c for c in numbers.columns if np.isinf(numbers[c].to_numpy(dtype=np.float64)).any()]
        if infinite:
            raise SchemaError(f"column(s) {infinite} hold infinite values; use a finite number or leave the gap empty")
        return X

    def fit(self, X: pd.DataFrame | np.ndarray, y: Sequence[float] | np.ndarray | None = None) -> UserEncoder:
        """Learn the columns' kinds, levels, medians and scales from the training rows ``X``."""
        self._fit(self._table(X, reset=True), y, transform=False)
        return self

    def fit_transform(self, X: pd.DataFrame | np.ndarray, y: Sequence[float] | np.ndarray | None = None,
                      **fit_params: object) -> pd.DataFrame:
        """``fit`` then the training rows' features; target codes of these rows are cross-fitted."""
        table = self._table(X, reset=True)
        return self._frame(self._fit(table, y, transform=True), table.index)

    def _fit(self, X: pd.DataFrame, y: Sequence[float] | np.ndarray | None, transform: bool) -> np.ndarray | None:
        if self.categorical_encoding not in CATEGORICAL_ENCODINGS:
            raise ValueError(f"categorical_encoding must be one of {CATEGORICAL_ENCODINGS}, "
                             f"got {self.categorical_encoding!r}")
        if self.categorical_encoding == "target" and y is None:
            raise ValueError("categorical_encoding='target' needs y in fit")
        numeric, ordinal, categorical = self._kinds(X)
        parts = []
        if numeric:
            parts.append(("numeric", self._numeric_pipeline(X, numeric), numeric))
            gaps = [c for c in numeric if X[c].isna().any()]
            if gaps:
                parts.append(("missing", MissingIndicator(features="all"), gaps))
        if ordinal:
            steps = [OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                    encoded_missing_value=np.nan),
                     SimpleImputer(strategy="median")]
            parts.append(("ordinal", make_pipeline(*steps, *([StandardScaler()] if self.scale else [])), ordinal))
        if categorical:
            if self.categorical_encoding == "onehot":
                encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", sparse_output=False,
                                        min_frequency=self.min_frequency, max_categories=self.max_categories,
                                        feature_name_combiner=_level_name, dtype=np.float64)
            else:
                encoder = TargetEncoder(cv=KFold(5, shuffle=True, random_state=self.random_state))
            parts.append(("categorical", make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"),
                                                       encoder), categorical))
        if not parts:
            raise SchemaError("the table has no feature columns (only ids)")
        self.numeric_, self.ordinal_, self.categorical_ = numeric, ordinal, categorical
        self.transformer_ = ColumnTransformer(parts, verbose_feature_names_out=False)
        target = None if y is None else np.asarray(y)
        values = self.transformer_.fit_transform(X, target) if transform else None
        if not transform:
            self.transformer_.fit(X, target)
        self.feature_names_out_ = np.array([_readable(name) for name in self.transformer_.get_feature_names_out()],
                                           dtype=object)
        return values

    def transform(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        """The encoded features of ``X`` (same index), columns ``feature_names_out_``."""
        check_is_fitted(self, "transformer_")
        table = self._table(X, reset=False)
        return self._frame(self.transformer_.transform(table), table.index)

    def _frame(self, values: object, index: pd.Index) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(values, dtype=np.float64), columns=list(self.feature_names_out_), index=index)

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        check_is_fitted(self, "transformer_")
        return self.feature_names_out_


def _log1p_columns(values: np.ndarray, positions: list[int]) -> np.ndarray:
    """``log1p`` of the (non-negative part of the) columns at ``positions``; the others unchanged."""
    values = np.array(values, dtype=np.float64)
    values[:, positions] = np.log1p(np.clip(values[:, positions], 0, None))
    return values


def _readable(name: str) -> str:
    """scikit-learn's generated names in the workbench's words: ``income_missing``, ``state=infrequent``."""
    if name.startswith("missingindicator_"):
        return name.removeprefix("missingindicator_") + "_missing"
    return name.removesuffix("_sklearn") if name.endswith("=infrequent_sklearn") else name


def _as_text(values: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Category columns as strings, gaps as the level ``missing`` (so one-hot and target encoding agree)."""
    frame = pd.DataFrame(values)
    return frame.astype("string").fillna("missing").to_numpy(dtype=object)
