#!/usr/bin/env bash
# Installs a release build of notifyd and notifyctl with the systemd unit. Run as root from the repository root
# after `swift build -c release`. Existing configuration in /etc/flowmart-notify is kept.
#
#   DESTDIR=/some/root deploy/install.sh   installs into a throwaway root instead (packaging, the installer's test):
#                                          no packages, users or systemd calls; the unit is checked against that root
#   BIN=path                               where the binaries are (default .build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.build/release}
ROOT=${DESTDIR:-}
ETC=$ROOT/etc/flowmart-notify
die() { echo "install: $*" >&2; exit 1; }
[ -x "$BIN/notifyd" ] && [ -x "$BIN/notifyctl" ] || die "build first: swift build -c release"
if [ -z "$ROOT" ]; then
  apt-get install -y -qq librabbitmq4 libpq5 >/dev/null
  id notify >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin notify
fi
# The binaries link librabbitmq, libpq and the Swift runtime: refuse a build this machine cannot run.
missing=$(ldd "$BIN/notifyd" "$BIN/notifyctl" | grep "not found" || true)
[ -z "$missing" ] || die "libraries missing on this machine: $missing"
install -d -m 0755 "$ROOT/usr/local/bin" "$ETC" "$ROOT/usr/local/share/doc/flowmart-notify/docs" "$ROOT/etc/systemd/system"
install -m 0755 "$BIN/notifyd" "$BIN/notifyctl" "$ROOT/usr/local/bin/"
[ -f "$ETC/notifyd.json" ] || install -m 0644 Config/notifyd.json "$ETC/notifyd.json"
[ -f "$ETC/notification-rules.json" ] || install -m 0644 Config/notification-rules.json "$ETC/"
if [ ! -d "$ETC/templates" ]; then
  install -d -m 0755 "$ETC/templates"
  install -m 0644 Config/templates/*.mustache "$ETC/templates/"
fi
[ -f "$ETC/notifyd.env" ] || install -m 0600 /dev/null "$ETC/notifyd.env"
# Secrets, handed to the service by systemd (LoadCredential=); empty files mean "use notifyd.env or the defaults".
install -d -m 0700 "$ETC/credentials"
for secret in amqp-url postgres-url email-password twilio-auth-token ses-secret-access-key ses-session-token \
              fcm-service-account apns-private-key admin-key unsubscribe-secret unsubscribe-previous-secret; do
  [ -f "$ETC/credentials/$secret" ] || install -m 0600 /dev/null "$ETC/credentials/$secret"
done
# The README links into docs/, so the docs keep that folder beside it.
install -m 0644 README.md "$ROOT/usr/local/share/doc/flowmart-notify/README.md"
install -m 0644 docs/*.md "$ROOT/usr/local/share/doc/flowmart-notify/docs/"
install -m 0644 deploy/systemd/notifyd.service "$ROOT/etc/systemd/system/notifyd.service"
if [ -n "$ROOT" ]; then
  # systemd's own units, so that the unit's dependencies resolve in the throwaway root.
  [ -d "$ROOT/usr/lib/systemd/system" ] || { install -d "$ROOT/usr/lib/systemd"; cp -r /usr/lib/systemd/system "$ROOT/usr/lib/systemd/"; }
  systemd-analyze verify --man=no --root="$ROOT" /etc/systemd/system/notifyd.service
  echo "installed into $ROOT; the unit verifies"
  exit 0
fi
systemd-analyze verify --man=no /etc/systemd/system/notifyd.service
systemctl daemon-reload
echo "installed; put the broker and database URLs in /etc/flowmart-notify/credentials/{amqp-url,postgres-url} (and each provider's secret in its file there), then: systemctl enable --now notifyd"
