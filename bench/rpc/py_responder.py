"""A SyftBox-shaped Python responder for `deno task bench:rpc`, driven by watchdog as syft-event is.

It answers `<datasites>/<owner>/app_data/<app>/rpc/echo/<sender>/<id>.request` with an echo
response beside it, the way a Python SyftBox app does: one watchdog `Observer` (the default
inotify emitter, whose InotifyBuffer holds an unmatched IN_MOVED_FROM for 0.5 s) on the endpoint
folder, recursive; created and moved-in `*.request` files (and, unlike syft-event, files closed
after writing: a plain write is created empty) are handled one at a time on the observer's thread; the response is written with a plain (non-atomic) `write_text` of compact JSON.
It is written for the benchmark (standard library plus watchdog): it does not validate like
pydantic does, it only reads the fields it needs.

Usage (Debian's /usr/bin/python3 with python3-watchdog):
  python3 py_responder.py <datasites_dir> <owner_email> <app_name>
prints "ready" once watching; stops when stdin closes.
"""
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class Responder(FileSystemEventHandler):
    def __init__(self, owner: str) -> None:
        self.owner = owner

    def on_any_event(self, event) -> None:
        if event.is_directory:
            return
        if isinstance(event, FileMovedEvent):
            path = event.dest_path
        elif isinstance(event, (FileCreatedEvent, FileClosedEvent)):
            # syft-event handles created and moved only; a plain write's IN_CREATE comes before its
            # bytes, so the close after writing is handled too (else such a request is never seen).
            path = event.src_path
        else:
            return
        if path and path.endswith(".request"):
            self.answer(Path(path))

    def answer(self, request_path: Path) -> None:
        response_path = request_path.with_suffix(".response")
        if response_path.exists():
            return
        try:
            request = json.loads(request_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # gone, or still being written: a later event brings it back
        response = {
            "id": request["id"],
            "sender": self.owner,
            "url": request["url"],
            "body": request.get("body"),
            "headers": {},
            "created": now_iso(),
            "expires": request["expires"],
            "status_code": 200,
        }
        response_path.write_text(json.dumps(response, separators=(",", ":")), encoding="utf-8")


def main() -> None:
    datasites, owner, app = sys.argv[1], sys.argv[2], sys.argv[3]
    endpoint = Path(datasites) / owner / "app_data" / app / "rpc" / "echo"
    endpoint.mkdir(parents=True, exist_ok=True)
    observer = Observer()
    observer.schedule(Responder(owner), str(endpoint), recursive=True)
    observer.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        observer.stop()
        observer.join()


if __name__ == "__main__":
    main()
