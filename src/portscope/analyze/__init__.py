"""Analyses of a whole flow table: explain the ephemeral noise, find what is not noise.

The pipeline, each step its own module:

- :mod:`.engine` connects to DuckDB (embedded, the default) or Spark and loads the inputs;
- :mod:`.prepare` gives every flow its client and server side, its port classes and a class;
- :mod:`.overview` collapses the flows into services, ports, talkers and a timeline;
- the detections (:mod:`.scans`, :mod:`.ephemeral`, :mod:`.beacons`, :mod:`.exhaustion`,
  :mod:`.attempts`, :mod:`.protocols`, :mod:`.baseline`) each turn the prepared flows into findings;
- :mod:`.findings` fetches each finding's evidence, and :mod:`.report` assembles the document
  (docs/analyze-json.md) that the text, JSON and HTML renderers show.

Every analysis is written once, against Ibis expressions: no engine's SQL and no pandas inside, so
the same definitions run on DuckDB here and on a Spark cluster for a month of an organisation's logs.
"""

from __future__ import annotations

from portscope.analyze.options import AnalyzeOptions, Thresholds

__all__ = ["AnalyzeOptions", "Thresholds"]
