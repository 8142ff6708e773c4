"""The materializer: a table and a parsed formula → the model matrices of a mixed model.

:func:`materialize` turns a parsed :class:`~mm_core.formula.Formula` and a table into a
:class:`~mm_core.design.Design`, the numeric input of the LMM and GLMM fitters, and records in its
:class:`~mm_core.design.ModelSpec` the levels, codings and ``scale()`` / ``center()`` state of
the fit. :meth:`Materializer.for_new_rows` builds the same columns on new rows from that spec (for
prediction). Nothing here evaluates user text; every function applied to a column comes from the
whitelist in :mod:`mm_core.formula`.
"""
from __future__ import annotations

from difflib import get_close_matches

import numpy as np
import pandas as pd

from ..contrasts import Helmert, Sum, Treatment, as_coding, level_label
from ..errors import DataError, FormulaError
from ..formula import Formula, parse_formula
from ..formula.parser import CODINGS
from ..formula.terms import BinOp, Call, Name, Number, UnaryOp
from .matrices import Design, interaction_columns
from .reterm import ReTerm
from .spec import ModelSpec, Standardization

_CODING_CLASSES = {"treatment": Treatment, "sum": Sum, "helmert": Helmert}
#: Widest fixed-effects matrix and random-effects term built, and most values in one matrix
#: (400 MB): beyond them the dense algebra would take minutes and gigabytes.
MAX_FIXED_COLUMNS = 1000
MAX_RANDOM_COLUMNS = 100
MAX_DESIGN_CELLS = 50_000_000


def materialize(formula, data: pd.DataFrame, *, contrasts: dict | None = None,
                success_level=None) -> Design:
    """Build the model matrices of ``formula`` on ``data`` (R's ``model.frame`` + ``model.matrix``).

    Parameters
    ----------
    formula : str or Formula
        E.g. ``"reaction ~ 1 + days + (1 + days | subj)"``.
    data : pandas.DataFrame
        The table. Categorical, text and bool columns are factors; numeric columns are
        numeric unless wrapped in ``factor()`` / ``C()``.
    contrasts : dict, optional
        Fixed-part coding per factor, keyed by column name or term label (``"dept"``,
        ``"factor(period)"``); values as accepted by :func:`mm_core.contrasts.as_coding`
        (``"sum"``, ``("treatment", "B")``, ``Helmert()``, ...). Default treatment coding
        against the first level. A coding written in the formula with ``C(x, ...)`` wins.
        Random-effect left sides use treatment coding (or their ``C()`` coding), as in lme4.
    success_level : optional
        For a two-level categorical response, the level coded 1 (default: the second level).

    Returns
    -------
    Design

    Raises
    ------
    FormulaError
        Unknown column (with a suggestion), misuse of a function on the wrong kind of column.
    DataError
        Empty table, no complete rows, infinite values, unusable response, one-level factors.

    Notes
    -----
    Rows with a missing value in any used column are dropped (R's ``na.omit``). As in R,
    ``scale()`` and ``center()`` are computed over the non-missing values of the whole
    column, before rows are dropped for other columns. Unused factor levels are dropped
    (lme4's ``drop.unused.levels = TRUE``).

    lme4 equivalent: ``lFormula(formula, data)`` (``X``, ``reTrms``, ``fr``).

    Example
    -------
    >>> df = pd.DataFrame({"y": [1.0, 2, 3, 4], "x": [0.5, 1, 2, 3], "g": list("abab")})
    >>> d = materialize("y ~ 1 + x + (1 | g)", df)
    >>> d.fixef_names, d.reterms[0].group, d.reterms[0].levels
    (['(Intercept)', 'x'], 'g', ['a', 'b'])
    """
    f = formula if isinstance(formula, Formula) else parse_formula(formula)
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    data = text_column_names(data)
    check_column_names(data)
    if contrasts is not None and not isinstance(contrasts, dict):
        raise DataError("contrasts must be a dictionary from column names to codings, e.g. "
                        "{'dept': 'sum'}")
    return Materializer(f, data, contrasts or {}).build(success_level)


