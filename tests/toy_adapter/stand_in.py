"""The toy vendor's bot API as a small Litestar app: in memory, token-checked, counting its calls.
``python -m tests.toy_adapter.stand_in --port N --api-key K`` serves it in a process of its own."""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import uvicorn
from litestar import Litestar, Request, delete, get, patch, post
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath, JSONBody


class ToyVendor:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.bots: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def check(self, request: Request[Any, Any, Any]) -> None:
        self.calls.append(f"{request.method} {request.url.path}")
        if request.headers.get("authorization") != f"Token {self.api_key}":
            raise NotAuthorizedException("bad token")

    def live(self, bot_id: str) -> dict[str, Any]:
        bot = self.bots.get(bot_id)
        if bot is None or bot["deleted"]:
            raise NotFoundException("no such bot")
        return bot


def create_toy_app(vendor: ToyVendor) -> Litestar:
    @post("/bots", status_code=201)
    async def create(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        vendor.check(request)
        bot = {**data, "id": str(uuid.uuid4()), "deleted": False}
        vendor.bots[bot["id"]] = bot
        return bot

    @patch("/bots/{bot_id:str}")
    async def move(
        request: Request[Any, Any, Any], bot_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        vendor.check(request)
        bot = vendor.live(bot_id)
        bot["join_at"] = data["join_at"]
        return bot

    @delete("/bots/{bot_id:str}", status_code=204)
    async def remove(request: Request[Any, Any, Any], bot_id: FromPath[str]) -> None:
        vendor.check(request)
        vendor.live(bot_id)["deleted"] = True

    @get("/_toy/bots")
    async def admin_bots() -> list[dict[str, Any]]:
        return list(vendor.bots.values())

    @get("/_toy/calls")
    async def admin_calls() -> list[str]:
        return list(vendor.calls)

    return Litestar([create, move, remove, admin_bots, admin_calls])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_toy_app(ToyVendor(args.api_key)), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()
