"""Re-create the vendored schemas of this folder from git mirrors of their projects (run by hand, never by tests).

    python tests/unit/deploy/schemas/vendor.py MIRRORS_DIR

MIRRORS_DIR holds bare or normal clones named <owner>+<name>/repo (the layout of the `fetch` tool); each entry
of SOURCES below names the repository, the tag and the file. CRDs are reduced to the openAPIV3Schema of the
version the chart uses (the published YAML of KServe's InferenceService is 2 MB; the schema gzipped is ~100 KB)
and every source file's sha256 goes into SOURCES.md, so each schema can be traced to its upstream bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# (output file, repository, tag, path in the repository, CRD version to keep or None for a plain JSON schema)
SOURCES = [
    (
        "strimzi/kafka.v1.json",
        "strimzi/strimzi-kafka-operator",
        "1.0.1",
        "packaging/install/cluster-operator/040-Crd-kafka.yaml",
        "v1",
    ),
    (
        "strimzi/kafkaconnect.v1.json",
        "strimzi/strimzi-kafka-operator",
        "1.0.1",
        "packaging/install/cluster-operator/041-Crd-kafkaconnect.yaml",
        "v1",
    ),
    (
        "strimzi/kafkatopic.v1.json",
        "strimzi/strimzi-kafka-operator",
        "1.0.1",
        "packaging/install/cluster-operator/043-Crd-kafkatopic.yaml",
        "v1",
    ),
    (
        "strimzi/kafkanodepool.v1.json",
        "strimzi/strimzi-kafka-operator",
        "1.0.1",
        "packaging/install/cluster-operator/045-Crd-kafkanodepool.yaml",
        "v1",
    ),
    (
        "strimzi/kafkaconnector.v1.json",
        "strimzi/strimzi-kafka-operator",
        "1.0.1",
        "packaging/install/cluster-operator/047-Crd-kafkaconnector.yaml",
        "v1",
    ),
    (
        "kserve/inferenceservice.v1beta1.json.gz",
        "kserve/kserve",
        "v0.20.0",
        "config/crd/full/serving.kserve.io_inferenceservices.yaml",
        "v1beta1",
    ),
    (
        "keda/scaledobject.v1alpha1.json",
        "kedacore/keda",
        "v2.20.2",
        "config/crd/bases/keda.sh_scaledobjects.yaml",
        "v1alpha1",
    ),
    (
        "keda/triggerauthentication.v1alpha1.json",
        "kedacore/keda",
        "v2.20.2",
        "config/crd/bases/keda.sh_triggerauthentications.yaml",
        "v1alpha1",
    ),
    ("strimzi/kafka-versions.yaml", "strimzi/strimzi-kafka-operator", "1.0.1", "kafka-versions.yaml", "raw"),
    ("compose-spec.json", "compose-spec/compose-spec", "HEAD", "schema/compose-spec.json", None),
    (
        "skaffold-v4beta14.json",
        "GoogleContainerTools/skaffold",
        "v2.24.0",
        "docs-v2/content/en/schemas/v4beta14.json",
        None,
    ),
]


def row(output: str, repository: str, tag: str, commit: str, path: str, version: str, raw: bytes) -> str:
    digest = hashlib.sha256(raw).hexdigest()
    return (
        f"| `{output}` | github.com/{repository} | {tag} (`{commit[:12]}`) | `{path}` | {version} | `{digest[:16]}…` |"
    )


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True).stdout


def main(mirrors: Path) -> None:
    rows = []
    for output, repository, tag, path, version in SOURCES:
        repo = mirrors / repository.replace("/", "+") / "repo"
        commit = git(repo, "rev-list", "-n", "1", tag).decode().strip()
        raw = git(repo, "show", f"{commit}:{path}")
        if version == "raw":
            (HERE / output).write_bytes(raw)
            rows.append(row(output, repository, tag, commit, path, "-", raw))
            continue
        if version is None:
            document = json.loads(raw)
        else:
            crd = yaml.safe_load(raw)
            served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
            document = {
                "x-crd": {"group": crd["spec"]["group"], "kind": crd["spec"]["names"]["kind"], "version": version},
                **served["schema"]["openAPIV3Schema"],
            }
        text = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        target = HERE / output
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(text, mtime=0) if output.endswith(".gz") else text)
        digest = hashlib.sha256(raw).hexdigest()
        rows.append(
            f"| `{output}` | github.com/{repository} | {tag} (`{commit[:12]}`) | `{path}` | {version or '-'} | `{digest[:16]}…` |"
        )
        print(output, len(text))
    sources = (HERE / "SOURCES.md").read_text().split("<!-- table -->")[0]
    table = "| file | repository | tag (commit) | path | version kept | sha256 of the source file |\n|---|---|---|---|---|---|\n"
    (HERE / "SOURCES.md").write_text(sources + "<!-- table -->\n" + table + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
