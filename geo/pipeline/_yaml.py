"""Read a pipeline file as untrusted YAML: bounded in size, depth and alias expansion.

Pipeline files travel between people, so reading one must never run code (``SafeLoader``:
no Python tags), nor exhaust memory or time. A "billion laughs" alias bomb is a few
kilobytes that expand to gigabytes once anchors are copied; PyYAML shares the aliased
nodes, so the expansion happens later (validation, ``repr``). Here the expanded size of
the document is counted on the node graph before anything is constructed, and refused
above :data:`MAX_NODES`; anchors and aliases within that bound keep working. Duplicate
keys, which PyYAML silently resolves to the last one, are refused too.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from geo.errors import PipelineSpecError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "load_yaml"]

#: A pipeline file is a few kilobytes; 1 MiB is far beyond any real one.
MAX_BYTES = 1024 * 1024
#: Scalars, lists and mappings in the document once aliases are expanded.
MAX_NODES = 100_000
#: Nesting of lists and mappings.
MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                key = key_node.value
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r} (only one value per key; remove the other)",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node, where: Path) -> int:
    """Count the nodes of the document with every alias expanded (without expanding it)."""
    memo: dict[int, tuple[int, int]] = {}  # node -> (expanded size, nesting below it)
    active: set[int] = set()

    def visit(node: Node) -> tuple[int, int]:
        key = id(node)
        if key in memo:
            return memo[key]
        if key in active:
            raise PipelineSpecError(f"{where}: an alias refers to a list or mapping holding it.")
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        active.add(key)
        total, height = 1, 0
        for child in children:
            size, below = visit(child)
            total += size
            height = max(height, below + 1)
            if total > MAX_NODES:
                raise PipelineSpecError(
                    f"{where}: the document expands to more than {MAX_NODES:,} values "
                    "(anchors and aliases repeated into each other); a pipeline file needs a "
                    "few hundred. Write the values out instead of nesting aliases."
                )
            if height > MAX_DEPTH:
                raise PipelineSpecError(
                    f"{where}: lists and mappings are nested more than {MAX_DEPTH} deep."
                )
        active.discard(key)
        memo[key] = (total, height)
        return memo[key]

    return visit(root)[0]


def load_yaml(path: Path) -> object:
    """Parse ``path`` as bounded, safe YAML and return the document (None when empty).

    Raises
    ------
    PipelineSpecError
        The file is too large, not UTF-8 text, not valid YAML, has duplicate keys, nests
        too deep or expands past :data:`MAX_NODES` through aliases; the message names the
        file and, for syntax errors, the line.
    """
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise PipelineSpecError(
            f"{path}: {size:,} bytes is too large for a pipeline file (at most "
            f"{MAX_BYTES:,}); is it the right file?"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PipelineSpecError(
            f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save the "
            "file as UTF-8 (in Notepad: Save as > Encoding: UTF-8)."
        ) from None
    if "\x00" in text:
        raise PipelineSpecError(f"{path}: holds NUL bytes; a pipeline file is plain text.")
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _expanded_size(root, path)
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PipelineSpecError(
            f"{path}: not valid YAML{where}: {problem}".replace("\n", " ")
        ) from None
    except RecursionError:
        raise PipelineSpecError(
            f"{path}: lists and mappings are nested too deep to read; a pipeline file nests "
            "a few levels."
        ) from None
    finally:
        loader.dispose()
