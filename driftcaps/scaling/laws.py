"""Forgetting scaling laws as named forms (``docs/scaling.md#laws``).

A :class:`Law` maps named variables (arrays of positive numbers such as steps ``S`` or trainable
parameters ``P``) and named parameters to predicted forgetting (positive). Built in:

- ``kalajdzievski``: ``F = A · (P^alpha · S)^beta + E`` (Kalajdzievski 2024, "Scaling laws for
  forgetting when fine-tuning large language models", arXiv 2401.05605: forgetting is a shifted
  power law in fine-tuned parameters P and update steps S).
- ``bethune``: ``F = A · D^beta / N^alpha + E`` (Bethune et al. 2025, "Scaling laws for
  forgetting during finetuning with pretraining data injection", arXiv 2502.06042: D fine-tuning
  tokens, N parameters; their L0 and E are one constant here, as a fit cannot tell them apart).
- ``zhang``: ``F = A · X^(-alpha) · D^(-beta) + E`` (Zhang et al. 2024, "When scaling meets LLM
  finetuning", arXiv 2402.17193: the multiplicative joint law in a scaling factor X and data D).
- ``power``: ``F = A · x^beta + E``, a plain shifted power law in one variable ``x``.
- ``hill``: ``F = E + (1 − E) / (1 + (h / x)^k)``, for a forgetting *rate* (such as the early
  compliance rate of :mod:`driftcaps.probe`), bounded by 1: it rises from E, is half-way at
  ``x = h`` and grows steeply with large ``k`` (a logistic curve in ``log x``).

Users add forms with :func:`register_law` (a Python function) or :func:`formula_law` (a formula
string, parsed into a tree of arithmetic; it is never passed to ``eval``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from driftcaps.errors import DriftCapsError

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Law:
    """One functional form of forgetting.

    Attributes:
        name: registry name.
        variables: names of the input variables, each an array of shape (n,), float64, > 0.
        params: names of the fitted parameters, in a fixed order.
        fn: ``fn(x, p) -> (n,) array`` with ``x`` a mapping variable -> (n,) array and ``p`` a
            mapping parameter -> float.
        bounds: parameter -> (low, high) for the fit; missing parameters are unbounded.
        starts: deterministic starting points (parameter -> value) tried by the fitter.
        formula: the form, for people.
        source: the paper (or "user").
        upper: the largest value the law can take (1 for a rate), or None; forecasts and their
            intervals are clipped to it.
    """

    name: str
    variables: tuple[str, ...]
    params: tuple[str, ...]
    fn: Callable[[Arrays, Mapping[str, float]], np.ndarray]
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    starts: tuple[dict[str, float], ...] = ()
    formula: str = ""
    source: str = "user"
    upper: float | None = None

    def __call__(self, x: Arrays, p: Mapping[str, float] | Sequence[float]) -> np.ndarray:
        """Predicted forgetting, shape (n,); ``p`` by name or in :attr:`params` order."""
        if not isinstance(p, Mapping):
            p = dict(zip(self.params, (float(v) for v in p), strict=True))
        return np.asarray(self.fn({k: np.asarray(v, dtype=float) for k, v in x.items()}, p), dtype=float)

    def bound_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) arrays in :attr:`params` order, for ``scipy.optimize.least_squares``."""
        lo = [self.bounds.get(k, (-np.inf, np.inf))[0] for k in self.params]
        hi = [self.bounds.get(k, (-np.inf, np.inf))[1] for k in self.params]
        return np.array(lo, dtype=float), np.array(hi, dtype=float)


def _grid(**axes: Sequence[float]) -> tuple[dict[str, float], ...]:
    """Every combination of the given per-parameter values (a deterministic multi-start grid)."""
    combos: list[dict[str, float]] = [{}]
    for name, values in axes.items():
        combos = [{**c, name: float(v)} for c in combos for v in values]
    return tuple(combos)


_POSITIVE = {"A": (0.0, np.inf), "E": (0.0, np.inf)}
_EXPONENT = (-5.0, 5.0)

