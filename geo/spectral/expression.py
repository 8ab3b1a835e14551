"""A small, safe evaluator for band-math formulas written with band roles.

Grammar: numbers, band-role names, ``+ - * / **``, unary ``-`` (and ``+``) and parentheses.
The formula is parsed with :mod:`ast` and walked node by node; anything else (calls,
attributes, subscripts, comparisons, boolean operators, lambdas, f-strings, ``:=``...) is
refused with one line that quotes the offending part. Nothing is ever passed to ``eval``.

Division returns NaN where the denominator is at or below ``min_denominator``:
ratios of dark pixels are noise, and reflectance ratios need ρ > ~0.01
(``../shared/DOMAIN.md`` §2). The rule is the same for a constant denominator.

Limits, checked by :func:`parse_expression` before anything is evaluated:

- at most :data:`MAX_LENGTH` characters, :data:`MAX_DEPTH` levels of nesting and
  :data:`MAX_NODES` syntax nodes (a formula is a line of band math, not a program);
- the exponent of ``**`` applied to bands must be a constant number within
  ±:data:`MAX_EXPONENT` (``red ** 2``, ``nir ** 0.5``, ``swir2 ** -1``); a band as exponent
  (``red ** nir``) is refused: its size cannot be bounded and no spectral index needs it;
- the formula must read at least one band.

Numbers follow array semantics, never Python's: constant parts are folded with numpy
``float64`` (overflow gives ``inf``, ``1/0`` gives NaN by the division rule, a fractional power
of a negative number gives NaN, never a complex number or an exception). A constant part
that is ``inf`` or NaN is reported with a :class:`~geo.errors.GeoWarning`; when it makes the
whole formula NaN for every pixel (``red * (0-8)**0.5``) the formula is refused. On arrays,
every operation runs with numpy's floating-point warnings off (``np.errstate``), per chunk
for dask: overflow gives ``inf``, invalid operations NaN, and the result is a real floating
array (float32 bands give float32).
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import dask.array as dsa
import numpy as np
import xarray as xr

from geo.errors import GeoWarning, InvalidParameterError

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "Expression",
    "parse_expression",
]

#: Longest formula accepted, in characters.
MAX_LENGTH = 2000
#: Deepest nesting accepted (parentheses, operator chains: ``a + b + c`` is 3 deep).
MAX_DEPTH = 50
#: Most syntax nodes accepted (each number, name and operator is one).
MAX_NODES = 500
#: Largest magnitude of a constant exponent applied to bands.
MAX_EXPONENT = 10.0
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Default of ``min_denominator`` (see :meth:`Expression.evaluate`).
MIN_DENOMINATOR = 0.01

_BINARY: dict[type, str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_REFUSED_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "floor division '//'",
    ast.Mod: "the modulo operator '%'",
    ast.MatMult: "matrix multiplication '@'",
    ast.LShift: "the shift operator '<<'",
    ast.RShift: "the shift operator '>>'",
    ast.BitOr: "the bitwise operator '|'",
    ast.BitAnd: "the bitwise operator '&'",
    ast.BitXor: "the bitwise operator '^' (use ** for powers)",
}
_REFUSED_NODES: dict[type, str] = {
    ast.Call: "a function call",
    ast.Attribute: "an attribute",
    ast.Subscript: "indexing",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "an assignment (:=)",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator (and/or)",
    ast.IfExp: "a conditional (if/else)",
    ast.Tuple: "a tuple (a comma)",
    ast.List: "a list",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.Starred: "unpacking (*)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_GRAMMAR = "formulas hold band roles, numbers, + - * / ** and parentheses only"

# The formula as a tree of tuples, built by parse_expression:
#   ("num", value: float, part: str)      a number (Python float, so float32 data stay float32)
#   ("band", name: str, part: str)        a band role
#   ("neg", operand, part: str)           unary minus
#   (op, left, right, part: str)          op in "+", "-", "*", "/", "**"
_Node = tuple


@dataclass(frozen=True)
class Expression:
    """A parsed formula.

    Attributes
    ----------
    text : str
        The formula as written, on one line (runs of whitespace made one space).
    names : frozenset of str
        Band roles the formula reads.
    warnings : tuple of str
        What :func:`parse_expression` warned about (constant parts that are inf or NaN).
    """

    text: str
    names: frozenset[str]
    _tree: _Node = field(repr=False)
    warnings: tuple[str, ...] = ()
    _min_denominator: float = field(default=MIN_DENOMINATOR, repr=False)
    _folded: _Node | None = field(default=None, repr=False, compare=False)

    def evaluate(
        self, bands: Mapping[str, Any], *, min_denominator: float = MIN_DENOMINATOR
    ) -> Any:
        """Evaluate on arrays (numpy, dask or xarray) keyed by band role.

        Parameters
        ----------
        bands : mapping of str to array
            One array per role named in the formula (other roles are ignored).
        min_denominator : float
            Divisions by values at or below this give NaN.

        Returns
        -------
        array
            Of the bands' kind (xarray.DataArray, dask or numpy array), real floating point:
            float32 bands give float32, integer bands are computed in float64. Operations run
            with numpy's floating-point warnings off: overflow is ``inf``, invalid is NaN.

        Raises
        ------
        InvalidParameterError
            A band the formula reads is missing from ``bands``.

        Examples
        --------
        >>> import numpy as np
        >>> e = parse_expression("(swir1 - swir2) / (swir1 + swir2)")
        >>> e.evaluate({"swir1": np.array([0.3, 0.0]), "swir2": np.array([0.1, 0.0])})
        array([0.5, nan])
        >>> parse_expression("(red - 0.5) ** 0.5").evaluate({"red": np.array([0.75, 0.25])})
        array([0.5, nan])
        """
        missing = sorted(self.names - set(bands))
        if missing:
            raise InvalidParameterError(
                f"Formula {_quote(self.text)} needs band(s) {', '.join(missing)}, which the "
                f"scene lacks; it has {', '.join(sorted(map(str, bands)))}."
            )
        eps = float(min_denominator)
        if self._folded is not None and _same(eps, self._min_denominator):
            tree = self._folded
        else:
            tree = _fold(self._tree, eps).node
        names = sorted(self.names)
        arrays = [bands[n] for n in names]
        kernel = partial(_kernel, tree, tuple(names), eps)
        if any(isinstance(a, xr.DataArray) for a in arrays):
            return xr.apply_ufunc(
                kernel,
                *arrays,
                dask="parallelized",
                output_dtypes=[_result_dtype(arrays)],
                join="inner",
            )
        if any(isinstance(a, dsa.Array) for a in arrays):
            lazy = dsa.broadcast_arrays(*[dsa.asarray(a) for a in arrays])
            return dsa.map_blocks(kernel, *lazy, dtype=_result_dtype(arrays))
        return kernel(*arrays)


def parse_expression(
    text: str,
    *,
    allowed: set[str] | frozenset[str] | None = None,
    min_denominator: float = MIN_DENOMINATOR,
    warn: bool = True,
) -> Expression:
    """Parse and check a band-math formula.

    Parameters
    ----------
    text : str
        For example ``"red / blue"`` or ``"swir2 / nir + green / red"``.
    allowed : set of str, optional
        Names the formula may use (band roles); any other name is an error.
    min_denominator : float
        The division rule used to fold constant parts (as :meth:`Expression.evaluate`).
    warn : bool
        Issue a :class:`~geo.errors.GeoWarning` for each constant part that is inf or NaN
        (they are also kept in :attr:`Expression.warnings` either way).

    Returns
    -------
    Expression

    Raises
    ------
    InvalidParameterError
        One line that quotes the formula (shortened past 100 characters) and says what is
        wrong: not text, empty, too long (:data:`MAX_LENGTH`), too deep (:data:`MAX_DEPTH`)
        or too big (:data:`MAX_NODES`), a syntax error, a construct outside the grammar, a
        name that is not in ``allowed`` (or starts with ``_``), an exponent that reads a band
        or is not a constant within ±:data:`MAX_EXPONENT`, no band read at all, or a
        constant part that makes the result NaN for every pixel.

    Warns
    -----
    GeoWarning
        A constant part of the formula is inf or NaN (``red * 9**9**9``, ``red + 1e999``).

    Examples
    --------
    >>> sorted(parse_expression("(nir - red) / (nir + red)").names)
    ['nir', 'red']
    >>> parse_expression("red ** nir")
    Traceback (most recent call last):
    ...
    geo.errors.InvalidParameterError: Formula 'red ** nir': the exponent of 'red ** nir' reads band(s) nir; an exponent must be a constant number between -10 and 10.
    """
    if not isinstance(text, str):
        raise InvalidParameterError(
            f"A formula must be text such as 'red / blue', got {type(text).__name__} {text!r:.80}."
        )
    source = " ".join(text.split())  # one line: YAML block scalars may hold newlines
    quoted = _quote(source)
    if not source:
        raise InvalidParameterError(
            "The formula is empty; write band math in band roles, such as '(swir1 - swir2) / "
            "(swir1 + swir2)'."
        )
    if len(source) > MAX_LENGTH:
        raise InvalidParameterError(
            f"Formula {quoted} is {len(source):,} characters long; formulas are limited to "
            f"{MAX_LENGTH:,} characters. Shorten it."
        )
    try:
        source.encode("utf-8")
    except UnicodeError:
        raise InvalidParameterError(
            f"Formula {quoted} holds characters that are not valid text (lone surrogates); "
            "retype it."
        ) from None
    depth = _bracket_depth(source)
    if depth > MAX_DEPTH:
        raise InvalidParameterError(
            f"Formula {quoted} nests brackets {depth} deep; at most {MAX_DEPTH} levels are "
            "allowed. Simplify it."
        )
    tree = _parse(source, quoted)
    depth, nodes = _size(tree)
    if depth > MAX_DEPTH or nodes > MAX_NODES:
        raise InvalidParameterError(
            f"Formula {quoted} is too complex ({nodes} terms and operators, nested {depth} "
            f"deep); at most {MAX_NODES} and {MAX_DEPTH} are allowed. Simplify it."
        )
    ir = _build(tree, source, quoted)
    names = _names(ir)
    bad = sorted(
        n for n in names if n.startswith("_") or (allowed is not None and n not in allowed)
    )
    if bad:
        hint = (
            f"use one of {', '.join(sorted(allowed))}"
            if allowed is not None
            else "band roles never start with '_'"
        )
        raise InvalidParameterError(
            f"Formula {quoted} uses {bad[0]!r}, which is not a band role; {hint}."
        )
    if not names:
        raise InvalidParameterError(
            f"Formula {quoted} reads no band, so it is the same number for every pixel; "
            "use band roles, such as 'red / blue'."
        )
    eps = float(min_denominator)
    folded = _fold(ir, eps)
    _check_exponents(folded.node, quoted)
    if folded.nan_cause is not None:
        part, reason = folded.nan_cause
        raise InvalidParameterError(
            f"Formula {quoted} is NaN for every pixel: {_quote(part)} is {reason}. Fix that part."
        )
    messages = tuple(
        f"Formula {quoted}: its constant part {_quote(part)} is {reason}; the index will hold "
        "inf or NaN where that part counts. Check the formula."
        for part, reason in folded.issues
    )
    if warn:
        for message in messages:
            warnings.warn(message, GeoWarning, stacklevel=2)
    return Expression(source, frozenset(names), ir, messages, eps, folded.node)


# --------------------------------------------------------------------------- parsing


def _quote(text: str, limit: int = 100) -> str:
    r"""Return ``repr(text)`` (one line whatever it holds), shortened past ``limit`` characters.

    Examples
    --------
    >>> print(_quote(chr(10).join(["red", "/ blue"])), _quote("a" * 200, limit=4))
    'red\n/ blue' 'aaaa'... (200 characters)
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def _bracket_depth(text: str) -> int:
    """Deepest bracket nesting of ``text``, counted before the parser sees it.

    Examples
    --------
    >>> _bracket_depth("((red) / (blue + (nir)))")
    3
    """
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _parse(source: str, quoted: str) -> ast.expr:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning / DeprecationWarning of odd text
            return ast.parse(source, mode="eval").body
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        raise InvalidParameterError(
            f"Formula {quoted} is not valid: {exc.msg}{where}; {_GRAMMAR}."
        ) from None
    except (RecursionError, MemoryError):
        raise InvalidParameterError(
            f"Formula {quoted} is too deeply nested to read; simplify it."
        ) from None
    except (ValueError, OverflowError, UnicodeError) as exc:
        raise InvalidParameterError(
            f"Formula {quoted} is not valid: {' '.join(str(exc).split())}."
        ) from None


