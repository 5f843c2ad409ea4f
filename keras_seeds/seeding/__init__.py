"""Seeding: the seed contract (``contract``), the global random generators
(``global_rngs``), op determinism (``determinism``) and the randomness a built
model keeps in its layers (``layer_randomness``)."""
