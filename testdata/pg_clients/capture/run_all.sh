#!/bin/bash
# Re-capture every fixture in testdata/pg_clients from a throwaway PostgreSQL 15 cluster.
# Run as root on Debian 12 (bookworm). Needs network for apt/pip/npm.
#   OUT=/some/dir bash run_all.sh      (default OUT: the directory above this script)
# Everything else lives in /tmp/pgcapture (cluster, logs, venvs, wire traces).
set -euo pipefail
CAP=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$(dirname "$CAP")}
W=/tmp/pgcapture
PGBIN=/usr/lib/postgresql/15/bin
PORT=54329

apt-get install -y postgresql libpostgresql-jdbc-java >/dev/null   # server 15.x, pgjdbc 42.5.5

# --- throwaway cluster: 127.0.0.1:54329 only, every statement logged to a plain file -------------
mkdir -p $W/{data,log,sock,out/py,out/jdbc,out/node,wire,java,node}
chown postgres:postgres $W/data $W/log $W/sock; chmod 755 $W
if [ ! -f $W/data/PG_VERSION ]; then
  su postgres -c "$PGBIN/initdb -D $W/data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  cat >> $W/data/postgresql.conf <<EOF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$W/sock'
log_statement = 'all'
log_connections = on
log_disconnections = on
logging_collector = off
log_line_prefix = '%m [%p] [%a] %u@%d '
EOF
  su postgres -c "$PGBIN/pg_ctl -D $W/data -l $W/log/pg.log start -w"
  export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
  psql -X -d postgres -c "CREATE DATABASE home"
  psql -X -d home <<'EOF'
CREATE TABLE energy (household text, meter text, import_kwh double precision, power_w double precision, time timestamptz);
INSERT INTO energy VALUES ('h1','m1',1.5,240,'2024-01-01 00:00:00+00'),('h1','m2',2.25,0.1,'2024-01-01 00:00:00.5+00'),('h2','m1',3,1e20,'2024-01-02 12:00:00+00'),('h2','m2',4,1e-7,'2024-01-03 00:00:00+00'),('h3','m1',5,'NaN','2024-01-04 00:00:00+00');
EOF
else
  su postgres -c "$PGBIN/pg_ctl -D $W/data -l $W/log/pg.log start -w" || true
fi
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres

cp $CAP/{logtool,build_marked,pgproxy,sa_capture,gen_fixtures}.py $W/
cp $CAP/T.java $W/java/T.java
cp $CAP/node_pg_capture.js $W/node/t.js

# proxy <listen-port> <name> : decoded wire trace to $W/wire/<name>/conn-NNN.txt
proxy_start() { rm -rf $W/wire/$2; python3 $W/pgproxy.py $1 $PORT $W/wire/$2 >/dev/null 2>&1 & PROXY_PID=$!; sleep 0.5; }
proxy_stop() { sleep 0.5; kill $PROXY_PID; }

# --- psql ---------------------------------------------------------------------------------------
python3 $CAP/capture_psql.py "$OUT"

# --- Python: psycopg 3 / psycopg2 / SQLAlchemy 2.1 and 2.0 / pandas -----------------------------
[ -x $W/venv/bin/python ] || { python3 -m venv $W/venv; $W/venv/bin/pip install -q 'psycopg[binary]' sqlalchemy psycopg2-binary pandas; }
[ -x $W/venv20/bin/python ] || { python3 -m venv $W/venv20; $W/venv20/bin/pip install -q 'psycopg[binary]' 'sqlalchemy<2.1' psycopg2-binary; }
p=54340
for s in psycopg psycopg2 pandas psycopg3_basic psycopg2_basic; do
  proxy_start $p $s; PGCAP_PORT=$p $W/venv/bin/python $W/sa_capture.py $s $W/out/py/$s.json > $W/out/py/$s.stdout 2>&1; proxy_stop; p=$((p+1))
done
for s in psycopg psycopg2; do
  proxy_start $p sa20_$s; PGCAP_PORT=$p $W/venv20/bin/python $W/sa_capture.py $s $W/out/py/sa20_$s.json > $W/out/py/sa20_$s.stdout 2>&1; proxy_stop; p=$((p+1))
done

# --- pgjdbc -------------------------------------------------------------------------------------
for spec in "metadata|metadata|" "prepared|prepared|" "prepared_threshold1|prepared|&prepareThreshold=1"; do
  IFS='|' read -r name sc extra <<< "$spec"
  proxy_start $p jdbc_$name
  java -cp /usr/share/java/postgresql.jar $W/java/T.java $sc $p "$extra" > $W/out/jdbc/$name.stdout 2>&1
  proxy_stop; p=$((p+1))
done

# --- node-postgres ------------------------------------------------------------------------------
( cd $W/node && { [ -d node_modules/pg ] || { npm init -y >/dev/null; npm install pg >/dev/null; }; } )
proxy_start $p node_pg; node $W/node/t.js $p; proxy_stop; p=$((p+1))

# --- fixtures from the log + wire traces --------------------------------------------------------
python3 $W/gen_fixtures.py "$OUT"

# --- Grafana (reconstructed from source; executed to verify) ------------------------------------
python3 $CAP/grafana_fixture.py "$OUT" $W
psql -X -d home -f $W/grafana.psql > "$OUT/grafana_postgres_datasource.out" 2>&1

# --- value formats and error texts --------------------------------------------------------------
proxy_start $p formats
( cd "$OUT" && psql -X -h 127.0.0.1 -p $p -d home -f pg_formats_and_errors.psql > pg_formats_and_errors.out 2>&1 ) || true
proxy_stop
cp $W/wire/formats/conn-001.txt "$OUT/pg_formats_and_errors.wire.txt"
( cd "$OUT" && psql -X -d home -f pg_errors_default.psql > pg_errors_default.out 2>&1 ) || true

su postgres -c "$PGBIN/pg_ctl -D $W/data stop -m fast"
