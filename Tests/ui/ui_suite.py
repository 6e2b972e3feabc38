#!/usr/bin/env python3
"""Browser suite for Coffer's web interface (``/ui/``), driven by Selenium and headless Chromium.

Run as ``python3 Tests/ui/ui_suite.py`` once the server is up; it exits non-zero on the first failure (after
saving ``failure.png`` and ``console.log`` into the screenshot directory) and prints ``OK`` to stderr when every
step passed. The Swift test that starts the server sets:

  COFFER_URL           e.g. http://127.0.0.1:PORT (the server, with an instance admin already registered)
  COFFER_USERNAME      that admin's username
  COFFER_PASSWORD      that admin's password
  COFFER_SCREENSHOTS   a directory for the screenshots (created if missing)

It needs ``selenium`` (PyPI) and Debian's ``chromium`` and ``chromium-driver`` (/usr/bin/chromium,
/usr/bin/chromedriver). The two "attacker" sites of the CSRF step are small HTTP servers the suite starts itself
on 127.0.0.1: one reached as http://127.0.0.1:<port> (same site as the server, another origin: SameSite=Strict
cookies are sent, so the CSRF token check must refuse the request) and one as http://localhost:<port> (another
site: the cookies are not sent at all). Nothing leaves the loopback interface.

The page conventions it relies on (ids) are listed in the docstring of each step; they are the UI's stable ids.
"""

import http.server
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


def _require_env(name):
    value = os.environ.get(name)
    if not value:
        sys.stderr.write(f"ui_suite: environment variable {name} is not set\n")
        sys.exit(2)
    return value


BASE = _require_env("COFFER_URL").rstrip("/")
USERNAME = _require_env("COFFER_USERNAME")
PASSWORD = _require_env("COFFER_PASSWORD")
SHOTS = _require_env("COFFER_SCREENSHOTS")
WAIT = 15  # seconds: the longest any single wait may take
DESKTOP = (1280, 900)
NARROW = (375, 800)
SECRET_NAME = "STRIPE_API_KEY"
SECRET_VALUE = "sk_test_" + uuid.uuid4().hex
ROTATED_VALUE = "sk_live_" + uuid.uuid4().hex


class Failure(AssertionError):
    pass


def log(message):
    sys.stderr.write(f"ui_suite: {message}\n")
    sys.stderr.flush()


def check(condition, message):
    if not condition:
        raise Failure(message)


# --------------------------------------------------------------------------------------------------------------
# The attacker sites: each serves one page that auto-submits a text/plain form whose body looks like JSON.


