#!/usr/bin/env bash
# Makes sure MariaDB (127.0.0.1:3306) and PostgreSQL (127.0.0.1:5432) answer,
# starting them when they are installed but stopped. Exits 1 when one cannot
# be reached, saying how to get it.
set -uo pipefail

mariadb_up() { .venv/bin/python - <<'PY' 2>/dev/null
import pymysql
pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", connect_timeout=2).close()
PY
}
postgres_up() { .venv/bin/python - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=2").close()
PY
}
wait_for() { # name check-function
  for _ in $(seq 1 30); do "$2" && return 0; sleep 1; done
  return 1
}

status=0
if ! mariadb_up; then
  echo "MariaDB is not answering on 127.0.0.1:3306; starting it" >&2
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  fi
  if ! wait_for mariadb mariadb_up; then
    echo "MariaDB is unavailable: install it (apt-get install mariadb-server) and start it with" >&2
    echo "  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd" >&2
    status=1
  fi
fi
if ! postgres_up; then
  echo "PostgreSQL is not answering on 127.0.0.1:5432; starting it" >&2
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  if ! wait_for postgres postgres_up; then
    echo "PostgreSQL is unavailable: install it (apt-get install postgresql) and start it with" >&2
    echo "  pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    status=1
  fi
fi
exit $status
