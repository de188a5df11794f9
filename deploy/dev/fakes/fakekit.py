"""What the contract fakes share: failures on cue, JSON lists for the tests to read, a quiet server, a test CA."""
import datetime
import ipaddress
import json
import logging
import os
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from flask import Flask, Response, request


class Cues:
    """Failures a test asked for (POST /_fake/cue {"status", "count", ...}): each answers the next `count` requests."""

    def __init__(self, app: Flask = None):
        self.lock = threading.Lock()
        self.items = []
        if app is not None:
            @app.post("/_fake/cue")
            def cue():
                return {"cues": self.add(request.get_json(force=True))}

    def add(self, cue):
        """Queues a cue; returns how many are queued."""
        with self.lock:
            self.items.append(dict(cue))
            return len(self.items)

    def take(self):
        """The cue the next request answers by, or None."""
        with self.lock:
            if not self.items:
                return None
            cue = self.items[0]
            cue["count"] -= 1
            if cue["count"] <= 0:
                self.items.pop(0)
            return cue

    def clear(self):
        with self.lock:
            self.items.clear()


def json_list(items, lock):
    """A JSON response of `items`, read under `lock`."""
    with lock:
        return Response(json.dumps(items), mimetype="application/json")


def serve(app: Flask, port: int):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.run(host="127.0.0.1", port=port, threaded=True)


def certificates(folder, ca_out, dns_names=(), ip_addresses=()):
    """A test CA (written to `ca_out`), and a server certificate it signed for exactly these names and addresses;
    returns the (cert, key) paths in `folder`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notifyd test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ([*dns_names, *ip_addresses])[0])]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = os.path.join(folder, "server.pem"), os.path.join(folder, "server.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    with open(ca_out + ".tmp", "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    os.replace(ca_out + ".tmp", ca_out)
    return cert_path, key_path
