"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

The pipe (fd 3 to the browser, fd 4 from it, NUL-separated JSON) needs no port,
no network and no websocket library: the browser talks only to this process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Flags the issue asks for, plus the ones that keep a headless run quiet and offline.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-pipe",
)

# Puts the two pipe ends on fds 3 and 4 in the child and replaces itself with the
# browser: no preexec_fn, so it is safe while other threads (the HTTP server) run.
_LAUNCHER = (
    "import os,sys;"
    "os.dup2(int(sys.argv[1]),3);os.dup2(int(sys.argv[2]),4);"
    "os.execv(sys.argv[3],sys.argv[3:])"
)


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium; ``send`` waits for the reply, events are queued."""

    def __init__(self, executable: str, profile: Path, extra: Sequence[str] = ()) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        args = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, "about:blank"]
        self._log = (profile.parent / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(CDPError, OSError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, f"{method}: no reply")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_event(
        self,
        method: str,
        timeout: float = 30,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method and (where is None or where(event)):
                    self.events.remove(event)
                    return event
            event = self._read(deadline, f"no {method} event")
            if "method" in event:
                self.events.append(event)

    def pump(self, seconds: float) -> None:
        """Collect events for ``seconds`` (requests finish, media plays)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                event = self._read(deadline, "")
                if "method" in event:
                    self.events.append(event)
        except TimeoutError:
            return

    def _read(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(what)
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise CDPError(f"browser exited ({self.process.poll()}) while waiting: {what}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        data: dict[str, Any] = json.loads(raw)
        return data


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session: str = browser.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def events(self, method: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.browser.events
            if e.get("method") == method and e.get("sessionId") == self.session
        ]

    def navigate(self, url: str, timeout: float = 30) -> None:
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event(
            "Page.loadEventFired", timeout, lambda e: e.get("sessionId") == self.session
        )

    def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        reply = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
        )
        if "exceptionDetails" in reply:
            raise CDPError(f"{expression[:60]}...: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15) -> Any:
        """Poll ``expression`` until it is truthy; returns its last value."""
        deadline = time.monotonic() + timeout
        value = self.evaluate(expression)
        while not value and time.monotonic() < deadline:
            self.browser.pump(0.1)
            value = self.evaluate(expression)
        return value

    def capture(self, selector: str) -> bytes:
        """A PNG of one element, at its CSS pixel size."""
        box = self.evaluate(
            f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
            " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()"
        )
        clip = {"x": box[0], "y": box[1], "width": box[2], "height": box[3], "scale": 1}
        data = self.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": clip, "captureBeyondViewport": True},
        )
        return base64.b64decode(data["data"])

    def screenshot(self, dest: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(base64.b64decode(data["data"]))