LAWS: dict[str, Law] = {}


def register_law(law: Law, replace: bool = False) -> Law:
    """Add ``law`` to :data:`LAWS` under its name and return it.

    Raises:
        DriftCapsError: the name is taken (pass ``replace=True``) or the law declares no parameter.
    """
    if not law.params:
        raise DriftCapsError(f"law {law.name!r} has no parameters to fit.")
    if law.name in LAWS and not replace:
        raise DriftCapsError(f"a law named {law.name!r} exists; choose another name or pass replace=True.")
    LAWS[law.name] = law
    return law


register_law(Law(
    "kalajdzievski", ("P", "S"), ("A", "alpha", "beta", "E"),
    lambda x, p: p["A"] * (x["P"] ** p["alpha"] * x["S"]) ** p["beta"] + p["E"],
    bounds={**_POSITIVE, "alpha": _EXPONENT, "beta": _EXPONENT},
    starts=_grid(A=(1e-3, 1e-1), alpha=(0.1, 0.5), beta=(0.2, 0.6), E=(0.0,)),
    formula="A * (P**alpha * S)**beta + E", source="Kalajdzievski 2024, arXiv 2401.05605"))
register_law(Law(
    "bethune", ("D", "N"), ("A", "alpha", "beta", "E"),
    lambda x, p: p["A"] * x["D"] ** p["beta"] / x["N"] ** p["alpha"] + p["E"],
    bounds={**_POSITIVE, "alpha": _EXPONENT, "beta": _EXPONENT},
    starts=_grid(A=(1e-3, 1e-1, 10.0), alpha=(0.0, 0.3), beta=(0.2, 0.6), E=(0.0,)),
    formula="A * D**beta / N**alpha + E", source="Bethune et al. 2025, arXiv 2502.06042"))
register_law(Law(
    "zhang", ("X", "D"), ("A", "alpha", "beta", "E"),
    lambda x, p: p["A"] * x["X"] ** (-p["alpha"]) * x["D"] ** (-p["beta"]) + p["E"],
    bounds={**_POSITIVE, "alpha": _EXPONENT, "beta": _EXPONENT},
    starts=_grid(A=(1e-1, 10.0), alpha=(-0.3, 0.3), beta=(-0.5, 0.5), E=(0.0,)),
    formula="A * X**(-alpha) * D**(-beta) + E", source="Zhang et al. 2024, arXiv 2402.17193"))
register_law(Law(
    "power", ("x",), ("A", "beta", "E"),
    lambda x, p: p["A"] * x["x"] ** p["beta"] + p["E"],
    bounds={**_POSITIVE, "beta": _EXPONENT},
    starts=_grid(A=(1e-3, 1e-1, 10.0), beta=(0.2, 0.5, 1.0), E=(0.0,)),
    formula="A * x**beta + E", source="a shifted power law in one variable"))
register_law(Law(
    "hill", ("x",), ("E", "h", "k"),
    lambda x, p: p["E"] + (1.0 - p["E"]) / (1.0 + (p["h"] / x["x"]) ** p["k"]),
    bounds={"E": (0.0, 1.0), "h": (1e-9, np.inf), "k": (0.0, 20.0)},
    starts=_grid(E=(0.05, 0.2), h=(2.0, 8.0, 32.0), k=(1.0, 3.0)),
    formula="E + (1 - E) / (1 + (h / x)**k)", upper=1.0,
    source="a rate rising from E towards 1, half-way at x = h (the Hill curve; a logistic in log x)"))


def get_law(name: str) -> Law:
    """The registered law ``name``.

    Raises:
        DriftCapsError: unknown name (the message lists the known ones).
    """
    if name not in LAWS:
        raise DriftCapsError(f"unknown law {name!r}; choose one of {', '.join(sorted(LAWS))} "
                             "or give a formula such as 'A * S**beta + E'.")
    return LAWS[name]


_BINARY = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}
_FUNCS = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt}


