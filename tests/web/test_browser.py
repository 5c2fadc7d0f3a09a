"""A real browser (Chromium, headless, driven by Playwright) signs in to the portal with a
password and a TOTP code (first sign-in with enrolment, then an ordinary one), then registers a
security key (Chromium's virtual WebAuthn authenticator) and signs in with it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
import uvicorn
from playwright.sync_api import Page, Route, expect, sync_playwright

from tests.web.conftest import PASSWORD, add_staff
from vigie.api.app import create_app
from vigie.config import Settings
from vigie.crypto import keyfile
from vigie.runtime import Runtime, open_runtime

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
EMAIL = "admin@mutuelle.example"


@pytest.fixture
def served(tmp_path: Path, sqlite_store: str) -> Iterator[tuple[str, Runtime]]:
    """The application under uvicorn on a free port, plain HTTP (cookies not Secure: demo)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    keys = tmp_path / "keys.json"
    keyfile.save(keyfile.generate(), keys)
    base = f"http://localhost:{port}"  # a host name: WebAuthn refuses IP addresses as RP ids
    settings = Settings(database_url=sqlite_store, keys=keys, public_url=base, cookie_secure=False)
    runtime = open_runtime(settings, pool_size=2)
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield base, runtime
    server.should_exit = True
    thread.join(10)
    runtime.engine.dispose()


def _password(page: Page, base: str) -> None:
    page.goto(f"{base}/auth/login")
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _late(route: Route) -> None:
    time.sleep(1)
    route.continue_()


def test_sign_in_with_password_and_totp_in_chromium(served: tuple[str, Runtime]) -> None:
    assert CHROMIUM.exists(), (
        "Chromium manquant : 'make test' l'installe (apt-get install chromium)"
    )
    base, runtime = served
    add_staff(runtime, EMAIL, "mutuelle_admin", ["123456789"])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            _password(page, base)
            page.wait_for_url(f"{base}/auth/enrol")
            # The style sheet is a file the pages' CSP admits (an inline <style> would be blocked).
            assert page.evaluate("getComputedStyle(document.body).maxWidth") == "640px"
            secret = page.inner_text("#secret").strip()
            page.fill("#code", pyotp.TOTP(secret).now())
            page.click("button[type=submit]")
            assert page.locator("#recovery-codes li").count() == 10
            page.click("text=Continuer vers l'accueil")
            assert "administrateur de mutuelle" in page.inner_text("#who")
            page.click("#logout")
            page.wait_for_url(f"{base}/auth/login")
            assert page.goto(f"{base}/portal").status == 401  # type: ignore[union-attr]

            # Without its script the security-key button is served disabled, not dead to clicks.
            page.route("**/auth/webauthn.js", lambda route: route.abort())
            _password(page, base)
            page.wait_for_url(f"{base}/auth/second-factor")
            expect(page.locator("#webauthn-login")).to_be_disabled()
            page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))  # a fresh time step
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/portal")
            assert "administrateur de mutuelle" in page.inner_text("#who")
            assert "123456789" in page.content()
        finally:
            browser.close()


def test_a_security_key_in_chromium(served: tuple[str, Runtime]) -> None:
    assert CHROMIUM.exists(), (
        "Chromium manquant : 'make test' l'installe (apt-get install chromium)"
    )
    base, runtime = served
    add_staff(runtime, EMAIL, "security_officer")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            devtools = page.context.new_cdp_session(page)
            devtools.send("WebAuthn.enable")
            authenticator = {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": False,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
            devtools.send("WebAuthn.addVirtualAuthenticator", {"options": authenticator})
            # A slow script (a loaded CI machine): a click on the button before the script ran
            # did nothing, and the test waited for a status that never came.
            page.route("**/auth/webauthn.js", _late)
            _password(page, base)
            page.wait_for_url(f"{base}/auth/enrol")
            page.fill("#code", pyotp.TOTP(page.inner_text("#secret").strip()).now())
            page.click("button[type=submit]")
            page.click("text=Continuer vers l'accueil")
            # The button is enabled by the script: a click waits for it, not for luck.
            page.click("#webauthn-register")  # the sign-in just now counts as a step-up
            # (a locator, not wait_for_function: the portal's CSP forbids eval, as it should);
            # expect() reports the status shown if it is another one
            expect(page.locator("#webauthn-status")).to_have_text(
                "Clé de sécurité enregistrée.", timeout=30_000
            )
            page.click("#logout")
            _password(page, base)
            page.wait_for_url(f"{base}/auth/second-factor")
            page.click("#webauthn-login")
            page.wait_for_url(f"{base}/portal")
            assert "responsable de la sécurité" in page.inner_text("#who")
        finally:
            browser.close()
