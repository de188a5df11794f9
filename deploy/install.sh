#!/usr/bin/env bash
# Installs a release build of notifyd and notifyctl with the systemd unit. Run as root from the repository root
# after `swift build -c release`. Existing configuration in /etc/flowmart-notify is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release
[ -x "$BIN/notifyd" ] || { echo "install: build first: swift build -c release" >&2; exit 1; }
apt-get install -y -qq librabbitmq4 libpq5 >/dev/null
id notify >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin notify
install -m 0755 "$BIN/notifyd" "$BIN/notifyctl" /usr/local/bin/
install -d -m 0755 /etc/flowmart-notify /usr/local/share/doc/flowmart-notify
[ -f /etc/flowmart-notify/notifyd.json ] || install -m 0644 Config/notifyd.json /etc/flowmart-notify/notifyd.json
[ -f /etc/flowmart-notify/notification-rules.json ] || install -m 0644 Config/notification-rules.json /etc/flowmart-notify/
if [ ! -d /etc/flowmart-notify/templates ]; then
  install -d -m 0755 /etc/flowmart-notify/templates
  install -m 0644 Config/templates/*.mustache /etc/flowmart-notify/templates/
fi
[ -f /etc/flowmart-notify/notifyd.env ] || install -m 0600 /dev/null /etc/flowmart-notify/notifyd.env
# Secrets, handed to the service by systemd (LoadCredential=); empty files mean "use notifyd.env or the defaults".
install -d -m 0700 /etc/flowmart-notify/credentials
for secret in amqp-url postgres-url email-password twilio-auth-token ses-secret-access-key ses-session-token \
              fcm-service-account apns-private-key admin-key unsubscribe-secret unsubscribe-previous-secret; do
  [ -f "/etc/flowmart-notify/credentials/$secret" ] || install -m 0600 /dev/null "/etc/flowmart-notify/credentials/$secret"
done
install -m 0644 README.md /usr/local/share/doc/flowmart-notify/README.md
install -m 0644 deploy/systemd/notifyd.service /etc/systemd/system/notifyd.service
systemctl daemon-reload
echo "installed; put the broker and database URLs in /etc/flowmart-notify/credentials/{amqp-url,postgres-url} (and each provider's secret in its file there), then: systemctl enable --now notifyd"
