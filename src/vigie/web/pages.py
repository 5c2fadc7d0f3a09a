"""What every portal page shares: the templates, cookies, and CSRF for forms.

Invariant: every form carries a CSRF token checked on submission: the session's own token
(synchronizer) once there is a session, a double-submit cookie before.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from vigie.config import Settings
from vigie.identity.sessions import COOKIE

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CSRF_COOKIE = "vigie_csrf"
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.session_absolute_hours * 3600,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="strict"
    )


def form_csrf(request: Request) -> str:
    """The double-submit token for a page shown before any session (set it with ``keep``)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(32)


def keep_form_csrf(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def double_submit_ok(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    return bool(cookie and sent) and hmac.compare_digest(str(cookie), str(sent))


def same_token(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent), expected)
