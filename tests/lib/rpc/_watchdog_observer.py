"""A watchdog observer for the datasite-events test: prints every event under a tree as a JSON line.

It uses watchdog's "full" inotify emitter, which reports a file renamed out of the watched tree as a
move with no destination (the default emitter holds such an IN_MOVED_FROM for 0.5 s, then reports
it as a delete; that hold is what delays every Python SyftBox app behind it).

Usage (Debian's /usr/bin/python3 with python3-watchdog):
  python3 _watchdog_observer.py <dir>
prints "ready", then one line per event: ["<event_type>", "<src_path>", "<dest_path or null>"].
It stops when stdin closes.
"""
import json
import sys

from watchdog.events import FileSystemEventHandler
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyFullEmitter


class Printer(FileSystemEventHandler):
    def on_any_event(self, event):
        if event.is_directory:
            return
        dest = getattr(event, "dest_path", None) or None
        print(json.dumps([event.event_type, event.src_path or None, dest]), flush=True)


def main() -> None:
    observer = BaseObserver(emitter_class=InotifyFullEmitter)
    observer.schedule(Printer(), sys.argv[1], recursive=True)
    observer.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        observer.stop()
        observer.join()


if __name__ == "__main__":
    main()
