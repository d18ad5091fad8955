"""Speed and the GPU: ``efficiency`` (parameters, multiply-adds and latency: Table 4's numbers),
``bench`` (training, inference and data-pipeline benchmarks, ``make bench``), ``device`` (what
only CUDA can do, each behind one function) and ``device_check`` (a GPU session's ten-minute
check, ``make device-check``). See docs/device-check.md."""
