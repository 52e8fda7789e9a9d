"""A security scan of the rendered manifests with checkov (PyPI), run as part of `make test`: every finding is
either fixed in the chart or justified in charts/twin/README.md ("Security scan"), and every justification there
still matches a finding (a fixed finding must leave the table too).

checkov lives in its own virtual environment under ~/.cache/twin/tools, installed with uv from the pins of
tests/unit/deploy/checkov-requirements.txt: in requirements.lock it would move packaging, networkx and others for
every service. The first run installs it (seconds from uv's cache, about a minute cold); the test is skipped, with
the reason, only when it cannot be installed (no uv, no package index)."""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_support import CHART, PROFILES, REPO, find, kustomize_build

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "checkov-requirements.txt"
TOOLS = Path(os.environ.get("TWIN_TOOLS_DIR", Path.home() / ".cache" / "twin" / "tools"))
# The profiles scanned: between them every built-in object the chart can render (prod: HPA, KEDA, ingress, GPU
# placement, several replicas; dev: inference as a plain Deployment). checkov reads built-in kinds only: the custom
# resources are validated against their CRDs by test_deploy_schemas.py.
SCANNED = ("overlay-prod", "overlay-dev")
JUSTIFICATIONS = re.compile(r"<!-- checkov-justifications -->(.*?)<!-- /checkov-justifications -->", re.S)


def uv_command() -> list[str] | None:
    """The installer the Makefile uses (`python3 -m uv`), or any uv on PATH."""
    for command in ([sys.executable, "-m", "uv"], ["python3", "-m", "uv"], [shutil.which("uv") or "uv"]):
        try:
            subprocess.run([*command, "--version"], capture_output=True, check=True, timeout=30)
            return command
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def checkov_binary() -> Path:
    """checkov from its pinned requirements, in a venv named after their digest (a new pin, a new venv)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    venv = TOOLS / f"checkov-{digest}"
    binary, marker = venv / "bin" / "checkov", venv / ".installed"
    if marker.is_file():
        return binary
    uv = uv_command()
    if uv is None:
        pytest.skip("checkov cannot be installed: no uv here (`make uv` installs the pinned one)")
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / ".checkov.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return binary
        shutil.rmtree(venv, ignore_errors=True)
        steps = (
            [*uv, "venv", "-q", "--python", sys.executable, str(venv)],
            [*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-r", str(REQUIREMENTS)],
        )
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=900)
            if result.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                pytest.skip(f"checkov cannot be installed ({' '.join(step[-3:])}): {result.stderr.strip()[-500:]}")
        marker.write_text(digest)
    return binary


def justifications() -> list[tuple[str, str, str]]:
    """(check id, resource pattern, reason) rows of the README's table."""
    section = JUSTIFICATIONS.search((CHART / "README.md").read_text())
    assert section, "charts/twin/README.md has no checkov justifications table"
    rows = []
    for line in section[1].strip().splitlines()[2:]:
        check, resources, reason = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert re.fullmatch(r"CKV2?_K8S_\d+", check) and len(reason) > 40, line
        rows += [(check, pattern.strip().strip("`"), reason) for pattern in resources.split(",")]
    return rows


@pytest.fixture(scope="module")
def scan(tmp_path_factory, profile) -> dict:
    folder = tmp_path_factory.mktemp("rendered")
    for name in SCANNED:
        objects = list(profile(name))
        for config in find(objects, "ConfigMap", "twin-trainer-job"):  # the Job the trainer creates is a pod too
            job = yaml.safe_load(config["data"]["job.yaml"])
            job["metadata"]["name"] = "twin-trainer-job"
            objects.append(job)
        (folder / f"{name}.yaml").write_text(yaml.safe_dump_all(objects))
    for overlay in ("base", "overlays/prod"):
        objects = kustomize_build(REPO / "k8s" / overlay)
        (folder / f"k8s-{overlay.replace('/', '-')}.yaml").write_text(yaml.safe_dump_all(objects))
    binary = checkov_binary()
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE", "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    env.pop("BC_API_KEY", None)
    command = [str(binary), "-d", str(folder), "--framework", "kubernetes", "--skip-download", "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: findings
    report = json.loads(result.stdout)
    return report[0] if isinstance(report, list) else report


def test_checkov_scans_every_rendered_workload(scan):
    summary = scan["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] > 100 and summary["passed"] > 1000, summary
    scanned = {check["resource"] for check in scan["results"]["passed_checks"]}
    for name in ("Deployment.twin.twin-gateway", "StatefulSet.twin.twin-postgresql", "Job.twin.twin-trainer-job"):
        assert name in scanned


def test_every_finding_is_fixed_or_justified(scan):
    rows = justifications()
    unjustified = sorted(
        {
            f"{f['check_id']} {f['resource']}: {f['check_name']}"
            for f in scan["results"]["failed_checks"]
            if not any(f["check_id"] == check and fnmatch.fnmatch(f["resource"], pattern) for check, pattern, _ in rows)
        }
    )
    assert unjustified == [], "fix these in the chart or justify them in charts/twin/README.md:\n" + "\n".join(
        unjustified
    )


def test_every_justification_still_matches_a_finding(scan):
    findings = {(f["check_id"], f["resource"]) for f in scan["results"]["failed_checks"]}
    stale = [
        (check, pattern)
        for check, pattern, _ in justifications()
        if not any(check == c and fnmatch.fnmatch(resource, pattern) for c, resource in findings)
    ]
    assert stale == [], f"justified in the README but no longer found (remove them): {stale}"


def test_scanned_profiles_exist():
    assert set(SCANNED) <= set(PROFILES)
