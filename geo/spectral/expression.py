"""A small, safe evaluator for band-math formulas written with band roles.

Grammar: numbers, band-role names, ``+ - * / **``, unary minus and parentheses.
The formula is parsed with :mod:`ast` and walked node by node; anything else (calls,
attributes, subscripts, comparisons...) is refused. Nothing is ever passed to ``eval``.

Division returns NaN where the denominator is at or below ``min_denominator``:
ratios of dark pixels are noise, and reflectance ratios need ρ > ~0.01
(``../shared/DOMAIN.md`` §2).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from geo.errors import InvalidParameterError

__all__ = ["Expression", "parse_expression"]

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Pow: operator.pow,
}


@dataclass(frozen=True)
class Expression:
    """A parsed formula.

    Attributes
    ----------
    text : str
        The formula as written.
    names : frozenset of str
        Band roles the formula reads.
    """

    text: str
    names: frozenset[str]
    _tree: ast.expr

    def evaluate(self, bands: Mapping[str, Any], *, min_denominator: float = 0.01) -> Any:
        """Evaluate on arrays (numpy, dask or xarray) keyed by band role.

        Parameters
        ----------
        bands : mapping of str to array
            One array per role named in the formula.
        min_denominator : float
            Divisions by values at or below this give NaN.

        Examples
        --------
        >>> import numpy as np
        >>> e = parse_expression("(swir1 - swir2) / (swir1 + swir2)")
        >>> e.evaluate({"swir1": np.array([0.3, 0.0]), "swir2": np.array([0.1, 0.0])})
        array([0.5, nan])
        """
        missing = sorted(self.names - set(bands))
        if missing:
            raise InvalidParameterError(
                f"Formula {self.text!r} needs band(s) {', '.join(missing)}, which the scene "
                f"lacks; it has {', '.join(sorted(bands))}."
            )
        return _eval(self._tree, bands, min_denominator)


def _divide(a: Any, b: Any, min_denominator: float) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = a / b
    if isinstance(quotient, xr.DataArray):
        return quotient.where(b > min_denominator)
    return np.where(b > min_denominator, quotient, np.nan)  # numpy and dask (array protocol)


def _eval(node: ast.expr, bands: Mapping[str, Any], eps: float) -> Any:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return bands[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, bands, eps)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, bands, eps), _eval(node.right, bands, eps)
        if isinstance(node.op, ast.Div):
            return _divide(left, right, eps)
        return _BINARY[type(node.op)](left, right)
    raise AssertionError(f"unvalidated node {ast.dump(node)}")  # parse_expression refuses these


def parse_expression(text: str, *, allowed: set[str] | frozenset[str] | None = None) -> Expression:
    """Parse a band-math formula.

    Parameters
    ----------
    text : str
        For example ``"red / blue"`` or ``"swir2 / nir + green / red"``.
    allowed : set of str, optional
        Names the formula may use (band roles); any other name is an error.

    Raises
    ------
    InvalidParameterError
        Syntax errors, unknown names and any construct outside the grammar; the
        message quotes the formula and the offending part.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise InvalidParameterError(
            f"Formula {text!r} is not valid: {exc.msg} at column {exc.offset}."
        ) from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if allowed is not None and node.id not in allowed:
                raise InvalidParameterError(
                    f"Formula {text!r} uses {node.id!r}, which is not a band role; "
                    f"use one of {', '.join(sorted(allowed))}."
                )
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise InvalidParameterError(
                    f"Formula {text!r}: only numbers are allowed as constants."
                )
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, (*_BINARY, ast.Div)):
                raise InvalidParameterError(
                    f"Formula {text!r}: operator {type(node.op).__name__} is not allowed; "
                    "use + - * / ** and parentheses."
                )
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise InvalidParameterError(f"Formula {text!r}: only unary minus is allowed.")
        elif not isinstance(node, (ast.operator, ast.unaryop, ast.Load)):
            raise InvalidParameterError(
                f"Formula {text!r}: {type(node).__name__} is not allowed; formulas hold band "
                "roles, numbers, + - * / ** and parentheses only."
            )
    return Expression(text.strip(), frozenset(names), tree)
