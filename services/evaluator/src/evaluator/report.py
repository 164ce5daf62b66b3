"""The evaluation report (paper-style table, PNG plots); the renderer is shared with `maestro report`."""

from maestro_common.cli_evaluate import plot_success, plot_timeline, render_html, render_report, table_rows

__all__ = ["plot_success", "plot_timeline", "render_html", "render_report", "table_rows"]
