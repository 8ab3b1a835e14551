"""The documentation: a README that stays a front door, and a site that builds and is complete.

The site is built once per session with ``mkdocs build --strict`` into a temporary folder
(any warning fails it); its reference pages are then checked against the code they are
generated from: every pipeline key of :class:`PipelineSpec`, every ``geo`` command, every
sensor, index, target column and module. Without the ``docs`` extra those tests are
skipped with the reason.
"""

from __future__ import annotations

import html
import importlib.util
import logging
import os
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_LIMIT = 12_288  # bytes: the manual lives in docs/
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers", "mkdocs_click")


# --------------------------------------------------------------------------- README


def test_readme_stays_a_front_door():
    data = README.read_bytes()
    assert len(data) <= README_LIMIT, (
        f"README.md is {len(data):,} bytes (limit {README_LIMIT:,}): move the manual to docs/"
    )
    text = data.decode("utf-8")
    assert "make run" in text
    assert "make test" in text


def _relative_links(text: str) -> list[str]:
    """Targets of the Markdown links and images and HTML src/href of ``text``, not URLs."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # no links in code blocks
    targets = re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    targets += re.findall(r"^\s*\[[^\]]+\]:\s*(\S+)", text, flags=re.MULTILINE)
    targets += re.findall(r"""(?:src|href)=["']([^"']+)["']""", text)
    return [
        t
        for t in targets
        if not re.match(r"^[a-z][a-z0-9+.-]*:", t, flags=re.IGNORECASE) and not t.startswith("#")
    ]


def test_readme_links_resolve_to_files():
    links = _relative_links(README.read_text(encoding="utf-8"))
    assert links, "the README links nothing (the docs, the picture, SECURITY.md)"
    missing = [t for t in links if not (ROOT / t.split("#")[0]).is_file()]
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_relative_links_are_found():
    text = (
        "[a](docs/a.md) ![p](docs/p.png) [b](https://x.org) [c](#top) <img src='d.png'>\n[e]: f.md"
    )
    assert sorted(_relative_links(text)) == ["d.png", "docs/a.md", "docs/p.png", "f.md"]


# --------------------------------------------------------------------------- pipeline keys


def _models_in(annotation) -> list[tuple[type, bool]]:
    """(section model, inside a mapping) pairs found in a field's annotation."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, False)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin is dict:
        return [(m, True) for m, _ in _models_in(args[1])]
    if origin is list:
        return _models_in(args[0])
    return []


def pipeline_keys(model=None, prefix: str = "") -> dict[str, object]:
    """Every dotted key of a pipeline file (``evidence.<name>.layer``...) and its field."""
    if model is None:
        from geo.pipeline.spec import PipelineSpec

        model = PipelineSpec
    keys: dict[str, object] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        keys[key] = field
        for sub, mapping in _models_in(field.annotation):
            keys |= pipeline_keys(sub, f"{key}.<name>." if mapping else f"{key}.")
    return keys


def test_pipeline_keys_walk_the_nested_sections():
    keys = pipeline_keys()
    for key in (
        "name",
        "inputs.scene.path",
        "inputs.licences.fields",
        "anomalies.<name>.method",
        "classifier.estimator.class",
        "evidence.<name>.membership.function",
        "prospectivity.evaluation.holdout",
        "targets.straddle",
    ):
        assert key in keys
    assert len(keys) > 100


def test_every_pipeline_key_has_a_description():
    undocumented = [k for k, f in pipeline_keys().items() if not (f.description or "").strip()]
    assert not undocumented, (
        f"pipeline keys without Field(description=...) in geo/pipeline/spec.py: {undocumented}"
    )


def _hooks():
    spec = importlib.util.spec_from_file_location("geo_docs_hooks", ROOT / "scripts/docs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_key_without_description_fails_the_strict_build(caplog):
    from pydantic import BaseModel, Field

    class Section(BaseModel):
        told: int = Field(default=1, description="Has one.")
        untold: int = 2

    out: list[str] = []
    with caplog.at_level(logging.WARNING, logger="mkdocs.geo_docs"):
        _hooks()._section(out, "section", Section, set())
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == ["pipeline key section.untold has no description: add Field(description=...)"]
    assert "| `section.told` | integer | `1` | Has one. |" in out


# --------------------------------------------------------------------------- the built site


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    """The site built with ``mkdocs build --strict`` into a temporary folder."""
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"documentation tools not installed ({', '.join(missing)}): "
            'pip install -e ".[docs]" (the dev extra has them)'
        )
    out = tmp_path_factory.mktemp("site") / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"mkdocs build --strict failed:\n{done.stderr[-4000:]}\n{done.stdout[-2000:]}")
    return out


