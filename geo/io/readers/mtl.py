"""Landsat Collection 2 MTL metadata: parse and write the ``.txt`` (ODL) and ``.json`` forms.

The MTL is a tree of groups. The same key names appear in several groups (for
example ``REFLECTANCE_MULT_BAND_4`` in both ``LEVEL1_RADIOMETRIC_RESCALING`` and
``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS``, with different values), so values are
only ever read scoped by group: :meth:`Mtl.get` takes the group and the key.
See ``../shared/DOMAIN.md`` §1.5.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from geo.errors import MetadataError

__all__ = ["Mtl", "format_mtl_json", "format_mtl_txt", "parse_mtl"]

ROOT = "LANDSAT_METADATA_FILE"
_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=\s*(.*?)\s*$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")


def _convert(raw: str) -> Any:
    """Turn one MTL value into str, int or float (quoted values stay strings)."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    if _INT.match(raw):
        return int(raw)
    if _FLOAT.match(raw):
        return float(raw)
    return raw


@dataclass(frozen=True)
class Mtl:
    """Parsed MTL metadata, addressed by group.

    Attributes
    ----------
    groups : dict
        ``{group_name: {key: value}}`` for the groups directly under the root.
    source : str
        Where the metadata came from, used in every error message.
    """

    groups: dict[str, dict[str, Any]]
    source: str = "<MTL>"
    _fmt: str = field(default="txt", repr=False)

    def has_group(self, group: str) -> bool:
        """Return True if the MTL holds ``group``."""
        return group in self.groups

    def group(self, group: str) -> dict[str, Any]:
        """Return the key/value mapping of ``group``.

        Raises
        ------
        MetadataError
            If the group is absent; the message lists the groups present.
        """
        try:
            return self.groups[group]
        except KeyError:
            raise MetadataError(
                f"{self.source}: MTL group {group!r} is missing; groups present: "
                f"{', '.join(self.groups) or 'none'}."
            ) from None

    def get(self, group: str, key: str, default: Any = ...) -> Any:
        """Return ``key`` from ``group``; never from another group with the same key name.

        Raises
        ------
        MetadataError
            If the group or key is missing and no default is given.
        """
        if default is not ... and group not in self.groups:
            return default
        values = self.group(group)
        if key in values:
            return values[key]
        if default is not ...:
            return default
        raise MetadataError(f"{self.source}: MTL key {group}/{key} is missing.")

    def number(
        self,
        group: str,
        key: str,
        *,
        positive: bool = False,
        usual: str | None = None,
        default: Any = ...,
    ) -> float:
        """Return ``key`` of ``group`` as a finite float (and > 0 if ``positive``).

        For the numbers a reader computes with (scale factors, offsets, sun elevation): a
        damaged MTL can hold ``nan``, ``inf``, ``0`` or text there, and reflectance computed
        from it would be NaN or 0 everywhere, which a run would blame on its masks.

        Parameters
        ----------
        group, key : str
            Where the number is (see :meth:`get`).
        positive : bool
            Also require > 0 (scale factors).
        usual : str, optional
            The value USGS writes, quoted in the message (``"2.75e-05"``).
        default : optional
            Returned when the key is absent (else absence raises, as in :meth:`get`).

        Raises
        ------
        MetadataError
            The key is missing, not a number, not finite, or not positive when it must be;
            one line naming the file, the key and its group, the value found, and the fix.

        Examples
        --------
        >>> m = Mtl({"A": {"MULT": "nan", "ADD": -0.2}}, "X_MTL.txt")
        >>> m.number("A", "ADD")
        -0.2
        >>> m.number("A", "MULT", positive=True, usual="2.75e-05")
        Traceback (most recent call last):
        ...
        geo.errors.MetadataError: X_MTL.txt: MULT (group A) is 'nan'; expected a finite, positive number (USGS gives 2.75e-05). The metadata file is damaged; download the product again.
        """
        value = self.get(group, key, default)
        if default is not ... and value is default:
            return default
        number: float | None
        if isinstance(value, bool):
            number = None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                number = None
        if number is not None and math.isfinite(number) and (number > 0 or not positive):
            return number
        expected = "a finite, positive number" if positive else "a finite number"
        hint = f" (USGS gives {usual})" if usual else ""
        shown = repr(value) if isinstance(value, str) else str(value)
        raise MetadataError(
            f"{self.source}: {key} (group {group}) is {shown}; expected {expected}{hint}. "
            "The metadata file is damaged; download the product again."
        )


