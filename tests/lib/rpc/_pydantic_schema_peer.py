"""The Python side of the rpc.schema.json test: pydantic models and handlers equivalent to the zod
ones in schema_test.ts, and rpc.schema.json for them as the reference (section 6) specifies
syft-event's `publish_schema`: `{"/<endpoint>": {"description", "args", "returns"}}`, models as
`{"type": "model", "name": <class name>, "schema": Model.model_json_schema()}`, written with
`json.dumps(schema, indent=2)`. Written for the test (syft-event itself is not installed here).

Usage: python3 _pydantic_schema_peer.py   -> prints rpc.schema.json (no trailing newline)
"""
import enum
import inspect
import json
import sys
import typing
from datetime import datetime
from typing import Any, Literal, Optional, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Request:
    """Stands for syft_event.types.Request: parameters of this type are not arguments."""


class Color(str, enum.Enum):
    """A colour."""

    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    """A postal address."""

    street: str = Field(description="Street and number (caf\u00e9, \U0001F600, \u65e5\u672c)")
    zip_code: str = Field(min_length=5, max_length=5, pattern=r"^[0-9]+$")
    country: str = "FR"


class User(BaseModel):
    """A user of the app."""

    user_id: int = Field(ge=0, lt=1000)
    name: str = Field(min_length=1, max_length=50)
    userName: str
    email: Optional[str] = None
    nickname: str = None
    maybe: Optional[int]
    score: float = Field(default=0.5, gt=0, le=1, multiple_of=0.25)
    ratio: float = Field(default=0.00001, ge=1e-7)
    active: bool = True
    tags: list[str] = []
    counts: list[int] = Field(min_length=1, max_length=3)
    scores: dict[str, int] = {}
    extra: dict[str, Any]
    address: Address
    home: Address = Field(description="Where they live")
    previous: Optional[Address] = None
    addresses: list[Address] = []
    color: Color = Color.RED
    kind: Literal["a", "b"] = "a"
    single: Literal["x"]
    when: datetime
    uid: UUID
    anything: Any
    either: Union[int, str]
    either_or_none: Union[int, str, None] = None
    pair: tuple[int, str]


class CalcRequest(BaseModel):
    a: float
    b: float
    operation: Literal["add", "multiply"] = "add"


class Node(BaseModel):
    name: str
    children: list["Node"] = []


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: int


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = 9


class Dog(BaseModel):
    kind: Literal["dog"]


class Owner(BaseModel):
    pet: Union[Cat, Dog] = Field(discriminator="kind")


class Empty(BaseModel):
    pass


def calculate(request: CalcRequest) -> float:
    """Add or multiply"""


def create_user(user: User, ctx: Request) -> User:
    """Create a user."""


def list_users(ctx: Request) -> list[User]:
    """List the users."""


def tree(node: Node) -> int:
    pass


def strict(body: Strict) -> Empty:
    pass


def owner(owner: Owner):
    pass


def echo(request: Request):
    pass


def text(text: str) -> str:
    pass


ENDPOINTS = {
    "/calculate": calculate,
    "/users/create": create_user,
    "/users/list": list_users,
    "/tree": tree,
    "/strict": strict,
    "/owner": owner,
    "/echo": echo,
    "/text": text,
}


def type_schema(t: Any) -> Any:
    """The reference's type descriptor table (section 6)."""
    if t is None or t is type(None):
        return "null"
    if inspect.isclass(t) and issubclass(t, BaseModel):
        return {"type": "model", "name": t.__name__, "schema": t.model_json_schema()}
    origin = typing.get_origin(t)
    if origin is list:
        (item,) = typing.get_args(t)
        return {"type": "array", "items": type_schema(item)}
    if origin is Union:
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return type_schema(args[0]) if len(args) == 1 else "union"
    if inspect.isclass(t):
        return t.__name__.lower()
    return "any"


def endpoint_schema(func: Any) -> dict:
    hints = typing.get_type_hints(func)
    args = {}
    for name, param in inspect.signature(func).parameters.items():
        annotation = hints.get(name, Any)
        if annotation is Request:
            continue
        args[name] = {
            "type": type_schema(annotation),
            "required": param.default is inspect.Parameter.empty,
        }
    returns = hints.get("return", Any)
    return {
        "description": inspect.getdoc(func),
        "args": args,
        "returns": type_schema(returns) if "return" in hints else "any",
    }


sys.stdout.write(json.dumps({ep: endpoint_schema(f) for ep, f in ENDPOINTS.items()}, indent=2))
