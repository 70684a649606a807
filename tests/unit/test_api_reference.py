"""docs/api.md is generated from the operation catalogue and cannot drift from it."""
from __future__ import annotations

import re
from pathlib import Path

from service.apidoc import render_reference
from service.domain.errors import XMLRPC_CODES
from service.services import OPERATIONS

ROOT = Path(__file__).parents[2]
REFERENCE = ROOT / "docs" / "api.md"


def test_the_committed_reference_is_the_generated_one():
    # on failure: feedloop reference --out docs/api.md, then review and commit the change
    assert REFERENCE.read_text(encoding="utf-8") == render_reference()


def test_the_readme_links_the_reference():
    assert "(docs/api.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_reference_has_every_operation_field_and_fault_number():
    text = render_reference()
    for op in OPERATIONS.values():
        section = text.split(f"\n### {op.name}\n", 1)[1].split("\n### ", 1)[0]
        assert f"XML-RPC method `{op.method_name}`" in section
        assert f"Scope `{op.scope}`" in section
        for name in op.request.__dataclass_fields__:
            assert f"| `{name}` |" in section
        for error in op.errors:
            assert f"{error.code} ({error.side}.{error.code}, {XMLRPC_CODES[error.code]})" in section
    for code, number in XMLRPC_CODES.items():
        assert re.search(rf"\| {number} \|", text), code


def test_feedloop_reference_prints_or_writes_the_committed_reference(tmp_path, capsys):
    from service.cli import main
    assert main(["reference"]) == 0
    assert capsys.readouterr().out == REFERENCE.read_text(encoding="utf-8")
    assert main(["reference", "--out", str(tmp_path / "api.md")]) == 0
    assert (tmp_path / "api.md").read_text(encoding="utf-8") == REFERENCE.read_text(encoding="utf-8")
