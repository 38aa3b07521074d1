"""`dvc plots show` writes a page that draws every plot in headless Chromium with no network.

It renders the committed plot files (plots/..., cache: false) through the offline HTML template
(web/dist/plots_template.html, see README "Plots offline"), opens the page in Debian's Chromium
through Playwright (no browser download), blocks and records every non-file request, and checks
that each vega-embed container drew marks. A screenshot is kept at tests/artifacts/plots_page.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = REPO / "web" / "dist" / "plots_template.html"
CHROMIUM = Path(os.environ.get("LORAFLOW_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = REPO / "tests" / "artifacts" / "plots_page.png"
MIN_PLOTS = 5  # confusion_baseline/classical/finetuned, training_loss, validation_scores
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

# Runs before the page's scripts: wraps window.vegaEmbed as the UMD bundle assigns it, so the test
# can await every embed and read its Vega view (DVC's inline scripts discard the returned promise).
RECORD_EMBEDS = """
window.__embeds = [];
let wrapped;
Object.defineProperty(window, "vegaEmbed", {
  configurable: true,
  get() { return wrapped; },
  set(embed) {
    wrapped = Object.assign(function (el, spec, opts) {
      const run = embed(el, spec, opts);
      window.__embeds.push(run.then(
        (res) => ({ el: String(el), ok: true, view: res.view }),
        (err) => ({ el: String(el), ok: false, error: String(err && err.stack || err) })));
      return run;
    }, embed);
  },
});
"""

# For each embed: data-mark items in the Vega scenegraph (axes, legends and titles excluded), what
# the container holds, and for a canvas how many clearly coloured pixels it has (marks are coloured,
# axes and text are grey).
INSPECT = """
async () => {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("vegaEmbed did not settle in 20 s")), 20000));
  const results = await Promise.race([Promise.all(window.__embeds), timeout]);
  return results.map((r) => {
    const box = document.querySelector(r.el);
    const out = { id: r.el.slice(1), ok: r.ok, error: r.error || null, marks: 0, svgShapes: 0,
                  canvas: null, embedClass: !!box && box.classList.contains("vega-embed") };
    if (!r.ok) return out;
    const walk = (mark) => {  // the root is a group mark; group items hold child marks
      if (mark.marktype === "group") mark.items.forEach((g) => (g.items || []).forEach(walk));
      else if (mark.role === "mark") out.marks += mark.items.length;
    };
    walk(r.view.scenegraph().root);
    // The chart itself, not vega-embed's "..." actions menu (which has its own small svg).
    const svg = box && box.querySelector(".chart-wrapper svg");
    if (svg) out.svgShapes = svg.querySelectorAll("path, rect, line, circle").length;
    const canvas = box && box.querySelector(".chart-wrapper canvas");
    if (canvas && canvas.width && canvas.height) {
      const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      let coloured = 0;
      for (let i = 0; i < px.length; i += 4) {
        const hi = Math.max(px[i], px[i + 1], px[i + 2]), lo = Math.min(px[i], px[i + 1], px[i + 2]);
        if (px[i + 3] > 0 && hi - lo > 40) coloured++;
      }
      out.canvas = { width: canvas.width, height: canvas.height, coloured };
    }
    return out;
  });
}
"""


def _require_browser():
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is missing: {CHROMIUM} does not exist. This test drives Debian's Chromium "
            "headless; install it with `sudo apt-get install -y chromium` (or set LORAFLOW_CHROMIUM "
            "to a Chromium binary). install.sh installs it."
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("The playwright package is missing: `pip install -r requirements.txt`.")


def _render_page(out_dir: Path) -> Path:
    if not TEMPLATE.is_file():
        pytest.fail(f"{TEMPLATE} is missing: build it with `npm ci --prefix web` (see README 'Plots offline').")
    run = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "show", "-o", str(out_dir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"dvc plots show failed:\n{run.stdout}\n{run.stderr}"
    page = out_dir / "index.html"
    assert page.is_file(), f"dvc plots show wrote no {page}:\n{run.stdout}\n{run.stderr}"
    return page


def test_plots_page_draws_every_plot_offline(tmp_path):
    _require_browser()
    from playwright.sync_api import sync_playwright

    page_file = _render_page(tmp_path / "dvc_plots")
    html = page_file.read_text(encoding="utf8")
    ids = re.findall(r"vegaEmbed\('#([^']+)'", html)
    assert len(ids) >= MIN_PLOTS, f"expected at least {MIN_PLOTS} plots on the page, found {ids}"
    remote_tags = re.findall(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//[^>]*>", html)
    assert not remote_tags, f"the page still references remote resources: {remote_tags}"

    requests, errors, warnings = [], [], []
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        except Exception as exc:  # a broken or incompatible Chromium: say which one
            pytest.fail(f"could not start Chromium at {CHROMIUM}: {exc}")
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # Block (and remember) anything that is not a local file, so a CDN tag fails the test
            # here instead of silently working on a machine that happens to be online.
            context.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith(LOCAL_SCHEMES) else route.abort("blockedbyclient")
                ),
            )
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda r: None if r.url.startswith(LOCAL_SCHEMES) else requests.append(r.url))
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda m: {"error": errors, "warning": warnings}.get(m.type, []).append(f"console {m.type}: {m.text}"),
            )
            page.add_init_script(RECORD_EMBEDS)
            page.goto(page_file.as_uri(), wait_until="load")
            # DVC's inline scripts call vegaEmbed while the page parses, so by "load" every call
            # has been made (or has thrown, e.g. vegaEmbed undefined when its script was blocked).
            results = page.evaluate(INSPECT) if page.evaluate("window.__embeds.length") else []
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()

    print(f"\nscreenshot of the plots page: {SCREENSHOT}")
    for line in warnings:
        print(line)
    assert not requests, f"the page tried to load from the network: {requests}"
    assert not errors, "script errors on the plots page:\n" + "\n".join(errors)
    assert sorted(r["id"] for r in results) == sorted(ids), f"vegaEmbed ran for {results}, the page has {ids}"
    not_drawn = [
        r
        for r in results
        if not (
            r["ok"]
            and r["embedClass"]
            and r["marks"] > 0
            and (r["svgShapes"] > 0 or (r["canvas"] and r["canvas"]["coloured"] > 0))
        )
    ]
    assert not not_drawn, f"plots that did not draw (see {SCREENSHOT}): {not_drawn}"
