"""The import graph of the package has no cycle, and the engine imports nothing above it.

Layers (docs/decisions.md, "Import layers"): backend -> autograd -> functional -> nn ->
optim, train, io, data, viz, ...; kernels beside nn. Module-level imports only: an import
inside a function runs when it is called (the fused kernels are imported on first use).
"""
import ast
import pathlib

import lstm_from_scratch

ROOT = pathlib.Path(lstm_from_scratch.__file__).parent
PACKAGE = "lstm_from_scratch"


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _module_level_imports(path, everywhere=False):
    """The package modules that ``path`` imports at module level (or, ``everywhere``, also
    inside functions), as resolved absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    out = set()
    for node in (ast.walk(tree) if everywhere else tree.body):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith(PACKAGE):
                continue
            for a in node.names:                # `from . import x` may name a submodule
                sub = f"{mod}.{a.name}"
                out.add(sub if _exists(sub) else mod)
    return out


def _exists(module):
    rel = pathlib.Path(*module.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def _graph():
    return {_module_name(p): _module_level_imports(p) for p in ROOT.rglob("*.py")}


def test_autograd_imports_only_backend():
    """Also inside functions: no lazy import of anything above the engine (the old proxy)."""
    for path in (ROOT / "autograd").glob("*.py"):
        module, imports = _module_name(path), _module_level_imports(path, everywhere=True)
        if True:
            outside = {m for m in imports if not m.startswith(f"{PACKAGE}.autograd")}
            assert outside <= {PACKAGE, f"{PACKAGE}.backend"}, (module, outside)


def test_functional_does_not_import_nn_or_above():
    for module, imports in _graph().items():
        if module.startswith(f"{PACKAGE}.functional"):
            above = {m for m in imports if m.startswith((f"{PACKAGE}.nn", f"{PACKAGE}.optim",
                                                          f"{PACKAGE}.train", f"{PACKAGE}.kernels"))}
            assert not above, (module, above)


def _find_cycle(graph):
    """An import cycle of ``graph`` (module -> imported modules) as a list, or None. A module
    importing its own package (``from . import x`` in a subpackage) is Python's order of
    initialisation, not a dependency of ours, and is skipped."""
    state, path = {}, []

    def visit(m):
        state[m] = "active"
        path.append(m)
        for n in sorted(graph.get(m, ())):
            if n == m or n == PACKAGE or m.startswith(n + "."):
                continue
            if state.get(n) == "active":
                return path[path.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        path.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle_between_modules():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_check_sees_a_cycle():
    """The checks can fail: an engine that imported functional (as the old proxy did, at
    first use) would be a cycle, and would import something above backend."""
    graph = _graph()
    graph[f"{PACKAGE}.autograd.tensor"] = graph[f"{PACKAGE}.autograd.tensor"] | {
        f"{PACKAGE}.functional"}
    assert _find_cycle(graph) is not None


def test_tensor_operators_are_the_registered_functions():
    """Every operator Tensor declares (``__add__ = ops.method("add")``) is bound to the
    function of that name, registered where functional defines it: x + y runs
    functional.elementwise.add itself."""
    from lstm_from_scratch import functional
    from lstm_from_scratch.autograd import Tensor, ops
    assert ops.unbound() == []
    assert Tensor.__add__ is functional.elementwise.add is ops.add
    assert Tensor.sum is functional.reduction.sum
    assert Tensor.clamp is Tensor.clip is functional.elementwise.clip
    x = lstm_from_scratch.tensor([1.0, 2.0])
    assert (2 - x).tolist() == [1.0, 0.0]               # reflected: sub(2, x)
