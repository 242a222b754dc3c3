"""The set-up files agree with each other: pins, conda environment, CI and README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.\-+]+)$")


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"requirements.txt: {line!r} is not an exact pin (name==version)"
        pins[match[1].lower()] = match[2]
    return pins


def environment_pip_pins() -> dict[str, str]:
    pins, in_pip = {}, False
    for raw in (ROOT / "environment.yml").read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if re.match(r"^\s*-\s*pip:\s*$", line):
            in_pip = True
            continue
        if in_pip:
            item = re.match(r"^\s{4,}-\s*(\S+)\s*$", line)
            if not item:
                in_pip = False
                continue
            match = PIN.match(item[1])
            if match:
                pins[match[1].lower()] = match[2]
    return pins


def test_requirements_are_exact_pins_of_the_core_packages():
    pins = requirement_pins()
    core = {"numpy", "pandas", "matplotlib", "jupyterlab", "ipykernel", "nbval", "pytest"}
    core |= {"requests"}
    assert core <= set(pins), f"missing from requirements.txt: {sorted(core - set(pins))}"


def test_environment_yml_matches_requirements():
    assert environment_pip_pins() == requirement_pins()
    text = (ROOT / "environment.yml").read_text()
    pinned = re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M)
    assert pinned, "environment.yml must pin python=3.11"


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip()
        and not line.lstrip().startswith("#")
        and not line.startswith(("set ", "cd ", "export "))
    ]
    assert commands == ["make test"]
    assert "export REQUIRE_JAVA=1" in (ROOT / ".ci" / "run").read_text()
