"""The page shell and the static files of the UI, with the security headers of every UI answer.

The UI renders in the browser: every client-side route answers the same ``index.html`` (no
cache, so a new release is picked up at once), which loads our ES modules from
``/static/<version>/``. The version is a hash of the files' contents, so those answers can be
cached for a year: a changed file gets a new address.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

STATIC_DIR = Path(__file__).parent / "static"
SHELL = "index.html"
#: Replaced in index.html with the versioned static prefix, e.g. ``/static/3f2a9c0d1e7b``.
STATIC_PLACEHOLDER = "{{static}}"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # The CSP's frame-ancestors says the same to current browsers; this to older ones.
    "X-Frame-Options": "DENY",
}
LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

# Python's table varies with the machine (/etc/mime.types); module scripts must be JavaScript.
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}


def with_security_headers(response: Response) -> Response:
    """``response`` with the UI's security headers added."""
    response.headers.update(SECURITY_HEADERS)
    return response


@dataclass(frozen=True)
class StaticFiles:
    """The files under ``static/``, listed once at start: a request can only name one of them,
    so no path can reach outside the folder."""

    root: Path
    files: dict[str, Path]
    version: str

    @classmethod
    def scan(cls, root: Path = STATIC_DIR) -> StaticFiles:
        files: dict[str, Path] = {}
        digest = hashlib.sha256()
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                name = path.relative_to(root).as_posix()
                if name == SHELL or "/." in f"/{name}":
                    continue
                files[name] = path
                digest.update(name.encode() + b"\0" + path.read_bytes())
        return cls(root, files, digest.hexdigest()[:12])

    @property
    def prefix(self) -> str:
        """Where the files are served, with the version in the path."""
        return f"/static/{self.version}"

    def shell(self) -> bytes:
        """index.html with the versioned prefix filled in."""
        text = (self.root / SHELL).read_text(encoding="utf-8")
        return text.replace(STATIC_PLACEHOLDER, self.prefix).encode()


class Pages:
    """The endpoints serving the shell and the static files."""

    def __init__(self, static: StaticFiles) -> None:
        self.static = static

    async def shell(self, request: Request) -> Response:
        """``index.html`` at ``/`` and at every client-side route."""
        response = Response(self.static.shell(), media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": NO_CACHE})
        return with_security_headers(response)

    async def static_file(self, request: Request) -> Response:
        """``/static/{version}/{path}``: a file of ours or of the vendored libraries."""
        path = self.static.files.get(request.path_params["path"])
        if path is None:
            response = Response("Not found", status_code=404, media_type="text/plain")
            return with_security_headers(response)
        # An old shell asking for an old version gets today's file, but must not keep it.
        current = request.path_params["version"] == self.static.version
        media_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
        response = FileResponse(path, media_type=media_type or "application/octet-stream",
                                headers={"Cache-Control": LONG_CACHE if current else NO_CACHE})
        return with_security_headers(response)
