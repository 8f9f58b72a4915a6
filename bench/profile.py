#!/usr/bin/env python3
"""Instructions per request, counted by callgrind: a figure that does not
move with the machine's load, unlike the wall-clock benchmark (run.py).

Runs the mock upstream alone, then the gateway (with the mock outside
valgrind), under `valgrind --tool=callgrind`; after a warm-up it zeroes the
counters, sends PROFILE_REQUESTS (2000) non-streaming chat requests one at a
time over one keep-alive connection, dumps the counters and prints
instructions per request, and for the gateway the functions with the
largest inclusive cost. Everything the process does meanwhile is counted:
its worker, the usage writer's thread (batched inserts), timers.

Settings: PROFILE_REQUESTS, PROFILE_TOP (functions listed, 40),
PROFILE_OUT (where callgrind files are kept; a temporary directory).
"""
import base64
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from run import ADMIN_URL, BODY, REDIS_URL, TARGET, TOKEN, UPSTREAM_SECRET, call, free_port, psql, wait_http  # noqa: E402

REQUESTS = int(os.environ.get("PROFILE_REQUESTS", "2000"))
TOP = int(os.environ.get("PROFILE_TOP", "40"))
WARM_UP = 200


def callgrind(out_dir, name, argv, env=None):
    out = os.path.join(out_dir, f"{name}.callgrind")
    args = ["valgrind", "--tool=callgrind", "--dump-instr=no", f"--callgrind-out-file={out}"]
    return subprocess.Popen(args + argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def drive(port, path, key, n):
    """n POSTs over one keep-alive connection, each answered 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    for _ in range(n):
        conn.request("POST", path, BODY, headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            sys.exit(f"{path}: {response.status} {body[:200]!r}")
    conn.close()


def measure(proc, out, port, path, key):
    """Instructions per request over REQUESTS requests, after a warm-up."""
    drive(port, path, key, WARM_UP)
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
    drive(port, path, key, REQUESTS)
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    dumps = sorted((f for f in os.listdir(os.path.dirname(out)) if f.startswith(os.path.basename(out) + ".")),
                   key=lambda f: int(f.rsplit(".", 1)[1]))
    dump = os.path.join(os.path.dirname(out), dumps[-1])
    with open(dump) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("summary:") or line.startswith("totals:"))
    return total / REQUESTS, dump


def top_functions(dump):
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", f"--threshold=100", dump],
                          check=True, capture_output=True, text=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(3)))
    return rows


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main():
    out_dir = os.environ.get("PROFILE_OUT") or tempfile.mkdtemp(prefix="ditto-profile-")
    os.makedirs(out_dir, exist_ok=True)
    mock_bin = f"{TARGET}/release/ditto-mock-upstream"

    # The mock alone: what one answer costs the upstream itself.
    mock_port = free_port()
    mock, out = callgrind(out_dir, "mock", [mock_bin, "--listen", f"127.0.0.1:{mock_port}"])
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/__mock/calls", timeout=120)
        mock_ir, _ = measure(mock, out, mock_port, "/v1/chat/completions", None)
    finally:
        stop(mock)

    db = f"ditto_profile_{int(time.time())}"
    psql(ADMIN_URL, f"CREATE DATABASE {db}")
    db_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    procs = []
    try:
        mock_port, ditto_port = free_port(), free_port()
        procs.append(subprocess.Popen([mock_bin, "--listen", f"127.0.0.1:{mock_port}"], stdout=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/__mock/calls")
        env = dict(os.environ, DITTO_WORKER_THREADS="1", DATABASE_URL=db_url, DITTO_BOOTSTRAP_TOKEN=TOKEN, DITTO_EGRESS_ALLOW="127.0.0.1/32",
                   DITTO_LISTEN=f"127.0.0.1:{ditto_port}", REDIS_URL=REDIS_URL,
                   DITTO_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(), RUST_LOG="warn",
                   DITTO_USAGE_SPOOL_DIR=os.path.join(out_dir, "spool"))
        ditto, out = callgrind(out_dir, "gateway", [f"{TARGET}/release/ditto", "serve"], env)
        procs.append(ditto)
        base = f"http://127.0.0.1:{ditto_port}"
        wait_http(f"{base}/readyz", timeout=300)
        api = f"{base}/api/v1"
        call("POST", f"{api}/tenants", {"slug": "bench", "name": "Bench"})
        project = call("POST", f"{api}/tenants/bench/projects", {"name": "bench"})["id"]
        backend = call("POST", f"{api}/tenants/bench/backends",
                       {"name": "mock", "base_url": f"http://127.0.0.1:{mock_port}/v1", "credentials": UPSTREAM_SECRET})["id"]
        call("POST", f"{api}/tenants/bench/routes", {"model": "gpt-4o", "targets": [{"backend_id": backend}]})
        key = call("POST", f"{api}/tenants/bench/api-keys", {"project_id": project, "name": "bench"})["secret"]
        time.sleep(2)  # the change notification reloads the tenant
        gateway_ir, dump = measure(ditto, out, ditto_port, "/t/bench/v1/chat/completions", key)
    finally:
        for p in reversed(procs):
            stop(p)
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], capture_output=True)

    print(f"\ninstructions per request ({REQUESTS} non-streaming chat requests, c=1, callgrind)\n")
    print(f"  mock upstream  {mock_ir:>10,.0f}")
    print(f"  gateway        {gateway_ir:>10,.0f}   ({gateway_ir / mock_ir:.1f}x the mock)")
    print(f"\ngateway, largest inclusive costs per request (callgrind files in {out_dir}):\n")
    for ir, name in top_functions(dump)[:TOP]:
        print(f"  {ir / REQUESTS:>10,.0f}  {name[:150]}")


if __name__ == "__main__":
    main()
