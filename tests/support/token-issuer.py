#!/usr/bin/env python3
"""A Docker-Hub-style token issuer for referrify's tests, in front of distribution's `auth: token`.

    token-issuer.py PORT KEY.pem CERT.pem [--expires-in SECONDS] [--registry-leeway SECONDS] [--log FILE]

PORT 0 binds a free port. Once listening, one line goes to stdout: `listening on 127.0.0.1:PORT`.

* GET /token?service=S&scope=...&scope=...  (docker's token protocol) with HTTP Basic credentials
  (alice:s3cret), or anonymous. Answers {"token", "access_token", "expires_in", "issued_at"}.
* POST /token (OAuth2, form-encoded; docker's identity-token flow):
    grant_type=refresh_token&refresh_token=refresh-alice&service=S&scope=...
    grant_type=password&username=alice&password=s3cret&service=S&scope=...[&access_type=offline]
  answers {"access_token", "expires_in", "scope", "issued_at"} (plus "refresh_token" for a password
  grant with access_type=offline). A wrong refresh token or password is 401.
* Scopes are `type:name:actions`; several may come as repeated `scope` fields or space-separated in one.
  Exactly the scopes asked for are granted, except that anonymous callers get `pull` only.
* Tokens are RS256 JWTs with an `x5c` header that distribution verifies against `rootcertbundle`,
  issuer `test-issuer`, audience = the service, valid for --expires-in seconds (env TOKEN_ISSUER_EXPIRES_IN,
  default 300). distribution 2.8 accepts a token until 60 s after its `exp` (clock-skew leeway); with
  --registry-leeway 60 the `exp` claim is moved back by that much, so the registry really refuses a token
  --expires-in seconds after it was issued (a short-lived token, for testing refresh).
* --log FILE (env TOKEN_ISSUER_LOG): one JSON line per token request, written before the answer:
  {"method","grant","user","scopes":[...],"status","expires_in","time"}; grant is basic | anonymous |
  refresh_token | password. GET /healthz answers 200 and is not logged.
Needs python3's `cryptography` (Debian: python3-cryptography).
"""
import argparse
import base64
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

USERS = {"alice": "s3cret"}
REFRESH_TOKENS = {"refresh-alice": "alice"}

ap = argparse.ArgumentParser()
ap.add_argument("port", type=int)
ap.add_argument("key")
ap.add_argument("cert")
ap.add_argument("--expires-in", type=int, default=int(os.environ.get("TOKEN_ISSUER_EXPIRES_IN", "300")))
ap.add_argument("--registry-leeway", type=int, default=0)
ap.add_argument("--log", default=os.environ.get("TOKEN_ISSUER_LOG") or None)
ARGS = ap.parse_args()

KEY = serialization.load_pem_private_key(open(ARGS.key, "rb").read(), None)
CERT = x509.load_pem_x509_certificate(open(ARGS.cert, "rb").read())
X5C = base64.b64encode(CERT.public_bytes(serialization.Encoding.DER)).decode()
LOG_LOCK = threading.Lock()
LOG = open(ARGS.log, "a", encoding="utf-8") if ARGS.log else None


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(sub, service, access, now):
    h = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    c = {"iss": "test-issuer", "sub": sub, "aud": service, "exp": now + ARGS.expires_in - ARGS.registry_leeway, "nbf": now - 10,
         "iat": now, "jti": b64u(os.urandom(12)), "access": access}
    si = b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(c).encode())
    return si + "." + b64u(KEY.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))


def split_scopes(values):
    return [s for v in values for s in v.split(" ") if s]


def grant(scopes, user):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) < 3:
            continue
        typ, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
        if not user:
            actions = [a for a in actions if a == "pull"]
        access.append({"type": typ, "name": name, "actions": actions})
    return access


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status, body=None):
        b = json.dumps(body if body is not None else {"errors": [{"code": "UNAUTHORIZED"}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def record(self, grant_type, user, scopes, status):
        if LOG is None:
            return
        line = json.dumps({"method": self.command, "grant": grant_type, "user": user, "scopes": scopes,
                           "status": status, "expires_in": ARGS.expires_in, "time": time.time()})
        with LOG_LOCK:
            LOG.write(line + "\n")
            LOG.flush()

    def issue(self, grant_type, user, ok, scopes, service, oauth):
        if not ok:
            self.record(grant_type, user, scopes, 401)
            self.answer(401)
            return
        now = int(time.time())
        t = jwt(user, service, grant(scopes, user), now)
        issued = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        if oauth:
            body = {"access_token": t, "expires_in": ARGS.expires_in, "scope": " ".join(scopes), "issued_at": issued}
            if grant_type == "password" and oauth.get("access_type") == "offline":
                body["refresh_token"] = next(k for k, v in REFRESH_TOKENS.items() if v == user)
        else:
            body = {"token": t, "access_token": t, "expires_in": ARGS.expires_in, "issued_at": issued}
        self.record(grant_type, user, scopes, 200)
        self.answer(200, body)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/healthz":
            self.answer(200, {"status": "ok"})
            return
        if u.path != "/token":
            self.answer(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        q = urllib.parse.parse_qs(u.query)
        scopes = split_scopes(q.get("scope", []))
        service = q.get("service", [""])[0]
        a = self.headers.get("Authorization", "")
        if a.startswith("Basic "):
            try:
                n, _, p = base64.b64decode(a[6:]).decode().partition(":")
            except Exception:
                n, p = "", None
            self.issue("basic", n, USERS.get(n) == p, scopes, service, None)
        else:
            self.issue("anonymous", "", True, scopes, service, None)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/token":
            self.answer(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode(), keep_blank_values=True)
        f = {k: v[0] for k, v in form.items()}
        scopes = split_scopes(form.get("scope", []))
        service = f.get("service", "")
        g = f.get("grant_type", "")
        if g == "refresh_token":
            user = REFRESH_TOKENS.get(f.get("refresh_token", ""), "")
            self.issue(g, user, bool(user), scopes, service, f)
        elif g == "password":
            user = f.get("username", "")
            self.issue(g, user, USERS.get(user) == f.get("password"), scopes, service, f)
        else:
            self.record(g or "none", "", scopes, 400)
            self.answer(400, {"error": "unsupported_grant_type"})

    def log_message(self, fmt, *a):
        sys.stderr.write("issuer: %s\n" % (fmt % a))


server = http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
server.daemon_threads = True
print("listening on 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
