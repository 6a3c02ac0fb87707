# Sourced by .ci/run: a throwaway PostgreSQL cluster on loopback for the team-setup tests.
#
# Exports RECSYS_NEG_TEST_POSTGRES=postgresql://postgres@127.0.0.1:PORT/postgres (a superuser URL;
# the tests create and drop their own databases). Where no server can be started (no apt-get,
# no network, no permission), it prints why and exports RECSYS_NEG_TEST_POSTGRES_SKIP with the
# reason instead: the PostgreSQL tests then skip with that reason. A URL already set is used
# as it is. The cluster lives in a temporary folder and is stopped and removed on exit.

_pg_skip() {
    echo "postgres: not started: $1" >&2
    export RECSYS_NEG_TEST_POSTGRES_SKIP="$1"
    return 0
}

_pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do  # Debian keeps the server binaries off PATH
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

start_test_postgres() {
    if [ -n "${RECSYS_NEG_TEST_POSTGRES:-}" ]; then
        echo "postgres: using RECSYS_NEG_TEST_POSTGRES from the environment" >&2
        return 0
    fi
    local bin
    if ! bin=$(_pg_bindir); then
        if ! command -v apt-get >/dev/null 2>&1; then
            _pg_skip "no PostgreSQL server binaries and no apt-get to install Debian's postgresql"; return 0
        fi
        if [ "$(id -u)" != 0 ]; then
            _pg_skip "no PostgreSQL server binaries, and installing Debian's postgresql needs root"; return 0
        fi
        echo "postgres: installing Debian's postgresql (apt-get)" >&2
        if ! { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 \
                apt-get install -y -qq --no-install-recommends postgresql; } >/tmp/recsys-neg-apt.log 2>&1; then
            _pg_skip "apt-get install postgresql failed (no network?): $(tail -n 1 /tmp/recsys-neg-apt.log)"
            return 0
        fi
        bin=$(_pg_bindir) || { _pg_skip "postgresql installed but initdb not found"; return 0; }
    fi
    local dir run_as=()
    dir=$(mktemp -d "${TMPDIR:-/tmp}/recsys-neg-pg.XXXXXX")
    if [ "$(id -u)" = 0 ]; then  # the server refuses to run as root
        if ! id postgres >/dev/null 2>&1; then
            _pg_skip "running as root and there is no 'postgres' user to run the server as"; return 0
        fi
        chown postgres "$dir"
        run_as=(runuser -u postgres --)
    fi
    if ! "${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
            >"$dir/initdb.log" 2>&1; then
        _pg_skip "initdb failed: $(tail -n 1 "$dir/initdb.log")"; return 0
    fi
    local port
    port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # loopback only, socket in the temp folder, fsync off: a test cluster, never a real one
    if ! "${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" \
            start >/dev/null 2>&1; then
        _pg_skip "pg_ctl start failed: $(tail -n 1 "$dir/server.log" 2>/dev/null)"; return 0
    fi
    export RECSYS_NEG_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres"
    _RECSYS_NEG_PG_STOP="${run_as[*]} $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir"
    trap 'eval "$_RECSYS_NEG_PG_STOP" >/dev/null 2>&1' EXIT
    echo "postgres: throwaway cluster at $RECSYS_NEG_TEST_POSTGRES ($dir)" >&2
}
