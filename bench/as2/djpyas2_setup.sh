#!/usr/bin/env bash
# Benchmark peer. Builds a throw-away django-pyas2 AS2 receiver on 127.0.0.1, a peer for interop
# tests and for side-by-side throughput comparison (a peer, not project code).
#
# Usage:
#   djpyas2_setup.sh install   # venv + django project + sqlite + org/partner + certs
#   djpyas2_setup.sh start     # gunicorn on 127.0.0.1:$PORT (background, pid file)
#   djpyas2_setup.sh stop      # stop that gunicorn (by its pid file only)
#   djpyas2_setup.sh status
#   djpyas2_setup.sh all       # install + start
#
# Environment (defaults):
#   BASE=bench/out/djpyas2   PORT=8089   WORKERS=2   PYTHON=python3
#   DJAS2_SQLITE_IMMEDIATE=0  (start) 1 = SQLite BEGIN IMMEDIATE + 30 s busy timeout
#   DJAS2_SQLITE_WAL=0        (start) 1 = as above + journal_mode=WAL, synchronous=NORMAL
#
# Layout under $BASE:
#   venv/                 django-pyas2 (PyPI) + gunicorn
#   proj/                 django project "djas2" (sqlite db.sqlite3)
#   data/                 MEDIA_ROOT / PYAS2 DATA_DIR (stored payloads, MDNs)
#   certs/                server.key(.pem, encrypted) server.crt, client.key client.crt
#   gunicorn.pid, gunicorn.log
#
# AS2 identities created:
#   organization (receiver)  AS2 name DJAS2SERVER   key=certs/server.key cert=certs/server.crt
#   partner (sender)         AS2 name OPENSSLCLIENT cert=certs/client.crt
#   partner settings: inbound must be signed (sha256) + encrypted (aes_128_cbc),
#                     sync MDN signed with sha256.
# Receive URL: http://127.0.0.1:$PORT/pyas2/as2receive
set -euo pipefail

BASE=${BASE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../out" && pwd)/djpyas2}
PORT=${PORT:-8089}
WORKERS=${WORKERS:-2}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=$BASE/venv
PROJ=$BASE/proj
CERTS=$BASE/certs
KEYPASS=serverpass

log() { printf '[djpyas2_setup] %s\n' "$*" >&2; }

do_install() {
    mkdir -p "$BASE" "$BASE/data" "$CERTS"
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating venv $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    log "pip install django-pyas2 gunicorn"
    "$VENV/bin/pip" install -q --disable-pip-version-check django-pyas2 gunicorn
    # oscrypto 1.3.0 (pinned via pyas2lib) cannot parse OpenSSL >= 3.0.10
    # version strings (wbond/oscrypto#75, #78); widen its regex in this venv.
    "$VENV/bin/python" - <<'PY'
import importlib.util, os
spec = importlib.util.find_spec("oscrypto")
pkg = list(spec.submodule_search_locations)[0]
old = r"'\\b(\\d\\.\\d\\.\\d[a-z]*)\\b'"
new = r"'\\b(\\d+\\.\\d+\\.\\d+[a-z]*)\\b'"
for name in ("_libcrypto_cffi.py", "_libcrypto_ctypes.py"):
    path = os.path.join(pkg, "_openssl", name)
    src = open(path, encoding="utf-8").read()
    if old in src:
        open(path, "w", encoding="utf-8").write(src.replace(old, new))
PY
    "$VENV/bin/python" -c "import pyas2lib.as2" \
        || { log "pyas2lib still not importable"; exit 1; }

    if [ ! -f "$CERTS/server.crt" ]; then
        log "generating RSA-2048 self-signed certs in $CERTS"
        openssl req -x509 -newkey rsa:2048 -sha256 -days 365 \
            -subj "/CN=DJAS2SERVER/O=djpyas2-test" \
            -keyout "$CERTS/server.key" -passout "pass:$KEYPASS" \
            -out "$CERTS/server.crt" 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -sha256 -days 365 -nodes \
            -subj "/CN=OPENSSLCLIENT/O=djpyas2-test" \
            -keyout "$CERTS/client.key" -out "$CERTS/client.crt" 2>/dev/null
        cat "$CERTS/server.key" "$CERTS/server.crt" > "$CERTS/server_keycert.pem"
    fi

    if [ ! -f "$PROJ/manage.py" ]; then
        log "creating django project in $PROJ"
        mkdir -p "$PROJ"
        "$VENV/bin/django-admin" startproject djas2 "$PROJ"
        cat >> "$PROJ/djas2/settings.py" <<EOF

# ---- added by djpyas2_setup.sh ----
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = list(INSTALLED_APPS) + ["pyas2"]
MEDIA_ROOT = "$BASE/data"
# PYAS2["DATA_DIR"] deliberately unset: django-pyas2 1.2.3 joins it (absolute)
# into a storage name, which Django >= 4.2.14 rejects as path traversal ->
# HTTP 400 and no MDN after the message was already recorded. Payloads land in
# MEDIA_ROOT/messages/... instead.
PYAS2 = {}
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
# Concurrent receives on default SQLite settings fail with "database is locked"
# (HTTP 500, no MDN). DJAS2_SQLITE_IMMEDIATE=1 at start time (Django >= 5.1)
# serialises writers instead.
import os as _os
if _os.environ.get("DJAS2_SQLITE_IMMEDIATE") == "1":
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
if _os.environ.get("DJAS2_SQLITE_WAL") == "1":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE", "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"file": {"class": "logging.FileHandler", "filename": "$BASE/pyas2.log"}},
    "loggers": {
        "pyas2": {"handlers": ["file"], "level": "INFO"},
        "pyas2lib": {"handlers": ["file"], "level": "WARNING"},
        "django": {"handlers": ["file"], "level": "WARNING"},
    },
}
EOF
        cat > "$PROJ/djas2/urls.py" <<'EOF'
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("pyas2/", include("pyas2.urls")),
]
EOF
    fi

    log "migrate + seed organization/partner"
    (cd "$PROJ" && "$VENV/bin/python" manage.py migrate -v 0)
    (cd "$PROJ" && CERTS="$CERTS" KEYPASS="$KEYPASS" "$VENV/bin/python" manage.py shell -c '
import os
from pyas2.models import Organization, Partner, PrivateKey, PublicCertificate
certs, keypass = os.environ["CERTS"], os.environ["KEYPASS"]
rd = lambda n: open(os.path.join(certs, n), "rb").read()
Partner.objects.all().delete(); Organization.objects.all().delete()
PrivateKey.objects.all().delete(); PublicCertificate.objects.all().delete()
pk = PrivateKey.objects.create(name="server_keycert.pem", key=rd("server_keycert.pem"), key_pass=keypass)
pc = PublicCertificate.objects.create(name="client.crt", certificate=rd("client.crt"), verify_cert=True)
Organization.objects.create(name="DjAS2 Server", as2_name="DJAS2SERVER",
                            encryption_key=pk, signature_key=pk)
Partner.objects.create(name="OpenSSL client", as2_name="OPENSSLCLIENT",
                       target_url="http://127.0.0.1:9/unused",
                       content_type="application/EDI-X12",
                       encryption="aes_128_cbc", encryption_cert=pc,
                       signature="sha256", signature_cert=pc,
                       mdn=True, mdn_mode="SYNC", mdn_sign="sha256")
print("seeded:", list(Organization.objects.values_list("as2_name", flat=True)),
      list(Partner.objects.values_list("as2_name", flat=True)))
')
    log "install done; receive URL http://127.0.0.1:$PORT/pyas2/as2receive"
}

