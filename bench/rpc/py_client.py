"""A Python file-RPC client for `deno task bench:rpc`: the Python -> Python figure beside ours.

It writes `<id>.request` the way syft-rpc's `send` does (compact JSON, a plain non-atomic
`write_text`), then waits for `<id>.response` with a watchdog observer on its sender folder (not
syft-rpc's 100 ms poll: this measures what a Python pair can do at best; the polling figure is the
benchmark's other peer), reads it, and deletes both files as `SyftFuture.resolve()` does.
Sequential calls; the first `warmup` are not counted. Standard library plus watchdog.

Usage (Debian's /usr/bin/python3 with python3-watchdog):
  python3 py_client.py <datasites_dir> <sender_email> <owner_email> <app_name> <calls> <warmup>
prints one JSON line: {"calls", "p50_ms", "p99_ms", "failures"}.
"""
import base64
import json
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer


class Waiter(FileSystemEventHandler):
    """Wakes the caller when the awaited response file is complete (closed after writing, or
    renamed into place)."""

    def __init__(self) -> None:
        self.path = None
        self.done = threading.Event()

    def on_any_event(self, event) -> None:
        if event.is_directory or self.path is None:
            return
        if event.event_type in ("closed", "created") and event.src_path == self.path:
            self.done.set()
        elif event.event_type == "moved" and event.dest_path == self.path:
            self.done.set()


def main() -> None:
    datasites, sender, owner, app = sys.argv[1:5]
    calls, warmup = int(sys.argv[5]), int(sys.argv[6])
    url = f"syft://{owner}/app_data/{app}/rpc/echo"
    folder = Path(datasites) / owner / "app_data" / app / "rpc" / "echo" / sender
    folder.mkdir(parents=True, exist_ok=True)
    waiter = Waiter()
    observer = Observer()
    observer.schedule(waiter, str(folder), recursive=False)
    observer.start()
    latencies = []
    failures = 0
    try:
        for i in range(calls + warmup):
            rid = str(uuid.uuid4())
            request_path = folder / f"{rid}.request"
            response_path = folder / f"{rid}.response"
            now = datetime.now(timezone.utc)
            body = base64.urlsafe_b64encode(json.dumps({"i": i}).encode()).decode()
            request = {
                "id": rid,
                "sender": sender,
                "url": url,
                "body": body,
                "headers": {},
                "created": now.isoformat(),
                "expires": (now + timedelta(minutes=15)).isoformat(),
                "method": "POST",
            }
            waiter.done.clear()
            waiter.path = str(response_path)
            t0 = time.perf_counter()
            request_path.write_text(json.dumps(request, separators=(",", ":")), encoding="utf-8")
            response = None
            deadline = t0 + 10
            while response is None and time.perf_counter() < deadline:
                waiter.done.wait(0.5)
                waiter.done.clear()
                try:
                    response = json.loads(response_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    response = None  # not there yet, or not complete: wait for the next event
            dt = (time.perf_counter() - t0) * 1000
            request_path.unlink(missing_ok=True)
            response_path.unlink(missing_ok=True)
            if response is None or response.get("status_code") != 200:
                failures += 1
            elif i >= warmup:
                latencies.append(dt)
    finally:
        observer.stop()
        observer.join()
    latencies.sort()

    def pct(q: float):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3)

    print(json.dumps({"calls": len(latencies), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "failures": failures}))


if __name__ == "__main__":
    main()
