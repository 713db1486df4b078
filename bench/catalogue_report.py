"""The table of bench/catalogue.sh: one row per "NAME CONNS OHA_JSON BARE_OHA_JSON" argument."""

import json
import sys

TARGET_RATIO, TARGET_P99_MS = 0.5, 5.0


def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.3f}"


def load(path):
    with open(path) as f:
        return json.load(f)


def size(d):
    """The body bytes per response, as oha reports them."""
    n = d["summary"].get("sizePerRequest")
    return "-" if n is None else f"{n:.0f}"


def statuses(d):
    text = " ".join(f"{k}:{v}" for k, v in sorted(d.get("statusCodeDistribution", {}).items()))
    # oha -z cuts requests still running at the deadline: not the server's errors.
    errors = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    return text + (" errors: " + json.dumps(errors) if errors else "")


print(f"{'endpoint':<16} {'conns':>5} {'req/s':>9} {'bare':>9} {'vs bare':>7} {'p50 ms':>8} {'p99 ms':>8} {'bytes':>6}  {'target':<6}  statuses")
for row in sys.argv[1:]:
    name, conns, path, bare_path = row.split()
    d, bare = load(path), load(bare_path)
    rps, bare_rps = d["summary"]["requestsPerSec"], bare["summary"]["requestsPerSec"]
    p = d["latencyPercentiles"]
    ratio = rps / bare_rps if bare_rps else 0
    ok = ratio >= TARGET_RATIO and (p.get("p99") or 1) * 1000 <= TARGET_P99_MS and set(d.get("statusCodeDistribution", {})) == {"200"}
    print(f"{name:<16} {conns:>5} {rps:>9.0f} {bare_rps:>9.0f} {ratio * 100:>6.0f}% {ms(p.get('p50')):>8} {ms(p.get('p99')):>8} {size(d):>6}  {'met' if ok else 'MISSED':<6}  {statuses(d)}")
print(f"target: >= {TARGET_RATIO:.0%} of the bare hyper run just before the row, p99 <= {TARGET_P99_MS} ms, only 200s")
