#!/usr/bin/env python3
"""Gateway benchmark: the same load, in one run, against

  direct   the mock upstream itself,
  nginx    nginx as a plain reverse proxy to the mock (one hop, no logic),
  gateway  Ditto's /t/{tenant}/v1 endpoint (key check, routing, usage capture),
  limits   the same with rpm, tpm and concurrency limits on all four scopes
           (tenant, project, user, key), counted in Redis (high enough that
           nothing is refused): what leased rate limits cost,
  limited  the same limits and a priced cost budget: what governance costs,

for non-streaming chat at several concurrencies, streaming time to first
byte, and the gateway's memory with 100k keys loaded. Beside the rates it
prints the CPU each request costs the proxy, the mock, Postgres and Redis,
and the proxy's context switches per request by thread: numbers that move
less with the machine than requests per second do. Prints medians of
repeated runs and ratios; numbers on a shared 2-core machine are noisy.

Needs: release builds of `ditto` and `ditto-mock-upstream`, wrk, nginx,
psql and a Postgres to create a scratch database in (see run.sh).
"""
import base64
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
REDIS_URL = os.environ.get("DITTO_TEST_REDIS_URL", "redis://127.0.0.1:6379")
ADMIN_URL = os.environ.get("DITTO_TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DURATION = int(os.environ.get("BENCH_SECONDS", "8"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "1"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(",")]
KEYS = int(os.environ.get("BENCH_KEYS", "100000"))
# A path: record a CPU profile of the gateway (perf, cpu-clock) during its runs there.
PROFILE = os.environ.get("BENCH_PROFILE")
TOKEN = "bench-bootstrap-token-0123456789abcdef"
UPSTREAM_SECRET = "sk-bench-upstream"
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hello benchmark"}]})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return
        except Exception:
            time.sleep(0.1)
    sys.exit(f"{url} did not come up")


def call(method, url, body=None, token=TOKEN):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read() or b"null")


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], check=True, capture_output=True, text=True).stdout.strip()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    """User + system CPU time of these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total / TICK


SWITCHES = re.compile(r"^(voluntary|nonvoluntary)_ctxt_switches:\s+(\d+)", re.M)


def thread_switches(pids):
    """Context switches of every live thread of these processes, by thread
    name (digits dropped, so a pool's threads count together): {name:
    [voluntary, involuntary]}. A thread that exits during a run takes its
    count with it (tokio's blocking pool): those are not counted."""
    counts = {}
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    name = re.sub(r"[-_]?\d+$", "", f.read().strip())
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    found = dict(SWITCHES.findall(f.read()))
            except (FileNotFoundError, ProcessLookupError):
                continue
            entry = counts.setdefault((tid, name), [0, 0])
            entry[0] += int(found.get("voluntary", 0))
            entry[1] += int(found.get("nonvoluntary", 0))
    return counts


def switches_per_request(before, after, served):
    """Per request, by thread name, what the threads alive at the end did
    (a thread started during the run counts from zero)."""
    by_name = {}
    for (tid, name), (vol, invol) in after.items():
        was = before.get((tid, name), [0, 0])
        entry = by_name.setdefault(name, [0.0, 0.0])
        entry[0] += (vol - was[0]) / served
        entry[1] += (invol - was[1]) / served
    return by_name


def redis_command_usec():
    """Redis's own time inside each command so far (INFO commandstats),
    {command: (calls, µs)}: what its CPU per request is spent on, beside the
    I/O around the commands."""
    out = subprocess.run(["redis-cli", "-u", REDIS_URL, "INFO", "commandstats"],
                         capture_output=True, text=True).stdout
    stats = {}
    for m in re.finditer(r"^cmdstat_(\S+?):calls=(\d+),usec=(\d+)", out, re.M):
        stats[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return stats


def pids_named(name):
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)]


