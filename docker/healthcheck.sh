#!/bin/bash
# Container health probe: GET /health on the local HTTP listener must answer
# 200. Uses bash's /dev/tcp because the slim runtime image has no curl.
# The port is taken from HEARTH_HTTP_ADDR (default 8086); an address set only
# in a --config file is not seen here, so set the env var as well then.
set -u
addr="${HEARTH_HTTP_ADDR:-127.0.0.1:8086}"
port="${addr##*:}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
IFS= read -r -t 4 status <&3 || exit 1
# Drain the rest so the server sees an orderly close.
timeout 2 cat <&3 >/dev/null
exec 3<&-
case "$status" in
    "HTTP/1."?" 200 "*) exit 0 ;;
    *) echo "unhealthy: ${status%$'\r'}" >&2; exit 1 ;;
esac
