"""Text from attributes, made safe for the format it is written into.

Licence ids, holders, statuses, zone kinds, occurrence names and pipeline names come from
files anyone can edit (DESIGN.md section 6: every input is untrusted). Each output format
has its own way of turning text into something active, so each gets its own function:

=============================  ===============================================================
function                       for
=============================  ===============================================================
:func:`csv_cell`               a CSV cell: text that a spreadsheet would run as a formula
                               gets a leading ``'`` (OWASP "CSV injection")
:func:`csv_frame`              every text cell and column name of a table about to be
                               written as CSV (numbers stay numbers)
:func:`xml_chars`              text for any XML 1.0 file (KML, GPX, QML, SLD, SVG): the
                               characters XML cannot hold at all are replaced with U+FFFD
:func:`xml_escape`             text (``quote=True``: an attribute value) inside XML markup
                               built by hand
:func:`html_escape`            text inside HTML (also the HTML of a KML balloon)
:func:`cdata`                  a CDATA section that holds any text, ``]]>`` included
:func:`mpl_text`               text drawn by matplotlib (PNG/PDF): ``$`` is not mathtext
=============================  ===============================================================

The functions are pure (no I/O, no global state) and accept any value: ``None`` and
missing values are for the caller to turn into ``""``; other non-text values are
converted with ``str`` by the markup functions and returned as they are by the CSV ones.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = [
    "CSV_FORMULA_PREFIXES",
    "cdata",
    "csv_cell",
    "csv_frame",
    "html_escape",
    "mpl_text",
    "xml_chars",
    "xml_escape",
]

#: First characters that make a spreadsheet (Excel, LibreOffice Calc, Google Sheets) read a
#: cell as a formula or as the start of one: OWASP's list (``= + - @``, tab, carriage
#: return), plus line feed (a cell opening on a new line shows a formula's first line in
#: some viewers) and the full-width forms ``＝ ＋ － ＠`` that Excel in East Asian locales
#: folds to their ASCII twins when it parses a cell.
CSV_FORMULA_PREFIXES = (
    "=",
    "+",
    "-",
    "@",
    "\t",
    "\r",
    "\n",
    "\uff1d",
    "\uff0b",
    "\uff0d",
    "\uff20",
)

# XML 1.0 (fifth edition) Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] |
# [#x10000-#x10FFFF]. Everything else (C0 controls, lone surrogates, U+FFFE, U+FFFF)
# makes the whole file unreadable to a conforming parser, escaped or not.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_REPLACEMENT = "\ufffd"


def csv_cell(value: Any) -> Any:
    r"""Return a CSV cell that no spreadsheet runs as a formula.

    Text starting with one of :data:`CSV_FORMULA_PREFIXES` gets a leading single quote
    (OWASP's advice for CSV injection): a spreadsheet shows ``'=HYPERLINK(…)`` as text, and
    the reader still sees every original character after the quote. Every other value is
    returned unchanged: numbers (``int``, ``float``, NumPy numbers, ``bool``) stay numbers,
    missing values stay missing.

    Deliberate choice: a *text* cell that happens to hold a signed number (``"-12"``,
    ``"+27"``) is neutralised too. A spreadsheet evaluates ``-1+1`` and
    ``-2+3+cmd|' /C calc'!A0`` as formulas, so a leading ``-`` or ``+`` is not safe to
    pass through on the strength of what follows, and negative numbers kept as text are
    rare in licence ids, holders or statuses (a licence id such as ``-12`` reads back as
    ``'-12``). Numbers held as numbers, including a ``float`` in an ``object`` column,
    are never touched.

    Examples
    --------
    >>> csv_cell('=HYPERLINK("http://evil","x")')
    '\'=HYPERLINK("http://evil","x")'
    >>> [csv_cell(v) for v in ("@SUM(1)", "+1", "-12", "\t=1", "PL 012/2021", "")]
    ["'@SUM(1)", "'+1", "'-12", "'\t=1", 'PL 012/2021', '']
    >>> [csv_cell(v) for v in (-12, 0.5, None, True)]
    [-12, 0.5, None, True]
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_frame(frame):
    """Return a copy of a pandas table whose text cells and column names are :func:`csv_cell`-safe.

    Only cells holding ``str`` are changed, column by column: numeric, boolean and
    datetime columns are left as they are (so they are written as numbers), and so are
    numbers inside ``object`` columns. The index is kept (write with ``index=False`` to
    leave it out).

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"holder": ["=cmd|' /C calc'!A0", "Acme"], "n": [-1, 2]})
    >>> safe = csv_frame(table)
    >>> safe["holder"].tolist(), safe["n"].tolist()
    (["'=cmd|' /C calc'!A0", 'Acme'], [-1, 2])
    >>> list(csv_frame(pd.DataFrame({"=1+1": [1.5]})).columns)
    ["'=1+1"]
    """
    import pandas as pd

    out = frame.copy()
    for i in range(out.shape[1]):
        series = out.iloc[:, i]
        dtype = series.dtype
        if (
            pd.api.types.is_numeric_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_datetime64_any_dtype(dtype)
            or isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype)
        ):
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            series = series.astype(object)
        values = series.to_numpy(dtype=object, na_value=None)
        safe = [csv_cell(v) for v in values]
        if any(a is not b for a, b in zip(safe, values, strict=True)):
            # object keeps missing cells missing (None) and numbers numeric
            out.isetitem(i, pd.Series(safe, index=out.index, dtype=object))
    out.columns = [csv_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def xml_chars(text: Any) -> str:
    r"""Return ``text`` with every character XML 1.0 cannot hold replaced by U+FFFD.

    Those are the C0 control characters other than tab, line feed and carriage return
    (NUL, ``\x01``–``\x08``, ``\x0b``, ``\x0c``, ``\x0e``–``\x1f``), lone surrogates and
    U+FFFE/U+FFFF. Escaping does not help (``&#0;`` is just as invalid), and one of them
    in an attribute makes the whole KML, GPX or QML unreadable. The replacement
    character shows the reader that something was there. Nothing is escaped: use
    :func:`xml_escape` or :func:`html_escape` for markup built by hand.

    Examples
    --------
    >>> xml_chars("Acme\x00 Mining\x0b Ltd\tº")
    'Acme\ufffd Mining\ufffd Ltd\tº'
    >>> xml_chars(12.5)
    '12.5'
    """
    text = text if isinstance(text, str) else str(text)
    if text.isascii() and text.isprintable():  # most text: nothing to replace
        return text
    return _NOT_XML.sub(_REPLACEMENT, text)


def xml_escape(text: Any, *, quote: bool = False) -> str:
    """Return ``text`` as XML character data: :func:`xml_chars`, then ``&``, ``<``, ``>`` escaped.

    With ``quote=True`` (an attribute value) ``"`` and ``'`` are escaped as well, and tab,
    line feed and carriage return as character references, so an XML parser's
    attribute-value normalisation gives them back unchanged.

    Examples
    --------
    >>> xml_escape("<script>alert(1)</script> & ]]>")
    '&lt;script&gt;alert(1)&lt;/script&gt; &amp; ]]&gt;'
    >>> xml_escape('"onmouseover="x', quote=True)
    '&quot;onmouseover=&quot;x'
    """
    text = xml_chars(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        text = text.replace('"', "&quot;").replace("'", "&apos;")
        text = text.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")
    return text


def html_escape(text: Any, *, quote: bool = True) -> str:
    """Return ``text`` as HTML text or a quoted attribute value (``& < > " '`` escaped).

    With ``quote=False`` (text between tags only, never an attribute value) quotes are
    left as they are: ``21°28'17.92"S`` stays readable in the HTML source.
    Characters XML cannot hold are replaced first (:func:`xml_chars`), so the HTML can
    also sit inside XML (a KML balloon) or be read by an XML parser (inline SVG).

    Examples
    --------
    >>> html_escape('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    >>> html_escape("Société Minière d'Étain &amp; 矿业", quote=False)
    "Société Minière d'Étain &amp;amp; 矿业"
    """
    return html.escape(xml_chars(text), quote=quote)


def cdata(text: Any) -> str:
    """Return a CDATA section holding ``text`` exactly, whatever it contains.

    A ``]]>`` inside the text would end the section early; it is split over two sections
    (``]]`` ends the first, ``>`` starts the next), which an XML parser joins back.
    Characters XML cannot hold are replaced (:func:`xml_chars`).

    Examples
    --------
    >>> cdata("<b>x</b>")
    '<![CDATA[<b>x</b>]]>'
    >>> cdata("a]]><x>")
    '<![CDATA[a]]]]><![CDATA[><x>]]>'
    """
    return "<![CDATA[" + xml_chars(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def mpl_text(text: Any) -> str:
    r"""Return ``text`` for matplotlib to draw as it is (PNG maps, PDF pages).

    Matplotlib reads a string with an even number of ``$`` as mathtext: ``"Au $5$"``
    would be typeset as maths and ``"$\\frac$"`` would raise a parse error and stop the
    report. Every ``$`` is escaped (matplotlib draws ``\\$`` as ``$``), and control
    characters, which no font has a glyph for, are replaced with U+FFFD.

    Examples
    --------
    >>> mpl_text("PL $12$ \x00")
    'PL \\$12\\$ \ufffd'
    """
    text = xml_chars(text).replace("\t", " ").replace("\r", " ")
    return text.replace("$", r"\$")