def wrk(url, connections, key, lua):
    args = ["wrk", "-t", "1" if connections < 2 else "2", "-c", str(connections), "-d", f"{DURATION}s", "--latency", "-s", lua]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(args + [url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"{url}: {errors.group(1)} failed responses\n{out}")
    return rps, p50, p99


def median_run(url, connections, key, lua):
    runs = [wrk(url, connections, key, lua) for _ in range(REPEATS)]
    return tuple(statistics.median(r[i] for r in runs) for i in range(3))


def ttfb(url, key, body, n=40):
    samples = []
    for _ in range(n):
        args = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_starttransfer}", "-H", "content-type: application/json", "-d", body, url]
        if key:
            args += ["-H", f"authorization: Bearer {key}"]
        samples.append(float(subprocess.run(args, check=True, capture_output=True, text=True).stdout) * 1000)
    return statistics.median(samples)


def set_up_limited_tenant(api, db_url, mock_port, slug, budget):
    """Tenant `slug`: a user's key under rpm/tpm/concurrency limits on
    every scope and, with `budget`, a priced cost budget; returns the key."""
    call("POST", f"{api}/tenants", {"slug": slug, "name": slug.title()})
    project = call("POST", f"{api}/tenants/{slug}/projects", {"name": slug})["id"]
    user = call("POST", f"{api}/tenants/{slug}/users", {"email": "bench@example.com", "display_name": "Bench"})["id"]
    backend = call("POST", f"{api}/tenants/{slug}/backends",
                   {"name": "mock", "base_url": f"http://127.0.0.1:{mock_port}/v1", "credentials": UPSTREAM_SECRET})["id"]
    call("POST", f"{api}/tenants/{slug}/routes", {"model": "gpt-4o", "targets": [{"backend_id": backend}]})
    created = call("POST", f"{api}/tenants/{slug}/api-keys",
                   {"project_id": project, "name": slug, "owner_user_id": user})
    key_id = created["key"]["id"]
    tenant = psql(db_url, f"SELECT id FROM tenants WHERE slug = '{slug}'")
    big = 1_000_000_000
    for scope, column, target in [("tenant", None, None), ("project", "project_id", project),
                                  ("user", "user_id", user), ("key", "key_id", key_id)]:
        columns = f", {column}" if column else ""
        values = f", '{target}'" if target else ""
        psql(db_url, f"""INSERT INTO rate_limits (id, tenant_id, scope, rpm, tpm, max_concurrent{columns})
                         VALUES (gen_random_uuid(), '{tenant}', '{scope}', {big}, {big * 100}, 100000{values})""")
    if budget:
        psql(db_url, f"""INSERT INTO budgets (id, tenant_id, scope, key_id, period, max_cost_pico)
                         VALUES (gen_random_uuid(), '{tenant}', 'key', '{key_id}', 'monthly', {big * big})""")
        psql(db_url, "INSERT INTO model_prices (model, input_pico, output_pico) VALUES ('gpt-4o', 2500000, 10000000)")
    return created["secret"]


