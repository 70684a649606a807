"""Code generated from the WSDL by a real toolkit: JAX-WS's wsimport (Debian's jaxws package,
installed by tests/run.sh), compiled and run against the real gunicorn."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from service.services import OPERATIONS

pytestmark = [pytest.mark.e2e, pytest.mark.wsimport]

ROOT = Path(__file__).parents[2]
CLIENTS = Path(__file__).with_name("clients")
JAXWS = "/usr/share/jaxws/lib/*"


def _run(*command: str | Path, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, str]:
    """The committed WSDL through wsimport (methods taking the request element, as
    docs/api-evolution.md recommends) and javac, with WsimportClient.java; (classes, log)."""
    out = tmp_path_factory.mktemp("wsimport")
    for directory in ("classes", "src"):
        (out / directory).mkdir()
    log = _run("wsimport", "-keep", "-Xnocompile", "-b", CLIENTS / "bindings.xml",
               "-d", out / "classes", "-s", out / "src", ROOT / "wsdl" / "feedloop.wsdl")
    log = log.stdout + log.stderr
    _run("javac", "-nowarn", "-cp", JAXWS, "-d", out / "classes",
         *sorted((out / "src" / "feedloop" / "v1").glob("*.java")), CLIENTS / "WsimportClient.java")
    return out, log


def test_wsimport_generates_code_from_the_wsdl_without_a_warning(generated):
    _, log = generated
    assert "Generating code..." in log
    assert "[WARNING]" not in log and "[ERROR]" not in log


def test_each_generated_method_declares_the_faults_of_its_operation(generated):
    out, _ = generated
    port = (out / "src" / "feedloop" / "v1" / "Feedloop.java").read_text()
    declared = {method[0].upper() + method[1:]: set(re.findall(r"(\w+)Fault_Exception", throws))
                for method, throws in re.findall(r"public \w+ (\w+)\([^;]*?throws ([^;]+);",
                                                 port)}
    assert declared == {name: {error.code for error in op.errors}
                        for name, op in OPERATIONS.items()}


def test_the_generated_client_raises_the_declared_faults_with_their_data(generated, live_server):
    out, _ = generated
    lines = _run("java", "-cp", f"{out / 'classes'}:{JAXWS}", "WsimportClient",
                 f"{live_server.base_url}/soap?wsdl", *live_server.admin, timeout=120).stdout
    assert lines.splitlines() == [
        f"url {live_server.base_url}/s/<token>",
        "UnauthorizedFault Unauthorized: Invalid API key or secret.",
        "ValidationErrorFault ValidationError: email",
    ]