def _page(site: Path, name: str) -> str:
    path = site / name
    assert path.is_file(), f"{name} was not built"
    return path.read_text(encoding="utf-8")


def _cells(page: str) -> set[str]:
    """Text of every table cell that is a single code span (keys, columns, names)."""
    return {html.unescape(c) for c in re.findall(r"<td><code>([^<]*)</code></td>", page)}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.mark.slow
def test_pipeline_reference_lists_every_key(site):
    cells = _cells(_page(site, "reference/pipeline.html"))
    missing = [key for key in pipeline_keys() if key not in cells]
    assert not missing, f"keys missing from the pipeline reference: {missing}"


@pytest.mark.slow
def test_cli_reference_lists_every_command(site):
    import click

    from geo.cli.main import main

    headings = {
        " ".join(_text(h).split())
        for h in re.findall(r"<h\d[^>]*>(.*?)</h\d>", _page(site, "reference/cli.html"), re.S)
    }

    def commands(group, path):
        for name, command in group.commands.items():
            if command.hidden:
                continue
            yield f"{path} {name}"
            if isinstance(command, click.Group):
                yield from commands(command, f"{path} {name}")

    expected = list(commands(main, "geo"))
    assert len(expected) >= 8
    missing = [c for c in expected if not any(h.startswith(c) for h in headings)]
    assert not missing, f"commands missing from the CLI reference: {missing}"


@pytest.mark.slow
def test_generated_references_are_complete(site):
    from geo.sensors import SENSORS
    from geo.spectral.indices import index_names
    from geo.spectral.masks import MASK_RULES
    from geo.targets.columns import FIELD_COLUMNS, PROSPECT_COLUMNS, TARGET_COLUMNS

    sensors = _text(_page(site, "reference/sensors.html"))
    assert all(name in sensors for name in SENSORS)
    indices = _page(site, "reference/indices.html")
    assert all(f"<td><code>{name}</code><br>" in indices for name in index_names())
    columns = _cells(_page(site, "reference/outputs.html"))
    missing = {*TARGET_COLUMNS, *PROSPECT_COLUMNS, *FIELD_COLUMNS} - columns
    assert not missing, f"target columns missing from the output contract: {missing}"
    assert set(MASK_RULES) <= _cells(_page(site, "guide/masks.html"))
    modules = _cells(_page(site, "design.html"))
    files = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "geo").rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    assert files <= modules, f"modules missing from the module map: {files - modules}"


@pytest.mark.slow
def test_api_reference_documents_the_public_modules(site):
    text = _text(_page(site, "reference/api/io.html"))
    for name in ("geo.io.readers.landsat", "geo.io.writers", "open_scene", "Scene"):
        assert name in text
    assert "read_licences" in _text(_page(site, "reference/api/io.html"))
    assert "PipelineSpec" in _text(_page(site, "reference/api/pipeline.html"))


@pytest.mark.slow
def test_site_works_offline(site):
    """No page loads anything from the network (fonts, scripts, styles); search is inlined."""
    remote = re.compile(
        r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["'](?:https?:)?//""", re.IGNORECASE
    )
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    loading = [p.relative_to(site).as_posix() for p in pages if remote.search(p.read_text("utf-8"))]
    assert not loading, f"pages that load from the network: {loading}"
    assert (site / "search" / "search_index.js").read_text("utf-8").startswith("var __index =")
    index = _page(site, "index.html")
    assert "fonts.googleapis" not in index
    assert 'src="assets/javascripts/iframe-worker-shim.js"' in index
    assert "quicklook_sample.png" in index and (site / "quicklook_sample.png").is_file()


@pytest.mark.slow
def test_manifest_keys_are_in_the_output_contract(prospect_run):
    """Every top-level key of a real run's manifest.json is described in the contract."""
    text = (ROOT / "docs/reference/outputs.md").read_text(encoding="utf-8")
    table = text[text.index("## `manifest.json`") :]
    documented = set(re.findall(r"`([a-z_]+)`", table))
    missing = sorted(set(prospect_run.manifest) - documented)
    assert not missing, f"manifest keys missing from docs/reference/outputs.md: {missing}"
