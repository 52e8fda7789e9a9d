"""pytest imports test modules by basename (the test folders are not packages): two test files with one name in
different folders break collection of the whole run, which only shows when every tier is collected together."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_a_unique_basename():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
