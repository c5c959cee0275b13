# Sourced by scripts that need a throwaway `plugboard serve`: `start_temp_server BIN [ARGS…]`
# starts it on a free loopback port in a temporary data directory with a fresh admin token, and
# sets `address`, `token`, `data` and `server`; it is stopped and its directory removed on exit
# (plus whatever `on_stop` does, when the caller defines it).

start_temp_server() {
  local bin=$1
  shift
  data=$(mktemp -d)
  # Plugins run as users of their own (docs/security.md): they pass through to their data folder.
  chmod 711 "$data"
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  PLUGBOARD_ADMIN_TOKEN=$token PLUGBOARD_LOG=info "$bin" serve --data-dir "$data" \
    --listen 127.0.0.1:0 "$@" >"$data/serve.out" 2>"$data/serve.log" &
  server=$!
  trap stop_temp_server EXIT
  address=
  for _ in $(seq 1 300); do
    address=$(sed -n 's/.*plugboard is running.*address=\([^ ]*\).*/\1/p' "$data/serve.log" | head -n1)
    [[ -n "$address" ]] && return 0
    if ! kill -0 "$server" 2>/dev/null; then cat "$data/serve.log" >&2; return 1; fi
    sleep 0.1
  done
  echo "plugboard serve did not start" >&2
  cat "$data/serve.log" >&2
  return 1
}

stop_temp_server() {
  local hung=
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$server" 2>/dev/null; then
    # A server that does not stop is a bug to see, not a run to wait on forever.
    echo "plugboard serve did not stop within 30 s of SIGTERM; its log ends:" >&2
    tail -5 "$data/serve.log" >&2
    kill -KILL "$server" 2>/dev/null || true
    hung=1
  fi
  wait "$server" 2>/dev/null || true
  if declare -F on_stop >/dev/null; then on_stop; fi
  rm -rf "$data"
  if [[ -n "$hung" ]]; then exit 1; fi
}
