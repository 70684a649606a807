"""A simulated power cut for processes writing a database directory.

``PowerCut(tmp_path)`` gives a data directory and its shadow: a process started with
``environment`` runs with powerloss.c preloaded, which copies into the shadow what a
sync made durable (see the C file). ``durable_now()`` declares the directory's
present content on the disk (after setting it up without the shim);
``after_cut()`` replaces the directory with what a machine would find after the power
came back: files synced, at their content of the last sync; entries of files created
since the directory was last synced gone; nothing else.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
import tempfile

SOURCE = Path(__file__).with_name("powerloss.c")


@lru_cache(maxsize=None)
def library() -> Path:
    """The shim, built once per test run (gcc is among the suite's system packages)."""
    built = Path(tempfile.mkdtemp(prefix="powerloss-")) / "powerloss.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(built), str(SOURCE), "-ldl"],
                   check=True, capture_output=True)
    return built


class PowerCut:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.shadow = tmp_path / "shadow"
        self.data.mkdir()
        self.shadow.mkdir()

    @property
    def environment(self) -> dict[str, str]:
        """Variables to add to a writer's environment."""
        return {"LD_PRELOAD": str(library()), "POWERLOSS_DIR": str(self.data.resolve()),
                "POWERLOSS_SHADOW": str(self.shadow.resolve())}

    def durable_now(self) -> None:
        for stale in self.shadow.iterdir():
            stale.unlink()
        for path in self.data.iterdir():
            if path.is_file():
                shutil.copyfile(path, self.shadow / path.name)

    def after_cut(self) -> None:
        """Every writer must be dead: the data directory becomes the shadow's files."""
        kept = {}
        for path in self.shadow.iterdir():
            if path.name.startswith(".") or path.name.endswith(".new"):
                continue
            if (self.shadow / f"{path.name}.new").exists():
                continue   # its directory entry never reached the disk
            kept[path.name] = path
        for path in self.data.iterdir():
            path.unlink()
        for name, path in kept.items():
            shutil.copyfile(path, self.data / name)
        os.sync()
