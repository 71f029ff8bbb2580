"""The committed python/langchain_memcached/_ext.pyi is generated, never hand-edited.

Checks, against the installed package (run after ``make python``):

1. the committed stub equals the one the build generated and installed beside the
   extension (nanobind's stubgen, python/CMakeLists.txt);
2. every rule in python/stub_patterns.txt still applies to something;
3. a rule only refines types: the function it replaces keeps the bindings' parameter names,
   kinds and defaults (so a binding that gains or renames an argument cannot hide behind
   an old rule);
4. every argument of every binding has a name (no ``arg0``: callers and readers of the
   stub see what each argument is).

``--update`` copies the installed stub over the committed one instead (then run again).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

from nanobind import stubgen

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "python" / "langchain_memcached" / "_ext.pyi"
PATTERNS = ROOT / "python" / "stub_patterns.txt"
MODULE = "langchain_memcached._ext"
# What the installed stub is made from.
SOURCES = [*sorted((ROOT / "python" / "src").glob("*.[ch]pp")), PATTERNS]


def installed_module() -> ModuleType:
    module = importlib.import_module(MODULE)
    if ROOT / "python" in Path(str(module.__file__)).parents:
        raise SystemExit(f"{MODULE} was imported from the source tree, not the installed package")
    return module


def generate(module: ModuleType, patterns: list[stubgen.ReplacePattern]) -> str:
    generator = stubgen.StubGen(module=module, quiet=True, patterns=patterns)
    generator.put(module)
    stub: str = generator.get()
    return stub


def functions(stub: str) -> dict[str, ast.FunctionDef]:
    """The stub's functions and methods by qualified name (``ClientCore.get``)."""
    result: dict[str, ast.FunctionDef] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef):
                result[prefix + node.name] = node

    walk(ast.parse(stub).body, "")
    return result


def parameters(function: ast.FunctionDef) -> str:
    """The parameter list without types: names, kinds, which have defaults."""
    args = function.args
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            arg.annotation = None
    args.defaults = [ast.Constant(...) for _ in args.defaults]
    args.kw_defaults = [d and ast.Constant(...) for d in args.kw_defaults]
    return f"({ast.unparse(args)})"


def unnamed(function: ast.FunctionDef) -> bool:
    """True if the binding left an argument unnamed (nanobind calls it ``arg`` or
    ``argN``); property setters are nanobind's own and take ``arg``."""
    if any(isinstance(d, ast.Attribute) and d.attr == "setter" for d in function.decorator_list):
        return False
    args = function.args
    names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    return any(re.fullmatch(r"arg\d*", name) for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the committed stub")
    update = parser.parse_args().update

    module = installed_module()
    installed = Path(str(module.__file__)).with_name("_ext.pyi")
    if not installed.is_file():
        print(f"typecheck: {installed} is missing: the build did not generate the stub")
        return 1
    stale = [p for p in SOURCES if p.stat().st_mtime > installed.stat().st_mtime]
    if stale:
        print(f"typecheck: {', '.join(str(p.relative_to(ROOT)) for p in stale)} changed since "
              "the package was installed: run `make python` first")
        return 1
    if update:
        shutil.copyfile(installed, COMMITTED)
        print(f"typecheck: wrote {COMMITTED.relative_to(ROOT)} from {installed}")

    failures = []
    committed_text, installed_text = COMMITTED.read_text(), installed.read_text()
    if committed_text != installed_text:
        diff = difflib.unified_diff(
            committed_text.splitlines(keepends=True),
            installed_text.splitlines(keepends=True),
            str(COMMITTED.relative_to(ROOT)),
            "generated",
        )
        failures.append(
            "the committed stub differs from the generated one (scripts/typecheck.sh "
            "--update rewrites it):\n" + "".join(diff)
        )

    patterns = stubgen.load_pattern_file(str(PATTERNS))
    generate(module, patterns)
    for pattern in patterns:
        if pattern.matches == 0:
            failures.append(f"{PATTERNS.name}: rule {pattern.query.pattern!r} matches nothing")

    bound, refined = functions(generate(module, [])), functions(installed_text)
    for name, function in refined.items():
        if name in bound and parameters(function) != parameters(bound[name]):
            failures.append(
                f"{PATTERNS.name}: the rule for {name} gives it {parameters(function)}, the "
                f"binding takes {parameters(bound[name])}"
            )
    for name, function in bound.items():
        if unnamed(function):
            failures.append(f'name every argument of {name} in python/src/register_*.cpp ("name"_a)')

    for failure in failures:
        print(f"typecheck: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
