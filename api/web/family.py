"""The family page (``GET /family``), in the family's language: gettext catalogs read with Babel.

The page is rendered on the server from ``templates/family.html`` (Jinja2, autoescaped)
with the catalog of the chosen language; the strings its script needs travel in the
same page as a JSON data block (`JS_MESSAGES`), so the page and its script always speak
one language. The language is ``?lang=`` when given (the page's switch), else the best
match of the browser's ``Accept-Language``, else English.

Catalogs: ``locale/<lang>/LC_MESSAGES/family.po`` (English is the source language and
needs none). Babel compiles each ``.po`` to a gettext catalog in memory when the page is
first served (``babel.messages.mofile.write_mo``), so no build product can go stale;
``make messages`` re-extracts the strings and updates the catalogs.

Like every page, it holds no data and needs no token to load: its script asks for a bearer
token through ``window.ntkAuth`` (static/auth.js) and reads everything from ``/graphql``.
"""

from __future__ import annotations

import gettext
import io
import json
from functools import cache
from pathlib import Path
from typing import Final

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.schema.family import FAMILY_PURPOSES, TEXT_VERSION
from graph.family import Standing
from graph.policy import DEFAULT_CATEGORIES, DEFAULT_POLICY

__all__ = ["DOMAIN", "JS_MESSAGES", "LANGUAGES", "LOCALE_DIR", "choose_language", "family_page", "render", "translations"]

WEB_DIR: Final = Path(__file__).resolve().parent
LOCALE_DIR: Final = WEB_DIR / "locale"
TEMPLATES: Final = WEB_DIR / "templates"
DOMAIN: Final = "family"
LANGUAGES: Final = ("en", "es")
LANGUAGE_NAMES: Final = {"en": "English", "es": "Español"}


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is used."""
    return message


JS_MESSAGES: Final = {
    "loading": N_("Loading…"),
    "signedOut": N_("You are signed out."),
    "badToken": N_("That sign-in code was not accepted. Check it and try again."),
    "failed": N_("Something went wrong. Please try again in a moment."),
    "noStudents": N_("No student is linked to you. If this is wrong, ask your school office."),
    "student": N_("Student {id}"),
    "nobody": N_("Nobody outside the school can see this student's record now."),
    "program": N_("Program: {program}"),
    "sees": N_("Can see"),
    "forPurpose": N_("For"),
    "since": N_("Since"),
    "until": N_("Until"),
    "open": N_("no end date"),
    "why": N_("Why"),
    "whyConsent": N_("Because a consent signed on {signed} names {recipient} for {purpose}, until {until}."),
    "whyConsentOpen": N_("Because a consent signed on {signed} names {recipient} for {purpose}, with no end date."),
    "whyService": N_("And {provider} works with this student ({status}) in {program} since {since}."),
    "whyServiceNoProgram": N_("And {provider} works with this student ({status}) since {since}."),
    "throughTeam": N_("through a care team"),
    "status.active": N_("active"),
    "status.referred": N_("referred"),
    "status.paused": N_("paused"),
    "status.ended": N_("ended"),
    "partial": N_("Only part of what was asked: the rest is not covered by consent or not needed for the service."),
    "soonNone": N_("Nothing is due to change in the next 30 days."),
    "soonLoses": N_("On {date}, {provider} will no longer see this student's record."),
    "soonChanges": N_("On {date}, what {provider} can see changes to: {categories}."),
    "soonConsent": N_("On {date}, your consent for {recipient} ({purpose}) ends."),
    "consentsNone": N_("No consent about this student is on record."),
    "inForce": N_("In force"),
    "revokedOn": N_("Revoked on {date}"),
    "expiredOn": N_("Ended on {date}"),
    "notYetOn": N_("Starts on {date}"),
    "notActive": N_("Not in force"),
    "byYou": N_("Given by you"),
    "byOther": N_("Given by someone else with rights for this student"),
    "revoke": N_("Revoke"),
    "revokeFor": N_("Revoke consent for {recipient} ({purpose})"),
    "revokeConfirm": N_("Revoke this consent now? {recipient} will stop seeing this student's record for {purpose} at once."),
    "revokeYes": N_("Yes, revoke now"),
    "revokeNo": N_("Keep it"),
    "revoked": N_("Revoked. From {time}, {recipient} can no longer see this record through that consent."),
    "chooseRecipient": N_("Choose an organisation"),
    "servesStudent": N_("works with this student"),
    "needRecipient": N_("Choose the organisation."),
    "needPurpose": N_("Choose what it is for."),
    "needCategories": N_("Choose at least one kind of information."),
    "needEndDate": N_("Choose an end date after today and no later than {date}."),
    "signed": N_("Consent given. Keep this receipt."),
    "refused": N_("This consent could not be given:"),
    "disclosuresNone": N_("Nobody has asked to see this student's record yet."),
    "askedByAdmin": N_("An administrator of the partnership, about {provider}"),
    "askedByApp": N_("{provider}, through {application}"),
    "shownYes": N_("Shown: {categories}"),
    "shownNo": N_("Not shown"),
    "all": N_("everything consented"),
    "pageOf": N_("Requests {from}–{to} of {total}"),
    "purposeUnknown": N_("(not stated)"),
    "sep": N_(", "),
    "doc1": N_("I allow {recipient} to see this information from the education records of student {student}: {categories}."),
    "doc2": N_("Only for this purpose: {purpose}. From today until the end of {until}."),
    "doc3": N_(
        "Someone at {recipient} sees it only while they also work with the student, have signed the partnership's "
        "confidentiality agreement and hold current training. Nobody else receives it through this consent."
    ),
    "doc4": N_("I can revoke this consent at any time on this page; revoking takes effect at once. Saying no, or revoking, "
               "does not change the student's place in school or in any program."),
    "needAgree": N_("Tick the box to confirm you have read the consent."),
    "receiptId": N_("Consent number"),
    "receiptSigned": N_("Signed"),
    "receiptMethod": N_("How"),
    "receiptMethodValue": N_("electronically on this page, after reviewing the text"),
    "receiptIdentity": N_("Signed in as"),
    "receiptVersion": N_("Text version"),
}
"""Strings the script builds the page with: key -> English msgid (translated per request)."""

STANDING_MESSAGES: Final = {
    Standing.OK: N_("You may see who can see this record, and give or revoke consent."),
    Standing.NOT_YOURS: N_("There is no student with this id among yours."),
    Standing.NOT_ELIGIBLE: N_("A student consents for themselves from age 18 or once enrolled in postsecondary education."),
    Standing.ELIGIBLE_STUDENT: N_(
        "This student is 18 or in postsecondary education: the right to see and consent is now the student's own."
    ),
    Standing.COURT_ORDER: N_("A court order removes your rights over this student's education records for now."),
    Standing.RIGHTS_REMOVED: N_("The school records your rights over this student's education records as removed."),
    Standing.UNVERIFIED: N_("The school has not yet verified your rights as this student's guardian. Please ask the school office."),
    Standing.NOT_A_PARENT: N_("You are listed as a relative or emergency contact, not as a parent or legal guardian."),
    Standing.LACKS_AUTHORITY: N_("You cannot consent for this student now (for instance, an authorisation has ended)."),
}

PURPOSE_WORDS: Final = {
    "academic_support": N_("help with school work"),
    "mentoring": N_("mentoring"),
    "case_management": N_("case management (coordinating services for your family)"),
    "health_services": N_("health services"),
}

CATEGORY_WORDS: Final = {
    "attendance": N_("attendance"),
    "grades": N_("grades"),
    "assessments": N_("test scores"),
    "discipline": N_("discipline records"),
    "special_education": N_("special education records"),
    "health": N_("health records"),
    "contact": N_("contact details"),
    "program_participation": N_("program participation"),
    "directory": N_("directory information (name, grade, school)"),
}


CATEGORIES: Final = (*CATEGORY_WORDS, *sorted(DEFAULT_CATEGORIES - CATEGORY_WORDS.keys()))
"""The order the page lists categories in: the most asked-for first."""


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The gettext catalog of `language` (English: none), compiled by Babel from its ``.po`` file.

    Raises
    ------
    FileNotFoundError
        A listed language without its catalog (a packaging error, caught by the tests).
    """
    if language == "en":
        return gettext.NullTranslations()
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po.open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def choose_language(requested: str | None, accept_language: str | None) -> str:
    """``requested`` when it is a supported language, else the best match of an Accept-Language header, else ``en``."""
    if requested in LANGUAGES:
        return requested
    preferred: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            preferred.append((-quality, n, tag.strip()))
    ordered = [tag.replace("_", "-") for _, _, tag in sorted(preferred)]
    found = Locale.negotiate(ordered, list(LANGUAGES), sep="-") if ordered else None
    return found.language if found is not None and found.language in LANGUAGES else "en"


