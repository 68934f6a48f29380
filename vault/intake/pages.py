"""The pages reporters see: the form, the sent page, the replies page, and the form and
the replies read without JavaScript (docs/intake.md sections 2 and 7).

Pages are rendered from the templates in the language asked for (``?lang=``, the form's
hidden field, or Accept-Language) and never set a cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from vault.envelope import seal_report
from vault.errors import InvalidReportError
from vault.intake import codename, labels, languages
from vault.intake.inbox import InboxFull
from vault.intake.languages import N_
from vault.intake.limits import RateCap
from vault.intake.nojs import ROLE_NOT_KNOWN, MalformedForm, parse_form, read_form
from vault.intake.once import OneTimePages
from vault.intake.reading import (
    FORM,
    FULL_RETRY,
    Refused,
    read_body,
    require_length,
    require_type,
)
from vault.intake.state import IntakeState

FORM_CAP = 2 << 20  # the no-JS form: 50,000 characters, percent-encoded, and the rest
CODENAME_CAP = 8 << 10  # the no-JS replies form: a codename, percent-encoded
FORM_READS = 16  # no-JS form posts reading a body at once: no proof of work, so apart
FULL = N_(
    "We cannot take reports just now. Nothing you sent was kept. "
    "Please try again later: everything you typed is still here."
)
BUSY = N_(
    "So many reports are arriving that we could not take yours just now. "
    "Please wait a minute and send it again: everything you typed is still here."
)
REPLIES_BUSY = N_("Our website is very busy just now. Please wait a minute, then try again.")
BUSY_UNREAD = N_(
    "So many reports are arriving that we could not take yours just now. "
    "Please wait a minute, go back to your report with your browser's Back button, "
    "and send it again."
)
TOO_LONG = N_("This report is too long to send.")


def environment(folder: Path, translator: languages.Translator) -> jinja2.Environment:
    """The templates in one language (Jinja2's i18n extension, with that language's gettext)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    env.globals["languages"] = languages.LANGUAGES
    env.globals["long_date"] = translator.long_date
    code = translator.code
    env.globals["link"] = lambda path: f"{path}?lang={code}"
    return env


def _wait(text: str | None) -> int:
    """A Retry-After in seconds from an address: 1 to 60, 60 when it is not a number."""
    return min(max(int(text), 1), 60) if text and text.isdigit() and len(text) < 6 else 60


def page_language(request: Request, pairs: list[tuple[str, str]] | None = None) -> str:
    """The page's language: the form's hidden field or ``?lang=``, else Accept-Language."""
    asked = next((v for k, v in pairs if k == "lang"), None) if pairs else None
    asked = asked or request.query_params.get("lang")
    # A header sent on several lines is one list, as HTTP reads it (RFC 9110 section 5.3).
    accept = ", ".join(request.headers.getlist("accept-language")) or None
    return languages.choose(asked, accept)


