"""Report tab: docs/REPORT.md, the project's written answers and measurements, with its figures, in the page."""
import os
from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "REPORT.md"
FIGURES = ROOT / "docs" / "figures"  # the one folder of the repository the app serves files from (launch's allowed_paths)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def report_markdown(report=REPORT, figures=FIGURES):
    """The report's text with its figure links pointing at gradio's file route, by a path relative to the server's
    working folder (the repository's root, where `python app.py` and a Space run): the page never shows the
    server's absolute paths. Started from elsewhere, the absolute path is the only one gradio resolves."""
    relative = os.path.relpath(figures)
    where = figures if relative.startswith("..") else Path(relative).as_posix()
    return report.read_text().replace("](figures/", f"](/gradio_api/file={where}/")


def create_tab(demo, models, own):
    if not REPORT.exists():
        gr.Markdown("The report (docs/REPORT.md) is not part of this copy of the app.")
        return
    gr.Markdown(report_markdown(), latex_delimiters=LATEX, elem_id="report")