def text_column_names(data: pd.DataFrame) -> pd.DataFrame:
    """The table with its column labels as text (a formula names columns by text: a column
    labelled by the number 0 is written `` `0` ``); the same table when they already are."""
    if all(isinstance(c, str) for c in data.columns):
        return data
    out = data.copy(deep=False)
    out.columns = [str(c) for c in data.columns]
    return out


def check_column_names(data: pd.DataFrame) -> None:
    """Refuse a table whose column names repeat (a formula could not tell them apart).

    Raises
    ------
    DataError
        Naming the repeated columns and their positions.
    """
    if data.columns.is_unique:
        return
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        names = list(dict.fromkeys(str(c) for c in dup))
        where = "; ".join(
            f"'{c}' at positions {', '.join(str(i + 1) for i in np.flatnonzero(data.columns == c))}"
            for c in list(dict.fromkeys(dup))[:5])
        raise DataError(f"the table has {len(names)} repeated column name"
                        f"{'s' if len(names) > 1 else ''} ({where}); give every column a "
                        "different name")


class _Var:
    """One evaluated predictor: numeric values or (codes, levels) of a factor."""

    def __init__(self, label, values=None, codes=None, levels=None, coding=None, full=False,
                 prefix=None, node=None):
        self.label, self.values, self.codes, self.levels = label, values, codes, levels
        self.coding, self.full, self.node = coding, full, node
        self.prefix = label if prefix is None else prefix

    @property
    def numeric(self) -> bool:
        return self.values is not None


class NewLevelError(DataError):
    """New data hold a level the fit has not seen where that is not allowed."""


