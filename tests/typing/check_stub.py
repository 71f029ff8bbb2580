"""The committed python/langchain_memcached/_ext.pyi is generated, never hand-edited.

Checks, against the installed package (run after ``make python``):

1. the committed stub equals the one the build generated and installed beside the
   extension (nanobind's stubgen, python/CMakeLists.txt);
2. every rule in python/stub_patterns.txt still applies to something;
3. a rule only refines types: the function it replaces keeps the bindings' parameter names,
   kinds and defaults (so a binding that gains or renames an argument cannot hide behind
   an old rule).

``--update`` copies the installed stub over the committed one instead (then run again).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import shutil
import sys
from pathlib import Path
from types import ModuleType

from nanobind import stubgen

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "python" / "langchain_memcached" / "_ext.pyi"
PATTERNS = ROOT / "python" / "stub_patterns.txt"
MODULE = "langchain_memcached._ext"


def installed_module() -> ModuleType:
    module = importlib.import_module(MODULE)
    if Path(ROOT / "python") in Path(str(module.__file__)).parents:
        raise SystemExit(f"{MODULE} was imported from the source tree, not the installed package")
    return module


def generate(module: ModuleType, patterns: list[stubgen.ReplacePattern]) -> str:
    generator = stubgen.StubGen(module=module, quiet=True, patterns=patterns)
    generator.put(module)
    stub: str = generator.get()
    return stub


def parameters(stub: str) -> dict[str, str]:
    """Each function's parameter list without types: names, kinds, which have defaults."""
    result: dict[str, str] = {}

    def walk(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                walk(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, ast.FunctionDef):
                args = node.args
                for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs,
                            *filter(None, [args.vararg, args.kwarg])]:
                    arg.annotation = None
                args.defaults = [ast.Constant(...) for _ in args.defaults]
                args.kw_defaults = [d and ast.Constant(...) for d in args.kw_defaults]
                result[prefix + node.name] = f"({ast.unparse(args)})"

    walk(ast.parse(stub).body, "")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the committed stub")
    update = parser.parse_args().update

    module = installed_module()
    installed = Path(str(module.__file__)).with_name("_ext.pyi")
    if not installed.is_file():
        print(f"typecheck: {installed} is missing: the build did not generate the stub")
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

    bound, refined = parameters(generate(module, [])), parameters(installed_text)
    for name, params in refined.items():
        if bound.get(name, params) != params:
            failures.append(
                f"{PATTERNS.name}: the rule for {name} gives it {params}, the binding "
                f"takes {bound[name]}"
            )

    for failure in failures:
        print(f"typecheck: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
