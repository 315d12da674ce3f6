"""The report console: the page at `/` of the worker's web server, its script and style, and the
grid and chart libraries, served from the worker (consoles often sit on closed networks).

The page asks only the reports and schedules API for data; it holds no data of its own, so it
needs no token. Its Content-Security-Policy lets it run only the scripts served here and talk
only to this server, so a value in a CDR can never become script in an operator's browser. The libraries come from the npm registry into consumers/web/static/node_modules
(`make setup` runs `npm ci` there); a file is served only when named below.
"""

from __future__ import annotations

from pathlib import Path

from faust.web import Request, Response, View

from pipeline.app import app, settings

CONSOLE = Path(__file__).with_name("static")
# The console's script: ES modules, one per tab plus the helpers they share (console.js loads them).
MODULES = (
    "console",
    "page",
    "format",
    "api",
    "filters",
    "grid",
    "grouped",
    "per_number",
    "live",
    "custom",
    "schedules",
)
PAGE_FILES = {**{f"{name}.js": "text/javascript" for name in MODULES}, "console.css": "text/css"}
LIBRARIES = {
    "tabulator.min.js": ("tabulator-tables/dist/js/tabulator.min.js", "text/javascript"),
    "tabulator.min.css": ("tabulator-tables/dist/css/tabulator_simple.min.css", "text/css"),
    "chart.umd.min.js": ("chart.js/dist/chart.umd.min.js", "text/javascript"),
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MISSING_LIBRARIES = (
    "The report console's libraries are not installed: run `make setup` "
    "(or `npm ci --prefix consumers/web/static`) where cdrflow is checked out."
)


def served_file(name: str) -> tuple[Path, str] | None:
    """The file behind /console/{name} and its content type; None for a name not listed."""
    if name in PAGE_FILES:
        return CONSOLE / name, PAGE_FILES[name]
    if name in LIBRARIES:
        path, content_type = LIBRARIES[name]
        return CONSOLE / "node_modules" / path, content_type
    return None


# Registered before Faust's own status page at "/", so the console answers there.
@app.page("/")
class ConsolePage(View):
    async def get(self, request: Request) -> Response:
        if not all((CONSOLE / "node_modules" / path).is_file() for path, _ in LIBRARIES.values()):
            return self.text(MISSING_LIBRARIES, status=503)
        page = (
            (CONSOLE / "index.html")
            .read_bytes()
            .replace(  # CDRFLOW_CURRENCY: three capital letters
                b'<meta name="cdrflow-currency" content="">',
                b'<meta name="cdrflow-currency" content="%s">' % settings.currency.encode(),
            )
        )
        return guarded(self.bytes(page, content_type="text/html"))


@app.page("/console/{name}")
class ConsoleFile(View):
    async def get(self, request: Request, name: str) -> Response:
        found = served_file(name)
        if found is None or not found[0].is_file():
            return self.text(f"no console file {name!r}", status=404)
        path, content_type = found
        response = guarded(self.bytes(path.read_bytes(), content_type=content_type))
        response.headers["Cache-Control"] = "no-cache"
        return response


def guarded(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
