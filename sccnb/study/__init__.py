"""One module per paper table or figure. Each has a ``run(...)`` that the matching notebook calls:
it computes (or loads) what the table needs, writes ``results/<profile>/tables|figures/...`` and
returns what the notebook shows."""
