"""The table of docs/mutation.md from mutmut's results: mutants per module, killed, survived.

Run by tests/mutation.sh after `mutmut run`; prints Markdown to paste into the report.
"""
from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

#: mutmut's verdicts that count as the tests noticing the change.
CAUGHT = {"killed", "timeout", "segfault"}


def verdicts() -> list[tuple[str, str]]:
    """(module, verdict) for every mutant, from `mutmut results --all true`."""
    mutmut = Path(sys.executable).with_name("mutmut")
    output = subprocess.run([str(mutmut), "results", "--all", "true"], check=True,
                            capture_output=True, text=True).stdout
    rows = []
    for line in output.splitlines():
        name, _, verdict = line.strip().rpartition(": ")
        if name:
            rows.append((name.split(".x_")[0].split(".xǁ")[0], verdict))
    return rows


def table(rows: list[tuple[str, str]]) -> str:
    """Per module: mutants made, checked, killed, survived, timed out, without tests; kill
    rate of the checked (a timeout counts as caught: the tests did not pass)."""
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for module, verdict in rows:
        by_module[module][verdict] += 1
        by_module["all"][verdict] += 1
    lines = ["| module | mutants | checked | killed | survived | timeouts | no tests | kill rate |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for module, counts in sorted(by_module.items(), key=lambda item: (item[0] == "all", item[0])):
        checked = sum(counts.values()) - counts["not checked"]
        caught = sum(counts[v] for v in CAUGHT)
        rate = f"{100 * caught / checked:.1f}%" if checked else "-"
        lines.append(f"| {module} | {sum(counts.values())} | {checked} | "
                     f"{caught - counts['timeout']} | {counts['survived']} | {counts['timeout']} | "
                     f"{counts['no tests']} | {rate} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(verdicts()))
