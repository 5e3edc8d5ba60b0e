#!/usr/bin/python3
"""Render notebooks as a reader sees them: HTML, then screenshots.

Usage: scripts/notebook_screenshots.py [--out DIR] [NOTEBOOK.ipynb ...]
       (default: notebooks/*.ipynb, committed with their outputs by
       `notebooks/run --save`; default DIR: notebooks/.out/screenshots)

For each notebook: Debian's /usr/bin/jupyter nbconvert --to html writes
DIR/NAME.html, and headless Chromium (Debian's chromium package) takes
screenshots of it, page by page (PAGE_HEIGHT pixels each, 1280 wide), as
DIR/NAME-01.png, NAME-02.png, ... until the page is blank. Look at them:
tables, figures (titles, legends, labels), progress lines and what the first
cell prints. Needs jupyter-nbconvert, chromium and python3-pil (PIL) from
Debian.
"""
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageChops

REPO = Path(__file__).resolve().parent.parent
WIDTH, PAGE_HEIGHT, MAX_PAGES = 1280, 2400, 40


def to_html(nb, out):
    subprocess.run(["/usr/bin/jupyter", "nbconvert", "--to", "html", "--output-dir", str(out), str(nb)],
                   check=True, capture_output=True)
    return out / (nb.stem + ".html")


def blank(png):
    """Is the screenshot one colour (the page ended above it)?"""
    im = Image.open(png).convert("RGB")
    bg = Image.new("RGB", im.size, im.getpixel((0, 0)))
    return ImageChops.difference(im, bg).getbbox() is None


def screenshots(html, out):
    """Screenshot html page by page: page k is the page shifted up by k
    page heights (a style rule prepended to a copy of the HTML)."""
    pages = []
    text = html.read_text()
    for k in range(MAX_PAGES):
        shifted = out / f".{html.stem}-{k + 1:02d}.html"
        shifted.write_text(f"<style>html{{margin-top:-{k * PAGE_HEIGHT}px}}</style>\n" + text)
        png = out / f"{html.stem}-{k + 1:02d}.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={WIDTH},{PAGE_HEIGHT}", f"--screenshot={png}", shifted.as_uri()],
                       check=True, capture_output=True, timeout=120)
        shifted.unlink()
        if blank(png):
            png.unlink()
            break
        pages.append(png)
    return pages


def main(args):
    out = REPO / "notebooks" / ".out" / "screenshots"
    if "--out" in args:
        i = args.index("--out")
        out = Path(args[i + 1]).resolve()
        del args[i:i + 2]
    notebooks = [Path(a).resolve() for a in args] or sorted((REPO / "notebooks").glob("*.ipynb"))
    out.mkdir(parents=True, exist_ok=True)
    for nb in notebooks:
        html = to_html(nb, out)
        pages = screenshots(html, out)
        print(f"{nb.name}: {html} and {len(pages)} screenshot(s) {pages[0].name if pages else ''}..")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
