"""What `pip install .` (the README's first command) puts into site-packages."""
from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_package_of_the_service_is_listed_for_installation():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "service").rglob("__init__.py")}
    assert found <= listed, f"add to setup.cfg [options] packages: {sorted(found - listed)}"


#: Imports service.storage.migrations as a gunicorn worker does when `feedloop serve` runs
#: in a clone after `pip install .`: `service` comes from the checkout, where the
#: installed package service._migrations does not exist.
FROM_A_CHECKOUT = """
import importlib.abc, sys
class NoInstalledMigrations(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "service._migrations":
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, NoInstalledMigrations())
from service.storage.migrations import _script_location
print(_script_location())
"""


def test_the_migrations_are_found_when_service_is_imported_from_a_checkout():
    root = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", FROM_A_CHECKOUT], cwd=root,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == root / "db"
    assert (root / "db" / "env.py").is_file()
