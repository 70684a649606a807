"""The operator's documents stay complete: every operation, variable and deployment file."""
import re
import subprocess
from pathlib import Path

from service.services import OPERATIONS

ROOT = Path(__file__).parents[2]
README = (ROOT / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()


def test_the_readme_lists_every_operation_and_its_xmlrpc_method():
    section = README.split("## Operations (API v1)", 1)[1]
    table = "| operation |" + section.split("\n| operation |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    assert len(rows) == len(table.strip().splitlines()), "the table is cut by other text"
    for name, op in OPERATIONS.items():
        assert re.search(rf"\b{name}\b", table), name
        assert f"`{op.method_name}`" in table, op.method_name


def test_every_environment_variable_the_code_reads_is_documented():
    code = "\n".join(p.read_text() for p in (ROOT / "service").rglob("*.py"))
    variables = set(re.findall(r"\"(FEEDLOOP_[A-Z_]+)\"", code))
    assert {"FEEDLOOP_DATA_DIR", "FEEDLOOP_METRICS_TOKEN", "FEEDLOOP_BIND"} <= variables
    reference = DEPLOY.split("## 10. Configuration reference", 1)[1]
    for variable in variables:
        assert f"`{variable}`" in reference, variable
        assert f"`{variable}`" in README, variable


def test_the_deployment_guide_is_linked_and_its_files_exist():
    assert "](docs/deploy.md)" in README
    for name in ("feedloop-serve.service", "feedloop-worker.service", "nginx.conf"):
        assert f"deploy/{name}" in DEPLOY and (ROOT / "deploy" / name).is_file()
    for unit in ("feedloop-serve.service", "feedloop-worker.service"):
        text = (ROOT / "deploy" / unit).read_text()
        assert "KillMode=control-group" in text and "Restart=" in text


def test_nothing_in_the_repository_points_outside_it_to_shared_notes():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    needle = "../" + "shared/"  # spelled in two parts so that this file does not match
    offenders = [name for name in tracked if (ROOT / name).is_file()
                 and needle in (ROOT / name).read_text(errors="ignore")]
    assert offenders == []


def test_the_readme_error_table_lists_every_fault_code_and_says_what_to_retry():
    from service.domain.errors import XMLRPC_CODES
    table = README.split("### Errors", 1)[1].split("\n\n", 2)[1]
    for code, number in XMLRPC_CODES.items():
        assert re.search(rf"(?<![\d-]){number}\b", table), code
    assert re.search(r"^\| Unavailable\b.*\| Server\.Unavailable \| 5030 \|$", table, re.M)
    retrying = README.split("**Retrying.**", 1)[1].split("\n\n", 1)[0]
    assert "503" in retrying and "Retry-After" in retrying and "5030" in retrying
    assert "same `event_id`" in retrying


def test_the_topology_is_linked_from_the_deployment_guide_and_names_its_test():
    topology = (ROOT / "docs" / "topology.md").read_text()
    assert "](topology.md)" in DEPLOY
    for part in ("load balancer", "streaming replica", "Capacity of a node",
                 "tests/e2e/test_two_nodes.py"):
        assert part in topology, part
    assert (ROOT / "tests" / "e2e" / "test_two_nodes.py").is_file()
