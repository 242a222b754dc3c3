"""Benchmarks of the series' models: accuracy, speed and memory, and how cost grows with data.

Run ``python -m benchmarks --help`` (or ``make bench ARGS="..."``). Modules: ``cli`` (the command
line), ``inputs`` (the default split and checked CSV input), ``models`` (the models and their
hyper-parameters), ``measure`` (time, memory, machine), ``run`` (the accuracy benchmark),
``synthetic`` (synthetic ratings), ``scale`` and ``worker`` (the scaling benchmark), ``report``
(markdown and JSON output). Timings are never part of the test suite.
"""