class Materializer:
    """Evaluates a formula's columns on a table: R's ``model.frame`` and ``model.matrix``.

    Built by :func:`materialize` for a fit (which learns the levels, codings and
    ``scale()`` / ``center()`` state from the table) or by :meth:`for_new_rows` on new data
    (which reuses what the fit learnt).

    Parameters
    ----------
    f : Formula
    data : pandas.DataFrame
        With text column names (:func:`text_column_names`).
    contrasts : dict
        Codings of the fixed part, keyed by column name or term label.
    spec : ModelSpec, optional
        A fit's spec: factors are coded against its levels (a level it has not seen raises
        :class:`NewLevelError`) and ``scale()`` / ``center()`` use its state.

    Examples
    --------
    >>> from mm_core import datasets
    >>> sl = datasets.load("sleepstudy")
    >>> d = materialize("reaction ~ 1 + scale(days) + (1 | subj)", sl)
    >>> m = Materializer.for_new_rows(d.spec, sl.iloc[:2], np.arange(2))
    >>> m.numeric(d.formula.fixed[0].factors[0]).round(3).tolist()
    [-1.562, -1.215]
    """

    def __init__(self, f, data: pd.DataFrame, contrasts: dict,
                 spec: ModelSpec | None = None) -> None:
        self.f, self.data, self.user_contrasts = f, data, contrasts
        self.spec = spec
        self.text = f.text or ""
        self.cat_cache: dict = {}
        self.num_cache: dict = {}
        self.levels: dict = {} if spec is None else dict(spec.levels)
        self.transforms: dict = {} if spec is None else dict(spec.transforms)
        self._series: dict = {}
        self._kinds: dict = {}

    @classmethod
    def for_new_rows(cls, spec: ModelSpec, data: pd.DataFrame, rows: np.ndarray) -> Materializer:
        """A materializer over the rows ``rows`` (positions) of new data, with the fit's levels,
        contrasts and ``scale()`` / ``center()`` state."""
        m = cls(spec.formula, data, dict(spec.contrasts), spec)
        m.rows = np.asarray(rows)
        m.n_dropped = len(data) - len(m.rows)
        m.keep = np.zeros(len(data), bool)
        m.keep[m.rows] = True
        return m

    def col(self, name: str) -> pd.Series:
        """The column ``name`` (looked up once)."""
        s = self._series.get(name)
        if s is None:
            s = self._series[name] = self.data[name]
        return s

    def kind(self, name: str) -> str:
        """'numeric', 'bool', 'categorical' or 'datetime' for a column (computed once)."""
        k = self._kinds.get(name)
        if k is None:
            k = self._kinds[name] = column_kind(self.col(name))
        return k

    # ------------------------------------------------------------------ errors
    def ferr(self, message: str, node=None, span=None) -> FormulaError:
        pos, end = span if span else (getattr(node, "pos", -1), getattr(node, "end", -1))
        if not self.text or pos is None or pos < 0:
            return FormulaError(message, self.text or self.f.to_text())
        return FormulaError(message, self.text, pos, end if end and end > pos else None)

    # ------------------------------------------------------------------ rows and columns
    def used_columns(self) -> list:
        """(column, span) pairs in order of appearance."""
        out = [(n.name, (n.pos, n.end)) for n in self.f.names()]
        for r in self.f.random:
            spans = r.group_pos or ((-1, -1),) * len(r.group)
            out += list(zip(r.group, spans))
        return sorted(out, key=lambda x: x[1][0])  # stable: built formulas keep their order

    def check_columns(self) -> list:
        present = set(self.data.columns)
        names: list = []
        for name, span in self.used_columns():
            if name not in present:
                raise self.ferr(_missing_column_message(name, list(self.data.columns)), span=span)
            if name not in names:
                names.append(name)
        return names

    def select_rows(self, used: list) -> None:
        data = self.data
        n = len(data)
        na = {c: _missing(self.col(c)) for c in used}
        self.dropped_by_column = {c: int(m.sum()) for c, m in na.items()}
        bad = np.zeros(n, dtype=bool)
        for m in na.values():
            bad |= m
        self.keep = ~bad
        self.rows = np.flatnonzero(self.keep)
        self.n_dropped = int(bad.sum())
        if self.rows.size == 0:
            cols = ", ".join(f"'{c}' ({k} missing)" for c, k in self.dropped_by_column.items()
                             if k)
            raise DataError(f"no rows left: every row has a missing value in at least one "
                            f"of the columns used: {cols}")
        for c in used:
            s = self.col(c)
            if self.kind(c) == "numeric":
                k = int(np.isinf(s.to_numpy(dtype=float, na_value=np.nan)[self.rows]).sum())
                if k:
                    raise DataError(f"column '{c}' has {k} infinite value{'s' if k > 1 else ''}"
                                    f"; replace or remove {'them' if k > 1 else 'it'} first")
            elif self.kind(c) == "datetime":
                raise DataError(f"column '{c}' holds dates or times; convert it to numbers "
                                "or text first")

    # ------------------------------------------------------------------ evaluation
    def numeric(self, node) -> np.ndarray:
        """Numeric value of an expression on the rows kept, finite-checked."""
        key = node.to_text()
        if key not in self.num_cache:
            with np.errstate(all="ignore"):
                full = np.broadcast_to(self._num(node), (len(self.data),))
            v = np.array(full[self.rows], dtype=float)
            bad = int((~np.isfinite(v)).sum())
            if bad:
                raise DataError(f"'{key}' is missing or infinite in {bad} of the rows used "
                                "(for example the log or square root of zero or of a "
                                "negative number)")
            self.num_cache[key] = v
        return self.num_cache[key]

    def _num(self, node):
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Name):
            s = self.col(node.name)
            kind = self.kind(node.name)
            if kind == "numeric":
                return s.to_numpy(dtype=float, na_value=np.nan)
            if kind == "bool":
                return s.to_numpy(dtype=float, na_value=np.nan)
            raise self.ferr(f"column '{node.name}' is categorical (text), so it cannot be used "
                            "in arithmetic", node)
        if isinstance(node, UnaryOp):
            v = self._num(node.operand)
            return -v if node.op == "-" else v
        if isinstance(node, BinOp):
            a, b = self._num(node.left), self._num(node.right)
            return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
                    "^": np.power}[node.op](np.asarray(a, dtype=float), b)
        if isinstance(node, Call):
            fn = node.func
            if fn in ("factor", "C", "fulldummy", "cbind", "offset"):
                raise self.ferr(f"{fn}() cannot be used inside arithmetic", node)
            v = np.asarray(self._num(node.args[0]), dtype=float)
            if fn == "I":
                return v
            if fn in ("scale", "center"):
                return self._standardization(node, v).apply(v)
            return _MATH[fn](v)
        raise self.ferr(f"'{node.to_text()}' cannot be used as a number", node)

    def _standardization(self, node, values: np.ndarray) -> Standardization:
        """The state of a ``scale()`` / ``center()`` call: the fit's, or computed (as R does)
        over the non-missing values of the whole column, before rows are dropped."""
        key = node.to_text()
        state = self.transforms.get(key)
        if state is None:
            if self.spec is not None:
                raise self.ferr(f"'{key}' is not part of the fitted model", node)
            whole = np.broadcast_to(values, (len(self.data),))
            state = self.transforms[key] = Standardization.of(whole, node.func)
        return state

    def factor(self, name: str):
        """(codes, levels) of a column as a factor, on the rows kept: the levels observed, or
        the fit's levels when the materializer has a spec that codes the column."""
        if name not in self.cat_cache:
            if self.spec is not None and name in self.spec.levels:
                self.cat_cache[name] = self._fitted_codes(name, list(self.spec.levels[name]))
            else:
                s = self.col(name)
                if self.n_dropped:
                    s = s.iloc[self.rows]
                self.cat_cache[name] = _factorize(s)
        return self.cat_cache[name]

    def _fitted_codes(self, name: str, train: list):
        """(codes, levels) of a column on new rows against the levels of the fit."""
        index = {lv: i for i, lv in enumerate(train)}
        labels = level_labels(self.col(name).iloc[self.rows])
        codes = np.array([index.get(lv, -1) for lv in labels], dtype=np.int64)
        if np.any(codes < 0):
            unseen = sorted({lv for lv, c in zip(labels, codes) if c < 0})
            shown = ", ".join(f"'{u}'" for u in unseen[:5])
            raise NewLevelError(
                f"column '{name}' has level(s) {shown} that the fitted model has not seen in "
                f"this factor (its levels: {', '.join(repr(x) for x in train[:10])}"
                f"{', ...' if len(train) > 10 else ''}); there is no coefficient to predict "
                "them with")
        return codes, train

    def levels_of(self, name: str):
        """(codes, levels) of a column coded as a factor in a model matrix; its levels become
        part of the spec."""
        codes, levels = self.factor(name)
        self.levels[name] = list(levels)
        return codes, levels

    def variable(self, node, fixed: bool) -> _Var:
        label = node.to_text()
        if isinstance(node, Name):
            if self.kind(node.name) in ("numeric",):
                return _Var(label, values=self.numeric(node), node=node)
            codes, levels = self.levels_of(node.name)
            return self._cat_var(label, codes, levels, node.name, None, fixed, node)
        if isinstance(node, Call) and node.func in ("factor", "C", "fulldummy"):
            col = node.args[0].name
            codes, levels = self.levels_of(col)
            if node.func == "fulldummy":
                if self.kind(col) == "numeric":
                    raise self.ferr(f"fulldummy() needs a categorical column, but '{col}' is "
                                    f"numeric; write (0 + factor({col}) | g) for one column "
                                    "per value", node)
                self._need_two(label, levels)
                return _Var(label, codes=codes, levels=levels, full=True, prefix=col,
                            node=node)
            coding = node.args[1] if node.func == "C" and len(node.args) > 1 else None
            return self._cat_var(label, codes, levels, col, coding, fixed, node)
        return _Var(label, values=self.numeric(node), node=node)

    def _need_two(self, label, levels) -> None:
        if len(levels) < 2:
            raise DataError(f"'{label}' has only one level ('{levels[0]}') in the rows used; "
                            "a categorical predictor needs at least two")

    def _cat_var(self, label, codes, levels, col, coding_node, fixed, node) -> _Var:
        self._need_two(label, levels)
        if coding_node is not None:
            coding = self._formula_coding(coding_node, levels)
        else:
            spec = None
            if fixed:
                spec = self.user_contrasts.get(label, self.user_contrasts.get(col))
            try:
                coding = as_coding(spec).resolve(levels) if spec is not None else \
                    Treatment().resolve(levels)
            except (ValueError, DataError) as e:
                raise DataError(f"contrasts for '{label}': {e}") from None
        return _Var(label, codes=codes, levels=levels, coding=coding, node=node)

    def _formula_coding(self, node, levels):
        if isinstance(node, Name):
            return _CODING_CLASSES[CODINGS[node.name]]().resolve(levels)
        ref = node.args[0]
        value = ref.value if not isinstance(ref, Number) else level_label(ref.value)
        try:
            return Treatment(value).resolve(levels)
        except DataError as e:
            raise self.ferr(str(e), ref) from None

    # ------------------------------------------------------------------ model matrices
    def model_matrix(self, terms, intercept: bool, fixed: bool):
        """R's model.matrix for ``terms``: (matrix n×p, names, term labels, variables)."""
        n = self.rows.size
        terms = sorted(terms, key=lambda t: t.degree)
        variables: dict = {}
        for t in terms:
            for fac in t.factors:
                key = fac.to_text()
                if key not in variables:
                    variables[key] = self.variable(fac, fixed)
        sets = [frozenset(fac.to_text() for fac in t.factors) for t in terms]
        full: set = set()  # (term index, variable key) coded by indicators
        for ti, t in enumerate(terms):
            for fac in t.factors:
                key, v = fac.to_text(), variables[fac.to_text()]
                if v.numeric:
                    continue
                rest = sets[ti] - {key}
                if v.full or (rest and not any(rest <= sets[tj] for tj in range(ti))):
                    full.add((ti, key))
        if not intercept:
            for ti, t in enumerate(terms):
                cats = [fac.to_text() for fac in t.factors
                        if not variables[fac.to_text()].numeric]
                if cats:
                    full.add((ti, cats[0]))
                    break
        self._check_width(terms, variables, full, intercept, fixed)
        blocks, names, labels = [], [], []
        if intercept:
            blocks.append(np.ones((n, 1)))
            names.append("(Intercept)")
            labels.append("(Intercept)")
        for ti, t in enumerate(terms):
            mat, nm = self._block(variables[t.factors[0].to_text()],
                                  (ti, t.factors[0].to_text()) in full)
            for fac in t.factors[1:]:
                key = fac.to_text()
                b, bn = self._block(variables[key], (ti, key) in full)
                mat, nm = interaction_columns(mat, nm, b, bn)
            blocks.append(mat)
            names += nm
            labels += [t.label] * len(nm)
        X = np.hstack(blocks) if blocks else np.zeros((n, 0))
        return np.ascontiguousarray(X, dtype=float), names, labels, variables

    def _check_width(self, terms, variables: dict, full: set, intercept: bool,
                     fixed: bool) -> None:
        """Refuse a model matrix too wide to build, before building it."""
        widths = []
        for ti, t in enumerate(terms):
            w = 1
            for fac in t.factors:
                v = variables[fac.to_text()]
                if not v.numeric:
                    w *= len(v.levels) - (0 if (v.full or (ti, fac.to_text()) in full) else 1)
            widths.append(w)
        p = sum(widths) + bool(intercept)
        limit = MAX_FIXED_COLUMNS if fixed else MAX_RANDOM_COLUMNS
        if p <= limit and p * self.rows.size <= MAX_DESIGN_CELLS:
            return
        what = "fixed-effects part" if fixed else "random-effects term"
        widest = terms[int(np.argmax(widths))] if widths else None
        alone = f" ('{widest.label}' alone {max(widths):,})" if widest is not None else ""
        advice = (f"; a categorical predictor with that many levels usually belongs in a random "
                  f"effect such as (1 | {widest.label})" if fixed and widest is not None
                  and widest.degree == 1 else "")
        raise self.ferr(f"the {what} would have {p:,} columns{alone} for {self.rows.size:,} "
                        f"rows; at most {limit:,} columns and {MAX_DESIGN_CELLS:,} values are "
                        f"built{advice}", widest.factors[0] if widest is not None else None)

    @staticmethod
    def _block(v: _Var, full: bool):
        if v.numeric:
            return v.values[:, None], [v.label]
        if full:
            return np.eye(len(v.levels))[v.codes], [v.prefix + lv for lv in v.levels]
        cmat, suffix = v.coding.matrix(v.levels)
        return cmat[v.codes], [v.label + s for s in suffix]

    # ------------------------------------------------------------------ response
    def response(self, success_level):
        r = self.f.response
        name = r.to_text()
        if isinstance(r, Call) and r.func == "cbind":
            s, fl = self.numeric(r.args[0]), self.numeric(r.args[1])
            trials = s + fl
            neg = int(((s < 0) | (fl < 0)).sum())
            if neg:
                raise DataError(f"{name}: {neg} rows have a negative count of successes or "
                                "failures")
            zero = int((trials == 0).sum())
            if zero:
                raise DataError(f"{name}: {zero} row{'s have' if zero > 1 else ' has'} zero "
                                "trials (successes + failures = 0); remove them first")
            return s / trials, None, trials
        col = None
        if isinstance(r, Name) and self.kind(r.name) != "numeric":
            col = r.name
        elif isinstance(r, Call) and r.func == "factor":
            col = r.args[0].name
        if col is None:
            return self.numeric(r), None, None
        return self._categorical_response(name, col, success_level)

    def _categorical_response(self, name, col, success_level):
        s = self.col(col)
        kind = self.kind(col)
        if kind == "categorical":
            self._refuse_mixed_response(name, s.iloc[self.rows])
        codes, levels = self.factor(col)
        if kind == "bool":
            codes, levels = s.iloc[self.rows].to_numpy(dtype=bool).astype(np.int64), \
                ["False", "True"]
        shown = ", ".join(f"'{lv}'" for lv in levels[:6]) + (", ..." if len(levels) > 6 else "")
        if len(levels) == 1:
            raise DataError(f"response '{name}' has the single value {shown} in all rows used; "
                            "a yes/no response needs two different values")
        if len(levels) != 2:
            what = (f"is categorical with {len(levels)} levels" if kind == "categorical"
                    and isinstance(s.dtype, pd.CategoricalDtype)
                    else f"is not numeric: it has {len(levels)} different values")
            raise DataError(f"response '{name}' {what} ({shown}); the response must be "
                            "numeric or have exactly two levels (for a yes/no model)")
        if success_level is None:
            success = 1
        else:
            label = level_label(success_level)
            if label not in levels:
                raise DataError(f"success level '{label}' is not a level of the response "
                                f"'{name}' (levels: {shown})")
            success = levels.index(label)
        y = (codes == success).astype(float)
        return y, [levels[1 - success], levels[success]], None

    def _refuse_mixed_response(self, name, s: pd.Series) -> None:
        """A text response some of whose values are numbers is a data-entry problem: name the
        rows that are not numbers instead of fitting the text as categories."""
        text = s.astype(str).str.strip()
        numbers = pd.to_numeric(text, errors="coerce").notna().to_numpy()
        if numbers.all() or not numbers.any():
            if numbers.all() and text.nunique() > 2:
                raise DataError(f"the response '{name}' holds numbers stored as text; convert "
                                "the column to numbers first")
            return
        bad = np.flatnonzero(~numbers)
        if len(bad) > len(text) // 2:
            return                              # mostly text: a categorical response
        shown = ", ".join(f"{self.rows[i] + 1} ({text.iloc[i][:20]!r})" for i in bad[:8])
        raise DataError(f"the response '{name}' mixes numbers and text: {len(bad)} of "
                        f"{len(text)} rows are not numbers (rows {shown}"
                        f"{', ...' if len(bad) > 8 else ''}, counting from 1). Correct or "
                        "remove those values")

    # ------------------------------------------------------------------ random effects
    def grouping(self, r):
        label = r.group_label
        codes, levels = self.factor(r.group[0])
        for part in r.group[1:]:
            c2, l2 = self.factor(part)
            combined = codes.astype(np.int64) * len(l2) + c2
            uniq, codes = np.unique(combined, return_inverse=True)
            levels = [f"{levels[u // len(l2)]}:{l2[u % len(l2)]}" for u in uniq]
        if len(levels) < 2:
            raise DataError(f"grouping factor '{label}' has only one level; a random effect "
                            "needs at least two")
        return np.asarray(codes, dtype=np.int32), list(levels)

    def reterms(self) -> list:
        merged: dict = {}
        for r in self.f.random:
            label = r.group_label
            X, names, _, _ = self.model_matrix(r.terms, r.intercept, fixed=False)
            block = np.tril(np.ones((len(names),) * 2, dtype=bool))
            if not r.correlated:
                block = np.eye(len(names), dtype=bool)
            if label not in merged:
                refs, levels = self.grouping(r)
                merged[label] = dict(refs=refs, levels=levels, z=[X], names=list(names),
                                     masks=[block])
                continue
            m = merged[label]
            dup = [nm for nm in names if nm in m["names"]]
            if dup:
                raise self.ferr(f"the random-effect column '{dup[0]}' appears twice for the "
                                f"grouping factor '{label}'; remove one of the terms",
                                span=(r.pos, _close_paren(self.text, r.pos)))
            m["z"].append(X)
            m["names"] += names
            m["masks"].append(block)
        out = []
        for label, m in merged.items():
            p = len(m["names"])
            mask = np.zeros((p, p), dtype=bool)
            i = 0
            for b in m["masks"]:
                k = b.shape[0]
                mask[i:i + k, i:i + k] = b
                i += k
            z = np.ascontiguousarray(np.hstack(m["z"]).T, dtype=np.float64)
            out.append(ReTerm(label, m["refs"], m["levels"], z, m["names"], mask))
        return out

    # ------------------------------------------------------------------ everything
    def build(self, success_level) -> Design:
        if len(self.data) == 0:
            raise DataError("the table has no rows")
        used = self.check_columns()
        self.select_rows(used)
        y, response_levels, trials = self.response(success_level)
        X, names, labels, variables = self.model_matrix(self.f.fixed, self.f.intercept,
                                                        fixed=True)
        contrasts = {k: v.coding for k, v in variables.items() if not v.numeric and not v.full}
        levels = {k: list(v.levels) for k, v in variables.items() if not v.numeric}
        offset = None
        for o in self.f.offsets:
            offset = self.numeric(o) if offset is None else offset + self.numeric(o)
        _check_magnitude(f"the response '{self.f.response.to_text()}'", y)
        for j, nm in enumerate(names):
            _check_magnitude(f"the predictor column '{nm}'", X[:, j])
        if offset is not None:
            _check_magnitude("the offset", offset)
        reterms = self.reterms()
        spec = ModelSpec(self.f, levels=dict(self.levels), contrasts=contrasts,
                         factor_levels=levels, transforms=dict(self.transforms))
        return Design(X=X, fixef_names=names, fixef_terms=labels,
                      y=np.asarray(y, dtype=float), response_name=self.f.response.to_text(),
                      response_levels=response_levels,
                      trials=None if trials is None else np.asarray(trials, dtype=float),
                      offset=None if offset is None else np.array(offset, dtype=float),
                      reterms=reterms, rows=self.rows, spec=spec, n_dropped=self.n_dropped,
                      dropped_by_column=self.dropped_by_column)