is_running() {
    [ -f "$BASE/gunicorn.pid" ] && kill -0 "$(cat "$BASE/gunicorn.pid")" 2>/dev/null
}

do_start() {
    if is_running; then log "already running (pid $(cat "$BASE/gunicorn.pid"))"; return 0; fi
    [ -f "$PROJ/manage.py" ] || { log "not installed; run: $0 install"; exit 1; }
    log "starting gunicorn on 127.0.0.1:$PORT with $WORKERS sync workers"
    (cd "$PROJ" && DJAS2_SQLITE_IMMEDIATE="${DJAS2_SQLITE_IMMEDIATE:-0}" \
        DJAS2_SQLITE_WAL="${DJAS2_SQLITE_WAL:-0}" "$VENV/bin/gunicorn" djas2.wsgi:application \
        --bind "127.0.0.1:$PORT" --workers "$WORKERS" --timeout 120 \
        --pid "$BASE/gunicorn.pid" --access-logfile "$BASE/access.log" \
        --error-logfile "$BASE/gunicorn.log" --daemon)
    for _ in $(seq 1 50); do
        if curl -fsS "http://127.0.0.1:$PORT/pyas2/as2receive" >/dev/null 2>&1; then
            log "up (pid $(cat "$BASE/gunicorn.pid"))"; return 0
        fi
        sleep 0.2
    done
    log "gunicorn did not come up; see $BASE/gunicorn.log"; exit 1
}

do_stop() {
    if is_running; then
        local pid; pid=$(cat "$BASE/gunicorn.pid")
        log "stopping gunicorn master pid $pid"
        kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    else
        log "not running"
    fi
    rm -f "$BASE/gunicorn.pid"
}

case "${1:-all}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    status) if is_running; then echo "running pid $(cat "$BASE/gunicorn.pid")"; else echo "stopped"; fi ;;
    all) do_install; do_start ;;
    *) echo "usage: $0 {install|start|stop|status|all}" >&2; exit 2 ;;
esac
