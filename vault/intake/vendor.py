"""Code and word lists the intake serves from installed packages: libsodium's build with
SHA-256 ("sumo", from npm) and the BIP39 codename word lists (the `mnemonic` package)."""

from __future__ import annotations

import gzip
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from vault.intake import codename
from vault.intake.reading import Refused
from vault.intake.state import IntakeState


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (named, or "*", and not with q=0)."""
    for item in header.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() not in {"gzip", "*"}:
            continue
        quality = params.strip().lower().removeprefix("q=").strip() if params else "1"
        try:
            return float(quality) > 0
        except ValueError:
            return False
    return False


def _gzip_file(path: Path) -> bytes:
    with path.open("rb") as source:
        return gzip.compress(source.read(), compresslevel=9, mtime=0)


def routes(state: IntakeState) -> APIRouter:
    """libsodium under the routes' plain names, and the codename word lists."""
    router = APIRouter()
    node_modules = state.config.node_modules_dir()
    wordlists = Path(str(files("mnemonic").joinpath("wordlist")))
    # Compressed once, then kept in memory, by file and modification time.
    gzipped: dict[Path, tuple[float, bytes]] = {}

    async def script(request: Request, path: Path) -> Response:
        """libsodium, gzip-compressed for a browser that takes it (1.2 MB, 0.4 MB so): it
        is public code, so compressing it tells an observer nothing about anyone."""
        if not path.is_file():
            raise Refused(404, "not-found")
        media_type = "text/javascript; charset=utf-8"
        vary = {"Vary": "Accept-Encoding"}
        if not accepts_gzip(request.headers.get("accept-encoding", "")):
            return FileResponse(path, media_type=media_type, headers=vary)
        modified = path.stat().st_mtime
        held = gzipped.get(path)
        if held is None or held[0] != modified:
            held = gzipped[path] = (modified, await run_in_threadpool(_gzip_file, path))
        headers = {**vary, "Content-Encoding": "gzip"}
        return Response(held[1], media_type=media_type, headers=headers)

    @router.get("/static/vendor/libsodium-wrappers.js")
    async def libsodium_wrappers(request: Request) -> Response:
        sumo = node_modules / "libsodium-wrappers-sumo" / "dist" / "modules-sumo"
        return await script(request, sumo / "libsodium-wrappers.js")

    @router.get("/static/vendor/libsodium.js")
    async def libsodium(request: Request) -> Response:
        path = node_modules / "libsodium-sumo" / "dist" / "modules-sumo" / "libsodium-sumo.js"
        return await script(request, path)

    # english, spanish, portuguese, chinese_simplified
    @router.get("/static/wordlist/{name}.txt")
    async def codename_words(name: str) -> Response:
        path = wordlists / f"{name}.txt"
        if name not in codename.LISTS or not path.is_file():
            raise Refused(404, "not-found")
        return FileResponse(path, media_type="text/plain; charset=utf-8")

    return router