_MATH = {"log": np.log, "log2": np.log2, "log10": np.log10, "exp": np.exp, "sqrt": np.sqrt,
         "abs": np.abs, "abs2": np.square}


#: Largest absolute value, and smallest non-zero largest absolute value, of a column used in a
#: fit: beyond them sums of squares overflow or underflow double precision.
MAGNITUDE_LIMITS = (1e-100, 1e100)


def _check_magnitude(what: str, values: np.ndarray) -> None:
    """Refuse a column whose values are too large or too small for sums of squares."""
    top = float(np.max(np.abs(values))) if values.size else 0.0
    small, big = MAGNITUDE_LIMITS
    if top > big or 0 < top < small:
        size = "large" if top > big else "small"
        raise DataError(f"{what} has values as {size} as {top:.3g} in absolute value, "
                        f"outside what a fit can handle ({small:g} to {big:g}): sums of "
                        f"squares would {'overflow' if size == 'large' else 'underflow'}. "
                        "Rescale it first, e.g. express it in other units")


def _missing(s: pd.Series) -> np.ndarray:
    """Boolean mask of missing values, without pandas' generic ``isna`` where the storage tells."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return s.cat.codes.to_numpy() < 0
    if isinstance(dt, np.dtype):
        if dt.kind in "iub":
            return np.zeros(len(s), dtype=bool)
        if dt.kind == "f":
            return np.isnan(s.to_numpy())
    return s.isna().to_numpy()


def column_kind(s: pd.Series) -> str:
    """How a column enters a formula: 'numeric', 'bool', 'categorical' or 'datetime'."""
    dt = s.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dt):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dt) or pd.api.types.is_timedelta64_dtype(dt):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_complex_dtype(dt):
        return "numeric"
    return "categorical"


def level_labels(s: pd.Series) -> np.ndarray:
    """Level label of each value of a column, spelled as :func:`materialize` spells levels."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return np.array([level_label(v) for v in s.astype(object)], dtype=object)
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.array([str(bool(v)) for v in s], dtype=object)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return np.array([level_label(v) for v in s.to_numpy()], dtype=object)
    return s.astype(str).to_numpy(dtype=object)


