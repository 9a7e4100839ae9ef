"""A minimal W3C WebDriver client over urllib (stdlib only; numpy and OpenCV
decode screenshots).

Enough for the end-to-end tests: sessions, CSS element look-ups, element
attributes/properties/text/rect, clicks, keys (as W3C key actions on the
focused document), synchronous scripts, pointer actions and screenshots. Every
request has a timeout, and every wait raises WaitTimeout naming what it waited
for and the last value it saw.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterable, Sequence

ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"

# The W3C WebDriver code points of the non-printing keys the tests use.
KEYS = {
    "Enter": "\ue007",
    "Shift": "\ue008",
    "Control": "\ue009",
    "Alt": "\ue00a",
    "Escape": "\ue00c",
    "Tab": "\ue004",
    "Backspace": "\ue003",
    "ArrowLeft": "\ue012",
    "ArrowUp": "\ue013",
    "ArrowRight": "\ue014",
    "ArrowDown": "\ue015",
    "Meta": "\ue03d",
}


class WebDriverError(RuntimeError):
    """An error answer of the remote end (W3C `error` + `message`)."""

    def __init__(self, method: str, path: str, status: int, error: str, message: str):
        super().__init__(f"{method} {path} -> HTTP {status} {error}: {message}")
        self.status = status
        self.error = error


class WaitTimeout(AssertionError):
    """A wait that did not come true in time (an AssertionError, so a test fails rather than errors)."""


def wait_until(
    what: str,
    probe: Callable[[], Any],
    ok: Callable[[Any], bool] = bool,
    timeout: float = 10.0,
    interval: float = 0.1,
) -> Any:
    """Calls `probe` until `ok(value)`; returns that value. WebDriver errors
    (element not there yet, stale) count as "not yet". On timeout raises
    WaitTimeout with the description and the last value or error seen."""
    deadline = time.monotonic() + timeout
    last: Any = "<never probed>"
    while True:
        try:
            value = probe()
            last = value
            if ok(value):
                return value
        except WebDriverError as e:
            last = f"<{e}>"
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


def decode_png(b64: str):
    """A base64 PNG as an RGB numpy array (H, W, 3), uint8."""
    import cv2
    import numpy as np

    data = np.frombuffer(base64.b64decode(b64), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("the screenshot is not a decodable PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def save_png(path: str, rgb) -> None:
    import cv2

    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


class Element:
    def __init__(self, session: "Session", element_id: str, selector: str = ""):
        self.session = session
        self.id = element_id
        self.selector = selector

    def __repr__(self) -> str:
        return f"<Element {self.selector or self.id}>"

    def _path(self, suffix: str) -> str:
        return f"/element/{self.id}{suffix}"

    def attribute(self, name: str) -> str | None:
        return self.session.get(self._path(f"/attribute/{name}"))

    def get_property(self, name: str) -> Any:
        return self.session.get(self._path(f"/property/{name}"))

    @property
    def text(self) -> str:
        return self.session.get(self._path("/text"))

    @property
    def rect(self) -> dict:
        """x, y, width, height in CSS pixels (the layout box, transforms included)."""
        return self.session.get(self._path("/rect"))

    def click(self) -> None:
        self.session.post(self._path("/click"), {})

    def send_keys(self, text: str) -> None:
        self.session.post(self._path("/value"), {"text": text})

    def find(self, css: str) -> "Element":
        v = self.session.post(self._path("/element"), {"using": "css selector", "value": css})
        return Element(self.session, v[ELEMENT_KEY], css)

    def find_all(self, css: str) -> list["Element"]:
        vs = self.session.post(self._path("/elements"), {"using": "css selector", "value": css})
        return [Element(self.session, v[ELEMENT_KEY], css) for v in vs]

    def screenshot(self):
        """This element's pixels as an RGB numpy array."""
        return decode_png(self.session.get(self._path("/screenshot")))

    def client_rect(self) -> dict:
        """getBoundingClientRect() (left, top, width, height; CSS transforms included)."""
        return self.session.execute(
            "const r = arguments[0].getBoundingClientRect();"
            "return {left: r.left, top: r.top, width: r.width, height: r.height};",
            self,
        )


