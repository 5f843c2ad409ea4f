"""Data order: which example each step of each run trains on (``order``), and
the seeded input pipeline of a single run (``seeded_dataset``)."""
