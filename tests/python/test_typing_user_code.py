"""tests/typing/user_code.py is what mypy --strict checks as "a user's code"
(scripts/typecheck.sh); running it here keeps it true, not merely well-typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from langchain_core.globals import get_llm_cache, set_llm_cache

USER_CODE = Path(__file__).resolve().parents[1] / "typing" / "user_code.py"


def test_typed_user_code_runs_against_memcached() -> None:
    spec = importlib.util.spec_from_file_location("user_code", USER_CODE)
    assert spec is not None and spec.loader is not None
    user_code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user_code)
    before = get_llm_cache()
    try:
        user_code.main()  # starts its own memcached processes (langchain_memcached.testing)
    finally:
        set_llm_cache(before)
