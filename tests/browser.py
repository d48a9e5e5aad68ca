"""Headless Chromium as a reader of edgeml's HTML reports: what did the browser actually decode?"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# The report has no JavaScript, so a separate page loads it into an iframe (srcdoc: same origin, in
# another folder, so any relative reference would break) and writes what the browser decoded into its own DOM.
CHECK_PAGE = """<!DOCTYPE html>
<html><body>
<iframe id="report" style="width:1200px;height:900px" srcdoc="{srcdoc}"></iframe>
<pre id="result">pending</pre>
<script>
window.addEventListener("load", function () {{
  var report = document.getElementById("report").contentDocument;
  var images = Array.prototype.map.call(report.images, function (img) {{
    return {{alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight}};
  }});
  var fetched = report.defaultView.performance.getEntriesByType("resource").map(function (entry) {{
    return entry.name;
  }});
  document.getElementById("result").textContent = JSON.stringify(
    {{title: report.title, sections: report.querySelectorAll("section").length, images: images, fetched: fetched}});
}});
</script>
</body></html>
"""


def render_in_chromium(page: str, work_dir: Path) -> dict:
    """Load ``page`` in headless Chromium; return its title, section count, decoded images and fetched URLs."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to check that the report renders")
    check_dir = work_dir / "check"
    check_dir.mkdir(parents=True, exist_ok=True)
    check_page = check_dir / "check.html"
    check_page.write_text(CHECK_PAGE.format(srcdoc=html.escape(page, quote=True)), encoding="utf-8")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={work_dir / 'profile'}", "--virtual-time-budget=10000",
        "--dump-dom", check_page.as_uri(),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=90)
    found = re.search(r'<pre id="result">(.*?)</pre>', completed.stdout, flags=re.DOTALL)
    assert completed.returncode == 0 and found, completed.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))