def _size(tree: ast.AST) -> tuple[int, int]:
    """Depth and number of syntax nodes (operators and contexts not counted), iteratively."""
    deepest = count = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.operator, ast.unaryop, ast.expr_context)):
                stack.append((child, depth + 1))
    return deepest, count


def _segment(node: ast.AST, source: str) -> str:
    try:
        part = ast.get_source_segment(source, node)
    except (TypeError, ValueError, IndexError):
        part = None
    return part if part else type(node).__name__


def _build(node: ast.AST, source: str, quoted: str) -> _Node:
    """Turn the checked syntax tree into the evaluator's tuples, refusing what is outside."""
    part = _segment(node, source)
    if isinstance(node, ast.Constant):
        return ("num", _number(node.value, part, quoted), part)
    if isinstance(node, ast.Name):
        return ("band", node.id, part)
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, source, quoted)
        if isinstance(node.op, ast.USub):
            return ("neg", operand, part)
        if isinstance(node.op, ast.UAdd):
            return operand
        what = "'not'" if isinstance(node.op, ast.Not) else "the bitwise operator '~'"
        raise InvalidParameterError(
            f"Formula {quoted}: {what} in {_quote(part)} is not allowed; {_GRAMMAR}."
        )
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            what = _REFUSED_OPERATORS.get(type(node.op), f"operator {type(node.op).__name__}")
            raise InvalidParameterError(
                f"Formula {quoted}: {what} in {_quote(part)} is not allowed; {_GRAMMAR}."
            )
        return (op, _build(node.left, source, quoted), _build(node.right, source, quoted), part)
    what = _REFUSED_NODES.get(type(node), type(node).__name__)
    raise InvalidParameterError(
        f"Formula {quoted}: {what} ({_quote(part)}) is not allowed; {_GRAMMAR}."
    )


