#!/usr/bin/env python3
"""The studio console in a real browser: headless Chromium driven through WebDriver (selenium),
against `patchbay dev` started as a process, with a local receiver that can be made to fail and
whose responses carry markup that must stay inert.

    .venv/bin/python tests/browser/console_suite.py [--bin target/debug/patchbay] [--screenshots DIR]

scripts/browser-test installs what this needs and runs it; scripts/test runs that on full runs.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

# What the receiver answers with while healthy: markup that would run if the console ever
# rendered a response as HTML (it sets a window flag, or creates an <img> element).
HOSTILE_BODY = (
    '<script>window.__pwned = "script"</script>'
    '<img src="x" onerror="window.__pwned = \'img\'">receiver says ok'
)
FAILING_BODY = "receiver is down for maintenance"
# The first retry comes after 6 s (±20 %), long enough to watch it scheduled; one retry only.
RETRY_SCHEDULE = "6s"


def log(message):
    print(f"[console-suite] {message}", flush=True)


class Receiver:
    """A webhook receiver on 127.0.0.1: records requests; answers 200 or, when failing, 503."""

    def __init__(self):
        self.failing = False
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.requests.append((self.command, self.path, dict(self.headers), body))
                status, text = (503, FAILING_BODY) if receiver.failing else (200, HOSTILE_BODY)
                payload = text.encode()
                self.send_response(status)
                self.send_header("content-type", "text/html; charset=utf-8")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Dev:
    """`patchbay dev` on a free port (it binds port 0 and prints the address) and a temp data dir."""

    def __init__(self, binary):
        self.data = tempfile.mkdtemp(prefix="patchbay-console-suite-")
        self.admin_token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        self.ingest_secret = new_secret()
        env = {k: v for k, v in os.environ.items() if k != "PATCHBAY_STORE"}
        env.update(
            PATCHBAY_ADMIN_TOKEN=self.admin_token,
            PATCHBAY_INGEST_SECRET=self.ingest_secret,
            PATCHBAY_RETRY_SCHEDULE=RETRY_SCHEDULE,
            PATCHBAY_DELIVERY_TIMEOUT="2s",
            RUST_LOG="info",
        )
        self.process = subprocess.Popen(
            [binary, "dev", "--addr", "127.0.0.1:0", "--data", self.data],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.logs = []
        ready = threading.Event()
        self.base = None

        def read():
            for line in self.process.stderr:
                self.logs.append(line)
                match = re.search(r"listening on (http://\S+)", line)
                if match and not ready.is_set():
                    self.base = match.group(1)
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(60):
            self.stop()
            raise RuntimeError("patchbay dev did not start:\n" + "".join(self.logs))

    def call(self, method, path, body=None, token=None, headers=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("authorization", f"Bearer {token or self.admin_token}")
        if data is not None:
            request.add_header("content-type", "application/json")
        for k, v in (headers or {}).items():
            request.add_header(k, v)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            try:
                return err.code, json.loads(text)
            except ValueError:
                return err.code, text

    def post_event(self, event_id, body):
        """A signed event, as the publishing pipeline sends it (Standard Webhooks)."""
        raw = json.dumps(body).encode()
        ts = str(int(time.time()))
        key = base64.b64decode(self.ingest_secret[len("whsec_"):])
        mac = hmac.new(key, f"{event_id}.{ts}.".encode() + raw, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(mac).decode()
        headers = {"webhook-id": event_id, "webhook-timestamp": ts, "webhook-signature": signature}
        request = urllib.request.Request(self.base + "/v1/events", data=raw, method="POST", headers=headers)
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read().decode())

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.data, ignore_errors=True)


def event(name, app_id, version_id):
    return {
        "event": name,
        "app": {"id": app_id, "name": "space-race", "display_name": "Space Race", "group_name": None,
                "download_url": "https://example.com/d", "direct_download_url": "https://example.com/dd"},
        "version": {"id": version_id, "label": f"1.0.{version_id}", "published_at": "2026-11-20T10:00:00Z",
                    "content_size": 1234567, "diff_size": 2345, "changes": "Fixed jump bug",
                    "known_issues": "", "processing_errors": [], "processing_started_at": None,
                    "processing_finished_at": None},
    }


def create_app(dev, app_id):
    status, body = dev.call("POST", "/v1/apps", {"id": app_id, "name": app_id, "display_name": app_id.title()})
    assert status == 201, (status, body)
    return body["app_secret"]


def app_token(dev, app_id):
    """An app token for `app_id`, made with the admin token through the per-app tokens API."""
    status, body = dev.call("POST", f"/v1/apps/{app_id}/tokens", {"name": "browser suite"})
    assert status == 201, f"creating an app token: {status} {body}"
    assert body["token"].startswith("pbt_"), body
    return body["token"]


class Browser:
    def __init__(self, screenshots):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                    "--disable-gpu", "--no-first-run", "--lang=en-US"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
        self.driver = webdriver.Chrome(service=Service(driver_path), options=options)
        self.driver.set_script_timeout(30)
        self.screenshots = screenshots

    def wait(self, condition, timeout=20, what="condition"):
        try:
            wait = WebDriverWait(self.driver, timeout, poll_frequency=0.2,
                                 ignored_exceptions=[StaleElementReferenceException])
            return wait.until(lambda d: condition())
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}; page text:\n{self.text('main')}") from None

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css):
        """The text of the first match, read in one step (pages re-render while polled)."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : ''", css)

    def wait_text(self, css, needle, timeout=20):
        return self.wait(lambda: needle in self.text(css), timeout, f"{needle!r} in {css}")

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def shot(self, name):
        if not self.screenshots:
            return
        os.makedirs(self.screenshots, exist_ok=True)
        path = os.path.join(self.screenshots, name)
        # The whole page, not just the window.
        self.js("window.scrollTo(0, 0)")
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot {path}")

    def assert_inert(self):
        """Nothing a receiver returned ran or became an element."""
        pwned = self.js("return window.__pwned === undefined ? null : String(window.__pwned)")
        assert pwned is None, f"receiver markup ran: window.__pwned = {pwned}"
        assert self.js("return document.images.length") == 0, "an <img> was created from a response"
        assert self.js("return document.querySelectorAll('main script, main iframe, main object').length") == 0

    def assert_labelled(self):
        """Every form control on the page has a label (for=, an enclosing one, or a fieldset legend)."""
        unlabelled = self.js("""
            return [...document.querySelectorAll('input, select, textarea')]
              .filter(e => e.type !== 'hidden' && !e.closest('[hidden]'))
              .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.closest('label'))
              .map(e => e.outerHTML.slice(0, 80));""")
        assert not unlabelled, f"unlabelled form fields: {unlabelled}"

    def assert_no_csp_violations(self):
        entries = self.driver.get_log("browser")
        bad = [e["message"] for e in entries
               if "Content Security Policy" in e["message"] or "Trusted Type" in e["message"]]
        assert not bad, f"the page broke its own CSP: {bad}"

    def quit(self):
        self.driver.quit()


