"""The model being built on the Model page, as plain data.

:class:`ModelSpec` is the single source of truth behind the model widgets and the formula
text box: widgets are views of it, :meth:`ModelSpec.to_formula` writes lme4-syntax text,
and :meth:`ModelSpec.from_formula` reads a parsed :class:`mm_core.formula.Formula` back.
No Streamlit here, so the round trip is unit-tested directly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gui import engine
from gui.engine import quote_name
from gui.views.tables import escape_markdown as esc

#: The families the app offers, under the engine's canonical names (R's: ``"Gamma"``,
#: ``"inverse.gaussian"``); every spelling the engine accepts is read back to these.
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(engine.family_name(f) for f in engine.FAMILY_NAMES))


def term_parts(label: str) -> list[str]:
    """The interacting parts of a term label, read by the engine's parser: ``"a:factor(b)"`` →
    ``["a", "factor(b)"]``; a main effect (``"`x:y`"``, a column whose name holds a colon) has one."""
    return [f.to_text() for f in engine.parse_term(label).factors]


def canonical_link(family: str) -> str:
    """The family's default link (R's): ``"logit"`` for ``"binomial"``, ``"1/mu^2"`` for ``"inverse.gaussian"``."""
    return engine.get_family(family).default_link


def links_for(family: str) -> tuple[str, ...]:
    """The links R lists for the family (``okLinks``), its default first."""
    return engine.get_family(family).allowed_links


@dataclass
class RandomSpec:
    """Random effects of one grouping factor: ``(1 + x | g)``, ``(1 + x || g)``, ``(0 + x | g)``.

    Fields
    ------
    group : str
        Grouping factor, ``"subj"`` or an interaction ``"batch:cask"``.
    intercept : bool
        Whether the term has a random intercept.
    slopes : list of str
        Term labels of the random slopes (``"days"``, ``"factor(days)"``).
    correlated : bool
        ``|`` (correlated, full covariance) or ``||`` (independent columns).
    """

    group: str
    intercept: bool = True
    slopes: list[str] = field(default_factory=list)
    correlated: bool = True

    @property
    def columns(self) -> list[str]:
        return (["(Intercept)"] if self.intercept else []) + list(self.slopes)

    def to_text(self) -> str:
        parts = ["1" if self.intercept else "0"] + list(self.slopes)
        bar = "|" if self.correlated or len(self.columns) < 2 else "||"
        group = ":".join(quote_name(g) for g in self.group.split(":"))
        return f"({' + '.join(parts)} {bar} {group})"

    def describe(self) -> str:
        """Plain-English description ("random intercept and slope of days for subj, correlated")."""
        bits = []
        if self.intercept:
            bits.append("random intercept")
        if self.slopes:
            noun = "slope" if len(self.slopes) == 1 else "slopes"
            bits.append(f"random {noun} of {', '.join(self.slopes)}")
        if not bits:
            return f"no random effects for {self.group}"
        text = " and ".join(bits) + f" for each level of {self.group}"
        if len(self.columns) > 1:
            text += ", correlated" if self.correlated else ", independent"
        return text


@dataclass
class ModelSpec:
    """Everything needed to fit one model, without the data.

    ``family`` is held under the engine's canonical name (:data:`FAMILIES`; any spelling the
    engine accepts, such as ``"gamma"``, is read as ``"Gamma"``). ``link=None`` means the
    family's canonical link. ``n_agq`` and ``fast`` only apply to
    GLMMs and ``reml`` only to LMMs; :meth:`fit_kwargs` drops what does not apply. LMMs are
    fitted by REML unless the user switches it off (the default of lme4, jamovi and JASP, and
    the criterion the Satterthwaite and Kenward–Roger degrees of freedom are defined for);
    ``mm_core.fit`` itself keeps its documented default.
    """

    response: str | None = None
    family: str = "gaussian"
    link: str | None = None
    intercept: bool = True
    fixed: list[str] = field(default_factory=list)
    random: list[RandomSpec] = field(default_factory=list)
    reml: bool = True
    n_agq: int = 1
    fast: bool = False
    offsets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # one spelling: the engine's canonical name for any it accepts ("gamma" -> "Gamma")
        self.family = engine.family_name(self.family)

    # ------------------------------------------------------------------ text
    def to_formula(self) -> str:
        """lme4-syntax formula text, e.g. ``reaction ~ 1 + days + (1 + days | subj)``."""
        rhs = ["1" if self.intercept else "0"] + list(self.fixed)
        rhs += [f"offset({o})" for o in self.offsets]
        rhs += [r.to_text() for r in self.random]
        return f"{self.response or '?'} ~ {' + '.join(rhs)}"

    @property
    def is_complete(self) -> bool:
        return bool(self.response) and bool(self.random) and all(r.columns for r in self.random)

    @property
    def is_glmm(self) -> bool:
        return self.family != "gaussian" or (self.link not in (None, "identity"))

    @property
    def effective_link(self) -> str:
        return self.link or canonical_link(self.family)

    def fit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``mm_core.fit`` (family, link, reml, n_agq, fast)."""
        kw: dict[str, Any] = {"family": self.family}
        if self.link and self.link != canonical_link(self.family):
            kw["link"] = self.link
        if self.family == "gaussian" and not self.is_glmm:
            kw["reml"] = bool(self.reml)
        else:
            kw["n_agq"] = int(self.n_agq)
            kw["fast"] = bool(self.fast)
        return kw

    def describe(self) -> list[str]:
        """Plain-English Markdown lines describing the model (user names shown literally)."""
        lines = []
        fam = self.family if self.link in (None, canonical_link(self.family)) else f"{self.family} ({self.link} link)"
        lines.append(f"Response **{esc(self.response or '—')}**, {fam} family.")
        fixed = (["intercept"] if self.intercept else []) + list(self.fixed)
        lines.append("Fixed effects: " + (esc(", ".join(fixed)) if fixed else "none") + ".")
        for r in self.random:
            lines.append(esc(r.describe()[0].upper() + r.describe()[1:] + "."))
        if not self.random:
            lines.append("No random effects yet: add at least one grouping factor.")
        return lines

    # ------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        d = dict(d)
        d["random"] = [RandomSpec(**r) for r in d.get("random", [])]
        return cls(**d)

    def copy(self) -> ModelSpec:
        return ModelSpec.from_dict(self.to_dict())

    def with_(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (``spec.with_(family="poisson", link=None)``)."""
        return replace(self.copy(), **changes)

    # --------------------------------------------------------------- parsing
    @classmethod
    def from_text(cls, text: str, base: ModelSpec | None = None) -> ModelSpec:
        """Widget model of formula text, read by the engine's parser (:func:`mm_core.parse_formula`).

        Raises :class:`mm_core.errors.FormulaError` for text that is not a formula.

        >>> ModelSpec.from_text("reaction ~ days + (days | subj)").to_formula()
        'reaction ~ 1 + days + (1 + days | subj)'
        """
        return cls.from_formula(engine.parse_formula(text), base)

    @classmethod
    def from_formula(cls, formula: engine.Formula, base: ModelSpec | None = None) -> ModelSpec:
        """Widget model of a parsed formula (``mm_core.parse_formula``).

        Family, link, REML, n_agq and fast are taken from ``base`` (the formula does not
        carry them). Several terms on the same grouping factor are merged when they are the
        pieces of one independent term (``(1|g) + (0 + x|g)`` is ``(1 + x || g)``);
        otherwise they stay separate entries.
        """
        base = base or cls()
        random: list[RandomSpec] = []
        for rt in formula.random:
            slopes = [t.label for t in rt.terms]
            ncols = int(bool(rt.intercept)) + len(slopes)
            random.append(RandomSpec(group=rt.group_label, intercept=bool(rt.intercept), slopes=slopes,
                                     correlated=bool(rt.correlated) or ncols < 2))
        return replace(base.copy(), response=formula.response_name, intercept=bool(formula.intercept),
                       fixed=[t.label for t in formula.fixed], random=_merge_independent(random),
                       offsets=[o.to_text() for o in formula.offsets])


def _merge_independent(terms: list[RandomSpec]) -> list[RandomSpec]:
    """Merge single-column terms of the same grouping factor into one ``||`` term."""
    out: list[RandomSpec] = []
    for t in terms:
        prev = next((o for o in out if o.group == t.group), None)
        if prev is None:
            out.append(t)
            continue
        mergeable = (len(t.columns) == 1 and (not prev.correlated or len(prev.columns) == 1)
                     and not (t.intercept and prev.intercept)
                     and not set(t.slopes) & set(prev.slopes))
        if mergeable:
            prev.intercept = prev.intercept or t.intercept
            prev.slopes = prev.slopes + [s for s in t.slopes if s not in prev.slopes]
            prev.correlated = False
        else:
            out.append(t)
    return out
