#!/bin/sh
# TEST STAND-IN for the official postgres image's entrypoint, for the offline node image only
# (README.md): Debian's PostgreSQL 15 under the name postgres:17, doing what chapter 07 asks of it.
# As the official image does on its first start, it makes the cluster in PGDATA (default
# /var/lib/postgresql/data) with the superuser POSTGRES_USER (default postgres) whose password is
# POSTGRES_PASSWORD (required), creates the database POSTGRES_DB (default: the user's name), listens on
# port 5432 of every address with password (scram-sha-256) logins, then runs postgres as PID 1, as
# the user postgres. A data directory that holds a cluster already is started as it is.
set -eu

: "${POSTGRES_PASSWORD:?is not set: the postgres image needs a superuser password (test stand-in)}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp) && printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file" && chown postgres "$password_file"
  as_postgres initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\";" | as_postgres postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "standin-postgres: initialized $PGDATA for user $user, database $database"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres "$@"