def type_into(element, text):
    element.clear()
    element.send_keys(text)


def set_value(browser, css, text):
    """Replace a textarea's value (send_keys would auto-indent nothing, but is slow for JSON)."""
    element = browser.find(css)
    element.clear()
    element.send_keys(text)


def run(binary, screenshots):
    receiver = Receiver()
    dev = Dev(binary)
    browser = None
    try:
        log(f"patchbay dev at {dev.base}, receiver at {receiver.url}")
        app_id, other_app = "space-race", "other-studio"
        app_secret = create_app(dev, app_id)
        create_app(dev, other_app)
        token = app_token(dev, app_id)
        # Another app's webhook, made through the API.
        status, other = dev.call("POST", f"/v1/apps/{other_app}/webhooks", {
            "events": ["version_published"], "method": "POST", "url": receiver.url + "/other"})
        assert status == 201, other

        browser = Browser(screenshots)
        d = browser.driver

        # --- sign in (keyboard only: Enter submits) --------------------------------------------
        d.get(dev.base + "/console")
        browser.wait(lambda: browser.finds("#token"), what="the sign-in form")
        assert browser.find("label[for=token]").text == "Token"
        assert browser.find("label[for=app-id]").text == "App id"
        browser.find("#token").send_keys(token, Keys.TAB)
        assert d.switch_to.active_element == browser.find("#app-id"), "Tab moves from the token to the app id"
        d.switch_to.active_element.send_keys(app_id, Keys.ENTER)
        browser.wait_text("main h1", "Webhooks")
        assert token not in d.current_url, "the token must never be in a URL"
        assert browser.js("return document.cookie") == "", "the console sets no cookie"
        stored = browser.js("return sessionStorage.getItem('patchbay.console.session')")
        assert token in stored, "the token is kept in sessionStorage"
        # The CSP is in force: Trusted Types make any HTML sink throw in this page.
        sink = browser.js("try { document.createElement('div').innerHTML = '<b>x</b>'; return 'assigned'; }"
                          " catch (e) { return e.name; }")
        assert sink == "TypeError", f"innerHTML must be refused by the CSP, got {sink}"
        log("signed in")

        # --- create a webhook: a bad template first, its error at the field --------------------
        browser.find("#new-webhook").click()
        browser.wait(lambda: browser.finds("#webhook-form"), what="the editor")
        # Studios can subscribe to the operational events too (another webhook broke, gave up…).
        for name in ("webhook.disabled", "delivery.failed", "webhook.recovered"):
            assert browser.finds(f'input[name=events][value="{name}"]'), f"the editor offers {name}"
        for label in ("Method", "URL", "Headers", "Format", "Payload (JSON template)"):
            assert d.find_elements(By.XPATH, f"//label[normalize-space()='{label}']"), f"label {label}"
        type_into(browser.find("#url"), receiver.url + "/hooks/{{app.name}}")
        set_value(browser, "#headers", "X-Studio: {{app.display_name}}")
        set_value(browser, "#payload", '{"text": "{{app.nope}} is out"}')
        browser.find("#save").click()
        browser.wait_text("#payload-error", "payload.text")
        assert "app.nope" in browser.text("#payload-error"), browser.text("#payload-error")
        assert browser.find("#payload").get_attribute("aria-invalid") == "true"
        assert d.switch_to.active_element == browser.find("#payload"), "the field at fault gets the focus"
        browser.shot("console-editor-error.png")
        log("bad template: 422 shown at the payload field")

        set_value(browser, "#payload", '{"text": "{{app.display_name}} {{version.label}} is out", '
                                       '"changes": "{{version.changes}}"}')
        # The live preview renders PatchKit's sample values.
        browser.wait_text("#preview .preview-body", "Test App")
        assert "Test%20App" in browser.text("#preview-url") or "Test App" in browser.text("#preview-url")
        assert "X-Studio: Test App" in browser.text("#preview .preview-headers")
        assert browser.text("#payload-error") == ""
        browser.assert_labelled()
        browser.find("#save").click()
        browser.wait(lambda: "#/webhooks/wh_" in d.current_url, what="the webhook page")
        webhook_id = d.current_url.split("#/webhooks/")[1]
        browser.wait_text("#created-secret", "whsec_")
        log(f"created {webhook_id}")

        # --- Test against the receiver: its 200 and body, as inert text ------------------------
        Select(browser.find("#test-event")).select_by_value("version_published")
        browser.find("#test-send").click()
        browser.wait(lambda: browser.text("#test-status") == "200", what="the test's 200")
        assert browser.text("#test-latency").endswith(" ms")
        body_text = browser.text("#test-result .response-body")
        assert "<script>window.__pwned" in body_text and "<img src=" in body_text, body_text
        browser.assert_inert()
        sent = [r for r in receiver.requests if r[1] == "/hooks/Test%20App"]
        assert sent and "webhook-signature" in {k.lower() for k in sent[-1][2]}, receiver.requests
        browser.assert_labelled()
        # The saved webhook's editor previews it too.
        browser.wait_text("#preview-url", "/hooks/Test%20App")
        assert not browser.find("#next-page").is_displayed(), "no next page when the listing fits"
        browser.shot("console-test-send.png")
        log("test send: 200 and the body shown as text")

        # --- a signed event; its delivery appears with its attempt ---------------------------
        status, answer = dev.post_event("msg_console_1", event("version_published", app_id, 1))
        assert status == 202, answer
        delivery_id = answer["deliveries"][0]["id"]
        row = f'#deliveries tr[data-delivery-id="{delivery_id}"]'

        def delivered():
            browser.find("#refresh-deliveries").click()
            time.sleep(0.3)
            return browser.finds(f'{row}[data-status="succeeded"]')

        browser.wait(delivered, what="the event's delivery to succeed")
        browser.find(f"{row} a").click()
        browser.wait(lambda: len(browser.finds("#attempts li")) == 1, what="one attempt")
        assert "HTTP 200" in browser.text("#attempts li"), browser.text("#attempts")
        assert "<script>" in browser.text("#attempts li .response-body")
        browser.assert_inert()
        log("event delivered, its attempt shown")

        # --- the receiver fails: retry scheduled, then Redeliver after it recovers ------------
        receiver.failing = True
        status, answer = dev.post_event("msg_console_2", event("version_published", app_id, 2))
        assert status == 202, answer
        failing_id = answer["deliveries"][0]["id"]
        d.get(f"{dev.base}/console#/deliveries/{failing_id}")
        # Pending after its failed first attempt, with the retry's time shown.
        browser.wait(lambda: browser.finds("#next-retry time") and len(browser.finds("#attempts li")) >= 1,
                     timeout=15, what="the retry to be scheduled")
        assert "HTTP 503" in browser.text("#attempts li"), browser.text("#attempts")
        assert FAILING_BODY in browser.text("#attempts li .response-body")
        assert browser.find("#redeliver").get_attribute("disabled") is not None, "no redeliver while pending"
        browser.shot("console-retry-scheduled.png")
        log("failed attempt shown with the retry scheduled")
        # The retry fails too, and the delivery gives up.
        browser.wait(lambda: "failed" in browser.text("#delivery-status"), timeout=30, what="the delivery to fail")
        assert len(browser.finds("#attempts li")) == 2
        assert "gave up" in browser.text("#delivery-reason"), browser.text("#delivery")
        receiver.failing = False
        browser.find("#redeliver").click()
        browser.wait(lambda: "succeeded" in browser.text("#delivery-status"), timeout=30,
                     what="the redelivery to succeed")
        attempts = browser.js("return [...document.querySelectorAll('#attempts li')].map(li => li.textContent)")
        assert len(attempts) == 3 and "HTTP 200" in attempts[-1], attempts
        browser.assert_inert()
        log("redelivered after the receiver recovered")

        # --- deliveries: filters, replay of failures since a time ----------------------------
        d.get(f"{dev.base}/console#/webhooks/{webhook_id}")
        browser.wait(lambda: browser.finds("#delivery-filters"), what="the deliveries section")
        Select(browser.find("#filter-status")).select_by_value("failed")
        browser.find("#delivery-filters button[type=submit]").click()
        browser.wait(lambda: browser.finds("#no-deliveries"), what="no failed deliveries")
        Select(browser.find("#filter-status")).select_by_value("succeeded")
        Select(browser.find("#filter-event")).select_by_value("version_published")
        browser.find("#delivery-filters button[type=submit]").click()
        browser.wait(lambda: len(browser.finds("#deliveries tr[data-status=succeeded]")) == 3,
                     what="the three succeeded deliveries (test, event, redelivered)")
        Select(browser.find("#filter-event")).select_by_value("version_processed")
        browser.find("#delivery-filters button[type=submit]").click()
        browser.wait(lambda: browser.finds("#no-deliveries"), what="no version_processed deliveries")
        # Cursor paging: six deliveries, five a page.
        for n in range(3, 6):
            status, answer = dev.post_event(f"msg_console_{n}", event("version_published", app_id, n))
            assert status == 202, answer
        Select(browser.find("#filter-status")).select_by_value("")
        Select(browser.find("#filter-event")).select_by_value("")
        Select(browser.find("#filter-limit")).select_by_value("5")
        browser.find("#delivery-filters button[type=submit]").click()
        browser.wait(lambda: len(browser.finds("#deliveries tbody tr")) == 5 and browser.find("#next-page").is_displayed(),
                     what="a first page of five with a next page")
        browser.find("#next-page").click()
        browser.wait(lambda: len(browser.finds("#deliveries tbody tr")) == 6, what="the second page appended")
        browser.wait(lambda: not browser.find("#next-page").is_displayed(), what="no page after the last")
        ids = browser.js("return [...document.querySelectorAll('#deliveries tbody tr')].map(r => r.dataset.deliveryId)")
        assert len(set(ids)) == 6, ids
        browser.js("""const d = new Date(Date.now() - 3600e3);
            document.getElementById('replay-since').value =
                new Date(d - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);""")
        browser.find("#replay button[type=submit]").click()
        browser.wait_text("#flash", "queued again")
        log("deliveries filtered by status and event, paged by cursor; replay answered")

        # --- signing-secret rotation shows the overlap ---------------------------------------
        browser.find("#rotate").click()
        d.switch_to.alert.accept()
        browser.wait_text("#new-secret", "whsec_")
        assert "1 previous secret still sign" in browser.text("#overlap"), browser.text("#overlap")
        log("secret rotated, overlap shown")

        # --- key lookup, block and unblock (the key check then answers 410) ------------------
        status, keys = dev.call("POST", f"/v1/apps/{app_id}/keys", {"count": 1})
        assert status == 201, keys
        key = keys["keys"][0]
        d.get(f"{dev.base}/console#/keys")
        browser.wait(lambda: browser.finds("#key"), what="the key lookup")
        browser.find("#key").send_keys(key, Keys.ENTER)
        browser.wait(lambda: browser.text("#key-blocked") == "no", what="the key")
        browser.find("#key-toggle").click()
        browser.wait(lambda: browser.text("#key-blocked") == "yes", what="the key blocked")
        check = urllib.request.Request(f"{dev.base}/v2/keys/{key}?app_secret={app_secret}")
        try:
            urllib.request.urlopen(check, timeout=10)
            raise AssertionError("a blocked key must not check out")
        except urllib.error.HTTPError as err:
            assert err.code == 410, err.code
        browser.find("#key-toggle").click()
        browser.wait(lambda: browser.text("#key-blocked") == "no", what="the key unblocked")
        log("key looked up, blocked (410 at the key check) and unblocked")

        # --- health: a disabled webhook says why and can be re-enabled from the list --------
        status, _ = dev.call("POST", f"/v1/webhooks/{webhook_id}/disable")
        assert status == 200
        d.get(f"{dev.base}/console#/webhooks")
        row = f'#webhooks tr[data-webhook-id="{webhook_id}"]'
        browser.wait_text(row, "Disabled — disabled by an operator")
        browser.find(f"{row} button").click()
        browser.wait_text(row, "Healthy")
        log("disabled webhook shown with its reason, re-enabled from the list")

        # --- another app's webhook is a 404 in the UI ---------------------------------------
        d.get(f"{dev.base}/console#/webhooks/wh_no_such_webhook")
        browser.wait(lambda: browser.finds("#not-found"), what="a 404 for an unknown webhook")
        d.get(f"{dev.base}/console#/webhooks/{other['id']}")
        browser.wait(lambda: browser.finds("#not-found"), what="a 404 for another app's webhook")
        assert other["url"] not in browser.text("main")
        log("another app's webhook: 404")
        assert not browser.find("#switch-app").is_displayed(), "an app token cannot switch apps"

        # --- the admin token switches apps instead -------------------------------------------
        browser.find("#sign-out").click()
        browser.wait(lambda: browser.finds("#token"), what="the sign-in form after signing out")
        browser.find("#token").send_keys(dev.admin_token, Keys.TAB)
        d.switch_to.active_element.send_keys(app_id, Keys.ENTER)
        browser.wait_text("main h1", "Webhooks")
        field = browser.find("#switch-app-id")
        field.clear()
        field.send_keys(other_app, Keys.ENTER)
        browser.wait(lambda: browser.finds(f'#webhooks tr[data-webhook-id="{other["id"]}"]'),
                     what="the other app's webhooks after switching")
        log("admin token: switched to another app")

        browser.assert_inert()
        browser.assert_no_csp_violations()
        log("all console scenarios passed")
    except Exception:
        log("patchbay dev log tail:\n" + "".join(dev.logs[-40:]))
        if browser:
            try:
                for entry in browser.driver.get_log("browser")[-20:]:
                    log(f"browser console: {entry}")
            except Exception:  # noqa: BLE001 - diagnostics only
                pass
        raise
    finally:
        if browser:
            browser.quit()
        dev.stop()
        receiver.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "patchbay"))
    parser.add_argument("--screenshots", default=os.environ.get("PATCHBAY_SCREENSHOTS"),
                        help="write PNG screenshots here (docs/console to refresh the README's)")
    args = parser.parse_args()
    started = time.time()
    run(args.bin, args.screenshots)
    log(f"passed in {time.time() - started:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
