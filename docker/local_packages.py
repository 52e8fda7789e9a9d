"""The repository's own packages one service needs, as install paths: `python docker/local_packages.py embedder`
prints `./libs/common ./libs/search ./libs/inference-client ./services/embedder` (dependencies first).

Read from the `dependencies` of each pyproject.toml (names starting with `twin-`), followed transitively, so an
image installs exactly what its package declares. Standard library only: it runs in the image's build stage.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"[A-Za-z0-9._-]+")  # a requirement's distribution name, before extras, markers or versions


def local_projects(root: Path = ROOT) -> dict[str, tuple[str, list[str]]]:
    """Project name -> (path relative to root, names of the local projects it depends on)."""
    projects = {}
    for pyproject in sorted([*root.glob("libs/*/pyproject.toml"), *root.glob("services/*/pyproject.toml")]):
        project = tomllib.loads(pyproject.read_text())["project"]
        deps = [_NAME.match(d.strip()).group() for d in project.get("dependencies", [])]
        projects[project["name"]] = (
            pyproject.parent.relative_to(root).as_posix(),
            [d for d in deps if d.startswith("twin-")],
        )
    return projects


def install_paths(service: str, root: Path = ROOT) -> list[str]:
    projects = local_projects(root)
    name = f"twin-{service}"
    if name not in projects:
        raise SystemExit(f"no project {name} under {root}/services")
    ordered: list[str] = []

    def visit(project: str, trail: tuple[str, ...]) -> None:
        if project in trail:
            raise SystemExit(f"dependency cycle: {' -> '.join((*trail, project))}")
        if project not in projects:
            raise SystemExit(f"{trail[-1]} depends on {project}, which is not a project of this repository")
        for dependency in projects[project][1]:
            visit(dependency, (*trail, project))
        if project not in ordered:
            ordered.append(project)

    visit(name, ())
    return [f"./{projects[p][0]}" for p in ordered]


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: local_packages.py SERVICE")
    print(" ".join(install_paths(sys.argv[1])))
