"""French PDF documents from Jinja2 templates (WeasyPrint): the CNIL notification and the
letters to the people concerned, one letter a page.

Invariant: templates autoescape every value; letters carry no link (no URL, no e-mail address).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from vigie.audit.categories import labels
from vigie.incidents.letters import Recipient
from vigie.incidents.service import IncidentView

_ENV = Environment(
    loader=PackageLoader("vigie.incidents", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _french_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    months = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ]
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


def _french_moment(text: str | None) -> str:
    """An ISO 8601 moment as "29 janvier 2024 à 08:00 (UTC)"."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return f"{_french_date(moment)} à {moment:%H:%M} (UTC)"


_ENV.filters["date_fr"] = _french_date
_ENV.filters["moment_fr"] = _french_moment


def _pdf(html: str) -> bytes:
    from weasyprint import HTML  # type: ignore[import-untyped]  # heavy: loaded on use

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def notification_html(notification: dict[str, Any]) -> str:
    return _ENV.get_template("notification.html").render(n=notification)


def notification_pdf(notification: dict[str, Any]) -> bytes:
    return _pdf(notification_html(notification))


def letters_html(people: list[Recipient], incident: IncidentView, bits: int) -> str:
    return _ENV.get_template("letter.html").render(
        people=people, incident=incident, d=incident.declaration, exposed=labels(bits)
    )


def letters_pdf(people: list[Recipient], incident: IncidentView, bits: int) -> bytes:
    return _pdf(letters_html(people, incident, bits))
