"""The README and docs: tables written by the benchmarks, the archive kept apart, a short front door."""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATED = ("README.md", os.path.join("docs", "benchmarks.md"), os.path.join("saved_models", "uvac_fsdd.md"))


def _tables_outside_markers(text):
    """Markdown table lines that no `<!-- name:start -->` ... `<!-- name:end -->` section holds."""
    outside, inside = [], None
    for line in text.splitlines():
        marker = re.match(r"<!-- ([\w-]+):(start|end) -->", line)
        if marker:
            inside = marker.group(1) if marker.group(2) == "start" else None
        elif line.startswith("| --- ") and inside is None:
            outside.append(line)
    return outside


def test_every_result_table_is_what_update_readme_writes(tmp_path):
    copy = tmp_path / "repo"
    for folder in ("benchmarks", "docs", "saved_models"):
        shutil.copytree(os.path.join(ROOT, folder), copy / folder,
                        ignore=shutil.ignore_patterns("*.keras", "*.run", "figures", "*.png"))
    shutil.copy(os.path.join(ROOT, "README.md"), copy / "README.md")
    result = subprocess.run([sys.executable, str(copy / "benchmarks" / "update_readme.py")], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "not updated" not in result.stdout
    for name in GENERATED:
        assert (copy / name).read_text() == open(os.path.join(ROOT, name)).read(), f"{name} is out of date"


def test_readme_tables_are_generated_and_the_readme_is_a_front_door():
    readme = open(os.path.join(ROOT, "README.md")).read()
    # The only hand-written tables are the bad-input table and the command reference.
    assert len(_tables_outside_markers(readme)) == 2
    assert len(readme.splitlines()) <= 300
    assert not re.search(r"session [0-9]|[a-z]+(th|st|nd|rd) round", readme, re.IGNORECASE)


def test_nothing_maintained_imports_the_archive():
    pattern = re.compile(r"^\s*(from|import)\s+experiments|experiments/recipe_search|sys\.path.*experiments", re.M)
    users = []
    for folder in ("keras_uvac", "benchmarks", "tests", "notebooks"):
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in names:
                if name.endswith((".py", ".ipynb")) and name != "test_docs.py":
                    if pattern.search(open(os.path.join(base, name), errors="replace").read()):
                        users.append(os.path.join(base, name))
    assert users == []
    assert os.path.isfile(os.path.join(ROOT, "experiments", "README.md"))