def _compile(node: ast.AST, variables: set[str], text: str) -> Callable[[Arrays, Mapping[str, float]], np.ndarray]:
    """A closure evaluating one node of a parsed formula; anything but arithmetic is refused."""
    if isinstance(node, ast.Expression):
        return _compile(node.body, variables, text)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = float(node.value)
        return lambda x, p: value
    if isinstance(node, ast.Name):
        name = node.id
        if name in _FUNCS:
            raise DriftCapsError(f"formula {text!r}: {name} is a function; call it, as in {name}(S).")
        return (lambda x, p: x[name]) if name in variables else (lambda x, p: p[name])
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op, left, right = _BINARY[type(node.op)], _compile(node.left, variables, text), _compile(node.right, variables, text)
        return lambda x, p: op(left(x, p), right(x, p))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner, sign = _compile(node.operand, variables, text), -1.0 if isinstance(node.op, ast.USub) else 1.0
        return lambda x, p: sign * inner(x, p)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and len(node.args) == 1 and not node.keywords):
        fn, arg = _FUNCS[node.func.id], _compile(node.args[0], variables, text)
        return lambda x, p: fn(arg(x, p))
    raise DriftCapsError(f"formula {text!r}: {ast.unparse(node)!r} is not allowed; use numbers, the variables, "
                         "parameter names, + - * / **, and exp, log or sqrt.")


def formula_law(name: str, text: str, variables: Sequence[str],
                bounds: Mapping[str, tuple[float, float]] | None = None) -> Law:
    """A :class:`Law` from a formula string such as ``"A * S**beta + E"``.

    Names in ``variables`` are inputs; every other name is a fitted parameter (in order of first
    appearance), unbounded unless ``bounds`` says otherwise. The text is parsed with :mod:`ast` and evaluated by walking the tree: only
    numbers, names, ``+ - * / **``, unary minus and ``exp``/``log``/``sqrt`` are accepted.

    Raises:
        DriftCapsError: a syntax error, anything outside that arithmetic, no parameter, or a
            variable the formula does not use.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise DriftCapsError(f"formula {text!r}: not an arithmetic expression ({e.msg}).") from None
    fn = _compile(tree, set(variables), text)
    found = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in _FUNCS),
                   key=lambda n: n.col_offset)
    names = [n.id for n in found]
    params = tuple(dict.fromkeys(n for n in names if n not in variables))
    unused = [v for v in variables if v not in names]
    if unused:
        raise DriftCapsError(f"formula {text!r} does not use the variable(s) {', '.join(unused)}; "
                             "name them in the formula or drop them from --x.")
    if not params:
        raise DriftCapsError(f"formula {text!r} has no parameter to fit (every name is a variable).")
    starts = _grid(**{k: ((0.0,) if k == "E" else (0.1, 1.0)) for k in params})
    if len(starts) > 64:
        starts = tuple({k: (0.0 if k == "E" else v) for k in params} for v in (0.1, 0.5, 1.0))
    return Law(name, tuple(variables), params, fn, bounds=dict(bounds or {}), starts=starts, formula=text)


def check_inputs(law: Law, x: Arrays) -> None:
    """Every variable of ``law`` present, finite and > 0 (power laws need positive inputs).

    Raises:
        DriftCapsError: naming the variable and the first bad value.
    """
    for v in law.variables:
        if v not in x:
            raise DriftCapsError(f"law {law.name!r} needs the variable {v!r}; map a column to it (--x).")
        arr = np.asarray(x[v], dtype=float)
        bad = ~np.isfinite(arr) | (arr <= 0)
        if bad.any():
            raise DriftCapsError(f"variable {v!r}: value {float(arr[bad][0])!r} at point {int(np.argmax(bad))}; "
                                 f"law {law.name!r} needs finite values > 0.")


def describe(law: Law) -> str:
    """``name: formula (variables; parameters; source)`` for listings."""
    return (f"{law.name}: F = {law.formula} (variables {', '.join(law.variables)}; parameters "
            f"{', '.join(law.params)}; {law.source})")


__all__ = ["LAWS", "Law", "check_inputs", "describe", "formula_law", "get_law", "register_law"]
