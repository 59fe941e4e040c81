"""The templates name routes (`{% url %}`) and static files (`{% static %}`): no written paths.

A path written into a template keeps pointing at the old place when `config/urls.py`
moves a page; a route's name follows it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from django.template import engines

ROOT = Path(__file__).resolve().parents[2]
WRITTEN_PATH = re.compile(r'\b(?:href|action|src|formaction)="/')


def test_no_template_writes_a_path_of_its_own():
    # Every folder Django's template engine reads, of this project's apps: not those of
    # the libraries, even when the virtualenv lies inside the checkout (.venv).
    folders = [
        Path(d)
        for d in engines["django"].template_dirs
        if Path(d).is_relative_to(ROOT) and not Path(d).is_relative_to(sys.prefix)
    ]
    templates = [path for folder in folders for path in folder.rglob("*.html")]
    assert len(templates) > 10  # the site's pages are found
    written = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in templates
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if WRITTEN_PATH.search(line)
    ]
    assert written == []
