"""Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol with
aiohttp's websocket client: load a page, read what it shows and the console errors it made.

    async with chromium() as browser:
        page = await browser.load("http://127.0.0.1:6066/")
        assert not page.errors, page.errors
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, AsyncIterator, Dict, List, Optional

import aiohttp

from tests.support.services import free_port


@dataclass
class Loaded:
    html: str  # document.documentElement.outerHTML
    text: str  # document.body.innerText: what a reader sees
    errors: List[str]  # console errors, uncaught exceptions, failed loads


@contextlib.asynccontextmanager
async def chromium(timeout: float = 30) -> AsyncIterator["Browser"]:
    """A headless Chromium for the block, killed with its child processes at its end."""
    binary = shutil.which("chromium")
    if binary is None:
        raise RuntimeError("chromium is not installed: `bash scripts/setup.sh all` installs "
                           "Debian's package (or: apt-get install -y chromium)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bifrost-chromium-",
                                     ignore_cleanup_errors=True) as profile, \
            open(os.path.join(profile, "stderr.log"), "wb+") as stderr:
        process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
             # Containers often give /dev/shm 64 MB, too little for Chromium's shared memory.
             "--disable-dev-shm-usage", "--no-first-run", f"--remote-debugging-port={port}",
             f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            async with aiohttp.ClientSession() as session:
                browser = Browser(session, f"http://127.0.0.1:{port}", timeout)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while not await browser.listening():
                    if process.poll() is not None:
                        stderr.seek(0)
                        raise RuntimeError(f"chromium exited with {process.returncode}:\n"
                                           + stderr.read().decode(errors="replace"))
                    if loop.time() > deadline:
                        raise TimeoutError(f"chromium did not listen on {port} in {timeout}s")
                    await asyncio.sleep(0.1)
                yield browser
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its own group: renderers included
            process.wait(10)


class Browser:
    def __init__(self, session: aiohttp.ClientSession, url: str, timeout: float) -> None:
        self.session, self.url, self.timeout = session, url, timeout

    async def listening(self) -> bool:
        try:
            async with self.session.get(f"{self.url}/json/version") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def load(self, url: str) -> Loaded:
        """Open `url` in a new tab, wait for its load event and read it."""
        async with self.session.put(f"{self.url}/json/new?about:blank") as response:
            target = await response.json()
        async with self.session.ws_connect(target["webSocketDebuggerUrl"],
                                           max_msg_size=0) as ws:
            events: List[Dict[str, Any]] = []

            async def receive() -> Dict[str, Any]:
                message = await asyncio.wait_for(ws.receive(), self.timeout)
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(f"DevTools connection closed: {message.type!r}")
                return json.loads(message.data)

            async def call(number: int, method: str, **params: Any) -> Dict[str, Any]:
                await ws.send_json({"id": number, "method": method, "params": params})
                while (message := await receive()).get("id") != number:
                    events.append(message)  # events come between the answers
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

            for number, method in enumerate(("Runtime.enable", "Log.enable", "Page.enable")):
                await call(number, method)
            # Lifecycle events name their navigation: about:blank's load cannot pass for ours.
            await call(3, "Page.setLifecycleEventsEnabled", enabled=True)
            navigated = await call(4, "Page.navigate", url=url)
            if navigated.get("errorText"):
                raise RuntimeError(f"{url}: {navigated['errorText']}")
            loaded = {"name": "load", "loaderId": navigated["loaderId"]}
            deadline = asyncio.get_running_loop().time() + self.timeout
            while not any(e.get("method") == "Page.lifecycleEvent"
                          and loaded.items() <= e["params"].items() for e in events):
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"{url} did not finish loading in {self.timeout}s")
                events.append(await receive())
            values = [(await call(5 + i, "Runtime.evaluate", expression=expression,
                                  returnByValue=True))["result"].get("value")
                      for i, expression in enumerate(("document.documentElement.outerHTML",
                                                      "document.body.innerText"))]
            return Loaded(*values, [e for e in map(_error, events) if e])


def _error(event: Dict[str, Any]) -> Optional[str]:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        return "console: " + " ".join(str(a.get("value", a.get("description")))
                                      for a in params["args"])
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        return "exception: " + details.get("exception", {}).get("description", details["text"])
    if method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        return f'log ({entry["source"]}): {entry["text"]} {entry.get("url", "")}'.rstrip()
    return None
