"""A WebSocket echo backend (python3-websockets, asyncio API): echoes every message on any path,
answers /refuse with 403 instead of switching, and tells on /who which port it listens on.
Usage: ws_backend.py PORT"""
import asyncio
import http
import sys

import websockets

PORT = int(sys.argv[1])


async def process_request(path, headers):
    if path == "/refuse":
        return http.HTTPStatus.FORBIDDEN, [("X-Refused", "yes")], b"no websocket here\n"
    return None


async def echo(ws, path):
    async for message in ws:
        await ws.send(message)


async def main():
    async with websockets.serve(echo, "127.0.0.1", PORT, process_request=process_request,
                                max_size=4 << 20):
        await asyncio.Future()


asyncio.run(main())
