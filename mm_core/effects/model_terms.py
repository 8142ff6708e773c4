"""The fixed part of a fitted model as variables and terms, and its model matrix on a cell grid.

Marginal means and the type III hypotheses are statements about the cells of the design (every
combination of the factors' levels), not about the observed rows. This module reads the fitted
model's fixed-effects terms into :class:`FixedStructure`: its factors (column, levels, coding),
its numeric expressions (covariates) and, per term, which of them it multiplies. From that it
builds R's ``model.matrix`` on any table of cells: with the model's own codings, with treatment
coding, or with every factor fully dummy-coded (lmerTest's "rank-deficient" design).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..contrasts import Treatment
from ..design import interaction_columns
from ..formula.terms import Call, Name


@dataclass(frozen=True)
class FixedTerm:
    """One fixed-effects term: its label (``"recipe:temp"``) and its variables' keys in order."""

    label: str
    keys: tuple

    @property
    def degree(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class FixedStructure:
    """Variables and terms of a fitted model's fixed part.

    Fields
    ------
    intercept : bool
    terms : tuple of FixedTerm
        In the order of the model matrix (by degree, as R sorts them).
    factors : dict
        Variable key (the expression's text, ``"recipe"``, ``"factor(cyl)"``) -> (data column,
        levels, coding) for categorical variables.
    numerics : dict
        Variable key -> the set of data columns the numeric expression uses (``"log(x)"`` -> {x}).
    """

    intercept: bool
    terms: tuple
    factors: dict
    numerics: dict

    @property
    def factor_columns(self) -> dict:
        """Data column -> levels, for the categorical variables."""
        return {col: levels for col, levels, _ in self.factors.values()}

    @property
    def covariate_columns(self) -> list:
        """Data columns used by numeric expressions, in order of appearance."""
        out: list = []
        for cols in self.numerics.values():
            out += [c for c in sorted(cols) if c not in out]
        return out

    def numeric_keys(self, term: FixedTerm) -> tuple:
        return tuple(k for k in term.keys if k in self.numerics)

    def factor_keys(self, term: FixedTerm) -> tuple:
        return tuple(k for k in term.keys if k in self.factors)

    # -- R's model.matrix on cells -------------------------------------------------------------
    def full_coded(self) -> set:
        """(term index, factor key) pairs R codes by indicators instead of contrasts."""
        sets = [frozenset(t.keys) for t in self.terms]
        full = set()
        for ti, t in enumerate(self.terms):
            for key in self.factor_keys(t):
                rest = sets[ti] - {key}
                if rest and not any(rest <= sets[tj] for tj in range(ti)):
                    full.add((ti, key))
        if not self.intercept:
            for ti, t in enumerate(self.terms):
                cats = self.factor_keys(t)
                if cats:
                    full.add((ti, cats[0]))
                    break
        return full

    def model_matrix(self, codes: dict, values: dict, coding: str = "model"):
        """Model matrix on cells.

        Parameters
        ----------
        codes : dict
            Factor key -> level codes (int array) of each cell.
        values : dict
            Numeric key -> values of each cell.
        coding : {"model", "treatment", "full"}
            The fit's codings; treatment coding against the first level; or every factor of
            every term by indicators of all its levels (lmerTest's ``get_rdX``).

        Returns
        -------
        X : ndarray
        names : list of str
        term_of_column : list of str
        """
        n = len(next(iter(codes.values()))) if codes else len(next(iter(values.values())))
        full = self.full_coded()
        blocks: list[np.ndarray] = []
        names: list[str] = []
        owner: list[str] = []
        if self.intercept:
            blocks.append(np.ones((n, 1)))
            names.append("(Intercept)")
            owner.append("(Intercept)")
        for ti, t in enumerate(self.terms):
            mat: np.ndarray | None = None
            nm: list[str] = []
            for key in t.keys:
                if key in self.numerics:
                    b, bn = np.asarray(values[key], float)[:, None], [key]
                else:
                    col, levels, model_coding = self.factors[key]
                    prefix = col if key.startswith("fulldummy(") else key
                    if coding == "full" or (ti, key) in full:
                        b, bn = np.eye(len(levels))[codes[key]], [prefix + lv for lv in levels]
                    else:
                        cod = model_coding if coding == "model" else Treatment().resolve(levels)
                        cmat, suffix = cod.matrix(levels)
                        b, bn = cmat[codes[key]], [key + s for s in suffix]
                mat, nm = (b, bn) if mat is None else interaction_columns(mat, nm, b, bn)
            if mat is None:
                continue
            blocks.append(mat)
            names += nm
            owner += [t.label] * len(nm)
        X = np.hstack(blocks) if blocks else np.zeros((n, 0))
        return X, names, owner

    def containment(self, same_covariates: bool = True) -> dict:
        """Term -> the terms that contain it.

        T is contained in T2 when T2 has all of T's variables and more; lmerTest
        (``containment``) also asks that both involve the same numeric variables, car
        (``relatives``, ``same_covariates=False``) does not.
        """
        out = {}
        for t in self.terms:
            vt, nt = set(t.keys), set(self.numeric_keys(t))
            out[t.label] = [t2.label for t2 in self.terms
                            if vt <= set(t2.keys) and set(t2.keys) - vt
                            and (not same_covariates or nt == set(self.numeric_keys(t2)))]
        return out


def fixed_structure(design) -> FixedStructure:
    """The :class:`FixedStructure` of a :class:`mm_core.design.Design`.

    Notes
    -----
    R equivalent: ``attr(terms(m), "factors")`` with the model frame's ``dataClasses`` and
    ``m@frame``'s factor levels.

    Examples
    --------
    >>> from mm_core import datasets
    >>> from mm_core.design import materialize
    >>> d = materialize("y ~ 1 + service * dept + (1 | s)", datasets.load("insteval"))
    >>> s = fixed_structure(d)
    >>> [t.label for t in s.terms], s.containment()["service"]
    (['service', 'dept', 'service:dept'], ['service:dept'])
    """
    formula = design.formula
    factors, numerics, terms = {}, {}, []
    for t in sorted(formula.fixed, key=lambda t: t.degree):
        keys = []
        for fac in t.factors:
            key = fac.to_text()
            keys.append(key)
            if key in design.factor_levels:
                if isinstance(fac, Call) and fac.func in ("factor", "C", "fulldummy"):
                    col = fac.args[0].name
                else:
                    col = getattr(fac, "name", key)
                coding = design.contrasts.get(key)
                factors[key] = (col, list(design.factor_levels[key]), coding)
            else:
                numerics[key] = set(fac.columns) if not isinstance(fac, Name) else {fac.name}
        terms.append(FixedTerm(t.label, tuple(keys)))
    return FixedStructure(bool(formula.intercept), tuple(terms), factors, numerics)
