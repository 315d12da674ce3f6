"""What the worker serves for the report console: the page's own files and the installed
libraries it names, nothing else."""

import re

import pytest

from consumers.web.console import CONSOLE, LIBRARIES, PAGE_FILES, served_file


@pytest.mark.parametrize("name", [*PAGE_FILES, *LIBRARIES])
def test_every_named_file_exists(name):
    path, content_type = served_file(name)
    assert path.is_file(), f"{path} missing: run make setup"
    assert content_type in ("text/javascript", "text/css")


@pytest.mark.parametrize("name", ["../package.json", "index.html", "package-lock.json", "..%2Fconsole.py", ""])
def test_other_names_are_not_served(name):
    assert served_file(name) is None


def test_the_page_loads_only_files_the_worker_serves():
    page = (CONSOLE / "index.html").read_text()
    loaded = set(re.findall(r'"/console/([\w.-]+)"', page))
    modules = [name for name in loaded if name.endswith(".js") and name in PAGE_FILES]
    while modules:  # the console's ES modules and what they import, by relative path
        for imported in re.findall(r'from "\./([\w.-]+)"', (CONSOLE / modules.pop()).read_text()):
            if imported not in loaded:
                loaded.add(imported)
                modules.append(imported)
    assert loaded == {*PAGE_FILES, *LIBRARIES}
    # no CDN: consoles sit on closed networks
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", page)