@cache
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), extensions=["jinja2.ext.i18n"])
    return env


def render(language: str, time_zone: str = DEFAULT_POLICY.default_time_zone) -> str:
    """The family page in `language` (one of `LANGUAGES`); dates shown in `time_zone` (the partnership's)."""
    t = translations(language)
    messages = {key: t.gettext(msgid) for key, msgid in JS_MESSAGES.items()}
    messages.update({f"standing.{s.value}": t.gettext(m) for s, m in STANDING_MESSAGES.items()})
    messages.update({f"purpose.{p}": t.gettext(PURPOSE_WORDS[p]) for p in FAMILY_PURPOSES})
    messages.update({f"category.{c}": t.gettext(CATEGORY_WORDS.get(c, c)) for c in CATEGORIES})
    env = _environment().overlay()
    env.install_gettext_translations(t, newstyle=True)  # type: ignore[attr-defined]
    template = env.get_template("family.html")
    return template.render(
        lang=language,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        purposes=[(p, t.gettext(PURPOSE_WORDS[p])) for p in FAMILY_PURPOSES],
        categories=[(c, t.gettext(CATEGORY_WORDS.get(c, c))) for c in CATEGORIES],
        time_zone=time_zone,
        text_version=TEXT_VERSION,
        messages_json=json.dumps(messages, ensure_ascii=False, sort_keys=True).replace("<", "\\u003c"),
    )


async def family_page(request: Request) -> Response:
    """``GET /family[?lang=en|es]``: the page, in the chosen language (``Content-Language`` says which)."""
    language = choose_language(request.query_params.get("lang"), request.headers.get("accept-language"))
    state = getattr(request.app.state, "ntk", None)
    zone = state.engine.policy.default_time_zone if state is not None else DEFAULT_POLICY.default_time_zone
    headers = {"Cache-Control": "no-store", "Content-Language": language, "Vary": "Accept-Language"}
    return HTMLResponse(render(language, zone), headers=headers)