def main():
    work = tempfile.mkdtemp(prefix="ditto-bench-")
    procs = []
    db = f"ditto_bench_{int(time.time())}"
    psql(ADMIN_URL, f"CREATE DATABASE {db}")
    db_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    try:
        mock_port, nginx_port, ditto_port = free_port(), free_port(), free_port()
        mock = subprocess.Popen([f"{TARGET}/release/ditto-mock-upstream", "--listen", f"127.0.0.1:{mock_port}"],
                                stdout=subprocess.DEVNULL)
        procs.append(mock)
        wait_http(f"http://127.0.0.1:{mock_port}/__mock/calls")

        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(f"""
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  upstream mock {{ server 127.0.0.1:{mock_port}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{nginx_port};
    location / {{
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }}
  }}
}}
""")
        nginx = subprocess.Popen(["nginx", "-c", os.path.join(work, "nginx.conf"), "-g", "daemon off;"])
        procs.append(nginx)

        # One worker, like nginx's `worker_processes 1`: the same CPU budget for both proxies.
        env = dict(os.environ, DITTO_WORKER_THREADS=os.environ.get("BENCH_GATEWAY_THREADS", "1"), DATABASE_URL=db_url, DITTO_BOOTSTRAP_TOKEN=TOKEN, DITTO_EGRESS_ALLOW="127.0.0.1/32", DITTO_LISTEN=f"127.0.0.1:{ditto_port}", REDIS_URL=REDIS_URL,
                   DITTO_MASTER_KEY=base64.b64encode(os.urandom(32)).decode(), RUST_LOG="warn")
        ditto = subprocess.Popen([f"{TARGET}/release/ditto", "serve"], env=env, stdout=subprocess.DEVNULL)
        procs.append(ditto)
        base = f"http://127.0.0.1:{ditto_port}"
        wait_http(f"{base}/readyz")
        api = f"{base}/api/v1"
        call("POST", f"{api}/tenants", {"slug": "bench", "name": "Bench"})
        project = call("POST", f"{api}/tenants/bench/projects", {"name": "bench"})["id"]
        backend = call("POST", f"{api}/tenants/bench/backends",
                       {"name": "mock", "base_url": f"http://127.0.0.1:{mock_port}/v1", "credentials": UPSTREAM_SECRET})["id"]
        call("POST", f"{api}/tenants/bench/routes", {"model": "gpt-4o", "targets": [{"backend_id": backend}]})
        key = call("POST", f"{api}/tenants/bench/api-keys", {"project_id": project, "name": "bench"})["secret"]
        limits_key = set_up_limited_tenant(api, db_url, mock_port, "limits", budget=False)
        limited_key = set_up_limited_tenant(api, db_url, mock_port, "limited", budget=True)
        time.sleep(0.5)

        lua = os.path.join(work, "post.lua")
        with open(lua, "w") as f:
            f.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\nwrk.headers["Content-Type"] = "application/json"\n')

        targets = {
            "direct": (f"http://127.0.0.1:{mock_port}/v1/chat/completions", None),
            "nginx": (f"http://127.0.0.1:{nginx_port}/v1/chat/completions", None),
            "gateway": (f"{base}/t/bench/v1/chat/completions", key),
            "limits": (f"{base}/t/limits/v1/chat/completions", limits_key),
            "limited": (f"{base}/t/limited/v1/chat/completions", limited_key),
        }
        for url, k in targets.values():  # warm up connections and caches
            wrk_args = ["wrk", "-t", "1", "-c", "4", "-d", "1s", "-s", lua] + (["-H", f"Authorization: Bearer {k}"] if k else [])
            subprocess.run(wrk_args + [url], check=True, capture_output=True)

        print(f"\nNon-streaming chat, {DURATION}s per run, median of {REPEATS}; wrk on the same 2-core machine\n")
        print(f"{'c':>3} {'target':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs nginx':>9} {'added p50':>10} {'added p99':>10}")
        results, cpu, switches, redis_commands = {}, {}, {}, {}
        for c in CONCURRENCY:
            for name, (url, k) in targets.items():
                perf = None
                if PROFILE and name == "gateway":
                    # BENCH_PROFILE_ALL=1: the whole machine (Postgres, mock, wrk too), not only the gateway.
                    scope = ["-a"] if os.environ.get("BENCH_PROFILE_ALL") else ["-p", str(ditto.pid)]
                    perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "-g", "-o", PROFILE] + scope,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # Where the machine's CPU went, so a missed target can be
                # traced to the proxy itself or to what it makes others do
                # (Postgres storing usage, Redis counting limits).
                groups = {"proxy": lambda: [ditto.pid] if name in ("gateway", "limits", "limited") else
                          [nginx.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(nginx.pid)], capture_output=True, text=True).stdout.split()]
                          if name == "nginx" else [],
                          "mock": lambda: [mock.pid], "postgres": lambda: pids_named("postgres"),
                          "redis": lambda: pids_named("redis-server")}
                before = {g: cpu_seconds(f()) for g, f in groups.items()}
                switched = thread_switches(groups["proxy"]())
                commands = redis_command_usec()
                runs = [wrk(url, c, k, lua) for _ in range(REPEATS)]
                served = sum(r[0] for r in runs) * DURATION
                after = redis_command_usec()
                redis_commands[(c, name)] = {
                    cmd: ((calls - commands.get(cmd, (0, 0))[0]) / served, (usec - commands.get(cmd, (0, 0))[1]) / served)
                    for cmd, (calls, usec) in after.items()
                    if calls > commands.get(cmd, (0, 0))[0]}
                cpu[(c, name)] = {g: (cpu_seconds(f()) - before[g]) / served * 1e6 for g, f in groups.items()}
                switches[(c, name)] = switches_per_request(switched, thread_switches(groups["proxy"]()), served)
                results[(c, name)] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
                if perf:
                    perf.send_signal(2)
                    perf.wait()
            direct, proxy = results[(c, "direct")], results[(c, "nginx")]
            for name in targets:
                rps, p50, p99 = results[(c, name)]
                ratio = f"{rps / proxy[0] * 100:.0f} %"
                added = f"{(p50 - direct[1]) * 1000:.0f} µs" if name != "direct" else ""
                added99 = f"{(p99 - direct[2]) * 1000:.0f} µs" if name != "direct" else ""
                print(f"{c:>3} {name:8} {rps:>9.0f} {p50:>8.3f} {p99:>8.3f} {ratio:>9} {added:>10} {added99:>10}")
            for name in ("nginx", "gateway", "limits", "limited"):
                used = cpu[(c, name)]
                print(f"    CPU µs per request, {name}: proxy {used['proxy']:.0f}, mock {used['mock']:.0f}, "
                      f"Postgres {used['postgres']:.0f}, Redis {used['redis']:.0f}")
                by_thread = switches[(c, name)]
                vol = sum(v for v, _ in by_thread.values())
                invol = sum(i for _, i in by_thread.values())
                busiest = ", ".join(f"{t} {v:.3f}" for t, (v, _) in sorted(by_thread.items(), key=lambda x: -x[1][0])[:3] if v >= 0.001)
                print(f"    context switches per request, {name}: {vol:.3f} voluntary ({busiest or 'none'}), {invol:.3f} involuntary")
                inside = redis_commands[(c, name)]
                if name in ("limits", "limited") and inside:
                    listed = ", ".join(f"{cmd} {n:.2f} calls {us:.0f} µs" for cmd, (n, us) in
                                       sorted(inside.items(), key=lambda x: -x[1][1]) if us >= 0.5)
                    print(f"    Redis time inside commands per request, {name}: {sum(us for _, us in inside.values()):.0f} µs ({listed})")
            plain, limited = results[(c, "gateway")], results[(c, "limited")]
            print(f"    limits and budget add {(limited[1] - plain[1]) * 1000:.0f} µs at p50, "
                  f"{(limited[2] - plain[2]) * 1000:.0f} µs at p99; throughput {limited[0] / plain[0] * 100:.0f} % of the gateway without them")
        print(f"\ngateway RSS after load: {rss_mb(ditto.pid):.1f} MB")

        stream_body = json.dumps({"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        call("POST", f"http://127.0.0.1:{mock_port}/__mock/config", {"chunk_delay_ms": 20, "chunks": 5}, token=None)
        direct_ttfb = ttfb(targets["direct"][0], None, stream_body)
        gateway_ttfb = ttfb(targets["gateway"][0], key, stream_body)
        print(f"streaming time to first byte (median of 40): direct {direct_ttfb:.2f} ms, "
              f"gateway {gateway_ttfb:.2f} ms, overhead {gateway_ttfb - direct_ttfb:.2f} ms")
        call("POST", f"http://127.0.0.1:{mock_port}/__mock/config", {}, token=None)

        if KEYS:
            tenant = psql(db_url, "SELECT id FROM tenants WHERE slug = 'bench'")
            psql(db_url, f"""
                INSERT INTO api_keys (id, tenant_id, project_id, name, public_id, secret_hash)
                SELECT gen_random_uuid(), '{tenant}', '{project}', 'bulk-' || i,
                       lpad(to_hex(i), 16, '0'), sha256(('secret-' || i)::bytea)
                FROM generate_series(1, {KEYS}) AS i""")
            time.sleep(3)  # the notification reloads the tenant
            c = 16 if 16 in CONCURRENCY else CONCURRENCY[0]
            rps, p50, p99 = median_run(targets["gateway"][0], c, key, lua)
            proxy = results[(c, "nginx")]
            print(f"\nwith {KEYS} more keys loaded: gateway c={c} {rps:.0f} req/s ({rps / proxy[0] * 100:.0f} % of nginx), "
                  f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, RSS {rss_mb(ditto.pid):.1f} MB")
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"], capture_output=True)


if __name__ == "__main__":
    main()
