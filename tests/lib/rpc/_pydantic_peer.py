"""A Python peer for the interop test: pydantic models shaped as syft-rpc's protocol (field names,
order, defaults, base64 bytes, isoformat timestamps, as the reference describes them).

Usage:
  python3 _pydantic_peer.py request <dir> <sender> <url> <body>   -> writes <id>.request, prints id
  python3 _pydantic_peer.py read-response <path>                  -> prints {status_code, body, expired}
"""
import json
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field, field_serializer


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Message(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    sender: str
    url: str
    body: Optional[bytes] = None
    headers: dict[str, str] = Field(default_factory=dict)
    created: datetime = Field(default_factory=_now)
    expires: datetime = Field(default_factory=lambda: _now() + timedelta(days=1))

    @field_serializer("created", "expires")
    def _iso(self, value: datetime) -> str:
        return value.isoformat()

    def is_expired(self) -> bool:
        return datetime.now(timezone.utc) > self.expires


class Request(Message):
    method: str = "GET"


class Response(Message):
    status_code: int = 200


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "request":
        folder, sender, url, body = sys.argv[2:6]
        req = Request(
            sender=sender,
            url=url,
            method="POST",
            body=body.encode(),
            headers={"Content-Type": "application/json"},
            expires=_now() + timedelta(minutes=15),
        )
        path = Path(folder) / f"{req.id}.request"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(req.model_dump_json(), encoding="utf-8")  # plain, non-atomic, as syft-rpc
        print(req.id)
    elif cmd == "read-response":
        res = Response.model_validate_json(Path(sys.argv[2]).read_text(encoding="utf-8"))
        print(json.dumps({
            "id": str(res.id),
            "status_code": res.status_code,
            "body": (res.body or b"").decode(),
            "expired": res.is_expired(),
            "sender": res.sender,
        }))


main()