class Session:
    """One WebDriver session on a remote end at `base_url`."""

    def __init__(self, base_url: str, capabilities: dict, timeout: float = 60.0, request_timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.request_timeout = request_timeout
        value = self._request("POST", "/session", {"capabilities": capabilities}, timeout=timeout)
        self.id: str = value["sessionId"]
        self.capabilities: dict = value.get("capabilities", {})

    # ---- transport -------------------------------------------------------
    def _request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body, default=self._encode).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json; charset=utf-8")
        for attempt in range(1, 4):
            try:
                with urllib.request.urlopen(req, timeout=timeout or self.request_timeout) as resp:
                    payload = resp.read()
                    status = resp.status
                break
            except urllib.error.HTTPError as e:
                payload = e.read()
                status = e.code
                break
            except (http.client.RemoteDisconnected, ConnectionResetError) as e:
                # tauri-driver sometimes forwards a request over a pooled
                # connection that WebKitWebDriver has just closed, and answers by
                # closing ours ("client error (SendRequest)"): the request never
                # reached the browser, so sending it again is safe.
                if attempt == 3:
                    raise
                print(f"(webdriver: {method} {path}: {type(e).__name__}; retrying)", file=sys.stderr)
                time.sleep(0.2 * attempt)
        try:
            answer = json.loads(payload or b"{}")
        except ValueError:
            raise WebDriverError(method, path, status, "invalid answer", payload[:300].decode(errors="replace"))
        value = answer.get("value") if isinstance(answer, dict) else None
        failed = isinstance(value, dict) and "error" in value and "message" in value
        if status >= 400 or failed:
            v = value if isinstance(value, dict) else {}
            raise WebDriverError(method, path, status, str(v.get("error", "?")), str(v.get("message", answer))[:500])
        return value

    @staticmethod
    def _encode(o: Any) -> Any:
        if isinstance(o, Element):
            return {ELEMENT_KEY: o.id}
        raise TypeError(f"cannot send {type(o).__name__} over WebDriver")

    def get(self, path: str) -> Any:
        return self._request("GET", f"/session/{self.id}{path}")

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", f"/session/{self.id}{path}", body)

    def delete(self, timeout: float = 15.0) -> None:
        """Ends the session (the remote end closes the app)."""
        self._request("DELETE", f"/session/{self.id}", timeout=timeout)

    # ---- elements --------------------------------------------------------
    def find(self, css: str) -> Element:
        v = self.post("/element", {"using": "css selector", "value": css})
        return Element(self, v[ELEMENT_KEY], css)

    def find_all(self, css: str) -> list[Element]:
        vs = self.post("/elements", {"using": "css selector", "value": css})
        return [Element(self, v[ELEMENT_KEY], css) for v in vs]

    def active_element(self) -> Element:
        v = self.get("/element/active")
        return Element(self, v[ELEMENT_KEY], "<active>")

    def wait_for(self, css: str, timeout: float = 10.0) -> Element:
        return wait_until(f"element {css!r}", lambda: self.find(css), timeout=timeout)

    def wait_gone(self, css: str, timeout: float = 10.0) -> None:
        wait_until(f"no element {css!r}", lambda: len(self.find_all(css)), ok=lambda n: n == 0, timeout=timeout)

    def wait_attribute(
        self, css: str, name: str, ok: Callable[[str | None], bool], what: str = "", timeout: float = 10.0
    ) -> str | None:
        return wait_until(
            f"{css} [{name}] {what}".strip(), lambda: self.find(css).attribute(name), ok=ok, timeout=timeout
        )

    def wait_count(self, css: str, n: int, timeout: float = 10.0) -> list[Element]:
        return wait_until(
            f"{n} element(s) {css!r}",
            lambda: self.find_all(css),
            ok=lambda es: len(es) == n,
            timeout=timeout,
        )

    # ---- scripts ---------------------------------------------------------
    def execute(self, script: str, *args: Any) -> Any:
        return self.post("/execute/sync", {"script": script, "args": list(args)})

    # ---- input -----------------------------------------------------------
    def perform(self, *sources: dict) -> None:
        self.post("/actions", {"actions": list(sources)})

    def release_actions(self) -> None:
        self._request("DELETE", f"/session/{self.id}/actions")

    def keys(self, *chords: str | Sequence[str], pause_ms: int = 0) -> None:
        """Presses keys on the focused document as W3C key actions. Each chord
        is one key ("ArrowRight", "s") or a sequence of keys held together
        (["Control", "Shift", "z"]): pressed in order, released in reverse."""
        actions: list[dict] = []
        for chord in chords:
            ks = [chord] if isinstance(chord, str) else list(chord)
            codes = [KEYS.get(k, k) for k in ks]
            actions += [{"type": "keyDown", "value": c} for c in codes]
            actions += [{"type": "keyUp", "value": c} for c in reversed(codes)]
            if pause_ms:
                actions.append({"type": "pause", "duration": pause_ms})
        self.perform({"type": "key", "id": "keyboard", "actions": actions})

    def send_keys(self, text: str, to: Element | None = None) -> None:
        """Element Send Keys: `text` (W3C key code points allowed, see KEYS)
        typed into `to`, by default the focused element (the body when none)."""
        (to or self.active_element()).send_keys(text)

    def pointer(self, steps: Iterable[dict]) -> None:
        """Runs mouse pointer actions; see move(), down(), up()."""
        self.perform(
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": list(steps)}
        )

    @staticmethod
    def move(x: float, y: float, duration_ms: int = 0) -> dict:
        """A pointerMove to viewport coordinates (CSS pixels)."""
        return {"type": "pointerMove", "duration": duration_ms, "origin": "viewport", "x": int(round(x)), "y": int(round(y))}

    @staticmethod
    def down(button: int = 0) -> dict:
        return {"type": "pointerDown", "button": button}

    @staticmethod
    def up(button: int = 0) -> dict:
        return {"type": "pointerUp", "button": button}

    @staticmethod
    def pause(ms: int) -> dict:
        return {"type": "pause", "duration": ms}

    def click_at(self, x: float, y: float) -> None:
        """A click (move, down, up; no drag) at viewport coordinates."""
        self.pointer([self.move(x, y), self.down(), self.pause(50), self.up()])

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 5) -> None:
        """Press at (x0, y0), move in `steps` steps, release at (x1, y1)."""
        seq = [self.move(x0, y0), self.down()]
        for i in range(1, steps + 1):
            t = i / steps
            seq.append(self.move(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, duration_ms=30))
        seq.append(self.up())
        self.pointer(seq)

    # ---- screenshots -----------------------------------------------------
    def screenshot(self):
        """The whole window's pixels as an RGB numpy array."""
        return decode_png(self.get("/screenshot"))