def routes(state: IntakeState) -> APIRouter:
    """The pages' routes, rendering with the intake's templates and settings."""
    config = state.config
    inbox = state.inbox
    router = APIRouter()
    # The no-JavaScript path has no proof of work, so it gets its own bucket: a flood of
    # form posts cannot use up the capacity that proof-of-work-gated reports depend on.
    nojs_rate = RateCap(config.rate_per_minute)
    shown_once = OneTimePages()
    translators = languages.load(config.static_dir)
    templates = {code: environment(config.templates_dir, t) for code, t in translators.items()}
    fixed: dict[str, Any] = {
        "choices": labels.choices(),
        "limits": {
            "max_file_mib": config.max_file_mib,
            "max_files": config.max_files,
            "pow_bits": config.pow_bits,
        },
        "settings": {
            "helpline": config.helpline,
            "emergency": config.emergency,
            "reply_days": config.reply_days,
            "exit_url": config.exit_url,
        },
        "role_not_known": ROLE_NOT_KNOWN,
        "wants_asked": labels.WANTS_ASKED,
    }

    def page(
        name: str,
        lang: str,
        status: int = 200,
        *,
        errors: list[dict[str, str]] | None = None,
        values: dict[str, str | list[str]] | None = None,
        nojs: bool = False,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> HTMLResponse:
        here = {"replies.html": "/replies", "sent.html": "/sent"}.get(name, "/")
        html = (
            templates[lang]
            .get_template(name)
            .render(
                fixed,
                team_key=state.form_team_key,
                errors=errors or [],
                values=values or {},
                nojs=nojs,
                lang=lang,
                here=here,
                codename_list=codename.list_for(lang),
                script_messages=translators[lang].script_table,
                **extra,
            )
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    @router.get("/")
    async def form(request: Request) -> Response:
        return page("form.html", page_language(request))

    @router.get("/replies")
    async def replies_page(request: Request) -> Response:
        lang = page_language(request)
        # Where a refused POST /replies sends the browser (below): the same page, with the
        # problem named in the address (a word, never anything typed), so Back and reload
        # never send the codename again.
        problem = request.query_params.get("problem")
        if problem in codename.PROBLEMS:
            errors = [{"field": "codename", "message": codename.PROBLEMS[problem]}]
            return page("replies.html", lang, 422, errors=errors, nojs=True)
        if problem == "busy":
            errors = [{"field": "", "message": REPLIES_BUSY}]
            headers = {"Retry-After": str(_wait(request.query_params.get("wait")))}
            return page("replies.html", lang, 429, errors=errors, nojs=True, headers=headers)
        return page("replies.html", lang)

    @router.post("/replies")
    async def replies_without_js(request: Request) -> Response:
        """Replies read on the server, in memory (docs/intake.md section 7, "Without
        JavaScript"): the codename is used for this request and forgotten."""
        require_type(request, FORM)
        require_length(request, CODENAME_CAP)
        async with state.reading("form", FORM_READS):
            wait = nojs_rate.take()
            body = await read_body(request, CODENAME_CAP, state.idle)
            try:
                pairs = parse_form(body)
            except MalformedForm:
                raise Refused(400, "malformed") from None
            lang = page_language(request, pairs)
            # A refusal is a redirect too (303, to GET /replies naming the problem), never
            # a page answering the post: that would keep the post, the codename, in the
            # tab's history for Back and reload to send again.
            if wait:
                where = f"/replies?lang={lang}&problem=busy&wait={_wait(str(wait))}"
                return RedirectResponse(where, status_code=303)
            typed = next((v for k, v in pairs if k == "codename"), "")[: codename.MAX_TYPED]
            parsed = codename.parse(typed, codename.list_for(lang))
            if isinstance(parsed, str):
                return RedirectResponse(f"/replies?lang={lang}&problem={parsed}", status_code=303)
            box = codename.mailbox(parsed)
            sealed = await run_in_threadpool(inbox.mailbox, box.mailbox_id)
            opened = codename.open_replies(box, sealed)
            latest = next((r.status for r in reversed(opened) if r.status), None)
            # Erased, as the page with JavaScript reads it: by any reply saying so. The page
            # then says so and offers nothing more (no answering, no withdrawing).
            erased = any(r.status == "erased" for r in opened)
            shown = page(
                "replies.html",
                lang,
                nojs=True,
                server_replies=opened,
                server_status=codename.STATUS_WORDS.get("erased" if erased else latest or ""),
                server_erased=erased,
            )
            # Not answered with the page itself, which would keep the post (the codename)
            # in the tab's history for Back and reload: a redirect to a page shown once.
            token = shown_once.put(bytes(shown.body))
            if token is None:
                return shown  # larger than all the pages held together may be
            return RedirectResponse(f"/replies/{token}?lang={lang}", status_code=303)

    @router.get("/replies/{token}")
    async def replies_once(request: Request, token: str) -> Response:
        """The replies a post to /replies opened, given once (vault/intake/once.py)."""
        shown = shown_once.take(token)
        if shown is None:
            return page("replies.html", page_language(request), 410, nojs=True, gone=True)
        return HTMLResponse(shown)

    @router.get("/sent")
    async def sent_page(request: Request) -> Response:
        return page("sent.html", page_language(request), nojs=True)

    @router.post("/report")
    async def report_without_js(request: Request) -> Response:
        require_type(request, FORM)
        require_length(request, FORM_CAP)
        try:
            async with state.reading("form", FORM_READS):
                return await _report_without_js(request)
        except Refused as e:
            if e.error != "busy":
                raise
            errors = [{"field": "", "message": BUSY_UNREAD}]
            lang = page_language(request)
            return page("form.html", lang, 429, errors=errors, nojs=True, headers=e.headers)

    async def _report_without_js(request: Request) -> Response:
        wait = nojs_rate.take()
        # read even when busy: keep what was typed
        body = await read_body(request, FORM_CAP, state.idle)
        try:
            pairs = parse_form(body)
        except MalformedForm:
            raise Refused(400, "malformed") from None
        lang = page_language(request, pairs)
        result = read_form(pairs, language=lang)
        if wait:
            return page(
                "form.html",
                lang,
                429,
                errors=[{"field": "", "message": BUSY}],
                values=result.values,
                nojs=True,
                headers={"Retry-After": str(wait)},
            )
        if result.report is None:
            return page(
                "form.html", lang, 422, errors=result.errors, values=result.values, nojs=True
            )
        team_key = state.team_key
        try:
            envelope = seal_report(result.report, team_key.epoch, team_key.public_key)
        except InvalidReportError:
            errors = [{"field": "what_happened", "message": TOO_LONG}]
            return page("form.html", lang, 422, errors=errors, values=result.values, nojs=True)
        try:
            await run_in_threadpool(inbox.add_envelope, envelope)
        except InboxFull:
            errors = [{"field": "", "message": FULL}]
            headers = {"Retry-After": str(FULL_RETRY)}
            return page(
                "form.html",
                lang,
                503,
                errors=errors,
                values=result.values,
                nojs=True,
                headers=headers,
            )
        # See Other: the browser shows /sent by GET, so Back or Reload cannot post it again.
        return RedirectResponse(f"/sent?lang={lang}", status_code=303)

    return router
