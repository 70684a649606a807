"""The curl and PHP examples of docs/api.md, run as written against a real gunicorn."""
from __future__ import annotations

import re
import shutil
import subprocess
import xmlrpc.client
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REFERENCE = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", REFERENCE, re.S)


@pytest.fixture
def example_env(live_server):
    key_id, secret = live_server.admin
    api = xmlrpc.client.ServerProxy(
        f"http://{key_id}:{secret}@{live_server.base_url.removeprefix('http://')}/xmlrpc")
    survey = api.feedloop.create_survey({"title": "t", "language": "en", "questions": [
        {"key": "nps", "type": "nps", "text": "?"}]})
    campaign = api.feedloop.create_campaign({"survey_id": survey["survey_id"], "name": "c"})
    return {"PATH": "/usr/bin:/bin", "FEEDLOOP_URL": live_server.base_url,
            "FEEDLOOP_KEY": f"{key_id}:{secret}", "CAMPAIGN_ID": str(campaign["campaign_id"])}


@pytest.mark.parametrize("door, answer", [("soap", "GetTrackingUrlResponse"),
                                          ("xmlrpc", "<name>invitation_id</name>")])
def test_the_curl_examples_get_a_tracking_url(example_env, door, answer):
    (script,) = [b for b in blocks("sh") if "curl" in b and f'FEEDLOOP_URL/{door}"' in b]
    done = subprocess.run(["bash", "-c", script], env=example_env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert answer in done.stdout and "/s/" in done.stdout and "fault" not in done.stdout.lower()


@pytest.mark.php
def test_the_php_soapclient_example_gets_a_url_and_a_typed_fault(example_env, tmp_path):
    (script,) = blocks("php")
    (tmp_path / "example.php").write_text(script)
    done = subprocess.run([shutil.which("php"), str(tmp_path / "example.php")], env=example_env,
                          capture_output=True, text=True, timeout=60, check=True)
    url, fault = done.stdout.splitlines()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/s/\S+", url)
    assert fault.endswith("Client.UnknownCampaign: No campaign 2147483647 in your account.")