class AttackerHandler(http.server.BaseHTTPRequestHandler):
    page = b"<!doctype html><title>nothing</title>"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = type(self).page
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_attacker():
    handler = type("Handler", (AttackerHandler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def attack_page(action):
    # text/plain encodes `name=value`: with this name and value the body is
    # {"name":"evil","value":"x","ignore":"="} — valid JSON for a server that does not check the content type.
    name = '{"name":"evil","value":"x","ignore":"'
    value = '"}'
    html = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Win a prize</title></head>
<body>
<form id="attack" method="POST" enctype="text/plain" action="{action}">
<input type="hidden" name='{name}' value='{value}'>
</form>
<script>document.getElementById("attack").submit();</script>
</body></html>"""
    return html.encode()


# --------------------------------------------------------------------------------------------------------------


class Suite:
    def __init__(self):
        os.makedirs(SHOTS, exist_ok=True)
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--metrics-recording-only",
            "--password-store=basic",
            "--lang=en-US",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self.driver.set_page_load_timeout(WAIT * 2)
        self.driver.set_script_timeout(WAIT)
        self.workspace_id = None
        self.workspace_name = f"ui-suite-{uuid.uuid4().hex[:8]}"
        self.secret_id = None
        self.console = []

    # Helpers.

    def wait(self, condition, message, timeout=WAIT):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition)
        except TimeoutException:
            raise Failure(f"timed out after {timeout}s: {message}") from None

    def el(self, element_id, message=None):
        return self.wait(EC.visibility_of_element_located((By.ID, element_id)), message or f"#{element_id} is visible")

    def css(self, selector, message=None):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, selector)), message or f"{selector} is visible")

    def click(self, element_id, message=None):
        element = self.wait(EC.element_to_be_clickable((By.ID, element_id)), message or f"#{element_id} is clickable")
        element.click()
        return element

    def fill(self, element_id, text):
        element = self.el(element_id)
        element.clear()
        element.send_keys(text)
        return element

    def wait_text(self, element_id, text, message=None):
        self.wait(
            EC.text_to_be_present_in_element((By.ID, element_id), text),
            message or f"#{element_id} shows {text!r}",
        )
        return self.driver.find_element(By.ID, element_id)

    def wait_hash(self, pattern, message):
        regex = re.compile(pattern)
        self.wait(lambda d: regex.search(d.execute_script("return location.hash") or ""), message)
        return self.driver.execute_script("return location.hash")

    def wait_loaded(self):
        """The router marks #page aria-busy while a page loads."""
        self.wait(
            lambda d: d.execute_script("var p = document.getElementById('page'); return p && !p.hasAttribute('aria-busy');"),
            "the page finished loading",
        )

    def go(self, route):
        self.driver.execute_script("location.hash = arguments[0]", route)
        self.wait_loaded()

    def title_is(self, start):
        self.wait(lambda d: d.title.startswith(start), f"the document title starts with {start!r} (it is {self.driver.title!r})")

    def shot(self, name):
        self.wait_loaded()
        # No caret or toast mid-animation in the pictures.
        time.sleep(0.2)
        path = os.path.join(SHOTS, name)
        check(self.driver.save_screenshot(path), f"could not save {path}")

    def body_text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def page_html(self):
        return self.driver.execute_script("return document.documentElement.outerHTML")

    def fetch(self, path, method="GET"):
        """A same-origin fetch from the page (the browser's cookies, no CSRF header): {status, body}."""
        return self.driver.execute_async_script(
            """
            const [path, method, done] = arguments;
            fetch(path, {method, credentials: "same-origin", cache: "no-store"})
              .then(async (r) => done({status: r.status, body: await r.text()}))
              .catch((e) => done({status: -1, body: String(e)}));
            """,
            path,
            method,
        )

    def cookies_cdp(self):
        return self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]

    def drain_console(self):
        try:
            self.console.extend(self.driver.get_log("browser"))
        except WebDriverException:
            pass

    def dialog_open(self):
        return self.css("dialog[open]", "the confirmation dialog is open")

    def confirm(self):
        dialog = self.dialog_open()
        active_inside = self.driver.execute_script(
            "return document.querySelector('dialog[open]').contains(document.activeElement)"
        )
        check(active_inside, "focus moved into the dialog when it opened")
        self.click("confirm-ok")
        self.wait(EC.staleness_of(dialog), "the dialog closes after confirming")

    # Steps.

    def step_sign_in_page(self):
        """`/` redirects to `/ui/`, which shows #login-form; the CSP allows scripts from the server only."""
        self.driver.get(BASE + "/")
        self.wait(lambda d: "/ui/" in d.current_url, f"{BASE}/ redirects to /ui/ (at {self.driver.current_url})")
        self.el("login-form", "the sign-in form is shown")
        self.title_is("Sign in")
        check(self.driver.execute_script("return document.documentElement.lang") == "en", "the page declares its language")
        self.shot("login.png")

        with urllib.request.urlopen(BASE + "/ui/", timeout=WAIT) as response:
            csp = response.headers.get("Content-Security-Policy", "")
            html = response.read().decode("utf-8")
        check("script-src 'self'" in csp, f"/ui/ has a CSP with script-src 'self' (got {csp!r})")
        check("unsafe-inline" not in csp and "unsafe-eval" not in csp, f"the CSP allows no inline script or eval ({csp!r})")
        check("frame-ancestors 'none'" in csp, f"the CSP forbids framing ({csp!r})")
        check("{{assets}}" not in html, "the server replaced the {{assets}} placeholder")
        check(not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.I), "index.html has no inline <script>")
        check(not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html, re.I), "index.html has no inline style or event handler")

    def step_sign_in(self):
        """A wrong password shows #login-error; the right one signs in (cookies HttpOnly and SameSite=Strict)."""
        self.fill("login-username", USERNAME)
        self.fill("login-password", PASSWORD + "-wrong")
        self.click("login-submit")
        error = self.wait(
            lambda d: (d.find_element(By.ID, "login-error").text.strip() or None),
            "a wrong password shows an error in #login-error",
        )
        check("password" in error.lower() or "invalid" in error.lower(), f"the sign-in error says what failed: {error!r}")

        self.fill("login-username", USERNAME)
        self.fill("login-password", PASSWORD)
        self.click("login-submit")
        self.wait_hash(r"^#/workspaces$", "signing in lands on #/workspaces")
        self.wait_text("whoami", USERNAME, "the top bar names the signed-in user")
        self.el("nav-admin", "an instance admin sees the Admin link")

        script_cookies = self.driver.execute_script("return document.cookie")
        check("coffer_csrf=" in script_cookies, f"document.cookie holds coffer_csrf (it is {script_cookies!r})")
        check("coffer_session" not in script_cookies, "coffer_session is HttpOnly: scripts cannot read it")
        check("coffer_refresh" not in script_cookies, "coffer_refresh is HttpOnly: scripts cannot read it")
        cookies = {c["name"]: c for c in self.driver.get_cookies()}
        session = cookies.get("coffer_session")
        check(session is not None, f"a coffer_session cookie was set (cookies: {sorted(cookies)})")
        check(session.get("httpOnly") is True, "coffer_session is HttpOnly")
        check(session.get("sameSite") == "Strict", f"coffer_session is SameSite=Strict (got {session.get('sameSite')})")
        csrf = cookies.get("coffer_csrf")
        check(csrf is not None and csrf.get("httpOnly") is False, "coffer_csrf is readable by scripts")
        check(csrf.get("sameSite") == "Strict", f"coffer_csrf is SameSite=Strict (got {csrf.get('sameSite')})")
        refresh = [c for c in self.cookies_cdp() if c["name"] == "coffer_refresh"]
        check(refresh, "a coffer_refresh cookie was set")
        check(refresh[0].get("httpOnly") is True, "coffer_refresh is HttpOnly")
        check(refresh[0].get("path") == "/api/auth", f"coffer_refresh is limited to /api/auth (path {refresh[0].get('path')})")

    def step_workspace(self):
        """#workspace-name + #workspace-create; the list #workspace-list links to the workspace (#workspace-title)."""
        self.wait_loaded()
        self.title_is("Workspaces")
        self.fill("workspace-name", self.workspace_name)
        self.click("workspace-create")
        route = self.wait_hash(r"^#/workspaces/[^/?]+$", "creating a workspace opens it")
        self.workspace_id = route.split("/")[2]
        self.wait_text("workspace-title", self.workspace_name)
        self.css("[data-test=secrets-empty]", "a new workspace shows the empty state")
        check("No secrets yet" in self.body_text(), "the empty state says there are no secrets yet")

        self.click("nav-workspaces")
        self.wait_hash(r"^#/workspaces$", "the Workspaces link opens the list")
        link = self.wait(
            EC.element_to_be_clickable((By.XPATH, f"//table[@id='workspace-list']//a[normalize-space()='{self.workspace_name}']")),
            "the new workspace is in the list",
        )
        self.shot("workspaces.png")
        link.click()
        self.wait_text("workspace-title", self.workspace_name)

    def step_create_secret(self):
        """#secret-new opens #secret-create-form: #secret-name, #secret-value, #secret-type, #secret-tags,
        metadata rows ([data-test=metadata-key]/[data-test=metadata-value]), #secret-rotation-policy,
        #secret-create-submit; errors in #secret-create-error."""
        self.click("secret-new")
        self.el("secret-create-form")
        self.title_is("New secret")
        # A name the API refuses: its message is shown next to the form, and nothing is lost.
        self.fill("secret-name", "stripe/api_key")
        self.fill("secret-value", SECRET_VALUE)
        self.click("secret-create-submit")
        error = self.wait(
            lambda d: (d.find_element(By.ID, "secret-create-form").find_element(By.CSS_SELECTOR, "[data-test=secret-create-error]").text.strip() or None),
            "the API's validation message is shown in the form",
        )
        check("name" in error, f"the error names the field: {error!r}")

        self.fill("secret-name", SECRET_NAME)
        check(self.el("secret-value").get_attribute("value") == SECRET_VALUE, "the value is kept after a refused submit")
        Select(self.el("secret-type")).select_by_value("api_key")
        self.fill("secret-tags", "payments, stripe")
        self.driver.find_element(By.CSS_SELECTOR, "[data-test=metadata-key]").send_keys("owner")
        self.driver.find_element(By.CSS_SELECTOR, "[data-test=metadata-value]").send_keys("payments-team")
        Select(self.el("secret-rotation-policy")).select_by_value("auto_30_days")
        self.click("secret-create-submit")
        # The create form's own route (`…/secrets/new`) must not count as the new secret's page.
        route = self.wait_hash(r"^#/workspaces/[^/]+/secrets/(?!new$)[^/?]+$", "creating the secret opens its page")
        self.secret_id = route.split("/")[4]
        self.wait_text("secret-title", SECRET_NAME)
        self.wait_text("secret-version", "1")
        self.title_is(SECRET_NAME)
        metadata = self.el("secret-metadata").text
        check("owner" in metadata and "payments-team" in metadata, f"the detail shows the metadata pair ({metadata!r})")
        tags = self.el("secret-tags-view").text
        check("payments" in tags and "stripe" in tags, f"the detail shows the tags ({tags!r})")
        check(SECRET_VALUE not in self.page_html(), "the value is not in the page before it is revealed")

        # The list, with a search that finds it and one that does not.
        self.go(f"#/workspaces/{self.workspace_id}")
        self.css(f"#secret-list [data-name='{SECRET_NAME}']", "the secret is listed")
        self.wait_text("pager-range", "1–1 of 1", "the list says how many secrets there are")
        self.fill("secret-search", "NOPE_")
        self.click("secret-filter-apply")
        self.css("[data-test=secrets-empty]", "a search that matches nothing shows the empty state")
        self.fill("secret-search", "STRIPE")
        self.fill("secret-tag-filter", "payments")
        self.click("secret-filter-apply")
        self.css(f"#secret-list [data-name='{SECRET_NAME}']", "searching by prefix and tag finds the secret")
        self.shot("secrets.png")
        self.driver.find_element(By.CSS_SELECTOR, f"#secret-list [data-name='{SECRET_NAME}'] a[data-test=secret-link]").click()
        self.wait_text("secret-title", SECRET_NAME)
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#version-list [data-test=version-row]"), "the versions are listed")
        self.shot("secret-detail.png")

    def step_reveal(self):
        """#secret-value ([data-state] masked/revealed) and #secret-reveal (Reveal / Hide)."""
        box = self.el("secret-value")
        check(box.get_attribute("data-state") == "masked", "the value starts masked")
        before = box.rect
        self.click("secret-reveal")
        self.wait(lambda d: d.find_element(By.ID, "secret-value").get_attribute("data-state") == "revealed", "Reveal shows the value")
        shown = self.driver.find_element(By.ID, "secret-value").text
        check(shown == SECRET_VALUE, f"the revealed text is the value (got {len(shown)} characters)")
        after = self.driver.find_element(By.ID, "secret-value").rect
        check(
            (before["width"], before["height"]) == (after["width"], after["height"]),
            f"revealing does not change the value box's size ({before} → {after})",
        )
        self.wait_text("secret-reveal", "Hide", "the Reveal button becomes Hide")
        self.shot("secret-revealed.png")
        self.click("secret-reveal")
        self.wait(lambda d: d.find_element(By.ID, "secret-value").get_attribute("data-state") == "masked", "Hide masks the value again")
        check(SECRET_VALUE not in self.body_text(), "the page text no longer holds the value once hidden")
        check(SECRET_VALUE not in self.page_html(), "the document no longer holds the value once hidden")
        masked = self.driver.find_element(By.ID, "secret-value").rect
        check((masked["width"], masked["height"]) == (before["width"], before["height"]), "hiding does not change the box's size")

    def step_copy(self):
        """#secret-copy copies without showing; #secret-copy-status says "Copied"."""
        origin = BASE
        try:
            self.driver.execute_cdp_cmd(
                "Browser.grantPermissions",
                {"permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"], "origin": origin},
            )
        except WebDriverException as error:
            log(f"note: could not grant clipboard permissions ({error.msg})")
        self.click("secret-copy")
        self.wait_text("secret-copy-status", "Copied", "Copy reports Copied")
        check(SECRET_VALUE not in self.page_html(), "copying does not put the value in the page")
        result = self.driver.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            window.focus();
            navigator.clipboard.readText().then((t) => done({ok: true, text: t}), (e) => done({ok: false, error: String(e)}));
            """
        )
        if result.get("ok"):
            check(result.get("text") == SECRET_VALUE, "the clipboard holds the secret's value")
            # Leave nothing sensitive behind on the machine's clipboard.
            self.driver.execute_async_script(
                "const done = arguments[0]; navigator.clipboard.writeText('').then(() => done(), () => done());"
            )
        else:
            log(f"note: the clipboard cannot be read back here ({result.get('error')}); checked the Copied status only")

    def step_rotate(self):
        """#secret-rotate opens a dialog (#rotate-value, #confirm-ok, #confirm-cancel; Escape cancels)."""
        self.click("secret-rotate")
        dialog = self.dialog_open()
        inside = self.driver.execute_script("return document.querySelector('dialog[open]').contains(document.activeElement)")
        check(inside, "focus moves into the rotate dialog")
        self.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        self.wait(EC.staleness_of(dialog), "Escape cancels the dialog")
        self.wait_text("secret-version", "1", "cancelling changes nothing")

        self.click("secret-rotate")
        self.dialog_open()
        self.fill("rotate-value", ROTATED_VALUE)
        self.confirm()
        self.wait_text("secret-version", "2", "after rotating the detail shows version 2")
        self.wait(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#version-list [data-test=version-row]")) == 2,
            "the versions list shows both versions",
        )
        current = self.driver.find_element(By.CSS_SELECTOR, "#version-list [data-version='2'] [data-test=version-current]")
        check(current.is_displayed(), "version 2 is marked current")
        check(self.driver.find_elements(By.CSS_SELECTOR, "#version-list button[data-test=version-rollback][data-version='1']"), "version 1 can be rolled back to")

    def step_audit(self):
        """#secret-audit opens the secret's trail (#audit-table, [data-test=audit-action]); the workspace trail
        (#tab-audit) filters by #audit-action."""
        self.click("secret-audit")
        self.el("audit-table", "the secret's audit trail is shown")
        self.title_is("Audit")
        actions = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, "#audit-table [data-test=audit-action]")]
        for action in ("created", "accessed", "rotated"):
            check(action in actions, f"the secret's audit trail lists {action!r} (it has {actions})")
        check(actions.index("rotated") < actions.index("created"), "the newest record comes first")
        check(SECRET_VALUE not in self.page_html() and ROTATED_VALUE not in self.page_html(), "no value appears in the audit view")
        self.shot("audit.png")

        self.go(f"#/workspaces/{self.workspace_id}/audit")
        self.el("audit-table", "the workspace's audit trail is shown")
        Select(self.el("audit-action")).select_by_value("rotated")
        self.click("audit-apply")
        self.wait_hash(r"action=rotated", "the filter is kept in the address")
        self.wait_loaded()
        self.el("audit-table")
        actions = {e.text for e in self.driver.find_elements(By.CSS_SELECTOR, "#audit-table [data-test=audit-action]")}
        check(actions == {"rotated"}, f"filtering by action shows only rotated records (got {sorted(actions)})")

    def step_rotation_page(self):
        """#nav-rotation: #rotation-days, #rotation-summary, #rotation-list rows [data-name]."""
        self.click("nav-rotation")
        self.wait_hash(r"^#/rotation", "the Rotation link opens the rotation page")
        self.el("rotation-summary", "the rotation page summarises what is due")
        self.title_is("Rotation")
        # 90 days, not 30: the tests' server clock may stand still, and a 30-day secret is due exactly at +30 days.
        Select(self.el("rotation-days")).select_by_value("90")
        self.wait_hash(r"days=90", "the horizon is kept in the address")
        self.wait_loaded()
        self.css(f"#rotation-list [data-name='{SECRET_NAME}']", "a secret on a 30-day policy is due within 90 days")
        self.shot("rotation.png")

    def step_admin(self):
        """#nav-admin: #health-server, #admin-verify-audit → #audit-verify-result[data-intact], #admin-rotate-key."""
        self.click("nav-admin")
        self.wait_hash(r"^#/admin", "the Admin link opens the admin page")
        self.wait_text("health-server", "ok", "the server reports itself healthy")
        self.css("[data-test=health-encryption]", "the encryption backend's health is shown")
        self.click("admin-verify-audit")
        self.wait(
            lambda d: d.find_element(By.ID, "audit-verify-result").get_attribute("data-intact") is not None,
            "the audit chain verification answers",
        )
        result = self.driver.find_element(By.ID, "audit-verify-result")
        check(result.get_attribute("data-intact") == "true", f"the audit chain is intact ({result.text!r})")
        check("Intact" in result.text, f"the result says the chain is intact ({result.text!r})")

        self.click("admin-rotate-key")
        self.confirm()
        self.css("#key-rotation-jobs", "a key rotation job is listed after starting one")
        self.shot("admin.png")

    def step_tokens(self):
        """#tab-tokens: #token-name, #token-role, #token-days, #token-create → #token-created with #token-value
        (read-only), #token-copy, #token-warning; rows [data-test=token-row] with [data-test=token-revoke]."""
        self.go(f"#/workspaces/{self.workspace_id}")
        self.click("tab-tokens")
        self.wait_hash(r"/tokens$", "the tokens tab opens")
        self.css("[data-test=tokens-empty]", "no tokens yet")
        self.fill("token-name", "ci-deploy")
        Select(self.el("token-role")).select_by_value("reader")
        self.fill("token-days", "30")
        self.click("token-create")
        self.el("token-created", "the new token is shown")
        field = self.el("token-value")
        token = field.get_attribute("value")
        check(token.startswith("cst_"), "the new token is shown in the read-only field")
        check(field.get_attribute("readonly") is not None, "the token field is read-only")
        check("only once" in self.el("token-warning").text, "a warning says the token is shown only once")
        self.css("#token-list [data-test=token-row]", "the token is listed")
        self.shot("tokens.png")

        def call(bearer):
            request = urllib.request.Request(
                f"{BASE}/api/secrets/workspaces/{self.workspace_id}/secrets", headers={"Authorization": f"Bearer {bearer}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=WAIT) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        check(call(token) == 200, "the new service token reads the workspace's secrets")
        self.driver.find_element(By.CSS_SELECTOR, "#token-list [data-test=token-revoke]").click()
        self.confirm()
        self.wait(
            lambda d: "revoked" in d.find_element(By.ID, "token-list").text,
            "the revoked token is shown as revoked",
        )
        check(call(token) == 401, "a revoked token no longer works")
        self.click("token-done")
        self.wait(lambda d: not d.find_elements(By.ID, "token-value"), "the token is gone from the page once dismissed")

    def step_refresh(self):
        """Without the session cookie, the UI refreshes the session and carries on; without either cookie it sends
        the user to sign in with a message, and back to the page afterwards."""
        self.driver.execute_cdp_cmd("Network.deleteCookies", {"name": "coffer_session", "url": BASE + "/"})
        self.go(f"#/workspaces/{self.workspace_id}")
        self.css(f"#secret-list [data-name='{SECRET_NAME}']", "the list loads after a silent session refresh")
        names = {c["name"] for c in self.cookies_cdp()}
        check("coffer_session" in names, "the refresh set a new session cookie")

        for cookie in list(self.cookies_cdp()):
            if cookie["name"] in ("coffer_session", "coffer_refresh"):
                self.driver.execute_cdp_cmd(
                    "Network.deleteCookies", {"name": cookie["name"], "domain": cookie["domain"], "path": cookie["path"]}
                )
        self.go("#/rotation")
        self.wait_hash(r"^#/login", "a session that cannot be refreshed leads to the sign-in page")
        self.wait_text("login-message", "Your session has ended; sign in again.")
        self.fill("login-username", USERNAME)
        self.fill("login-password", PASSWORD)
        self.click("login-submit")
        self.wait_hash(r"^#/rotation", "after signing in again the user is back where they were")
        self.el("rotation-summary")

    def step_narrow(self):
        """At 375 px wide: one column, no sideways scrolling of the page (tables scroll inside their box)."""
        self.driver.set_window_size(*NARROW)
        try:
            self.go(f"#/workspaces/{self.workspace_id}")
            self.css(f"#secret-list [data-name='{SECRET_NAME}']")
            width = self.driver.execute_script("return window.innerWidth")
            check(width <= 400, f"the window is narrow ({width}px)")
            overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 1, f"the secrets page does not scroll sideways at {width}px ({overflow}px too wide)")
            self.shot("secrets-375.png")
            self.go(f"#/workspaces/{self.workspace_id}/secrets/{self.secret_id}")
            self.wait_text("secret-title", SECRET_NAME)
            self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#version-list [data-test=version-row]"), "the versions are listed")
            overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 1, f"the secret page does not scroll sideways at {width}px ({overflow}px too wide)")
            check(self.el("secret-reveal").is_displayed() and self.el("nav-workspaces").is_displayed(), "the navigation and actions are reachable")
            self.shot("secret-detail-375.png")
        finally:
            self.driver.set_window_size(*DESKTOP)

    def step_no_csp_violations(self):
        self.drain_console()
        violations = [e["message"] for e in self.console if "Content Security Policy" in e.get("message", "")]
        check(not violations, f"the UI triggered no CSP violation: {violations}")

    def step_csrf(self):
        """A same-site page (another port) submits a form with the cookies but no CSRF token: refused with
        csrf_failed. A cross-site page (localhost): the cookies are not sent, so authentication_required. No secret
        named evil exists afterwards."""
        action = f"{BASE}/api/secrets/workspaces/{self.workspace_id}/secrets"
        same_server, same_handler = start_attacker()
        cross_server, cross_handler = start_attacker()
        try:
            same_handler.page = attack_page(action)
            cross_handler.page = attack_page(action)
            same_url = f"http://127.0.0.1:{same_server.server_address[1]}/"
            cross_url = f"http://localhost:{cross_server.server_address[1]}/"

            self.driver.get(same_url)
            self.wait(lambda d: d.current_url.startswith(action), "the same-site attacker's form was submitted")
            self.wait(lambda d: "csrf_failed" in d.find_element(By.TAG_NAME, "body").text, "the same-site forgery is refused with csrf_failed")

            self.driver.get(cross_url)
            self.wait(lambda d: d.current_url.startswith(action), "the cross-site attacker's form was submitted")
            self.wait(
                lambda d: "authentication_required" in d.find_element(By.TAG_NAME, "body").text,
                "the cross-site forgery arrives without cookies (authentication_required)",
            )
        finally:
            same_server.shutdown()
            cross_server.shutdown()

        self.driver.get(f"{BASE}/ui/#/workspaces/{self.workspace_id}")
        self.wait_loaded()
        self.css(f"#secret-list [data-name='{SECRET_NAME}']", "back in the UI, still signed in")
        check(not self.driver.find_elements(By.CSS_SELECTOR, "#secret-list [data-name='evil']"), "the list has no secret named evil")
        answer = self.fetch(f"/api/secrets/workspaces/{self.workspace_id}/secrets?name_prefix=evil&include_deleted=true")
        check(answer["status"] == 200, f"the page can list secrets ({answer['status']})")
        check(json.loads(answer["body"])["total"] == 0, "no secret named evil was created by either forgery")

    def step_sign_out(self):
        """#logout-button → the sign-in page; /api/auth/me answers 401 afterwards."""
        self.click("logout-button")
        self.wait_hash(r"^#/login", "signing out shows the sign-in page")
        self.el("login-form")
        self.wait_text("login-message", "signed out")
        check(self.driver.find_element(By.ID, "mainnav").get_attribute("hidden") is not None, "the navigation is hidden when signed out")
        answer = self.fetch("/api/auth/me")
        check(answer["status"] == 401, f"/api/auth/me answers 401 after signing out (got {answer['status']})")
        names = {c["name"] for c in self.cookies_cdp() if c.get("value")}
        check("coffer_session" not in names, f"the session cookie is cleared ({sorted(names)})")

    def run(self):
        steps = [
            ("sign-in page and CSP", self.step_sign_in_page),
            ("sign in", self.step_sign_in),
            ("create and open a workspace", self.step_workspace),
            ("create a secret, list and search", self.step_create_secret),
            ("reveal and hide", self.step_reveal),
            ("copy", self.step_copy),
            ("rotate", self.step_rotate),
            ("audit trails", self.step_audit),
            ("rotation page", self.step_rotation_page),
            ("admin page", self.step_admin),
            ("service tokens", self.step_tokens),
            ("session refresh and return after sign-in", self.step_refresh),
            ("375 px wide", self.step_narrow),
            ("no CSP violations", self.step_no_csp_violations),
            ("CSRF", self.step_csrf),
            ("sign out", self.step_sign_out),
        ]
        for name, step in steps:
            started = time.monotonic()
            step()
            log(f"ok   {name} ({time.monotonic() - started:.1f}s)")

    def save_failure(self):
        try:
            self.driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
        except WebDriverException as error:
            log(f"could not save failure.png: {error.msg}")
        self.drain_console()
        try:
            with open(os.path.join(SHOTS, "console.log"), "w", encoding="utf-8") as out:
                for entry in self.console:
                    out.write(f"{entry.get('level')} {entry.get('message')}\n")
        except OSError as error:
            log(f"could not save console.log: {error}")
        try:
            log(f"failed at {self.driver.current_url}")
        except WebDriverException:
            pass


def main():
    started = time.monotonic()
    suite = Suite()
    try:
        suite.run()
    except Exception as error:  # noqa: BLE001 (any failure fails the suite, with evidence)
        log(f"FAILED: {error}")
        if not isinstance(error, Failure):
            traceback.print_exc()
        suite.save_failure()
        suite.driver.quit()
        sys.exit(1)
    suite.driver.quit()
    log(f"all steps passed in {time.monotonic() - started:.1f}s; screenshots in {SHOTS}")
    sys.stderr.write("OK\n")


if __name__ == "__main__":
    main()
