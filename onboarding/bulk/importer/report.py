"""What an import found and did, as the command prints it and the admin shows it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_noop

from common.i18n import Phrase, clipped
from onboarding.bulk.readers import Issue

SAMPLE_SIZE = 10
#: How much of each value a problem line quotes: a cell may hold megabytes, and a line
#: that quotes it is kept (up to MAX_LISTED_PROBLEMS of them), stored and shown.
MAX_QUOTED_CHARS = 300
#: Problems reported one by one; past this many they are only counted ("N more"), so a
#: file of ten million bad entries costs neither memory nor ten million lines.
MAX_LISTED_PROBLEMS = 1000
MORE_PROBLEMS = gettext_noop("... and {count} more problem(s), not listed.")
#: A problem line, ``routes.csv:17: message``: the same in every language (its message
#: is translated), so not in the catalogue.
PROBLEM_LINE = "{where}: {problem}"
WARNING_LINE = gettext_noop("{where}: warning: {problem}")
#: The lines' templates, for :func:`common.i18n.register_templates`.
TEMPLATES = (MORE_PROBLEMS, PROBLEM_LINE, WARNING_LINE)


@dataclass
class MappingChanges:
    """What an import does to one kind of mapping (users or domains)."""

    label: str
    created: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    kept: int = 0  # in the database, not in the file, left alone without --prune
    samples: dict[str, list[str]] = field(
        default_factory=lambda: {"created": [], "moved": [], "removed": []}
    )

    def sample(self, what: str, value: str) -> None:
        if len(self.samples[what]) < SAMPLE_SIZE:
            self.samples[what].append(value)

    @property
    def changes(self) -> int:
        return self.created + self.moved + self.removed

    def lines(self) -> list[str]:
        """The counts, then the sampled values marked + created, ~ moved, - removed."""
        lines = [
            f"  {self.label}: {self.created} created, {self.moved} moved to "
            f"another route, {self.removed} removed, {self.unchanged} unchanged"
        ]
        for what, mark in (("created", "+"), ("moved", "~"), ("removed", "-")):
            lines.extend(f"    {mark} {value}" for value in self.samples[what])
        return lines


@dataclass
class ImportReport:
    source: str
    tenant: str
    dry_run: bool
    prune: bool
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    routes_created: list[str] = field(default_factory=list)
    routes_changed: list[tuple[str, list[str]]] = field(default_factory=list)
    routes_unchanged: list[str] = field(default_factory=list)
    routes_not_in_file: list[str] = field(default_factory=list)
    users: MappingChanges = field(default_factory=lambda: MappingChanges("mapped users"))
    domains: MappingChanges = field(default_factory=lambda: MappingChanges("mapped domains"))
    applied: bool = False
    #: Problems found beyond the MAX_LISTED_PROBLEMS kept in ``errors``.
    errors_not_listed: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_error(self, issue: Issue) -> None:
        if len(self.errors) < MAX_LISTED_PROBLEMS:
            self.errors.append(_quoting_briefly(issue))
        else:
            self.errors_not_listed += 1

    def add_warning(self, issue: Issue) -> None:
        self.warnings.append(_quoting_briefly(issue))

    @property
    def has_changes(self) -> bool:
        return bool(
            self.routes_created or self.routes_changed or self.users.changes or self.domains.changes
        )

    def _where(self, issue: Issue) -> str:
        return f"{self.source}:{issue.line}" if issue.line else self.source

    def error_lines(self) -> list[str]:
        """``file:line: message``, ordered by line (then how many more were found)."""
        lines: list[str] = [
            Phrase(PROBLEM_LINE, where=self._where(i), problem=i.message)
            for i in sorted(self.errors, key=lambda i: i.line)
        ]
        if self.errors_not_listed:
            lines.append(Phrase(MORE_PROBLEMS, count=self.errors_not_listed))
        return lines

    def warning_lines(self) -> list[str]:
        return [
            Phrase(WARNING_LINE, where=self._where(i), problem=i.message)
            for i in sorted(self.warnings, key=lambda i: i.line)
        ]

    def summary_lines(self) -> list[str]:
        """What was (or, in a dry run, would be) done, for the command and the admin."""
        if self.errors:
            return [
                f"{len(self.errors) + self.errors_not_listed} problem(s) in {self.source}; "
                f"nothing was written to {self.tenant}."
            ]
        return self._change_lines() + self._removal_lines() + self._routes_kept_lines()

    def _change_lines(self) -> list[str]:
        if not self.has_changes:
            return [f"Nothing to change: {self.tenant} already matches {self.source}."]
        if self.dry_run:
            lines = [f"Dry run: importing {self.source} into {self.tenant} would change:"]
        else:
            lines = [f"Imported {self.source} into {self.tenant}:"]
        lines.append(
            f"  routes: {len(self.routes_created)} created, "
            f"{len(self.routes_changed)} changed, {len(self.routes_unchanged)} unchanged"
        )
        lines.extend(f"    + {name}" for name in self.routes_created[:SAMPLE_SIZE])
        lines.extend(
            f"    ~ {name}: {', '.join(fields)}"
            for name, fields in self.routes_changed[:SAMPLE_SIZE]
        )
        return lines + self.users.lines() + self.domains.lines()

    def _removal_lines(self) -> list[str]:
        if self.prune:
            return ["Removal is on (--prune): mappings not in the file are removed."]
        if self.users.kept + self.domains.kept:
            return [
                f"Removal is off: {self.users.kept} mapped user(s) and {self.domains.kept} mapped "
                "domain(s) not in the file are kept (--prune removes them)."
            ]
        return ["Removal is off (--prune removes mappings the file no longer lists)."]

    def _routes_kept_lines(self) -> list[str]:
        if not self.routes_not_in_file:
            return []
        return [
            f"{len(self.routes_not_in_file)} route(s) not in the file are kept: "
            + ", ".join(self.routes_not_in_file[:SAMPLE_SIZE])
            + (" ..." if len(self.routes_not_in_file) > SAMPLE_SIZE else "")
        ]


def _quoting_briefly(issue: Issue) -> Issue:
    return Issue(issue.line, clipped(issue.message, MAX_QUOTED_CHARS))
