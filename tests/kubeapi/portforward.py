"""The pods/portforward websocket, framed as ``v4.channel.k8s.io``, relayed to real TCP addresses.

For requested port i, channel 2i carries data and 2i+1 errors; each channel opens with the port number as two
little-endian bytes, and a failed connection is reported on the error channel with the kubelet's message text.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable


def _sandbox_id(pod: dict) -> str:
    return hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()


def kubelet_refused_message(pod: dict, port: int, dial_error: str) -> str:
    """The error-channel text containerd's kubelet path sends when nothing listens on the port in the pod."""
    sandbox = _sandbox_id(pod)
    netns = f"/var/run/netns/cni-{pod['metadata']['uid']}"
    return (
        f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in network "
        f'namespace "{netns}": failed to connect to localhost:{port} inside namespace "{sandbox}", '
        f"IPv4: dial tcp4 127.0.0.1:{port}: {dial_error} IPv6 dial tcp6: address localhost: no suitable address "
    )


class _Activity:
    """When data last went either way (what the kubelet's streamingConnectionIdleTimeout watches: pings do not
    count), and when any frame did (what a load balancer in between watches)."""

    def __init__(self) -> None:
        self.last_data = self.last_frame = asyncio.get_running_loop().time()

    def data(self) -> None:
        self.last_data = self.last_frame = asyncio.get_running_loop().time()

    def frame(self) -> None:
        self.last_frame = asyncio.get_running_loop().time()


async def _idle_watchdog(ws, transport, activity: _Activity, idle_timeout: Callable[[], float | None],
                         *, data_only: bool) -> None:
    loop = asyncio.get_running_loop()
    while True:
        timeout = idle_timeout()
        if timeout is None:
            await asyncio.sleep(0.5)  # re-read the setting; it may be set while the forward is open
            continue
        last = activity.last_data if data_only else activity.last_frame
        remaining = last + timeout - loop.time()
        if remaining <= 0:
            # Like a load balancer dropping an idle flow: no close frame, the connection just ends.
            if transport is not None:
                transport.abort()
            return
        await asyncio.sleep(remaining)


async def _pump_target_to_ws(ws, reader: asyncio.StreamReader, channel: int, activity: _Activity) -> None:
    while True:
        chunk = await reader.read(64 * 1024)
        if not chunk:
            return
        activity.data()
        await ws.send_bytes(bytes([channel]) + chunk)


async def relay(
    ws,
    request,
    pod: dict,
    ports: list[int],
    routes: dict[int, tuple[str, int] | None],
    idle_timeout: Callable[[], float | None],
    lb_idle_timeout: Callable[[], float | None] = lambda: None,
) -> None:
    """Run one port-forward websocket until every port's stream has ended, then close it.

    ``idle_timeout``: the kubelet's streamingConnectionIdleTimeout, reset by data only (pings do not count);
    ``lb_idle_timeout``: a load balancer in front, reset by any frame. Either cuts the connection without a close
    frame."""
    from aiohttp import WSMsgType

    activity = _Activity()
    transport = request.transport
    for index, port in enumerate(ports):
        header = port.to_bytes(2, "little")
        await ws.send_bytes(bytes([2 * index]) + header)
        await ws.send_bytes(bytes([2 * index + 1]) + header)

    writers: dict[int, asyncio.StreamWriter] = {}
    pumps: list[asyncio.Task] = []
    for index, port in enumerate(ports):
        route = routes.get(port)
        try:
            if route is None:
                raise ConnectionRefusedError("connect: connection refused")
            reader, writer = await asyncio.open_connection(*route)
        except OSError:
            await ws.send_bytes(bytes([2 * index + 1]) + kubelet_refused_message(
                pod, port, "connect: connection refused").encode())
            continue
        writers[index] = writer
        pumps.append(asyncio.ensure_future(_pump_target_to_ws(ws, reader, 2 * index, activity)))

    watchdog = asyncio.ensure_future(_idle_watchdog(ws, transport, activity, idle_timeout, data_only=True))
    lb_watchdog = asyncio.ensure_future(_idle_watchdog(ws, transport, activity, lb_idle_timeout, data_only=False))

    async def read_client() -> None:
        while True:
            message = await ws.receive()
            activity.frame()
            if message.type == WSMsgType.PING:
                await ws.pong(message.data)
            elif message.type == WSMsgType.BINARY and message.data:
                channel, payload = message.data[0], message.data[1:]
                writer = writers.get(channel // 2)
                if channel % 2 == 0 and writer is not None and payload:
                    activity.data()
                    writer.write(payload)
                    await writer.drain()
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return

    client = asyncio.ensure_future(read_client())
    tasks = [client, watchdog, lb_watchdog, *pumps]
    try:
        if pumps:
            # The kubelet ends the connection when every port's copy has finished (or the client went away).
            done_pumps = asyncio.ensure_future(asyncio.gather(*pumps, return_exceptions=True))
            tasks.append(done_pumps)
            await asyncio.wait({done_pumps, client, watchdog, lb_watchdog}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # Awaiting every task (the gather of the pumps too) retrieves their cancellation: no "never retrieved" noise.
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers.values():
            writer.close()
        if not ws.closed:
            await ws.close()
