# The one warning policy for every target llmcache compiles (library, tests, CLI, fuzzers,
# benchmarks, the Python extension).
#
# -Werror is for developer and CI builds only: the CMake presets and the Makefile turn it
# on. The wheel build (`pip install .`, pyproject.toml) leaves it off, so a user's newer
# compiler with a new warning cannot break the install.
option(LLMCACHE_WERROR "Treat compiler warnings as errors (on in the presets and make; off for pip)" OFF)

# llmcache_warnings(<target> [extra options...]): -Wall -Wextra, -Werror when
# LLMCACHE_WERROR is on, and the target's own extra options (say why next to each).
function(llmcache_warnings target)
  set(options -Wall -Wextra ${ARGN})
  if(LLMCACHE_WERROR)
    list(APPEND options -Werror)
  endif()
  target_compile_options(${target} PRIVATE ${options})
endfunction()
