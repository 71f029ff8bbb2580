#!/usr/bin/env bash
# The Python package's types, checked against the installed build (run after `make python`):
#   1. python/langchain_memcached/_ext.pyi, committed for type checkers and readers of the
#      source tree, equals the stub the build generated from the extension (nanobind's
#      stubgen), and the rules refining it (python/stub_patterns.txt) still hold;
#   2. mypy --strict over the package and tests/typing/user_code.py ([tool.mypy] in
#      pyproject.toml). tests/python/test_typing_user_code.py runs that same user code.
# `scripts/typecheck.sh --update` rewrites the committed stub from the build first: do that,
# and commit the result, after changing the bindings in python/src/.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-$PWD/.venv/bin/python}
# Outside the repository, so that `import langchain_memcached` is the installed package.
(cd / && "$python" "$OLDPWD/tests/typing/check_stub.py" "$@")
"$python" -m mypy --strict  # files and settings: [tool.mypy] in pyproject.toml
echo "typecheck: stub current, mypy --strict clean: ok"
