#!/usr/bin/env bash
# Installs what the test suite needs and this machine lacks, and makes sure
# PostgreSQL is running. Needs root (apt-get) for missing packages; without
# root it only reports what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v psql >/dev/null 2>&1 || need_apt+=(postgresql)
/usr/bin/python3 -c 'import slixmpp' >/dev/null 2>&1 || need_apt+=(python3-slixmpp)
/usr/bin/python3 -c 'import nbxmpp' >/dev/null 2>&1 || need_apt+=(python3-nbxmpp)
command -v go-sendxmpp >/dev/null 2>&1 || need_apt+=(go-sendxmpp)
# Federation interop (interop/s2s_prosody_test.go) runs its own Prosody as
# an unprivileged-port process on loopback; the package's service is unused.
command -v prosody >/dev/null 2>&1 || need_apt+=(prosody)
# The web chat and its tests: npm (Converse.js, @xmpp/client,
# playwright-core) and Debian's Chromium, which playwright-core drives (it
# never downloads a browser).
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing (install them, e.g. apt-get install ${need_apt[*]}): ${need_apt[*]}" >&2
  fi
fi

# The pinned npm packages of web/chat (package-lock.json), when missing or
# older than the lock file.
if command -v npm >/dev/null 2>&1; then
  if [ ! -e web/chat/node_modules/.package-lock.json ] || [ web/chat/package-lock.json -nt web/chat/node_modules/.package-lock.json ]; then
    echo "installing web/chat npm packages"
    (cd web/chat && npm ci --no-audit --no-fund --ignore-scripts)
  fi
  # The BOSH test client of interop/ (strophe.js), likewise.
  if [ ! -e interop/testdata/bosh/node_modules/.package-lock.json ] || [ interop/testdata/bosh/package-lock.json -nt interop/testdata/bosh/node_modules/.package-lock.json ]; then
    echo "installing interop/testdata/bosh npm packages"
    (cd interop/testdata/bosh && npm ci --no-audit --no-fund --ignore-scripts)
  fi
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres and a
# database "test", unless PARLEY_TEST_POSTGRES_DSN points elsewhere.
if [ -z "${PARLEY_TEST_POSTGRES_DSN:-}" ] && command -v pg_ctlcluster >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  if [ -n "$ver" ]; then
    conf=/etc/postgresql/$ver/main/pg_hba.conf
    # Trust loopback connections: this is a throwaway test cluster.
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$conf"; then
      sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf"
      pg_ctlcluster --skip-systemctl-redirect "$ver" main reload 2>/dev/null || true
    fi
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
      pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
      for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
    fi
    if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
      su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='test'\"" 2>/dev/null | grep -q 1 \
        || su postgres -c "createdb test" 2>/dev/null || true
    fi
  fi
fi

# staticcheck, pinned.
if ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$HOME/go/bin/staticcheck" ]; then
  echo "installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