def _number(value: Any, part: str, quoted: str) -> float:
    """Return a numeric literal as a Python float (an integer too large for one: inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kinds = {complex: "an imaginary number", str: "text", bytes: "bytes", bool: "a boolean"}
        kind = kinds.get(type(value), repr(value))
        raise InvalidParameterError(
            f"Formula {quoted}: {kind} ({_quote(part)}) is not allowed; only real numbers are "
            "constants."
        )
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _names(node: _Node) -> set[str]:
    if node[0] == "band":
        return {node[1]}
    if node[0] == "num":
        return set()
    return set().union(*(_names(child) for child in node[1:-1]))


# --------------------------------------------------------------------------- constants


@dataclass(frozen=True)
class _Folded:
    """A subtree with its constant parts folded (numpy float64 semantics)."""

    node: _Node
    why: str | None = None  # a non-finite constant: where its inf or NaN comes from
    issues: tuple[tuple[str, str], ...] = ()  # (part, "NaN (why)") of non-finite constant parts
    nan_cause: tuple[str, str] | None = None  # set when the subtree is NaN whatever the bands


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def _describe(value: float, why: str | None) -> str:
    name = "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{name} ({why})" if why else name


def _constant(op: str, a: float, b: float, eps: float) -> tuple[float, str]:
    """Return ``a op b`` computed in numpy float64, as a Python float, and why if not finite."""
    x, y = np.float64(a), np.float64(b)
    why = "overflow"
    with np.errstate(all="ignore"):
        if op == "+":
            value = x + y
        elif op == "-":
            value = x - y
        elif op == "*":
            value = x * y
        elif op == "/":
            if y > eps:
                value = x / y
            else:
                value = np.float64(np.nan)
                why = f"a division by {b:g}, at or below the smallest denominator {eps:g}"
        else:
            value = x**y
            if x < 0 and not float(y).is_integer():
                why = "a fractional power of a negative number"
            elif x == 0 and y < 0:
                why = "a negative power of zero"
    return float(value), why


def _fold(node: _Node, eps: float) -> _Folded:
    """Fold constant subtrees; note the largest non-finite ones and NaN-for-every-pixel."""
    kind = node[0]
    if kind == "band":
        return _Folded(node)
    if kind == "num":
        value = node[1]
        if math.isfinite(value):
            return _Folded(node)
        return _Folded(node, "NaN" if math.isnan(value) else "a number too large for a float")
    if kind == "neg":
        inner = _fold(node[1], eps)
        if inner.node[0] == "num":
            return _Folded(("num", -inner.node[1], node[2]), inner.why)
        return _Folded(("neg", inner.node, node[2]), None, inner.issues, inner.nan_cause)
    op, part = kind, node[3]
    left, right = _fold(node[1], eps), _fold(node[2], eps)
    if left.node[0] == "num" and right.node[0] == "num":
        a, b = left.node[1], right.node[1]
        value, why = _constant(op, a, b, eps)
        if math.isfinite(value):
            return _Folded(("num", value, part))
        if not (math.isfinite(a) and math.isfinite(b)):
            return _Folded(("num", value, part), left.why or right.why)
        return _Folded(("num", value, part), why)
    issues: tuple[tuple[str, str], ...] = ()
    nan_cause = None
    for child in (left, right):
        if child.node[0] == "num" and not math.isfinite(child.node[1]):
            issue = (child.node[2], _describe(child.node[1], child.why))
            issues += (issue,)
            if math.isnan(child.node[1]):
                nan_cause = nan_cause or issue
        elif child.node[0] == "num" and abs(child.node[1]) > _FLOAT32_MAX:
            issues += (
                (child.node[2], f"{child.node[1]:g}, beyond float32 (inf with float32 bands)"),
            )
        issues += child.issues
        nan_cause = nan_cause or child.nan_cause
    if op == "/" and right.node[0] == "num" and math.isfinite(right.node[1]):
        if not right.node[1] > eps:
            reason = (
                f"NaN (a division by {right.node[1]:g}: divisions by values at or below "
                f"{eps:g} give NaN; to scale by a constant, multiply by it)"
            )
            issues += ((part, reason),)
            nan_cause = nan_cause or (part, reason)
    if op == "**" and right.node[0] == "num" and right.node[1] == 0:
        nan_cause = None  # x ** 0 is 1, even where x is NaN
    return _Folded((op, left.node, right.node, part), None, issues, nan_cause)


def _check_exponents(node: _Node, quoted: str) -> None:
    """Refuse ``**`` whose exponent reads a band or is not a constant within ±MAX_EXPONENT."""
    stack = [node]
    while stack:
        item = stack.pop()
        if item[0] in ("num", "band"):
            continue
        if item[0] == "**":
            exponent = item[2]
            if exponent[0] != "num":
                raise InvalidParameterError(
                    f"Formula {quoted}: the exponent of {_quote(item[3])} reads band(s) "
                    f"{', '.join(sorted(_names(exponent)))}; an exponent must be a constant "
                    f"number between -{MAX_EXPONENT:g} and {MAX_EXPONENT:g}."
                )
            if not abs(exponent[1]) <= MAX_EXPONENT:
                raise InvalidParameterError(
                    f"Formula {quoted}: the exponent of {_quote(item[3])} is "
                    f"{_describe(exponent[1], None) if not math.isfinite(exponent[1]) else f'{exponent[1]:g}'}; "
                    f"an exponent must be a constant number between -{MAX_EXPONENT:g} and "
                    f"{MAX_EXPONENT:g} (reflectance to a larger power under- or overflows)."
                )
        stack.extend(item[1:-1])


# --------------------------------------------------------------------------- arrays


def _float_dtype(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype("float64")


def _result_dtype(arrays: Sequence[Any]) -> np.dtype:
    dtypes = [np.dtype(a.dtype) if hasattr(a, "dtype") else np.asarray(a).dtype for a in arrays]
    return np.result_type(*[_float_dtype(d) for d in dtypes])


def _kernel(tree: _Node, names: tuple[str, ...], eps: float, *arrays: Any) -> Any:
    """Evaluate the folded tree on numpy blocks, floating-point warnings off."""
    values = {}
    for name, array in zip(names, arrays, strict=True):
        array = np.asarray(array)
        if array.dtype.kind == "c":
            raise InvalidParameterError(
                f"Band {name!r} holds complex numbers ({array.dtype}); band math needs real values."
            )
        values[name] = array if array.dtype.kind == "f" else array.astype("float64")
    with np.errstate(all="ignore"):
        return _run(tree, values, eps)


def _run(node: _Node, values: Mapping[str, np.ndarray], eps: float) -> Any:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "band":
        return values[node[1]]
    if kind == "neg":
        return -_run(node[1], values, eps)
    a, b = _run(node[1], values, eps), _run(node[2], values, eps)
    if kind == "+":
        return a + b
    if kind == "-":
        return a - b
    if kind == "*":
        return a * b
    if kind == "**":
        return np.power(a, b)
    if isinstance(b, float):  # a constant denominator: the same rule, decided once
        return a / b if b > eps else np.full_like(np.asarray(a), np.nan)
    return np.where(b > eps, a / b, np.nan)