def _factorize(s: pd.Series):
    """(codes int64, levels list of str) with R's level order; unused levels dropped."""
    kind = column_kind(s)
    if isinstance(s.dtype, pd.CategoricalDtype):
        raw = s.cat.codes.to_numpy().astype(np.int64)
        cats = s.cat.categories
        if raw.size and raw.min() < 0:
            raise DataError(f"column '{s.name}' has missing values among the rows used")
        present = np.bincount(raw, minlength=len(cats)) > 0
        used = np.flatnonzero(present)
        codes = (np.cumsum(present) - 1)[raw]
        return codes, [level_label(c) for c in cats[used].tolist()]
    if kind == "bool":
        v = s.to_numpy(dtype=bool)
        used, codes = np.unique(v, return_inverse=True)
        return codes.astype(np.int64), [str(bool(u)) for u in used]
    if kind == "numeric":
        codes, uniq = pd.factorize(s, sort=True)
        return codes.astype(np.int64), [level_label(u) for u in uniq]
    codes, uniq = pd.factorize(s.astype(str), sort=True)
    return codes.astype(np.int64), [str(u) for u in uniq]


def _short(name: str, limit: int = 60) -> str:
    """A name for a message, cut to ``limit`` characters."""
    return name if len(name) <= limit else name[:limit - 3] + "..."


def _missing_column_message(name: str, columns: list) -> str:
    if len(name) > 60:
        return f"column '{_short(name)}' ({len(name):,} characters) not found"
    strs = [str(c) for c in columns]
    lower = [c for c in strs if c.lower() == name.lower()]
    match = lower or get_close_matches(name, strs, n=1, cutoff=0.6)
    if not match:
        match = get_close_matches(name.lower(), [c.lower() for c in strs], n=1, cutoff=0.6)
        match = [strs[[c.lower() for c in strs].index(match[0])]] if match else []
    if match:
        return f"column '{name}' not found; did you mean '{match[0]}'?"
    if not strs:
        return f"column '{name}' not found; the table has no columns"
    shown = ", ".join(f"'{_short(c)}'" for c in strs[:12]) + (", ..." if len(strs) > 12 else "")
    return f"column '{name}' not found; the table's columns are {shown}"


def _close_paren(text: str, pos: int) -> int | None:
    """Position one past the ')' matching the '(' at ``pos`` (None if not found)."""
    if not text or pos < 0:
        return None
    depth = 0
    for i in range(pos, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return None
