"""The package's shape: modules small enough to read, imports that flow one way, private APIs in one module."""

import ast
import json
import os
import re
import subprocess
import sys

import keras_uvac

PACKAGE_DIR = os.path.dirname(os.path.abspath(keras_uvac.__file__))
MAX_LINES = 500


def _modules():
    """`{module name: path}` of every module of the package."""
    modules = {}
    for folder, _, names in os.walk(PACKAGE_DIR):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3].split(os.sep)
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(path, modules):
    """The package's modules that a module imports, at its top or inside a function."""
    imported = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        imported.update(name for name in names if name in modules)
    return imported


def test_no_module_is_longer_than_500_lines():
    lengths = {name: sum(1 for _ in open(path)) for name, path in _modules().items()}
    assert lengths["keras_uvac.model"] > 100  # the walk found the package
    assert {name: length for name, length in lengths.items() if length > MAX_LINES} == {}


def test_the_import_graph_has_no_cycle():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # A package imports its own submodules to export them; that is the package, not a cycle through it.
    for name in graph:
        graph[name] = {other for other in graph[name] if not (name.startswith(other + ".") and other != "keras_uvac")}
        graph[name].discard("keras_uvac")
    assert "keras_uvac.model" in graph["keras_uvac.training.run"] or graph["keras_uvac.training.recipes"]
    visiting, done, cycles = set(), set(), []

    def visit(name, path):
        if name in visiting:
            cycles.append(path[path.index(name):] + [name])
            return
        if name in done:
            return
        visiting.add(name)
        for other in sorted(graph[name]):
            visit(other, path + [name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


def _import_failures(names, setup, before_each=""):
    """`{name: error}` for the modules of `names` that fail to import, each tried in one fresh process."""
    script = (
        f"import importlib, json, sys\n{setup}"
        "failures = {}\n"
        f"for name in {names!r}:\n"
        f"{before_each}"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as error:\n"
        "        failures[name] = repr(error)\n"
        "print(json.dumps(failures))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_module_imports_alone():
    # One process: TensorFlow and Keras stay loaded, the package is forgotten before each module.
    forget_package = ("    for loaded in [key for key in sys.modules if key.startswith('keras_uvac')]:\n"
                      "        del sys.modules[loaded]\n")
    assert _import_failures(sorted(_modules()), "import keras_uvac\n", forget_package) == {}


def test_every_benchmark_script_imports():
    # Their commands reproduce the README's numbers: a name moved in the package must not break one unnoticed.
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
    scripts = sorted(name[:-3] for name in os.listdir(folder) if name.endswith(".py"))
    assert len(scripts) >= 15 and _import_failures(scripts, f"sys.path.insert(0, {folder!r})\n") == {}


def test_keras_and_tensorflow_internals_are_used_in_one_module_only():
    internal = re.compile(r"keras\.src|tensorflow\.python")
    users = sorted(name for name, path in _modules().items() if internal.search(open(path).read()))
    assert users == ["keras_uvac._private_apis"]


def test_nothing_is_assigned_onto_the_model_class_at_import():
    from keras_uvac.model import UVAC

    for attribute, value in vars(UVAC).items():
        function = getattr(value, "__func__", value)
        if callable(function) and hasattr(function, "__qualname__") and not attribute.startswith("__"):
            assert function.__qualname__ == f"UVAC.{attribute}", attribute
    assert "train_step" in vars(UVAC) and "test_step" in vars(UVAC)
