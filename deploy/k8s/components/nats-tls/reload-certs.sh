#!/bin/sh
# Tells NATS to reload its configuration when its certificate changes.
#
# NATS reads tls.crt, tls.key and ca.crt at start and when told to reload, never by
# itself. When cert-manager (or an operator) renews the Secret nats-tls, the kubelet
# updates the mounted files; this loop notices within CHECK_INTERVAL seconds and sends
# the reload through the pid file, as `kubectl exec nats-N -- /nats-server
# -sl=reload=/var/run/nats/nats.pid` would. A reload that fails (NATS restarting, say)
# is tried again at the next check. It runs as the cert-reloader sidecar of the nats
# StatefulSet, in the pod's shared process namespace, as NATS's own user (a process may
# signal only its own user's processes), and touches ALIVE_FILE at every check for its
# liveness probe.
set -u
tls_dir=${NATS_TLS_DIR:-/etc/nats/tls}
pid_file=${NATS_PID_FILE:-/var/run/nats/nats.pid}
interval=${CHECK_INTERVAL:-30}
alive=${ALIVE_FILE:-/var/run/nats/cert-reloader.alive}

fingerprint() {
	cat "$tls_dir/tls.crt" "$tls_dir/tls.key" "$tls_dir/ca.crt" 2>/dev/null | sha256sum
}

last=$(fingerprint)
echo "cert-reloader: watching $tls_dir every ${interval}s"
while :; do
	touch "$alive"
	sleep "$interval"
	now=$(fingerprint)
	[ "$now" = "$last" ] && continue
	if nats-server --signal "reload=$pid_file"; then
		echo "cert-reloader: certificate changed, NATS told to reload"
		last=$now
	else
		echo "cert-reloader: certificate changed, but the reload failed; trying again in ${interval}s" >&2
	fi
done
