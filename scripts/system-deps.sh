#!/usr/bin/env bash
# Installs the Debian packages the tests need, when they are missing:
#   node/npm (interop with the official JS packages), redis-server (cluster tests, started
#   by the tests themselves on a free port; also in Redis Cluster mode), redis-sentinel (the
#   Sentinel failover tests), postgresql (PostgreSQL adapter tests: they run
#   initdb and pg_ctl in a temporary directory, as the package's own `postgres` user when
#   run as root), chromium (browser tests, headless), openssl (the client's TLS tests make
#   a certificate authority with it), nginx (the round-robin load balancer of the multi-node
#   tests, started on a free port from a config in a temporary directory), rabbitmq-server
#   (the python-socketio adapter over AMQP: the tests start a node and its epmd on free
#   127.0.0.1 ports in a temporary directory).
# A package's own service is never started: the tests start what they need and stop it by PID.
set -euo pipefail
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
# policy-rc.d exit code 101 tells invoke-rc.d not to start services the packages bring.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
# Several installs at once (parallel checkouts) wait for dpkg's lock instead of failing.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive apt-get "${lock[@]}" install -y -qq --no-install-recommends \
  "${need[@]}" >/dev/null
