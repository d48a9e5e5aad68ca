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
<iframe id="report" style="width:{width}px;height:900px;border:0" srcdoc="{srcdoc}"></iframe>
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
  var view = report.defaultView;
  var tables = Array.prototype.map.call(report.querySelectorAll("table"), function (table) {{
    var box = table.parentElement;
    function tallest(cells) {{
      return Math.max.apply(null, [0].concat(Array.prototype.map.call(cells, function (cell) {{
        return cell.getBoundingClientRect().height; }})));
    }}
    return {{section: table.closest("section").id, width: table.getBoundingClientRect().width,
             box_width: box.clientWidth, box_scrolls: view.getComputedStyle(box).overflowX,
             header_height: tallest(table.querySelectorAll("th")), cell_height: tallest(table.querySelectorAll("td")),
             line_height: parseFloat(view.getComputedStyle(table.querySelector("th")).lineHeight)}};
  }});
  document.getElementById("result").textContent = JSON.stringify(
    {{title: report.title, sections: report.querySelectorAll("section").length, images: images, fetched: fetched,
      page_width: report.documentElement.scrollWidth, window_width: report.documentElement.clientWidth,
      tables: tables}});
}});
</script>
</body></html>
"""


def render_in_chromium(page: str, work_dir: Path, width_px: int = 1280) -> dict:
    """Load ``page`` in headless Chromium in a ``width_px`` wide window; return its title, section count,
    decoded images, fetched URLs, the page's width (``page_width`` > ``window_width``: the window scrolls
    sideways) and for each table its section, width, its container's width and overflow style, the heights
    of its tallest header and data cells and its line height (CSS pixels)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium to check that the report renders")
    check_dir = work_dir / "check"
    check_dir.mkdir(parents=True, exist_ok=True)
    check_page = check_dir / "check.html"
    check_page.write_text(CHECK_PAGE.format(srcdoc=html.escape(page, quote=True), width=width_px), encoding="utf-8")
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
