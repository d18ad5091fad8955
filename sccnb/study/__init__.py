"""The study and its reporting: one module per paper table or figure, and what they share.

Each table or figure module (``benchmarks`` for Tables 1-3, ``table4`` ... ``table8``,
``figures``, ``real300w``, ``resolution``, ``tour``) has a ``run(...)`` that the matching
notebook calls: it computes (or loads) what the table needs, writes
``results/<profile>/tables|figures/...`` and returns what the notebook shows. Beside them:
``claims`` (seed-aware statistics and Holm's correction), ``power`` and ``plan`` (which runs,
how many seeds), ``paper`` (the paper's numbers, the one place they live), ``report`` (writing
tables and figures with their provenance), ``verdicts`` and ``photos`` (the rendered answers),
``readme`` (the README's generated block) and ``notebook`` (what every notebook's setup shares).
"""
