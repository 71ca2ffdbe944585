"""Reports: tables (terminal, Markdown) and files (md, csv, json). See report.files."""
from bundle.report.files import exit_code_for, terminal_report, write_report

__all__ = ["exit_code_for", "terminal_report", "write_report"]
