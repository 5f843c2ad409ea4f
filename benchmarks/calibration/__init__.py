"""Calibration checks of every interval, p-value and seed count the study
reports: simulated seeds with a known truth (``scenarios``), one module of
checks per part of ``keras_seeds.statistics``, run by
``benchmarks/study_calibration.py``."""
