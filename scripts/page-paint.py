#!/usr/bin/env python3
"""page-paint.py PAGE.html [--runs N] - how fast a self-contained HTML page opens in headless
Chromium: first contentful paint and load-event end (ms, from navigation start), as the median of
N fresh loads. Drives Debian's /usr/bin/chromium through /usr/bin/chromedriver with the W3C
WebDriver protocol over plain HTTP (stdlib only). Prints one JSON object on stdout.
"""
import argparse, json, os, shutil, socket, statistics, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("page"); ap.add_argument("--runs", type=int, default=3)
a = ap.parse_args()
driver = os.environ.get("REFERRIFY_CHROMEDRIVER", "/usr/bin/chromedriver")
chromium = os.environ.get("REFERRIFY_CHROMIUM", "/usr/bin/chromium")
for exe in (driver, chromium):
    if not os.access(exe, os.X_OK):
        sys.exit(f"page-paint: {exe} is missing (scripts/setup.sh installs chromium and chromium-driver)")

s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
base = f"http://127.0.0.1:{port}"
proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
profile = tempfile.mkdtemp(prefix="page-paint-")

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read() or b"null")["value"]

try:
    for _ in range(100):
        try:
            call("GET", "/status"); break
        except OSError:
            time.sleep(0.1)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1400,900"]
    sess = call("POST", "/session", {"capabilities": {"alwaysMatch": {
        "browserName": "chrome", "goog:chromeOptions": {"binary": chromium, "args": args}}}})["sessionId"]
    url = "file://" + os.path.abspath(a.page)
    fcp, load = [], []
    for _ in range(a.runs):
        call("POST", f"/session/{sess}/url", {"url": "about:blank"})
        call("POST", f"/session/{sess}/url", {"url": url})
        v = call("POST", f"/session/{sess}/execute/sync", {"script": """
            const p = performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint');
            const n = performance.getEntriesByType('navigation')[0];
            return [p ? p.startTime : null, n ? n.loadEventEnd : null, document.querySelectorAll('tr').length];""", "args": []})
        fcp.append(v[0]); load.append(v[1]); rows = v[2]
    call("DELETE", f"/session/{sess}")
    ok = [x for x in fcp if x is not None]
    print(json.dumps({"page": a.page, "bytes": os.path.getsize(a.page), "rows": rows,
                      "first_contentful_paint_ms": round(statistics.median(ok), 1) if ok else None,
                      "load_event_end_ms": round(statistics.median([x for x in load if x]), 1),
                      "runs": a.runs}))
finally:
    proc.terminate(); proc.wait()
    shutil.rmtree(profile, ignore_errors=True)
