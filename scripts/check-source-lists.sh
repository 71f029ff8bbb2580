#!/usr/bin/env bash
# The CMake source lists are explicit (no globs), so a new file is only built once someone
# names it. This fails, naming the file and the list to add it to, when a C++ source or a
# CLI test file (tracked, or new and not ignored) appears in no CMakeLists.txt.
#
# Rule: a file is listed when the CMakeLists.txt of the nearest enclosing directory that has
# one names its path relative to that directory (src/cache/key.cpp in ./CMakeLists.txt,
# unit/codec_test.cpp in tests/CMakeLists.txt). Two lists name stems instead: the fuzzers
# (fuzz/<name>_fuzzer.cpp: <name> in fuzz/CMakeLists.txt) and the CLI's pytest files
# (tests/cli/test_<x>.py: test_<x> in cli/CMakeLists.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "source-lists: not a git checkout, nothing to compare the lists with; skipped"
  exit 0
fi

missing=0
report() {
  echo "source-lists: $1 is in no build: add '$2' to $3" >&2
  missing=1
}

while IFS= read -r file; do
  [ -f "$file" ] || continue  # deleted in the work tree but still in the index
  case "$file" in
    fuzz/*_fuzzer.cpp)
      name=$(basename "$file" _fuzzer.cpp)
      grep -qwF -- "$name" fuzz/CMakeLists.txt || report "$file" "$name" fuzz/CMakeLists.txt
      continue ;;
    tests/cli/test_*.py)
      name=$(basename "$file" .py)
      grep -qwF -- "$name" cli/CMakeLists.txt || report "$file" "$name" cli/CMakeLists.txt
      continue ;;
    *.py) continue ;;
  esac
  dir=$(dirname "$file")
  while [ "$dir" != . ] && [ ! -f "$dir/CMakeLists.txt" ]; do
    dir=$(dirname "$dir")
  done
  relative=${file#"$dir"/}
  grep -qwF -- "$relative" "$dir/CMakeLists.txt" || report "$file" "$relative" "$dir/CMakeLists.txt"
done < <(git ls-files --cached --others --exclude-standard -- \
           'src/*.cpp' 'tests/*.cpp' 'cli/*.cpp' 'fuzz/*.cpp' 'bench/*.cpp' 'soak/*.cpp' \
           'examples/*.cpp' 'python/*.cpp' 'tests/cli/test_*.py')

exit "$missing"
