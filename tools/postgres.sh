#!/usr/bin/env bash
# Runs a command against a fresh PostgreSQL database on 127.0.0.1, installing and
# starting the server with the system's package manager when it is not there.
#   usage: tools/postgres.sh <command...>
set -euo pipefail

DB_NAME=${SATMACHINEADMIN_PG_DB:-satmachineadmin_test}
DB_USER=satmachineadmin
DB_PASS=satmachineadmin
PORT=${SATMACHINEADMIN_PG_PORT:-5432}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sudo -u postgres sh -c "$*"; fi
}
root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "PostgreSQL not found: installing it with apt-get" >&2
  root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive root apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
  root pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 1
done

as_postgres "psql -q -p $PORT -v ON_ERROR_STOP=1" <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASS';
  END IF;
END \$\$;
-- The crash tests create databases of their own for the LNbits they start.
ALTER ROLE $DB_USER CREATEDB;
DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE);
CREATE DATABASE $DB_NAME OWNER $DB_USER;
SQL

export SATMACHINEADMIN_TEST_DATABASE_URL="postgres://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"
echo "Running against $SATMACHINEADMIN_TEST_DATABASE_URL" >&2
exec "$@"
