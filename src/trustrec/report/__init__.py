"""The HTML report: sections with tables and plots rendered from result objects.

This package renders and runs nothing: the experiments behind the demo report live in
:mod:`trustrec.demo`, the protocols in :mod:`trustrec.evaluation` and
:mod:`trustrec.experiment`.
"""

from trustrec.report.html import Report, Section, write_index

__all__ = ["Report", "Section", "write_index"]
