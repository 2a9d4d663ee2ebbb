"""Where a Reports request's time goes: each step of the view and of the reports' code timed by a
wrapper put around it for the measurement, and the statements run inside each step."""

from __future__ import annotations

import importlib
import time

from bench.reports_database import optional
from bench.reports_pages import get, nothing
from bench.stats import summarize


class Split:
    """The request's time by part: wrappers around the steps of the view and of the reports' code (by
    their modules' names, those that exist), and the statements' time inside each (Django's execute
    wrapper). Measured on requests of their own."""

    PARTS = (
        ("figures, all of them", "inbox.reports.views", "report_figures"),
        ("· rollup: days added up", "conversations.reports.report", "days_report"),
        ("· · dirty days worked out first", "conversations.reports.days", "report_days_refresh"),
        ("· facts: every figure", "conversations.reports.report", "facts_report"),
        ("· · conversations query", "conversations.reports.figures", "_conversation_figures"),
        ("· · responses query", "conversations.reports.figures", "_response_figures"),
        ("· · volume query", "conversations.reports.figures", "_volume_figures"),
        ("filters' choices", "inbox.reports.views", "_choices"),
        ("charts", "inbox.reports.views", "charts"),
        ("template", "inbox.reports.views", "render"),
    )
    TOP = ("figures, all of them", "filters' choices", "charts", "template")

    def __init__(self):
        self.current: dict[str, float] = {}
        self.stack: list[str] = []

    def _wrap(self, name: str, function):
        def wrapper(*args, **kwargs):
            self.stack.append(name)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.current[name] = self.current.get(name, 0.0) + time.perf_counter() - started
                self.stack.pop()

        return wrapper

    def _sql(self, execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            spent = time.perf_counter() - started
            self.current["sql"] = self.current.get("sql", 0.0) + spent
            for name in set(self.stack):
                self.current[f"sql in {name}"] = self.current.get(f"sql in {name}", 0.0) + spent

    def measure(self, client, path: str, n: int, prepare=nothing) -> dict[str, float]:
        """p50 (ms) of each part over n requests ("sql in <part>": its statements), and "rest"."""
        from django.db import connection

        originals = []
        for name, module_name, attribute in self.PARTS:
            function = optional(module_name, attribute)
            if function is not None:
                module = importlib.import_module(module_name)
                originals.append((module, attribute, function))
                setattr(module, attribute, self._wrap(name, function))
        samples = []
        try:
            with connection.execute_wrapper(self._sql):
                for _ in range(n):
                    prepare()
                    self.current = {}
                    started = time.perf_counter()
                    get(client, path)
                    self.current["total"] = time.perf_counter() - started
                    self.current["rest"] = self.current["total"] - sum(self.current.get(k, 0.0) for k in self.TOP)
                    samples.append(self.current)
        finally:
            for module, attribute, function in originals:
                setattr(module, attribute, function)
        names = {key for sample in samples for key in sample}
        return {key: summarize([sample.get(key, 0.0) for sample in samples])["p50_ms"] for key in names}