def parse_mtl(text: str, *, source: str = "<MTL>") -> Mtl:
    r"""Parse MTL text in either the ODL ``.txt`` form or the ``.json`` form.

    Parameters
    ----------
    text : str
        Content of ``*_MTL.txt`` or ``*_MTL.json``. Trailing NUL padding (seen in
        older products) is ignored.
    source : str
        Name used in error messages (usually the file path).

    Returns
    -------
    Mtl
        Values converted to ``int``/``float`` where unquoted and numeric; quoted
        values and JSON strings that are not numbers stay ``str``.

    Raises
    ------
    MetadataError
        If the text is neither form, or its groups are unbalanced.

    Examples
    --------
    >>> m = parse_mtl('GROUP = LANDSAT_METADATA_FILE\n GROUP = A\n  X = 2.5\n END_GROUP = A\n'
    ...               'END_GROUP = LANDSAT_METADATA_FILE\nEND')
    >>> m.get("A", "X")
    2.5
    """
    text = text.replace("\x00", "").strip()
    if not text:
        raise MetadataError(f"{source}: the MTL file is empty.")
    if text.startswith("{"):
        return _parse_json(text, source)
    return _parse_odl(text, source)


def _parse_json(text: str, source: str) -> Mtl:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{source}: not valid MTL JSON ({exc}).") from None
    root = doc.get(ROOT) if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise MetadataError(f"{source}: MTL JSON has no {ROOT!r} root object.")
    groups: dict[str, dict[str, Any]] = {}
    for name, body in root.items():
        if isinstance(body, dict):
            groups[name] = {
                k: _convert(v) if isinstance(v, str) else v
                for k, v in body.items()
                if not isinstance(v, dict)
            }
    return Mtl(groups, source, "json")


def _parse_odl(text: str, source: str) -> Mtl:
    stack: list[str] = []
    groups: dict[str, dict[str, Any]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.strip() == "END":
            continue
        m = _LINE.match(line)
        if not m:
            raise MetadataError(f"{source}:{lineno}: cannot read MTL line {line.strip()!r}.")
        key, raw = m.groups()
        if key == "GROUP":
            stack.append(raw)
            if len(stack) == 2:
                groups.setdefault(raw, {})
        elif key == "END_GROUP":
            if not stack or stack[-1] != raw:
                raise MetadataError(
                    f"{source}:{lineno}: END_GROUP = {raw} does not close an open group."
                )
            stack.pop()
        elif len(stack) >= 2:
            groups[stack[1]][key] = _convert(raw)
    if stack:
        raise MetadataError(f"{source}: MTL group {stack[-1]!r} is never closed (truncated file?).")
    if not groups:
        raise MetadataError(f"{source}: no MTL groups found; is this a Landsat *_MTL.txt file?")
    return Mtl(groups, source, "txt")


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("MTL has no boolean values; write them as quoted strings")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = (
            f"{value:.6E}"
            if (value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7))
            else repr(value)
        )
        return text
    return f'"{value}"'


def format_mtl_txt(groups: Mapping[str, Mapping[str, Any]]) -> str:
    """Write groups in the ODL ``*_MTL.txt`` form USGS delivers.

    Dates (``YYYY-MM-DD``) are written unquoted, as USGS does; other strings are quoted.
    """
    lines = [f"GROUP = {ROOT}"]
    for gname, body in groups.items():
        lines.append(f"  GROUP = {gname}")
        for key, value in body.items():
            if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                text = value
            else:
                text = _format_value(value)
            lines.append(f"    {key} = {text}")
        lines.append(f"  END_GROUP = {gname}")
    lines += [f"END_GROUP = {ROOT}", "END", ""]
    return "\n".join(lines)


def format_mtl_json(groups: Mapping[str, Mapping[str, Any]]) -> str:
    """Write groups in the ``*_MTL.json`` form (every value a string, as USGS writes it)."""

    def as_text(v: Any) -> str:
        return _format_value(v) if isinstance(v, (int, float)) else str(v)

    doc = {ROOT: {g: {k: as_text(v) for k, v in body.items()} for g, body in groups.items()}}
    return json.dumps(doc, indent=2) + "\n"
