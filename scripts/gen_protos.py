"""Generate Python stubs for protos/ into libs/api (package `twin.v1`).

    python scripts/gen_protos.py          # regenerate
    python scripts/gen_protos.py --check  # exit 1 when the committed stubs differ from a fresh generation

Stubs are produced with grpcio-tools 1.81.1 (protobuf 6.x runtime; see shared STACK notes), never edited.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "libs" / "api"
PACKAGE_DIRS = ["twin", "twin/v1"]


def generate(out_root: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    grpc_include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{grpc_include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in PACKAGE_DIRS:
        (out_root / package / "__init__.py").touch()


def generated_files(root: Path) -> list[Path]:
    return sorted(
        p.relative_to(root) for p in (root / "twin").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


def check() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        expected, actual = generated_files(fresh), generated_files(OUT_ROOT)
        if expected != actual:
            print(f"stale stubs: files differ: expected {expected}, found {actual}", file=sys.stderr)
            return 1
        stale = [str(p) for p in expected if not filecmp.cmp(fresh / p, OUT_ROOT / p, shallow=False)]
        if stale:
            print(f"stale stubs (run `make protos`): {stale}", file=sys.stderr)
            return 1
    print("protos: generated stubs are up to date")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    if args.check:
        return check()
    shutil.rmtree(OUT_ROOT / "twin", ignore_errors=True)
    generate(OUT_ROOT)
    print(f"generated {len(generated_files(OUT_ROOT))} files under {OUT_ROOT / 'twin'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
