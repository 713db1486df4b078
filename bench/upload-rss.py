#!/usr/bin/env python3
"""Server memory under concurrent uploads: refused ones and admitted ones.

Starts a local-server binary (plain HTTP, a fresh data dir), then runs four
phases, each N concurrent PUTs of SIZE bytes, and prints the server's RSS
growth over the phase: peak RSS (VmHWM, reset through /proc/PID/clear_refs
before the phase) minus RSS just before it.

  1. no token (401)
  2. a downloader's token (403)
  3. an uploader declaring more than the 50 MiB limit (413)
  4. UPLOADS uploads by an uploader, each a valid SIZE-byte module (201)

Usage:
  bench/upload-rss.py [--server target/release/local-server] [--refused 32]
                      [--uploads 8] [--size-mib 40]

Any local-server binary works, an old one included (to compare before and
after a change): it needs --plain-http, --port-file, --data-dir and
POST /v1/tokens. Stdlib only.
"""

import argparse
import gzip
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

MIB = 1 << 20


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def phase(pid, work):
    """RSS growth (KiB) of pid over work(), and work's result."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")
    before = status_kib(pid, "VmRSS:")
    started = time.monotonic()
    result = work()
    elapsed = time.monotonic() - started
    return status_kib(pid, "VmHWM:") - before, elapsed, result


def raw_put(port, path, token, declared):
    """PUT `declared` zero bytes, stopping once the answer is in; the status."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Type: application/gzip\r\nContent-Length: {declared}\r\n\r\n".encode()
    )
    answer = []

    def read():
        data = b""
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data and b"connection: close" not in data.lower():
                    break
        except OSError:
            pass
        answer.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    chunk = bytes(64 * 1024)
    sent = 0
    try:
        while sent < declared and reader.is_alive():
            sent += sock.send(chunk[: min(len(chunk), declared - sent)])
    except OSError:
        pass
    reader.join()
    sock.close()
    match = re.match(rb"HTTP/1\.1 (\d+)", answer[0] if answer else b"")
    return int(match.group(1)) if match else 0


def module_archive(version, size):
    """A flat .tar.gz of main.tf and an incompressible blob, about `size` bytes."""
    blob = os.urandom(size - 64 * 1024)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, data in [
                ("main.tf", f'output "v" {{ value = "{version}" }}\n'.encode()),
                ("blob.bin", blob),
            ]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def put_archive(port, path, token, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request(
        "PUT",
        path,
        body=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def concurrently(n, work):
    results = [None] * n

    def run(i):
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="target/release/local-server")
    parser.add_argument("--refused", type=int, default=32)
    parser.add_argument("--uploads", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=40)
    args = parser.parse_args()
    size = args.size_mib * MIB

    data = tempfile.mkdtemp(prefix="tfr-upload-rss-")
    port_file = os.path.join(data, "port")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TFR_")}
    server = subprocess.Popen(
        [args.server, "--plain-http", "--listen", "127.0.0.1:0", "--data-dir",
         os.path.join(data, "data"), "--port-file", port_file],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        master = None
        for line in server.stdout:
            found = re.search(r"tfr_[A-Za-z0-9_-]{20,}", line)
            if found:
                master = found.group(0)
                break
        threading.Thread(target=lambda: server.stdout.read(), daemon=True).start()
        for _ in range(200):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = int(open(port_file).read())

        def token(name, tier):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/v1/tokens", body=json.dumps({"name": name, "tier": tier}),
                         headers={"Authorization": f"Bearer {master}",
                                  "Content-Type": "application/json"})
            return json.loads(conn.getresponse().read())["token"]

        downloader, uploader = token("dl", "downloader"), token("up", "uploader")
        rows = []
        for label, tok, declared in [
            ("no token", None, size),
            ("downloader token", downloader, size),
            ("over the limit", uploader, 60 * MIB),
        ]:
            growth, secs, statuses = phase(server.pid, lambda: concurrently(
                args.refused,
                lambda i: raw_put(port, f"/v1/modules/bench/rss/null/9.0.{i}", tok, declared)))
            rows.append((f"{args.refused} x PUT {declared // MIB} MiB, {label}", growth, secs,
                         sorted(set(statuses))))
        archives = [module_archive(f"1.0.{i}", size) for i in range(args.uploads)]
        growth, secs, statuses = phase(server.pid, lambda: concurrently(
            args.uploads,
            lambda i: put_archive(port, f"/v1/modules/bench/rss/null/1.0.{i}", uploader,
                                  archives[i])))
        rows.append((f"{args.uploads} x PUT {args.size_mib} MiB module, uploader", growth, secs,
                     sorted(set(statuses))))
        print(f"server: {args.server}")
        print(f"{'phase':<45} {'RSS growth':>12} {'seconds':>8}  statuses")
        for label, growth, secs, statuses in rows:
            print(f"{label:<45} {growth / 1024:>9.1f} MiB {secs:>8.2f}  {statuses}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        subprocess.run(["rm", "-rf", data], check=False)


if __name__ == "__main__":
    sys.exit(main())
