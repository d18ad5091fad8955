"""Training a model and the runs it leaves: ``config`` (profiles and validated fields), ``train``
(the loop, in steps), ``losses``, ``evaluate`` (a run on its test splits), ``runs`` (the
content-addressed run store, code fingerprints, the shipped models) and ``equivalence`` (proofs
that a code change keeps every number). See docs/run-store.md."""
