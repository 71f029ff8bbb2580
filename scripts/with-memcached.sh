#!/usr/bin/env bash
# Runs a command with MEMCACHED_SERVERS pointing at a memcached pool. If the caller set
# MEMCACHED_SERVERS, that pool is used; otherwise a private memcached is started on a free
# loopback port and always stopped afterwards.
set -euo pipefail
if [ -n "${MEMCACHED_SERVERS:-}" ]; then
  exec "$@"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user_args=()
[ "$(id -u)" -ne 0 ] || user_args=(-u root)
memcached -l 127.0.0.1 -p "$port" -U 0 -m 64 "${user_args[@]}" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
echo "(started a private memcached on 127.0.0.1:$port; it stops when this command ends)"
MEMCACHED_SERVERS="127.0.0.1:$port" "$@"
